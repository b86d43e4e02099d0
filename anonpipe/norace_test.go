//go:build !race

package anonpipe

// raceEnabled reports whether the test binary was built with -race.
const raceEnabled = false
