//go:build !windows

package main

import "time"

func mailslotRecv(string, int, time.Duration) error { return errWindowsOnly("mailslots are") }
func mailslotSend(string, []string) error           { return errWindowsOnly("mailslots are") }
