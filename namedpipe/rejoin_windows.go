package namedpipe

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// A pipe's name lives as long as any of its instances does, so a Listener
// closed while connections it accepted are still open leaves its name in
// use: the next Listen's FILE_CREATE would fail although every instance is
// this process's. Such listeners are kept here, by name, until the last of
// their instances closes, and Listen joins their pipe (FILE_OPEN) instead of
// refusing it when it may: see joinable.
//
// Lock order: orphans.mu, then a Listener's mu. Every instance of a closed
// Listener is closed, and counted off its live count, with orphans.mu held
// (closeInstance), so that while Listen holds it the instances this process
// has of a registered name can neither close nor open: the pipe cannot
// vanish under Listen, and the count Listen compares with the pipe's is
// exact.
var orphans struct {
	mu sync.Mutex
	m  map[string][]*Listener // by nameKey; each closed, with live > 0
}

// nameKey is the registry's key for a pipe name: NPFS compares names
// without regard to case (OBJ_CASE_INSENSITIVE).
func nameKey(name string) string { return strings.ToUpper(name) }

// register records a closed Listener whose accepted connections outlive it.
// stopped is the number of listening instances that Close closed, which
// the listen goroutines do not count off.
func (l *Listener) register(stopped int) {
	orphans.mu.Lock()
	defer orphans.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live -= stopped
	if l.live <= 0 {
		return
	}
	if orphans.m == nil {
		orphans.m = make(map[string][]*Listener)
	}
	orphans.m[l.key] = append(orphans.m[l.key], l)
	l.orphaned = true
}

// unregister drops l from the registry once its last instance is closed.
// Called with orphans.mu and l.mu held.
func (l *Listener) unregister() {
	if !l.orphaned || l.live > 0 {
		return
	}
	l.orphaned = false
	list := slices.DeleteFunc(orphans.m[l.key], func(o *Listener) bool { return o == l })
	if len(list) == 0 {
		delete(orphans.m, l.key)
	} else {
		orphans.m[l.key] = list
	}
}

// closeInstance closes an instance that l holds (a listening or queued
// one, or an accepted connection's) and counts it off; if refill and l is
// open, it makes room for a new one. Called without l.mu.
//
// f's operations are cancelled and waited for first, without the locks;
// closing the handle, which ends the instance, and counting it off happen
// with orphans.mu held whether l is closed or not: Close may register l at
// any moment with a count that includes f, and a Listen holding orphans.mu
// must see the pipe's instances and the count agree.
func (l *Listener) closeInstance(f *iocp.File, refill bool) error {
	h, err := f.Detach()
	orphans.mu.Lock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		err = windows.CloseHandle(h)
	}
	l.live--
	l.unregister()
	orphans.mu.Unlock()
	if refill {
		l.fill() // nothing once l is closed
	}
	return err
}

// joinable decides whether Listen may join the existing pipe whose
// instances are the registered listeners' (the first of them is given) and
// returns why not. Called with orphans.mu held. The pipe keeps what its
// first instance set: its type, direction, instance limit and security
// descriptor; a Listen that asks for others is refused rather than given a
// pipe that is not what it asked for. (Quotas are each instance's own.)
func (l *Listener) joinable(o *Listener) error {
	switch {
	case o.cfg.MessageMode != l.cfg.MessageMode,
		o.cfg.Direction != l.cfg.Direction,
		o.cfg.MaxInstances != l.cfg.MaxInstances,
		o.cfg.AllowRemoteClients != l.cfg.AllowRemoteClients,
		o.sddl != l.sddl:
		return fmt.Errorf("pipe name in use, by connections of this process's closed listener, whose pipe has another type, direction, instance limit or security descriptor: %w", windows.ERROR_ALREADY_EXISTS)
	}
	return nil
}

// checkInstances makes sure that the pipe Listen joined has no instances
// but the registered listeners' and the ones Listen made (mine): an
// instance of anyone else (another process the security descriptor lets
// create instances, or an open Listener of this process) means that someone
// else serves the name, and Listen refuses it as it refuses any name in use.
// h is one of Listen's instances, with FILE_READ_ATTRIBUTES access. Called
// with orphans.mu held, which keeps the registered counts still.
//
// The count is the pipe's CurrentInstances (FilePipeLocalInformation).
// Windows counts an instance whose server end was closed until its client
// closes too (ReactOS npfs: the CCB stays in FILE_PIPE_CLOSING_STATE); such
// an instance may be this process's, but nothing tells it from another's,
// so while one lingers the name is refused, as before.
func checkInstances(h windows.Handle, registered []*Listener, mine int) error {
	info, err := nt.QueryInformationFile[nt.FILE_PIPE_LOCAL_INFORMATION](h, nt.FilePipeLocalInformation)
	if err != nil {
		return fmt.Errorf("counting the pipe's instances: %w", err)
	}
	ours := mine
	for _, o := range registered {
		o.mu.Lock()
		ours += o.live
		o.mu.Unlock()
	}
	if int(info.CurrentInstances) != ours {
		return fmt.Errorf("pipe name in use: the pipe has %d instances, %d of them this process's closed listeners' and this Listen's: %w",
			info.CurrentInstances, ours, windows.ERROR_ALREADY_EXISTS)
	}
	return nil
}
