// Package harness runs contenders against each other the way a noisy machine
// demands: interleaved round by round (A B C, then B C A, ...), so that
// whatever drifts during a run (other processes, the CPU's clock, the page
// cache) falls on every contender alike, and each contender's ratio to the
// reference is taken within a round before the median is taken across
// rounds.
//
// A Report is what a run measured, as JSON; Render turns one or more
// Reports into a Markdown table and an SVG chart.
package harness

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// Metric is one number a workload measures.
type Metric struct {
	Name         string `json:"name"` // e.g. "throughput", "median", "p99"
	Unit         string `json:"unit"` // e.g. "MB/s", "µs"
	HigherBetter bool   `json:"higher_better"`
	// Floor is the least value a ratio divides by: a count that can be 0
	// (threads added) is compared as if it were at least Floor.
	Floor float64 `json:"floor,omitempty"`
}

// Sample is one run's result: a value for each of the workload's metrics.
type Sample map[string]float64

// Contender is one way of doing a workload.
type Contender struct {
	Name string
	Note string // how it is set up, for the table
	// Ref marks the reference, conduit: every other contender's ratio is
	// conduit's performance over its own, > 1 when conduit does better.
	Ref bool
	// Target is the least ratio conduit must reach against this contender,
	// on TargetMetric (the workload's first metric if empty); 0 for none.
	Target       float64
	TargetMetric string
	// Skip, when set, is why the contender is not run; it is reported.
	Skip string
	// Run does the workload once for about d of measured time (a warm-up
	// beforehand is its own business) and returns what it measured.
	Run func(d time.Duration) (Sample, error)
}

// Workload is one thing measured, with its contenders.
type Workload struct {
	Section   string // e.g. "Named pipes"
	Name      string // e.g. "throughput, 64 KiB writes"
	Placement string // e.g. "server in a child process"
	Metrics   []Metric
	// Rounds, when not 0, overrides the run's number of rounds (for
	// workloads that take long and vary little).
	Rounds     int
	Contenders []Contender
}

// Report is what a run measured.
type Report struct {
	Meta      map[string]string `json:"meta"`
	Workloads []WorkloadResult  `json:"workloads"`
}

// WorkloadResult is one workload's results.
type WorkloadResult struct {
	Section    string            `json:"section"`
	Name       string            `json:"name"`
	Placement  string            `json:"placement"`
	Metrics    []Metric          `json:"metrics"`
	Contenders []ContenderResult `json:"contenders"`
}

// ContenderResult is one contender's samples, one per round; a round that
// failed has a nil sample and its error in Errors.
type ContenderResult struct {
	Name         string   `json:"name"`
	Note         string   `json:"note,omitempty"`
	Ref          bool     `json:"ref,omitempty"`
	Target       float64  `json:"target,omitempty"`
	TargetMetric string   `json:"target_metric,omitempty"`
	Skip         string   `json:"skip,omitempty"`
	Rounds       []Sample `json:"rounds"`
	Errors       []string `json:"errors,omitempty"`

	// Abandoned is the round (from 1) whose run timed out: the contender
	// was not run again, and its goroutine, which may hold pipes and a
	// server, was left running through the rest of the run. 0 if none.
	Abandoned int `json:"abandoned,omitempty"`
}

// Options say how long a run takes.
type Options struct {
	Rounds   int           // rounds per workload
	Duration time.Duration // measured time per contender per round
	Progress io.Writer     // a line per workload and round; nil for none
	// Filter, when set, runs only the workloads it accepts.
	Filter func(w *Workload) bool
	// Timeout bounds one contender's run: past it the run is recorded as
	// failed and abandoned, and the contender is not run again. 0 means 30 s plus 20
	// times Duration.
	Timeout time.Duration
}

