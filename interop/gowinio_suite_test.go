package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The module and version whose pipe tests are the acceptance suite of
// conduit's winio package; go.mod requires the same version.
const (
	winioModule  = "github.com/Microsoft/go-winio"
	winioVersion = "v0.6.4"
)

// skippedTests are go-winio's pipe tests that do not run against conduit's
// winio, each with the reason. Every other test in the file must pass.
var skippedTests = map[string]string{
	"TestDialAccessDeniedWithRestrictedSD": "its descriptor, D:P(A;;0x1200FF;;;WD), denies the server FILE_WRITE_ATTRIBUTES and so " +
		"GENERIC_WRITE on the pipe's second instance: conduit's ListenPipe refuses it at once, where go-winio's ListenPipe " +
		"succeeds and its first Accept fails with ERROR_ACCESS_DENIED (TestWinioRestrictedSDCannotAccept); the test never " +
		"gets to its Dial",
	"TestMessageReadMode": "reaches into go-winio's unexported win32MessageBytePipe and its handle field; " +
		"winio's TestMessageReadModeSwitched does the same through the connection's Fd",
}

// timedTests are go-winio's pipe tests that bound, in wall-clock time, how
// long an operation may take, each with the bound: on a loaded machine
// (make test beside other work) they can fail with nothing wrong, so one
// that fails is run again alone (runOverlaid). The behaviour each checks is
// also checked by conduit's own tests without a wall-clock bound.
var timedTests = map[string]string{
	"TestTimeoutPendingWrite": "it sleeps 100 ms for the write to be pending, then gives its cancellation by a past " +
		"deadline 100 ms; namedpipe's TestDeadlines checks a pending write ended by its deadline, and a pending read " +
		"by one set while it waits, without a bound",
}

// wineSkippedTests are skipped when the suite runs under Wine, each with the
// gap in Wine's emulation; they run on Windows.
var wineSkippedTests = map[string]string{}

// underWine reports whether this test binary runs under Wine (set on
// Windows builds).
var underWine = func() bool { return false }

// TestGoWinioPipeSuite runs go-winio v0.6.4's own pipe_test.go against
// conduit's winio package: it copies the file from the module cache,
// changes only its package clause (to winiosuite) and adds one import
// (conduit's winio, dot-imported, so that the file's unqualified
// ListenPipe, DialPipe, ... are winio's), and runs it in
// ./winiosuite through -overlay, with the tests in skippedTests skipped.
// Every other test of the file must pass.
//
// It starts the go command, so it runs natively: on Windows it runs the
// suite there; on Linux it runs it for windows/amd64 under Wine, through
// the test bed's go_windows_amd64_exec (make test puts it on PATH). A test
// binary running under Wine cannot start the Linux go command, so there it
// skips: make test runs this test from the host instead.
func TestGoWinioPipeSuite(t *testing.T) {
	goCmd, wine := nativeGo(t)
	src := filepath.Join(winioDir(t, goCmd), "pipe_test.go")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	rewritten, err := rewriteSuite(orig)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	tests, err := testNames(rewritten)
	if err != nil {
		t.Fatalf("the rewritten %s: %v", src, err)
	}
	skip := map[string]string{}
	for name, why := range skippedTests {
		skip[name] = why
	}
	if wine {
		for name, why := range wineSkippedTests {
			skip[name] = "wine: " + why
		}
	}
	for name := range skip {
		if !slices.Contains(tests, name) {
			t.Errorf("the skip list names %s, which go-winio %s's pipe_test.go does not have", name, winioVersion)
		}
	}
	for name := range timedTests {
		if !slices.Contains(tests, name) {
			t.Errorf("timedTests names %s, which go-winio %s's pipe_test.go does not have", name, winioVersion)
		}
	}
	passed := runOverlaid(t, goCmd, wine, "winiosuite", map[string][]byte{"pipe_test.go": rewritten}, tests, skip, timedTests)
	t.Logf("go-winio %s pipe_test.go against conduit's winio: %d of %d tests passed, %d skipped", winioVersion, passed, len(tests), len(skip))
}

