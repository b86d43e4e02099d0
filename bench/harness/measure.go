package harness

import (
	"errors"
	"time"
)

// Now is the clock every measurement reads: QueryPerformanceCounter on
// Windows (Go's time.Now there reads the interrupt time, which Wine
// advances in coarse steps), the monotonic clock elsewhere.
func Now() time.Duration { return now() }

// Warmup is the share of a run's time spent warming up before measuring.
const Warmup = 5 // a fifth

// Count runs op until d has passed, after a warm-up of d/Warmup, and
// returns how many times it ran in the measured part and for how long.
func Count(d time.Duration, op func() error) (n int, elapsed time.Duration, err error) {
	if err := loop(d/Warmup, op, nil); err != nil {
		return 0, 0, err
	}
	start := Now()
	err = loop(d, op, &n)
	return n, Now() - start, err
}

// Rate is Count as operations per second.
func Rate(d time.Duration, op func() error) (float64, error) {
	n, el, err := Count(d, op)
	if err != nil {
		return 0, err
	}
	if n == 0 || el <= 0 {
		return 0, errors.New("no operation completed")
	}
	return float64(n) / el.Seconds(), nil
}

func loop(d time.Duration, op func() error, n *int) error {
	end := Now() + d
	for Now() < end {
		if err := op(); err != nil {
			return err
		}
		if n != nil {
			*n++
		}
	}
	return nil
}

// Latency runs op until d has passed, after a warm-up, timing each run, and
// returns the median and 99th percentile in microseconds as a Sample with
// "median" and "p99".
func Latency(d time.Duration, op func() error) (Sample, error) {
	if err := loop(d/Warmup, op, nil); err != nil {
		return nil, err
	}
	lat := make([]float64, 0, 4096)
	end := Now() + d
	for t := Now(); t < end; {
		if err := op(); err != nil {
			return nil, err
		}
		t2 := Now()
		lat = append(lat, float64(t2-t)/float64(time.Microsecond))
		t = t2
	}
	return LatencySample(lat)
}

// LatencySample makes a Sample of latencies in microseconds.
func LatencySample(lat []float64) (Sample, error) {
	med, ok := Median(lat)
	if !ok {
		return nil, errors.New("no operation completed")
	}
	p99, _ := Percentile(lat, 99)
	return Sample{"median": med, "p99": p99}, nil
}

// Latency metrics: the median and 99th percentile of one operation.
var LatencyMetrics = []Metric{
	{Name: "median", Unit: "µs"},
	{Name: "p99", Unit: "µs"},
}
