package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/conduit-ipc/conduit/namedpipe"
)

type pipeEntry struct {
	Name         string `json:"name"`
	Path         string `json:"path"`
	Instances    int    `json:"instances"`
	MaxInstances int    `json:"max_instances"`
}

func lsCmd(asJSON bool) error {
	list, err := namedpipe.List()
	if err != nil {
		return err
	}
	entries := []pipeEntry{}
	for _, e := range list {
		entries = append(entries, pipeEntry{e.Name, e.Path(), e.Instances, e.MaxInstances})
	}
	if asJSON {
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
