// Package engine is a small Docker-style Engine API server and client
// written against go-winio's pipe API, the way Docker uses it: the daemon
// listens on a message pipe with 64 KiB buffers and an explicit descriptor
// (daemon/listeners), the client dials with DialPipeContext in an
// http.Transport (go-connections' sockets package) or with DialPipe and a
// timeout, and attach hijacks the connection, half-closing it with
// CloseWrite when stdin ends.
//
// Its tests run twice: as written, against go-winio, and with only the
// import line of each file changed to github.com/conduit-ipc/conduit/winio
// (TestEngineWithConduitWinio, one directory up, through go test's
// -overlay). Both must pass.
package engine
