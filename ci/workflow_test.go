package ci

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// workflowFile is the workflow under test, relative to this package.
const workflowFile = "../.github/workflows/ci.yml"

// workflow, job and step name every key GitHub Actions accepts at their
// level, and parse decodes with KnownFields, so a misspelt key (runs_on,
// working-dir) fails the test instead of being skipped by it (and rejected or
// ignored by GitHub).
type workflow struct {
	Name        string            `yaml:"name"`
	RunName     string            `yaml:"run-name"`
	On          any               `yaml:"on"`
	Permissions any               `yaml:"permissions"`
	Env         map[string]string `yaml:"env"`
	Defaults    any               `yaml:"defaults"`
	Concurrency any               `yaml:"concurrency"`
	Jobs        map[string]*job   `yaml:"jobs"`
}

type job struct {
	Name            string            `yaml:"name"`
	Permissions     any               `yaml:"permissions"`
	Needs           any               `yaml:"needs"`
	If              any               `yaml:"if"`
	RunsOn          any               `yaml:"runs-on"`
	Environment     any               `yaml:"environment"`
	Concurrency     any               `yaml:"concurrency"`
	Outputs         map[string]string `yaml:"outputs"`
	Env             map[string]string `yaml:"env"`
	Defaults        any               `yaml:"defaults"`
	TimeoutMinutes  any               `yaml:"timeout-minutes"`
	Strategy        any               `yaml:"strategy"`
	ContinueOnError any               `yaml:"continue-on-error"`
	Container       any               `yaml:"container"`
	Services        any               `yaml:"services"`
	Uses            string            `yaml:"uses"` // a reusable workflow
	With            map[string]any    `yaml:"with"`
	Secrets         any               `yaml:"secrets"`
	Snapshot        any               `yaml:"snapshot"`
	Steps           []*step           `yaml:"steps"`
}

type step struct {
	ID               string            `yaml:"id"`
	If               any               `yaml:"if"`
	Name             string            `yaml:"name"`
	Uses             string            `yaml:"uses"`
	Run              string            `yaml:"run"`
	WorkingDirectory string            `yaml:"working-directory"`
	Shell            string            `yaml:"shell"`
	With             map[string]any    `yaml:"with"`
	Env              map[string]string `yaml:"env"`
	ContinueOnError  any               `yaml:"continue-on-error"`
	TimeoutMinutes   any               `yaml:"timeout-minutes"`
}

// parse decodes one YAML document into a workflow, refusing unknown keys,
// duplicate keys (yaml.v3 always does) and further documents.
func parse(data []byte) (*workflow, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var w workflow
	if err := dec.Decode(&w); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty: no YAML document")
		}
		return nil, err
	}
	var extra any
	switch err := dec.Decode(&extra); err {
	case io.EOF:
	case nil:
		return nil, errors.New("more than one YAML document")
	default:
		return nil, fmt.Errorf("after the first document: %v", err)
	}
	return &w, nil
}

func readWorkflow(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(workflowFile))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func load(t *testing.T) *workflow {
	t.Helper()
	w, err := parse(readWorkflow(t))
	if err != nil {
		t.Fatalf("%s does not parse: %v", workflowFile, err)
	}
	return w
}

// checks are the workflow's promises. Each returns nil or what is wrong;
// TestChecksCanFail shows that each one can fail.
var checks = []struct {
	name  string
	check func(*workflow) error
}{
	{"structure", checkStructure},
	{"jobs", checkJobs},
	{"triggers", checkTriggers},
	{"concurrency", checkConcurrency},
	{"permissions", checkPermissions},
	{"pinned", checkPinned},
	{"windows-race", checkWindowsRace},
	{"windows-vet", checkWindowsVet},
	{"windows-386", checkWindows386},
	{"windows-bench", checkWindowsBench},
	{"windows-interop", checkWindowsInterop},
	{"linux-make-test", checkLinuxMakeTest},
	{"macos", checkMacOS},
}

func TestWorkflow(t *testing.T) {
	w := load(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(w); err != nil {
				t.Errorf("%s: %v", workflowFile, err)
			}
		})
	}
}

// ---- the checks ----

