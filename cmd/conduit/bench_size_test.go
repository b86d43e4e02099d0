package main

import "testing"

// --size takes bytes or KiB, MiB and GiB, up to 1 TiB in bytes: a count
// past the limit in a large unit is refused rather than wrapped.
func TestByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64 // -1: refused
	}{
		{"64", 64}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"1024GiB", 1 << 40},
		{"1025GiB", -1}, {"2048GiB", -1}, {"9007199254740993GiB", -1}, {"-1", -1}, {"5TiB", -1}, {"x", -1},
	} {
		var b byteSize
		err := b.Set(c.in)
		switch {
		case c.want < 0 && err == nil:
			t.Errorf("Set(%q) = %d, want an error", c.in, int64(b))
		case c.want >= 0 && (err != nil || int64(b) != c.want):
			t.Errorf("Set(%q) = %d, %v; want %d", c.in, int64(b), err, c.want)
		}
	}
}
