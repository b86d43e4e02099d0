// Package nt declares the NT native calls, structures and constants that
// conduit needs and golang.org/x/sys/windows does not already provide.
//
// Declarations are //sys lines in nt_windows.go; zsyscall_windows.go is
// generated from them by mkwinsyscall. Structures follow the Windows SDK and
// WDK names in Go case, each with the header that defines it. This file has
// no platform suffix so that go generate finds the directive on any host.
package nt

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go nt_windows.go
