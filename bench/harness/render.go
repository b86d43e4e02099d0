package harness

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
)

// An Explanation says why rows fall short of their target (or what else a
// reader must know about them): it applies to every row whose Key matches.
type Explanation struct {
	Match *regexp.Regexp
	Text  string
}

// Key names a row for explanations: "section: workload, placement |
// contender".
func (row Row) Key() string {
	return row.W.Section + ": " + row.W.Name + ", " + row.W.Placement + " | " + row.C.Name
}

// ParseExplanations reads explanations: paragraphs separated by blank
// lines, each a line "match: REGEXP" (matched against Row.Key) and then the
// text, in Markdown. Lines starting with # outside a paragraph are comments.
func ParseExplanations(r io.Reader) ([]Explanation, error) {
	var out []Explanation
	var cur *Explanation
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		switch {
		case t == "":
			cur = nil
		case cur == nil && strings.HasPrefix(t, "#"):
		case cur == nil:
			m, ok := strings.CutPrefix(t, "match:")
			if !ok {
				return nil, fmt.Errorf("line %d: a paragraph starts with \"match: REGEXP\", not %q", line, t)
			}
			re, err := regexp.Compile(strings.TrimSpace(m))
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			out = append(out, Explanation{Match: re})
			cur = &out[len(out)-1]
		default:
			if cur.Text != "" {
				cur.Text += " "
			}
			cur.Text += t
		}
	}
	for _, e := range out {
		if e.Text == "" {
			return nil, fmt.Errorf("explanation %q has no text", e.Match)
		}
	}
	return out, sc.Err()
}

// explain returns the indexes in ex of the explanations that apply to row.
func explain(ex []Explanation, row Row) []int {
	var out []int
	for i, e := range ex {
		if e.Match.MatchString(row.Key()) {
			out = append(out, i)
		}
	}
	return out
}

// notes numbers the explanations a table cites, in the order first cited.
type notes struct {
	ex    []Explanation
	order []int
	num   map[int]int
}

// cite returns the references of the explanations that apply to row, which
// are for rows short of their target or that failed: others cite none.
func (n *notes) cite(row Row) string {
	if row.Met || row.Target <= 0 && row.Failures == 0 {
		return ""
	}
	var refs []string
	for _, i := range explain(n.ex, row) {
		if n.num == nil {
			n.num = map[int]int{}
		}
		k, ok := n.num[i]
		if !ok {
			n.order = append(n.order, i)
			k = len(n.order)
			n.num[i] = k
		}
		refs = append(refs, fmt.Sprintf("[%d]", k))
	}
	return strings.Join(refs, " ")
}

func (n *notes) write(wr io.Writer) {
	if len(n.order) == 0 {
		return
	}
	fmt.Fprintln(wr)
	for k, i := range n.order {
		fmt.Fprintf(wr, "%d. %s\n", k+1, n.ex[i].Text)
	}
	n.order, n.num = nil, nil
}

// Row is one contender's line in the table, its figures computed.
type Row struct {
	W        *WorkloadResult
	C        *ContenderResult
	Medians  []float64 // per metric; NaN where there is none
	Ratio    float64   // median over rounds of the target metric's ratio; NaN if none
	Ratios   []float64 // per metric, as Ratio
	Target   float64
	Met      bool // Target > 0 and Ratio >= Target
	Failures int  // rounds that failed
}

// Rows computes the table's rows, workload by workload.
func Rows(r *Report) []Row {
	var out []Row
	for wi := range r.Workloads {
		w := &r.Workloads[wi]
		ref := w.Ref()
		for ci := range w.Contenders {
			c := &w.Contenders[ci]
			row := Row{W: w, C: c, Ratio: math.NaN(), Target: c.Target, Failures: len(c.Errors)}
			for _, m := range w.Metrics {
				med, ok := Median(c.Values(m.Name))
				if !ok {
					med = math.NaN()
				}
				row.Medians = append(row.Medians, med)
				rat := math.NaN()
				if ref != nil && !c.Ref {
					if v, ok := Median(Ratios(ref, c, m)); ok {
						rat = v
					}
				}
				row.Ratios = append(row.Ratios, rat)
			}
			if ref != nil && !c.Ref {
				tm := w.Metric(c.TargetMetric)
				for i, m := range w.Metrics {
					if m.Name == tm.Name {
						row.Ratio = row.Ratios[i]
					}
				}
			}
			row.Met = c.Target > 0 && !math.IsNaN(row.Ratio) && row.Ratio >= c.Target
			out = append(out, row)
		}
	}
	return out
}

