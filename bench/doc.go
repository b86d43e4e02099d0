// Package bench compares conduit's named pipes with their peers in the same
// run: go-winio (the library most Go services use today), raw synchronous
// ReadFile/WriteFile, and an overlapped client on Go's runtime poller
// (os.File). It is a module of its own so that the peers never enter
// conduit's go.mod. Run it with `make bench` at the repository's root.
package bench
