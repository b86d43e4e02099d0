package main

import (
	"fmt"
	"strconv"
	"time"
)

// durationFlag is a flag of a duration that is 0 or more: a negative one
// is refused (it would mean "for ever" to some and "now" to others), and a
// number without a unit is told how to write it.
type durationFlag struct {
	d   *time.Duration
	set *bool // if not nil, set to true when the flag is given
}

func (f *durationFlag) String() string {
	if f == nil || f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		if n, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return fmt.Errorf("%q has no unit: write %ss for seconds (or ms, m, h)", s, strconv.FormatFloat(n, 'f', -1, 64))
		}
		return fmt.Errorf("%q is not a duration: write it as 500ms, 5s, 2m or 1h", s)
	}
	if d < 0 {
		return fmt.Errorf("%q is negative: want 0 or more", s)
	}
	*f.d = d
	if f.set != nil {
		*f.set = true
	}
	return nil
}
