//go:build race

package interop

// raceEnabled says this test binary was built with the race detector:
// TestGoWinioPipeSuite then builds go-winio's suite with it too.
const raceEnabled = true