// TestEngineWithConduitWinio runs package engine's tests (a Docker-style
// Engine API server and client written against go-winio) with only the
// import line of each of its files changed from go-winio to conduit's
// winio. Its tests must all pass; as written, against go-winio, they run
// in the ordinary go test ./... (and skip under Wine, where go-winio's
// listener does not work).
func TestEngineWithConduitWinio(t *testing.T) {
	goCmd, wine := nativeGo(t)
	files, err := filepath.Glob(filepath.Join("engine", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("engine's files: %v", err)
	}
	const from, to = `winio "github.com/Microsoft/go-winio"`, `winio "github.com/conduit-ipc/conduit/winio"`
	overlay := map[string][]byte{}
	var tests []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "_test.go") {
			names, err := testNames(src)
			if err == nil {
				tests = append(tests, names...)
			}
		}
		switch n := bytes.Count(src, []byte(from)); n {
		case 0:
			continue // imports no winio (doc.go)
		case 1:
			overlay[filepath.Base(f)] = bytes.Replace(src, []byte(from), []byte(to), 1)
		default:
			t.Fatalf("%s names go-winio %d times; want one import line", f, n)
		}
	}
	if len(overlay) == 0 || len(tests) == 0 {
		t.Fatalf("engine: %d files import go-winio, %d tests", len(overlay), len(tests))
	}
	passed := runOverlaid(t, goCmd, wine, "engine", overlay, tests, nil, nil)
	t.Logf("engine with conduit's winio: %d of %d tests passed", passed, len(tests))
}

