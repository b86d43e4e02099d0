// Package winiosuite is where go-winio v0.6.4's own pipe tests run against
// conduit's winio package. Nothing of go-winio is committed here: the test
// TestGoWinioPipeSuite (in package interop, one directory up) copies
// pipe_test.go from the Go module cache at test time, changes its package
// clause and adds the import of github.com/conduit-ipc/conduit/winio, and
// runs it in this package through go test's -overlay.
package winiosuite
