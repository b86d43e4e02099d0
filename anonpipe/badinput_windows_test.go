package anonpipe

import (
	"errors"
	"math"
	"os"
	"testing"
)

// A bad BufferSize or Direction fails every constructor with an error
// wrapping ErrInvalidConfig, returns no files, and opens no handle.
func TestBadInput(t *testing.T) {
	type ctor func(c *Config) (*os.File, *os.File, error)
	ctors := map[string]ctor{
		"Pipe":                       (*Config).Pipe,
		"Duplex":                     (*Config).Duplex,
		"ForChild(ChildReads)":       func(c *Config) (*os.File, *os.File, error) { return c.ForChild(ChildReads) },
		"ForChild(ChildReadsWrites)": func(c *Config) (*os.File, *os.File, error) { return c.ForChild(ChildReadsWrites) },
	}
	configs := map[string]Config{
		"BufferSize -1":         {BufferSize: -1},
		"BufferSize MinInt":     {BufferSize: math.MinInt},
		"BufferSize past 1 GiB": {BufferSize: 1<<30 + 1},
		"BufferSize MaxInt":     {BufferSize: math.MaxInt},
	}
	check := func(what string, a, b *os.File, err error) {
		t.Helper()
		if a != nil || b != nil {
			t.Errorf("%s returned files %v and %v with %v", what, a, b, err)
			if a != nil {
				a.Close()
			}
			if b != nil {
				b.Close()
			}
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s = %v, want ErrInvalidConfig", what, err)
		}
	}
	// Warm up what a pair opens once (the NPFS root, the runtime's port).
	if r, w, err := Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openHandles(t)
	for cname, c := range configs {
		for name, fn := range ctors {
			a, b, err := fn(&c)
			check(name+" with "+cname, a, b, err)
		}
	}
	var zero Config
	for _, d := range []Direction{0, ChildReadsWrites + 1, -1} {
		a, b, err := ForChild(d)
		check("ForChild("+d.String()+")", a, b, err)
		a, b, err = zero.ForChild(d)
		check("Config.ForChild("+d.String()+")", a, b, err)
	}
	// A count may fall, or grow by one new runtime thread's 4 handles; a
	// handle leaked per refused call would be more than that.
	if after := openHandles(t); after > before+4 {
		t.Errorf("handles: %d before the refused calls, %d after", before, after)
	}
	// The limits themselves are fine.
	for _, size := range []int{1, 1 << 30} {
		r, w, err := (&Config{BufferSize: size}).Pipe()
		if err != nil {
			t.Errorf("Pipe with BufferSize %d: %v", size, err)
			continue
		}
		r.Close()
		w.Close()
	}
}