// nativeGo returns the go command, and whether the tests it starts run
// under Wine (on a Linux host, through the test bed's
// go_windows_amd64_exec, which must be on PATH). It skips under Wine: a
// Windows test binary there cannot start the Linux go command, so make test
// runs these tests from the host.
func nativeGo(t *testing.T) (goCmd string, wine bool) {
	t.Helper()
	if underWine() {
		t.Skip("wine: a Windows test binary cannot start the Linux go command; make test runs this from the host, under Wine")
	}
	wine = runtime.GOOS != "windows"
	if wine {
		if _, err := exec.LookPath("go_windows_amd64_exec"); err != nil {
			msg := "the Wine test bed's go_windows_amd64_exec is not on PATH (bin=$(bash testbed/setup.sh); PATH=$bin:$PATH)"
			if os.Getenv("CONDUIT_WINIO_SUITE") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	return goCmd, wine
}

// runOverlaid runs go test on the package in directory pkg with the files
// in overlay (by base name) put in place of, or beside, its own, through
// -overlay, for windows/amd64 under Wine when wine is set. The tests in
// skip are skipped, and logged with their reasons; every other name in
// tests must pass. It returns how many passed.
func runOverlaid(t *testing.T, goCmd string, wine bool, pkg string, overlay map[string][]byte, tests []string, skip, timed map[string]string) int {
	t.Helper()
	var skipNames []string
	for name := range skip {
		skipNames = append(skipNames, name)
	}
	sort.Strings(skipNames)
	for _, name := range skipNames {
		t.Logf("skipped: %s: %s", name, skip[name])
	}
	dir := t.TempDir()
	replace := map[string]string{}
	for base, src := range overlay {
		file := filepath.Join(dir, base)
		if err := os.WriteFile(file, src, 0o644); err != nil {
			t.Fatal(err)
		}
		target, err := filepath.Abs(filepath.Join(pkg, base))
		if err != nil {
			t.Fatal(err)
		}
		replace[target] = file
	}
	js, err := json.Marshal(map[string]map[string]string{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(only string) (outcome map[string]string, failed []string, output map[string]*strings.Builder, out, stderr []byte, runErr error) {
		args := []string{"test", "-overlay", overlayFile, "-json", "-count=1", "-timeout", "240s"}
		if raceEnabled {
			args = append(args, "-race")
		}
		if len(skipNames) > 0 {
			args = append(args, "-skip", "^("+strings.Join(skipNames, "|")+")$")
		}
		if only != "" {
			args = append(args, "-run", "^"+only+"$")
		}
		args = append(args, "./"+pkg)
		cmd := exec.Command(goCmd, args...)
		cmd.Env = os.Environ()
		if wine {
			cmd.Env = append(cmd.Env, "GOOS=windows", "GOARCH=amd64")
		}
		var errBuf bytes.Buffer
		cmd.Stderr = &errBuf
		out, runErr = cmd.Output()
		outcome, output = map[string]string{}, map[string]*strings.Builder{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev struct {
				Action, Test, Output string
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test == "" || strings.Contains(ev.Test, "/") {
				continue
			}
			switch ev.Action {
			case "pass", "fail", "skip":
				outcome[ev.Test] = ev.Action
				if ev.Action == "fail" {
					failed = append(failed, ev.Test)
				}
			case "output":
				if output[ev.Test] == nil {
					output[ev.Test] = new(strings.Builder)
				}
				output[ev.Test].WriteString(ev.Output)
			}
		}
		return outcome, failed, output, out, errBuf.Bytes(), runErr
	}
	outcome, failed, output, out, stderr, runErr := run("")

	// A test with a wall-clock bound of its own (timed) may fail on a
	// loaded machine, and take the tests after it down with it (seen: its
	// server instance still open, the next test's Dial "Access denied").
	// So if the first test to fail was a timed one, it and the tests that
	// failed after it are run again, alone, once: those that pass then
	// (their go test exiting 0) pass, and their first failure is logged.
	// Not retried: a failure before any timed one, a test that never ran
	// (the first run crashed), or more than maxRetried failures (not a
	// timing bound's cascade; the one seen was 2).
	const maxRetried = 4
	if len(failed) > 0 && len(failed) <= maxRetried && timed[failed[0]] != "" && skip[failed[0]] == "" {
		for _, name := range failed {
			o, _, _, _, _, err := run(name)
			if o[name] != "pass" || err != nil {
				continue
			}
			why := timed[name]
			if why == "" {
				why = "failed after " + failed[0] + ", which has a wall-clock bound, had failed"
			}
			t.Logf("%s failed on a loaded machine and passed run alone (%s); its first run:\n%s", name, why, output[name])
			outcome[name] = "pass"
		}
		all := true
		for _, name := range failed {
			all = all && outcome[name] == "pass"
		}
		if all {
			// go test's exit status of the first run was that of these
			// failures, and every one has passed alone.
			runErr = nil
		}
	}

	passed := 0
	for _, name := range tests {
		got := outcome[name]
		switch {
		case skip[name] != "":
			if got != "" {
				t.Errorf("%s was to be skipped but ran: %s", name, got)
			}
		case got == "pass":
			passed++
		case got == "":
			t.Errorf("%s did not run", name)
		default:
			t.Errorf("%s: %s\n%s", name, got, output[name])
		}
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("go test ./%s: %v\n%s\n%s", pkg, runErr, stderr, out)
	}
	if t.Failed() && len(stderr) > 0 {
		t.Logf("go test's stderr:\n%s", stderr)
	}
	return passed
}

// winioDir returns the directory of go-winio's module in the module cache
// (GOMODCACHE), downloading it if it is not there yet, and checks that it
// is the version the suite is for.
func winioDir(t *testing.T, goCmd string) string {
	t.Helper()
	var mod struct{ Version, Dir string }
	list := func(args ...string) {
		out, err := exec.Command(goCmd, args...).Output()
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		if err := json.Unmarshal(out, &mod); err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
	}
	list("list", "-m", "-json", winioModule)
	if mod.Version != winioVersion {
		t.Fatalf("interop's go.mod requires %s %s; the suite is go-winio %s's", winioModule, mod.Version, winioVersion)
	}
	if mod.Dir == "" {
		list("mod", "download", "-json", winioModule+"@"+winioVersion)
	}
	if mod.Dir == "" {
		t.Fatalf("%s %s is not in the module cache", winioModule, winioVersion)
	}
	return mod.Dir
}

// rewriteSuite changes go-winio's pipe_test.go as little as it can to run
// against conduit's winio: the package clause becomes winiosuite's, and the
// import block gains a dot import of github.com/conduit-ipc/conduit/winio.
func rewriteSuite(src []byte) ([]byte, error) {
	pkg := regexp.MustCompile(`(?m)^package winio$`)
	if n := len(pkg.FindAllIndex(src, -1)); n != 1 {
		return nil, fmt.Errorf("want one line \"package winio\", found %d", n)
	}
	out := pkg.ReplaceAll(src, []byte("package winiosuite"))
	imp := []byte("\nimport (\n")
	if bytes.Count(out, imp) != 1 {
		return nil, fmt.Errorf("want one import block")
	}
	return bytes.Replace(out, imp, []byte("\nimport (\n\t. \"github.com/conduit-ipc/conduit/winio\"\n"), 1), nil
}

// testNames returns the Test functions of a test file.
func testNames(src []byte) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "pipe_test.go", src, 0)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") && fn.Name.Name != "TestMain" {
			names = append(names, fn.Name.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no tests")
	}
	return names, nil
}