func checkStructure(w *workflow) error {
	var errs []error
	if len(w.Jobs) == 0 {
		return errors.New("no jobs")
	}
	for _, name := range slices.Sorted(maps.Keys(w.Jobs)) {
		j := w.Jobs[name]
		if j == nil {
			errs = append(errs, fmt.Errorf("job %s: empty", name))
			continue
		}
		if (j.Uses == "") == (len(j.Steps) == 0) {
			errs = append(errs, fmt.Errorf("job %s: needs steps or a reusable workflow (uses), not both or neither", name))
		}
		if len(j.Steps) > 0 && j.RunsOn == nil {
			errs = append(errs, fmt.Errorf("job %s: no runs-on", name))
		}
		for i, s := range j.Steps {
			if s == nil {
				errs = append(errs, fmt.Errorf("job %s step %d: empty", name, i+1))
				continue
			}
			if (s.Uses == "") == (s.Run == "") {
				errs = append(errs, fmt.Errorf("job %s step %d (%s): needs exactly one of uses and run", name, i+1, stepName(s)))
			}
		}
	}
	return errors.Join(errs...)
}

func checkJobs(w *workflow) error {
	var errs []error
	for _, want := range []struct{ job, runner string }{
		{"windows", "windows-latest"},
		{"linux", "ubuntu-latest"},
		{"macos", "macos-latest"},
	} {
		j, err := getJob(w, want.job)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got := runsOn(j); !slices.Equal(got, []string{want.runner}) {
			errs = append(errs, fmt.Errorf("job %s: runs-on %q, want %s", want.job, got, want.runner))
		}
	}
	return errors.Join(errs...)
}

func checkTriggers(w *workflow) error {
	var events []string
	switch on := w.On.(type) {
	case string:
		events = []string{on}
	case []any:
		for _, e := range on {
			events = append(events, fmt.Sprint(e))
		}
	case map[string]any:
		events = slices.Collect(maps.Keys(on))
	case nil:
		return errors.New("no on: the workflow never runs")
	default:
		return fmt.Errorf("on: unexpected %T", on)
	}
	var errs []error
	for _, want := range []string{"push", "pull_request"} {
		if !slices.Contains(events, want) {
			errs = append(errs, fmt.Errorf("not triggered on %s (on: %q)", want, events))
		}
	}
	return errors.Join(errs...)
}

func checkConcurrency(w *workflow) error {
	c, ok := w.Concurrency.(map[string]any)
	if !ok {
		return fmt.Errorf("concurrency: want a group with cancel-in-progress, have %#v", w.Concurrency)
	}
	if g, _ := c["group"].(string); strings.TrimSpace(g) == "" {
		return errors.New("concurrency: no group")
	}
	switch v := c["cancel-in-progress"].(type) {
	case bool:
		if !v {
			return errors.New("concurrency: cancel-in-progress is false; superseded runs go on")
		}
	case string:
		if !strings.HasPrefix(strings.TrimSpace(v), "${{") {
			return fmt.Errorf("concurrency: cancel-in-progress %q is neither a boolean nor an expression", v)
		}
	default:
		return errors.New("concurrency: no cancel-in-progress; superseded runs go on")
	}
	return nil
}