// Markdown writes the report as Markdown: a header naming the machine, then
// one table per section.
// Explanations that apply to a row are cited next to it and written under
// its section's table.
func Markdown(wr io.Writer, r *Report, chart string, ex []Explanation) {
	m := r.Meta
	fmt.Fprintf(wr, "# conduit benchmarks\n\n")
	fmt.Fprintf(wr, "Measured %s on %s; CPU %s, %s logical CPUs; %s; %s.\n",
		m["date"], m["uname"], m["cpu"], m["nproc"], m["go"], m["wine"])
	fmt.Fprintf(wr, "Rounds: %s per workload, %s of measured time per contender and round (Windows), %s (Linux).\n\n",
		m["rounds"], m["duration_windows"], m["duration_linux"])
	fmt.Fprint(wr, `Contenders run interleaved, round by round (A B C, B C A, ...), so drift on this
noisy machine falls on all of them alike. Each figure is the median over the rounds.
**vs conduit** is conduit's result over the contender's *in the same round* (the
contender's over conduit's for times and counts, where lower is better), and then the
median over rounds: above 1 means conduit did better. A target is met when that ratio
reaches it. Regenerate with `+"`make bench`"+` (bench/run.sh). Where a row says why it
falls short, the numbered note under its table explains.

`)
	if chart != "" {
		fmt.Fprintf(wr, "![conduit's ratio against each contender](%s)\n\n", chart)
	}
	rows := Rows(r)
	section := ""
	var met, total int
	n := notes{ex: ex}
	for i, row := range rows {
		if row.W.Section != section {
			n.write(wr)
			section = row.W.Section
			fmt.Fprintf(wr, "\n## %s\n\n", section)
			fmt.Fprintln(wr, "| workload | placement | contender | result | vs conduit | target | met |")
			fmt.Fprintln(wr, "| --- | --- | --- | --- | --- | --- | --- |")
		}
		wl, pl := row.W.Name, row.W.Placement
		if i > 0 && rows[i-1].W == row.W {
			wl, pl = "", ""
		}
		name := row.C.Name
		if row.C.Ref {
			name = "**" + name + "**"
		}
		if row.C.Note != "" {
			name += " <br><sub>" + row.C.Note + "</sub>"
		}
		result := formatResult(row)
		ratio := formatRatios(row)
		target, ok := "", ""
		if row.Target > 0 {
			total++
			target = fmt.Sprintf("≥ %.2fx", row.Target)
			if tm := row.C.TargetMetric; tm != "" && tm != row.W.Metrics[0].Name {
				target += " (" + tm + ")"
			}
			ok = "no"
			if row.Met {
				ok = "yes"
				met++
			}
		}
		if c := n.cite(row); c != "" {
			ok = strings.TrimSpace(ok + " " + c)
		}
		fmt.Fprintf(wr, "| %s | %s | %s | %s | %s | %s | %s |\n", wl, pl, name, result, ratio, target, ok)
	}
	n.write(wr)
	fmt.Fprintf(wr, "\nTargets met: %d of %d.\n", met, total)
}

// Summary writes the short form of the report that the README shows: a
// line per workload and placement with conduit's result and its ratio to
// each contender that has a target, then the explanations cited.
func Summary(wr io.Writer, r *Report, ex []Explanation) {
	rows := Rows(r)
	n := notes{ex: ex}
	var met, total int
	fmt.Fprintln(wr, "| section | workload | placement | conduit | against its targets (ratio, target, met) | notes |")
	fmt.Fprintln(wr, "| --- | --- | --- | --- | --- | --- |")
	for i := 0; i < len(rows); {
		w := rows[i].W
		var ref, cells, cites []string
		for ; i < len(rows) && rows[i].W == w; i++ {
			row := rows[i]
			if row.C.Ref {
				ref = append(ref, formatResult(row))
			}
			for _, c := range strings.Fields(n.cite(row)) {
				if !slices.Contains(cites, c) {
					cites = append(cites, c)
				}
			}
			if row.Target <= 0 {
				continue
			}
			total++
			mark := "✗"
			if row.Met {
				mark = "✓"
				met++
			}
			v := "no result"
			if !math.IsNaN(row.Ratio) {
				v = fmt.Sprintf("%.2fx", row.Ratio)
			}
			cells = append(cells, fmt.Sprintf("%s %s (≥ %.2fx) %s", row.C.Name, v, row.Target, mark))
		}
		if len(cells) == 0 {
			continue
		}
		sec, _, _ := strings.Cut(w.Section, " (")
		fmt.Fprintf(wr, "| %s | %s | %s | %s | %s | %s |\n", sec, w.Name, w.Placement,
			strings.Join(ref, "; "), strings.Join(cells, "<br>"), strings.Join(cites, " "))
	}
	fmt.Fprintf(wr, "\nTargets met: %d of %d.\n", met, total)
	n.write(wr)
}

func formatResult(row Row) string {
	c := row.C
	switch {
	case c.Skip != "":
		return "not run: " + c.Skip
	case len(c.Rounds) > 0 && row.Failures == len(c.Rounds):
		return "failed: " + oneLine(c.Errors[0])
	}
	var parts []string
	for i, m := range row.W.Metrics {
		if math.IsNaN(row.Medians[i]) {
			continue
		}
		p := formatValue(row.Medians[i]) + " " + m.Unit
		if len(row.W.Metrics) > 1 {
			p = m.Name + " " + p
		}
		parts = append(parts, p)
	}
	s := strings.Join(parts, ", ")
	if row.Failures > 0 {
		s += fmt.Sprintf(" (%d of %d rounds failed: %s)", row.Failures, len(c.Rounds), oneLine(c.Errors[0]))
	}
	if c.Abandoned > 0 {
		s += fmt.Sprintf(" (abandoned in round %d: not run after it, and its hung run went on beside later contenders)", c.Abandoned)
	}
	return s
}

