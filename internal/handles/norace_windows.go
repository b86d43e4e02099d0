//go:build !race

package handles

const raceEnabled = false
