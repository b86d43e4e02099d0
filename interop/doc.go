// Package interop tests conduit's named pipes against go-winio, the pipe
// library most Go programs on Windows use today: go-winio clients on
// conduit listeners (in this process and from a child process), a conduit
// client on a go-winio listener, and the differences that
// docs/migrating-from-go-winio.md describes, each asserted.
//
// It also holds the acceptance suite of conduit's winio package:
// TestGoWinioPipeSuite runs go-winio's own pipe_test.go against it, and
// TestEngineWithConduitWinio a Docker-style program written against go-winio
// (package engine) with only its import line changed. Those two start the go
// command, so they run natively (on Linux, for windows/amd64 under Wine: make
// test does that) and skip inside Wine.
//
// It is a module of its own so that go-winio never enters conduit's go.mod.
// The other tests build for Windows only; on Linux they run under Wine:
//
//	cd interop && bin=$(bash ../testbed/setup.sh) && export PATH="$bin:$PATH" GOOS=windows GOARCH=amd64 && go test ./...
//
// This file has no platform suffix so that go generate finds the directive
// on any host.
package interop

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows_test.go syscall_windows_test.go
