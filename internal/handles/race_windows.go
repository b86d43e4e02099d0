//go:build race

package handles

// raceEnabled: the race detector's runtime runs threads of its own, which
// are not Go's and hold events of their own (see Measure).
const raceEnabled = true
