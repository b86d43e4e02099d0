// Package handles lists the current process's handles with their object
// types, so that a leak check can say which handle a test left open, not
// only how many. It is for tests: it asks the object manager about each
// handle value in turn (see List), which is slow (a Wine server round trip
// a value under Wine) and needs no privilege for the caller's own process.
//
// Declarations are //sys lines in handles_windows.go; zsyscall_windows.go
// is generated from them by mkwinsyscall.
package handles

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go handles_windows.go
