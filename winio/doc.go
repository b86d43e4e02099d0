// Package winio is go-winio's named-pipe API on conduit's namedpipe: change
// the import path and keep your code.
//
//	import "github.com/Microsoft/go-winio"        // before
//	import "github.com/conduit-ipc/conduit/winio" // after
//
// The package placeholder: differences are documented in doc_windows.go's
// package comment continuation. The package builds on Windows only, as
// go-winio's pipes do.
package winio
