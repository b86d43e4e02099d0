module github.com/conduit-ipc/conduit/bench

go 1.26.0

replace github.com/conduit-ipc/conduit => ../

require (
	github.com/Microsoft/go-winio v0.6.4
	github.com/conduit-ipc/conduit v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.49.0
)

require gopkg.in/natefinch/npipe.v2 v2.0.0-20160621034901-c1b8fa8bdcce
