package interop

// PeekNamedPipe is synchronous: it asks the pipe without reading, and it
// queues no completion packet on the port of go-winio's or conduit's handle
// (it completes at once, and both set FILE_SKIP_COMPLETION_PORT_ON_SUCCESS).

//sys	peekNamedPipe(pipe windows.Handle, buf *byte, size uint32, read *uint32, avail *uint32, leftInMessage *uint32) (err error) = kernel32.PeekNamedPipe
