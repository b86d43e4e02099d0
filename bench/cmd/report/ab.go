package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/conduit-ipc/conduit/bench/harness"
)

// ab compares two builds of conduit, measured in alternating runs of
// `report run` (bench/ab.sh): for each workload, contender and metric, the
// new build's value over the old one's, each run paired with the old run
// beside it, and the median taken; above 1 means the new build did better.
// Each ratio is formed from two runs next to each other in time, so that a
// drift of the machine's speed over the whole comparison cancels.
//
// It also gives conduit's same-run ratio against each peer, new over old:
// the peer is the same code in both builds, so this ratio cancels what
// changed between the two runs of a pair as well.
//
//	report ab -md FILE old1.json new1.json old2.json new2.json ...
func ab(args []string) int {
	fs := flag.NewFlagSet("ab", flag.ExitOnError)
	md := fs.String("md", "", "write the Markdown table to `file` (default standard output)")
	fs.Parse(args)
	files := fs.Args()
	if len(files) < 2 || len(files)%2 != 0 {
		fmt.Fprintln(os.Stderr, "usage: report ab [-md FILE] OLD.json NEW.json [OLD.json NEW.json ...]")
		return 2
	}
	var runs []harness.Report
	for _, p := range files {
		r, err := readReport(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		runs = append(runs, r)
	}
	w := io.Writer(os.Stdout)
	if *md != "" {
		f, err := os.Create(*md)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		w = f
	}
	writeAB(w, runs)
	return 0
}

// abKey names one number of a run.
type abKey struct{ workload, contender, metric string }

// values returns each number of r: the median of its rounds.
func values(r harness.Report) map[abKey]float64 {
	out := make(map[abKey]float64)
	for _, wl := range r.Workloads {
		name := wl.Section + " / " + wl.Name + " (" + wl.Placement + ")"
		for _, c := range wl.Contenders {
			for _, m := range wl.Metrics {
				var xs []float64
				for _, s := range c.Rounds {
					if v, ok := s[m.Name]; ok && s != nil {
						xs = append(xs, v)
					}
				}
				if len(xs) > 0 {
					out[abKey{name, c.Name, m.Name}] = median(xs)
				}
			}
		}
	}
	return out
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func writeAB(w io.Writer, runs []harness.Report) {
	// Which metrics are better higher, and which contender is conduit,
	// per workload, from the first run.
	higher := map[[2]string]bool{}
	ref := map[string]string{}
	var order []abKey
	seen := map[abKey]bool{}
	for _, r := range runs {
		for _, wl := range r.Workloads {
			name := wl.Section + " / " + wl.Name + " (" + wl.Placement + ")"
			for _, m := range wl.Metrics {
				higher[[2]string{name, m.Name}] = m.HigherBetter
			}
			for _, c := range wl.Contenders {
				if c.Ref {
					ref[name] = c.Name
				}
				for _, m := range wl.Metrics {
					k := abKey{name, c.Name, m.Name}
					if !seen[k] {
						seen[k] = true
						order = append(order, k)
					}
				}
			}
		}
	}
	pairs := len(runs) / 2
	fmt.Fprintf(w, "%d pairs of runs, old then new, alternating. \"new/old\": the new build's value over the old one's, "+
		"as performance (above 1: the new build did better), the median over pairs. \"vs peer\": conduit's same-run ratio "+
		"against that peer, new over old.\n\n", pairs)
	fmt.Fprintln(w, "| workload | contender | metric | old | new | new/old | per pair |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---|")
	for _, k := range order {
		var olds, news, ratios []float64
		var per []string
		hb := higher[[2]string{k.workload, k.metric}]
		for i := 0; i+1 < len(runs); i += 2 {
			ov, ok1 := values(runs[i])[k]
			nv, ok2 := values(runs[i+1])[k]
			if !ok1 || !ok2 || ov == 0 || nv == 0 {
				per = append(per, "-")
				continue
			}
			r := perf(nv, ov, hb)
			if k.contender != ref[k.workload] {
				// A peer: conduit's same-run ratio against it, new over old.
				co, ok3 := values(runs[i])[abKey{k.workload, ref[k.workload], k.metric}]
				cn, ok4 := values(runs[i+1])[abKey{k.workload, ref[k.workload], k.metric}]
				if !ok3 || !ok4 || co == 0 || cn == 0 {
					per = append(per, "-")
					continue
				}
				r = perf(cn, co, hb) / perf(nv, ov, hb)
			}
			olds, news, ratios = append(olds, ov), append(news, nv), append(ratios, r)
			per = append(per, fmt.Sprintf("%.2f", r))
		}
		if len(ratios) == 0 {
			continue
		}
		label := k.contender
		if k.contender != ref[k.workload] {
			label = "conduit vs " + k.contender
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.4g | %.4g | %.2f | %s |\n", k.workload, label, k.metric,
			median(olds), median(news), median(ratios), strings.Join(per, " "))
	}
}

// perf is b's performance relative to a: b/a where higher is better,
// a/b where lower is.
func perf(b, a float64, higherBetter bool) float64 {
	if a == 0 || b == 0 {
		return math.NaN()
	}
	if higherBetter {
		return b / a
	}
	return a / b
}
