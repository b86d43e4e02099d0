//go:build !windows

package harness

import "time"

var start = time.Now()

func now() time.Duration { return time.Since(start) }
