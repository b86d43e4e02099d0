package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

type pipeEntry struct {
	Name         string `json:"name"`
	Path         string `json:"path"`
	Instances    int    `json:"instances"`
	MaxInstances int    `json:"max_instances"`
}

func lsCmd(o lsOptions) error {
	list, err := namedpipe.List()
	if errors.Is(err, windows.ERROR_BAD_DEV_TYPE) {
		// Wine 8 has no directory of \\.\pipe\ (NtQueryDirectoryFile).
		return fmt.Errorf("ls: this system cannot list \\\\.\\pipe\\ (%w; Wine does not implement it): conduit info NAME still describes a pipe by its name", err)
	}
	if err != nil {
		return err
	}
	entries := []pipeEntry{}
	if o.stale {
		// A pipe vanishes with its last handle: none is stale.
		list = nil
	}
	for _, e := range list {
		if o.match(e.Name) {
			entries = append(entries, pipeEntry{e.Name, e.Path(), e.Instances, e.MaxInstances})
		}
	}
	if o.asJSON {
		return writeJSON(std.out, entries)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tINSTANCES\tMAX")
	for _, e := range entries {
		max := fmt.Sprint(e.MaxInstances)
		if e.MaxInstances == 0 {
			max = "unlimited"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\n", e.Name, e.Instances, max)
	}
	return w.Flush()
}

func rmCmd([]string) error {
	return errors.New("rm: Windows pipes vanish with their last handle: there is nothing to remove")
}
