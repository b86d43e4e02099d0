// Package bench compares conduit's named pipes with their peers in the same
// run: go-winio (the library most Go services use today), raw synchronous
// ReadFile/WriteFile, and an overlapped client on Go's runtime poller
// (os.File). Each row runs with the server in the benchmark's own process
// (Benchmark*) and in a child process (BenchmarkProc*), which is how IPC
// runs in practice: there the benchmark process holds the client end only.
//
// It is a module of its own so that the peers never enter conduit's go.mod.
// Run it with `make bench` at the repository's root.
package bench