func formatRatios(row Row) string {
	if row.C.Ref || math.IsNaN(row.Ratio) {
		return ""
	}
	s := fmt.Sprintf("%.2fx", row.Ratio)
	var others []string
	tm := row.W.Metric(row.C.TargetMetric).Name
	for i, m := range row.W.Metrics {
		if m.Name != tm && !math.IsNaN(row.Ratios[i]) {
			others = append(others, fmt.Sprintf("%s %.2fx", m.Name, row.Ratios[i]))
		}
	}
	if len(others) > 0 {
		s += " (" + strings.Join(others, ", ") + ")"
	}
	return s
}

func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// SVG writes a chart of conduit's ratio against every contender that has
// one: a horizontal bar per row, grouped by section, on a log scale around
// the 1.0 line, green where the row's target is met, red where it is not,
// grey where it has none, with the target as a tick.
func SVG(wr io.Writer, r *Report) {
	rows := Rows(r)
	var bars []Row
	for _, row := range rows {
		if !row.C.Ref && !math.IsNaN(row.Ratio) {
			bars = append(bars, row)
		}
	}
	const (
		width  = 980
		labelW = 520
		rowH   = 17
		top    = 58
		secH   = 24
		left   = labelW + 10
		plotW  = width - left - 60
	)
	// A log2 axis from 1/4 to 8: ratios beyond are drawn at the edge with
	// their value written.
	lo, hi := math.Log2(0.25), math.Log2(8)
	x := func(v float64) float64 {
		l := math.Log2(math.Max(math.Min(v, 8), 0.25))
		return left + (l-lo)/(hi-lo)*plotW
	}
	sections := 0
	prev := ""
	for _, b := range bars {
		if b.W.Section != prev {
			sections++
			prev = b.W.Section
		}
	}
	height := top + len(bars)*rowH + sections*secH + 40
	fmt.Fprintf(wr, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(wr, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(wr, `<text x="10" y="20" font-size="15" font-weight="bold">conduit against each contender, same run (ratio, log scale; &gt; 1: conduit better)</text>`+"\n")
	fmt.Fprintf(wr, `<text x="10" y="38" fill="#555">%s · %s · %s · %s</text>`+"\n",
		html.EscapeString(r.Meta["date"]), html.EscapeString(r.Meta["cpu"]+", "+r.Meta["nproc"]+" CPUs"),
		html.EscapeString(r.Meta["go"]), html.EscapeString(r.Meta["wine"]))
	// Grid.
	plotBottom := height - 30
	for _, v := range []float64{0.25, 0.5, 1, 2, 4, 8} {
		xx := x(v)
		stroke, w := "#ddd", 1
		if v == 1 {
			stroke, w = "#333", 2
		}
		fmt.Fprintf(wr, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", xx, top-6, xx, plotBottom, stroke, w)
		fmt.Fprintf(wr, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%gx</text>`+"\n", xx, plotBottom+14, v)
	}
	y := top
	prev = ""
	for _, b := range bars {
		if b.W.Section != prev {
			prev = b.W.Section
			fmt.Fprintf(wr, `<text x="10" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", y+16, html.EscapeString(b.W.Section))
			y += secH
		}
		label := b.W.Name + " · " + b.W.Placement + " · " + b.C.Name
		if tm := b.C.TargetMetric; tm != "" && tm != b.W.Metrics[0].Name {
			label += " (" + tm + ")"
		} else if len(b.W.Metrics) > 1 {
			label += " (" + b.W.Metrics[0].Name + ")"
		}
		fill := "#9aa5b1"
		if b.Target > 0 {
			fill = "#d9534f"
			if b.Met {
				fill = "#3c9d5d"
			}
		}
		fmt.Fprintf(wr, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW, y+12, html.EscapeString(shorten(label, 88)))
		x0, x1 := x(1), x(b.Ratio)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		fmt.Fprintf(wr, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y+3, math.Max(x1-x0, 1), rowH-5, fill)
		if b.Target > 0 {
			tx := x(b.Target)
			fmt.Fprintf(wr, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="2"/>`+"\n", tx, y+1, tx, y+rowH-1)
		}
		fmt.Fprintf(wr, `<text x="%.1f" y="%d" fill="#333">%.2f</text>`+"\n", math.Max(x(b.Ratio), x(1))+4, y+12, b.Ratio)
		y += rowH
	}
	fmt.Fprintf(wr, `<text x="10" y="%d" fill="#555">green: target met · red: target missed · grey: no target · black tick: the target</text>`+"\n", height-8)
	fmt.Fprintln(wr, "</svg>")
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
