package iocp

import (
	"os"
	"sync"
	"time"
)

// SetReadDeadline sets the deadline of pending and future Read operations.
func (f *File) SetReadDeadline(t time.Time) { f.rd.set(t) }

// SetWriteDeadline sets the deadline of pending and future Write operations.
func (f *File) SetWriteDeadline(t time.Time) { f.wd.set(t) }

// deadline is one direction's deadline. When it passes, the operations in
// flight in that direction are cancelled, and later ones fail at once until
// it is moved.
type deadline struct {
	f    *File
	mode Mode

	// mu is held from the decision that the deadline has passed to the end
	// of the cancellations it makes, so that a set that moves the deadline
	// takes effect either before (and nothing is cancelled) or after them.
	mu      sync.Mutex
	gen     uint64 // counts set calls; a timer fires only for its own
	expired bool
	timer   *time.Timer
}

func (d *deadline) init(f *File, mode Mode) { d.f, d.mode = f, mode }

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.gen++
	d.expired = false
	if t.IsZero() {
		return
	}
	if dur := time.Until(t); dur > 0 {
		gen := d.gen
		d.timer = time.AfterFunc(dur, func() { d.fire(gen) })
		return
	}
	d.expire()
}

// fire is the timer of the set call numbered gen.
func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen != gen {
		return // moved since
	}
	d.timer = nil
	if testHookFire != nil {
		testHookFire()
	}
	d.expire()
}

// expire marks the deadline passed and cancels the operations in flight
// that obey it. The caller holds d.mu.
func (d *deadline) expire() {
	d.expired = true
	d.f.cancelMode(d.mode, os.ErrDeadlineExceeded)
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// testHookFire, when set, runs in a deadline's timer once it has decided to
// expire the deadline, before it cancels anything.
var testHookFire func()