func checkPermissions(w *workflow) error {
	if w.Permissions == nil {
		return errors.New("no top-level permissions: the token gets the repository's default, which may be write-all")
	}
	var errs []error
	if err := readOnly(w.Permissions); err != nil {
		errs = append(errs, fmt.Errorf("permissions: %v", err))
	}
	for _, name := range slices.Sorted(maps.Keys(w.Jobs)) {
		if j := w.Jobs[name]; j != nil && j.Permissions != nil {
			if err := readOnly(j.Permissions); err != nil {
				errs = append(errs, fmt.Errorf("job %s permissions: %v", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func readOnly(p any) error {
	switch p := p.(type) {
	case string:
		if p != "read-all" {
			return fmt.Errorf("%q is not read-only", p)
		}
	case map[string]any:
		for _, scope := range slices.Sorted(maps.Keys(p)) {
			if v := fmt.Sprint(p[scope]); v != "read" && v != "none" {
				return fmt.Errorf("%s: %s is not read-only", scope, v)
			}
		}
	default:
		return fmt.Errorf("unexpected %T", p)
	}
	return nil
}

// pinned is owner/repo[/path]@vN[.N[.N]]: a release tag, not a branch.
var pinned = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@v[0-9]+(\.[0-9]+){0,2}$`)

func checkPinned(w *workflow) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(w.Jobs)) {
		j := w.Jobs[name]
		if j == nil {
			continue
		}
		if j.Uses != "" && !pinned.MatchString(j.Uses) {
			errs = append(errs, fmt.Errorf("job %s: uses %q is not pinned to a version tag (@vN)", name, j.Uses))
		}
		for _, s := range j.Steps {
			if s != nil && s.Uses != "" && !pinned.MatchString(s.Uses) {
				errs = append(errs, fmt.Errorf("job %s step %s: uses %q is not pinned to a version tag (@vN)", name, stepName(s), s.Uses))
			}
		}
	}
	return errors.Join(errs...)
}

func checkWindowsRace(w *workflow) error {
	cmds, err := jobCommands(w, "windows")
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if c.is("go", "test") && c.dir == "." && c.flag("race") && c.hasArg("./...") {
			if c.env["CGO_ENABLED"] != "1" {
				return fmt.Errorf("windows: %s: -race needs cgo, but CGO_ENABLED is %q, not \"1\"", c, c.env["CGO_ENABLED"])
			}
			return nil
		}
	}
	return errors.New("windows: no step runs `go test -race ./...` in the repository root")
}

// checkWindowsVet wants `go vet ./...` of the module for every shipped
// Windows architecture. A vet without GOARCH counts as amd64, the
// architecture of windows-latest.
func checkWindowsVet(w *workflow) error {
	cmds, err := jobCommands(w, "windows")
	if err != nil {
		return err
	}
	vetted := map[string]bool{}
	for _, c := range cmds {
		if c.is("go", "vet") && c.dir == "." && c.hasArg("./...") && (c.env["GOOS"] == "" || c.env["GOOS"] == "windows") {
			arch := c.env["GOARCH"]
			if arch == "" {
				arch = "amd64"
			}
			vetted[arch] = true
		}
	}
	var missing []string
	for _, arch := range []string{"amd64", "386", "arm64"} {
		if !vetted[arch] {
			missing = append(missing, arch)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("windows: no step runs `go vet ./...` with GOARCH %s (vetted: %v)", strings.Join(missing, ", "), slices.Sorted(maps.Keys(vetted)))
	}
	return nil
}

func checkWindows386(w *workflow) error {
	cmds, err := jobCommands(w, "windows")
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if c.is("go", "test") && c.dir == "." && c.hasArg("./...") && c.env["GOARCH"] == "386" {
			return nil
		}
	}
	return errors.New("windows: no step runs `go test ./...` with GOARCH 386")
}

func checkWindowsBench(w *workflow) error {
	cmds, err := jobCommands(w, "windows")
	if err != nil {
		return err
	}
	var vet, bench bool
	for _, c := range cmds {
		if c.dir != "bench" {
			continue
		}
		vet = vet || c.is("go", "vet")
		bench = bench || c.is("go", "test") && c.flag("bench")
	}
	var errs []error
	if !vet {
		errs = append(errs, errors.New("windows: no step runs `go vet` in bench/"))
	}
	if !bench {
		errs = append(errs, errors.New("windows: no step runs `go test -bench` in bench/"))
	}
	return errors.Join(errs...)
}

// checkWindowsInterop wants go-winio against conduit (module interop) on
// real Windows, with the race detector: the tests that skip under Wine
// (go-winio's own listener, its default SQOS) run only there.
func checkWindowsInterop(w *workflow) error {
	cmds, err := jobCommands(w, "windows")
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if c.dir == "interop" && c.is("go", "test") && c.flag("race") && c.hasArg("./...") {
			if c.env["CGO_ENABLED"] != "1" {
				return fmt.Errorf("windows: %s: -race needs cgo, but CGO_ENABLED is %q, not \"1\"", c, c.env["CGO_ENABLED"])
			}
			return nil
		}
	}
	return errors.New("windows: no step runs `go test -race ./...` in interop/")
}

// checkLinuxMakeTest wants `make test`, and Wine in place for it:
// testbed/setup.sh installs Wine itself only as root, so either make runs
// under sudo or an earlier step apt-get installs wine64.
func checkLinuxMakeTest(w *workflow) error {
	cmds, err := jobCommands(w, "linux")
	if err != nil {
		return err
	}
	wine := false
	for _, c := range cmds {
		if (c.is("apt-get", "install") || c.is("apt", "install")) && c.sudo && c.hasArg("wine64") {
			wine = true
		}
		if c.args[0] == "make" && c.dir == "." && slices.Contains(c.args[1:], "test") {
			if !c.sudo && !wine {
				return fmt.Errorf("linux: %s runs before any `sudo apt-get install wine64`, and not as root, so testbed/setup.sh cannot install Wine", c)
			}
			return nil
		}
	}
	return errors.New("linux: no step runs `make test`")
}

func checkMacOS(w *workflow) error {
	cmds, err := jobCommands(w, "macos")
	if err != nil {
		return err
	}
	var vet, test bool
	for _, c := range cmds {
		if c.dir == "." && c.hasArg("./...") {
			vet = vet || c.is("go", "vet")
			test = test || c.is("go", "test")
		}
	}
	var errs []error
	if !vet {
		errs = append(errs, errors.New("macos: no step runs `go vet ./...`"))
	}
	if !test {
		errs = append(errs, errors.New("macos: no step runs `go test ./...`"))
	}
	return errors.Join(errs...)
}

// ---- reading jobs and run scripts ----

func getJob(w *workflow, name string) (*job, error) {
	j := w.Jobs[name]
	if j == nil {
		return nil, fmt.Errorf("no job %s (jobs: %v)", name, slices.Sorted(maps.Keys(w.Jobs)))
	}
	return j, nil
}

// runsOn gives a job's runner labels: runs-on as a string or a list.
func runsOn(j *job) []string {
	switch r := j.RunsOn.(type) {
	case string:
		return []string{r}
	case []any:
		var labels []string
		for _, l := range r {
			labels = append(labels, fmt.Sprint(l))
		}
		return labels
	}
	return nil
}

func stepName(s *step) string {
	switch {
	case s.Name != "":
		return fmt.Sprintf("%q", s.Name)
	case s.Uses != "":
		return s.Uses
	}
	return fmt.Sprintf("%q", firstLine(s.Run))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// A command is one simple command of a step's run script, as far as a
// reading of its words can tell: scripts are split into lines (joining
// continuations) and at &&, ||, | and ;, comments dropped, `cd dir` followed,
// and leading VAR=value words and sudo taken off into env and sudo.
type command struct {
	step *step
	dir  string            // relative to the repository root; "." is the root
	env  map[string]string // the workflow's, job's and step's env, then VAR=value words
	sudo bool
	args []string
}

func (c command) String() string {
	return fmt.Sprintf("step %s: `%s`", stepName(c.step), strings.Join(c.args, " "))
}

// is reports whether the command is name followed by the words sub.
func (c command) is(name string, sub ...string) bool {
	if len(c.args) < 1+len(sub) || strings.TrimSuffix(path.Base(filepath.ToSlash(c.args[0])), ".exe") != name {
		return false
	}
	return slices.Equal(c.args[1:1+len(sub)], sub)
}

func (c command) hasArg(arg string) bool {
	return slices.Contains(c.args[1:], arg)
}

// flag reports whether Go-style flag -name (or --name) is set and not
// =false.
func (c command) flag(name string) bool {
	for _, a := range c.args[1:] {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") && a != name+"=false" {
			return true
		}
	}
	return false
}

func jobCommands(w *workflow, name string) ([]command, error) {
	j, err := getJob(w, name)
	if err != nil {
		return nil, err
	}
	var out []command
	for _, s := range j.Steps {
		if s == nil || s.Run == "" {
			continue
		}
		dir := path.Clean(filepath.ToSlash(s.WorkingDirectory))
		env := map[string]string{}
		maps.Copy(env, w.Env)
		maps.Copy(env, j.Env)
		maps.Copy(env, s.Env)
		for _, line := range scriptLines(s.Run) {
			for _, seg := range strings.Split(separators.Replace(line), "\n") {
				words := strings.Fields(seg)
				cenv := maps.Clone(env)
				for len(words) > 0 && assignment.MatchString(words[0]) {
					k, v, _ := strings.Cut(words[0], "=")
					cenv[k] = unquote(v)
					words = words[1:]
				}
				sudo := len(words) > 0 && words[0] == "sudo"
				if sudo {
					words = words[1:]
				}
				switch {
				case len(words) == 0:
				case words[0] == "cd" && len(words) == 2:
					dir = path.Join(dir, unquote(filepath.ToSlash(words[1])))
				default:
					out = append(out, command{step: s, dir: dir, env: cenv, sudo: sudo, args: words})
				}
			}
		}
	}
	return out, nil
}

var (
	separators = strings.NewReplacer("&&", "\n", "||", "\n", "|", "\n", ";", "\n")
	assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// scriptLines splits a run script into lines, joining lines continued with
// a backslash (sh) or a backtick (PowerShell) and dropping comments.
func scriptLines(script string) []string {
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(script, "\n") {
		l = strings.TrimRight(l, " \t\r")
		if words := strings.Fields(l); len(words) > 0 {
			if i := slices.IndexFunc(words, func(w string) bool { return strings.HasPrefix(w, "#") }); i >= 0 {
				l = strings.Join(words[:i], " ")
			}
		}
		if strings.HasSuffix(l, `\`) || strings.HasSuffix(l, "`") {
			cur.WriteString(l[:len(l)-1] + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// ---- each check can fail ----

// TestParseCanFail breaks the workflow's text in ways GitHub would reject
// (or misread) and wants parse to refuse each.
func TestParseCanFail(t *testing.T) {
	text := string(readWorkflow(t))
	for _, m := range []struct {
		name, old, new string // replace the first old with new; old "" appends new
	}{
		{"empty", text, ""},
		{"tab indentation", "\n    steps:", "\n\tsteps:"},
		{"unclosed flow mapping", "\npermissions:\n", "\npermissions: {contents: read\n"},
		{"duplicate key", "", "\njobs: {}\n"},
		{"misspelt job key", "runs-on:", "runs_on:"},
		{"misspelt step key", "working-directory:", "working-dir:"},
		{"second document", "", "\n---\nname: again\n"},
	} {
		t.Run(m.name, func(t *testing.T) {
			broken := text + m.new
			if m.old != "" {
				if !strings.Contains(text, m.old) {
					t.Fatalf("the workflow no longer contains %q; update this mutation", m.old)
				}
				broken = strings.Replace(text, m.old, m.new, 1)
			}
			if _, err := parse([]byte(broken)); err == nil {
				t.Errorf("parse accepted the workflow with %s", m.name)
			} else {
				t.Logf("%s: %v", m.name, err)
			}
		})
	}
}

// TestChecksCanFail changes the parsed workflow, one breakage at a time, and
// wants the named check to report each.
func TestChecksCanFail(t *testing.T) {
	byName := map[string]func(*workflow) error{}
	for _, c := range checks {
		byName[c.name] = c.check
	}
	tested := map[string]bool{}
	for _, m := range []struct {
		check, name string
		mutate      func(*workflow)
	}{
		{"structure", "a step with both run and uses", func(w *workflow) {
			w.Jobs["windows"].Steps[0].Uses = "actions/checkout@v4"
			w.Jobs["windows"].Steps[0].Run = "true"
		}},
		{"structure", "a step with neither run nor uses", func(w *workflow) {
			w.Jobs["linux"].Steps = append(w.Jobs["linux"].Steps, &step{Name: "nothing"})
		}},
		{"structure", "a job without runs-on", func(w *workflow) { w.Jobs["macos"].RunsOn = nil }},
		{"jobs", "no macos job", func(w *workflow) { delete(w.Jobs, "macos") }},
		{"jobs", "windows on ubuntu", func(w *workflow) { w.Jobs["windows"].RunsOn = "ubuntu-latest" }},
		{"jobs", "windows on a pinned image", func(w *workflow) { w.Jobs["windows"].RunsOn = []any{"windows-2022"} }},
		{"triggers", "push only", func(w *workflow) { w.On = "push" }},
		{"triggers", "no triggers", func(w *workflow) { w.On = nil }},
		{"concurrency", "no concurrency", func(w *workflow) { w.Concurrency = nil }},
		{"concurrency", "cancel-in-progress false", func(w *workflow) {
			w.Concurrency.(map[string]any)["cancel-in-progress"] = false
		}},
		{"permissions", "no permissions", func(w *workflow) { w.Permissions = nil }},
		{"permissions", "write-all", func(w *workflow) { w.Permissions = "write-all" }},
		{"permissions", "contents: write", func(w *workflow) { w.Permissions = map[string]any{"contents": "write"} }},
		{"permissions", "a job with contents: write", func(w *workflow) {
			w.Jobs["linux"].Permissions = map[string]any{"contents": "write"}
		}},
		{"pinned", "an action on a branch", func(w *workflow) {
			forSteps(w, "macos", func(s *step) {
				if s.Uses != "" {
					s.Uses = strings.Split(s.Uses, "@")[0] + "@main"
				}
			})
		}},
		{"pinned", "an action unpinned", func(w *workflow) {
			forSteps(w, "linux", func(s *step) { s.Uses, _, _ = strings.Cut(s.Uses, "@") })
		}},
		{"windows-race", "no -race", func(w *workflow) {
			forSteps(w, "windows", func(s *step) { s.Run = strings.ReplaceAll(s.Run, "-race", "") })
		}},
		{"windows-race", "-race without cgo", func(w *workflow) {
			forSteps(w, "windows", func(s *step) { delete(s.Env, "CGO_ENABLED") })
		}},
		{"windows-race", "no windows job", func(w *workflow) { delete(w.Jobs, "windows") }},
		{"windows-vet", "no arm64 vet", func(w *workflow) { replaceArch(w, "arm64", "amd64") }},
		{"windows-vet", "no 386 vet", func(w *workflow) { replaceArch(w, "386", "amd64") }},
		{"windows-vet", "vet of GOOS linux", func(w *workflow) { w.Jobs["windows"].Env = map[string]string{"GOOS": "linux"} }},
		{"windows-386", "no 386 tests", func(w *workflow) { replaceArch(w, "386", "amd64") }},
		{"windows-bench", "bench steps in the root", func(w *workflow) {
			forSteps(w, "windows", func(s *step) {
				s.WorkingDirectory = ""
				s.Run = strings.ReplaceAll(s.Run, "cd bench", "cd .")
			})
		}},
		{"windows-bench", "no -bench", func(w *workflow) {
			forSteps(w, "windows", func(s *step) { s.Run = strings.ReplaceAll(s.Run, "-bench .", "") })
		}},
		{"windows-interop", "interop tests in the root", func(w *workflow) {
			forSteps(w, "windows", func(s *step) {
				if s.WorkingDirectory == "interop" {
					s.WorkingDirectory = ""
				}
			})
		}},
		{"windows-interop", "interop without the race detector", func(w *workflow) {
			forSteps(w, "windows", func(s *step) {
				if s.WorkingDirectory == "interop" {
					s.Run = strings.ReplaceAll(s.Run, "-race", "")
				}
			})
		}},
		{"linux-make-test", "make vet instead", func(w *workflow) {
			forSteps(w, "linux", func(s *step) { s.Run = strings.ReplaceAll(s.Run, "make test", "make vet") })
		}},
		{"linux-make-test", "no Wine installed", func(w *workflow) {
			j := w.Jobs["linux"]
			j.Steps = slices.DeleteFunc(j.Steps, func(s *step) bool { return strings.Contains(s.Run, "apt-get") })
		}},
		{"macos", "no tests", func(w *workflow) {
			forSteps(w, "macos", func(s *step) { s.Run = strings.ReplaceAll(s.Run, "go test", "go build") })
		}},
		{"macos", "no vet", func(w *workflow) {
			forSteps(w, "macos", func(s *step) { s.Run = strings.ReplaceAll(s.Run, "go vet", "go build") })
		}},
	} {
		tested[m.check] = true
		t.Run(m.check+"/"+m.name, func(t *testing.T) {
			check := byName[m.check]
			w := load(t)
			if err := check(w); err != nil {
				t.Skipf("the workflow already fails this check (TestWorkflow reports it): %v", err)
			}
			m.mutate(w)
			if err := check(w); err == nil {
				t.Errorf("check %s passed a workflow with %s", m.check, m.name)
			} else {
				t.Logf("%v", err)
			}
		})
	}
	for _, c := range checks {
		if !tested[c.name] {
			t.Errorf("check %s has no mutation that shows it can fail", c.name)
		}
	}
}

func forSteps(w *workflow, jobName string, f func(*step)) {
	if j := w.Jobs[jobName]; j != nil {
		for _, s := range j.Steps {
			f(s)
		}
	}
}

// replaceArch turns every mention of GOARCH from into to in the windows
// job: in env and in VAR=value words.
func replaceArch(w *workflow, from, to string) {
	j := w.Jobs["windows"]
	for _, env := range append([]map[string]string{w.Env, j.Env}, stepEnvs(j)...) {
		if env["GOARCH"] == from {
			env["GOARCH"] = to
		}
	}
	forSteps(w, "windows", func(s *step) { s.Run = strings.ReplaceAll(s.Run, "GOARCH="+from, "GOARCH="+to) })
}

func stepEnvs(j *job) []map[string]string {
	var envs []map[string]string
	for _, s := range j.Steps {
		envs = append(envs, s.Env)
	}
	return envs
}