// Run runs every workload: for each, Rounds rounds, and in each round every
// contender once, the first one rotating from round to round so that no
// contender always runs first (after a server's start, say) or last.
func Run(ws []Workload, o Options) []WorkloadResult {
	var out []WorkloadResult
	total := 0
	for i := range ws {
		if o.Filter == nil || o.Filter(&ws[i]) {
			total++
		}
	}
	done := 0
	for i := range ws {
		w := &ws[i]
		if o.Filter != nil && !o.Filter(w) {
			continue
		}
		done++
		rounds := o.Rounds
		if w.Rounds > 0 && w.Rounds < rounds {
			rounds = w.Rounds
		}
		res := WorkloadResult{Section: w.Section, Name: w.Name, Placement: w.Placement, Metrics: w.Metrics}
		res.Contenders = make([]ContenderResult, len(w.Contenders))
		for j, c := range w.Contenders {
			res.Contenders[j] = ContenderResult{Name: c.Name, Note: c.Note, Ref: c.Ref, Target: c.Target,
				TargetMetric: c.TargetMetric, Skip: c.Skip}
		}
		n := len(w.Contenders)
		for r := 0; r < rounds; r++ {
			start := time.Now()
			for k := 0; k < n; k++ {
				j := (r + k) % n
				c := &w.Contenders[j]
				if c.Skip != "" {
					continue
				}
				cr := &res.Contenders[j]
				if cr.Abandoned > 0 {
					continue
				}
				s, err := runBounded(c, o)
				if err == errTimeout {
					cr.Abandoned = r + 1
					err = fmt.Errorf("no result within %v: abandoned", timeout(o))
				}
				if err != nil {
					s = nil
					cr.Errors = append(cr.Errors, err.Error())
				}
				cr.Rounds = append(cr.Rounds, s)
			}
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "bench: [%d/%d] %s: %s, %s: round %d/%d (%.1fs)\n", done, total,
					w.Section, w.Name, w.Placement, r+1, rounds, time.Since(start).Seconds())
			}
		}
		out = append(out, res)
	}
	return out
}

var errTimeout = errors.New("timed out")

func timeout(o Options) time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 30*time.Second + 20*o.Duration
}

// runBounded runs c once, for at most timeout(o).
func runBounded(c *Contender, o Options) (Sample, error) {
	type result struct {
		s   Sample
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.Run(o.Duration)
		done <- result{s, err}
	}()
	t := time.NewTimer(timeout(o))
	defer t.Stop()
	select {
	case r := <-done:
		return r.s, r.err
	case <-t.C:
		// No dump of every goroutine's stack here: that stops the world,
		// and under Wine a world stop that waits on the hung contender's
		// threads wedged the whole run (observed: the run sat idle, its
		// line never printed).
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "bench: %s: no result within %v: abandoned\n", c.Name, timeout(o))
		}
		return nil, errTimeout
	}
}

// Median returns the median of v (the mean of the middle two for an even
// count), or NaN-free 0 and false for no values.
func Median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// Percentile returns the p-th percentile (0 < p <= 100) of v by the
// nearest-rank method, or 0 and false for no values.
func Percentile(v []float64, p float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	rank := int(p/100*float64(len(s))+0.999999999) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(s) {
		rank = len(s) - 1
	}
	return s[rank], true
}

// Values returns the contender's values of metric m, one per round that
// succeeded.
func (c *ContenderResult) Values(m string) []float64 {
	var v []float64
	for _, s := range c.Rounds {
		if x, ok := s[m]; ok && s != nil {
			v = append(v, x)
		}
	}
	return v
}

// Ratios returns conduit's performance over c's on metric m, round by round,
// for the rounds in which both have a value: ref/c when higher is better,
// c/ref when lower is. Values below the metric's Floor count as Floor.
func Ratios(ref, c *ContenderResult, m Metric) []float64 {
	var out []float64
	for i := range c.Rounds {
		if i >= len(ref.Rounds) || ref.Rounds[i] == nil || c.Rounds[i] == nil {
			continue
		}
		a, ok1 := ref.Rounds[i][m.Name]
		b, ok2 := c.Rounds[i][m.Name]
		if !ok1 || !ok2 {
			continue
		}
		a, b = max(a, m.Floor), max(b, m.Floor)
		if a <= 0 || b <= 0 {
			continue
		}
		if m.HigherBetter {
			out = append(out, a/b)
		} else {
			out = append(out, b/a)
		}
	}
	return out
}

// Ref returns the workload's reference contender, or nil.
func (w *WorkloadResult) Ref() *ContenderResult {
	for i := range w.Contenders {
		if w.Contenders[i].Ref {
			return &w.Contenders[i]
		}
	}
	return nil
}

// Metric returns the metric named name, or the first if name is empty.
func (w *WorkloadResult) Metric(name string) Metric {
	for _, m := range w.Metrics {
		if m.Name == name {
			return m
		}
	}
	return w.Metrics[0]
}
