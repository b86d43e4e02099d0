//go:build !(linux || darwin || freebsd || windows)

package ipc

// This OS has neither what ipc's Unix side needs (peer credentials, file
// passing) nor named pipes: every call fails with errors.ErrUnsupported.

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

const windowsOS = false

func network() string { return "unix" }

var errUnsupportedOS = errors.New("ipc is not supported on this OS: " + errors.ErrUnsupported.Error())

// Listener is not supported on this OS.
type Listener struct{}

// Conn is not supported on this OS.
type Conn struct{}

func (c *Config) Listen(name string) (*Listener, error) {
	return nil, &net.OpError{Op: "listen", Net: network(), Err: errors.ErrUnsupported}
}

func (c *Config) Dial(ctx context.Context, name string) (*Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network(), Err: errors.ErrUnsupported}
}

func (l *Listener) Accept() (net.Conn, error)             { return nil, errors.ErrUnsupported }
func (l *Listener) AcceptIPC() (*Conn, error)             { return nil, errors.ErrUnsupported }
func (l *Listener) Close() error                          { return errors.ErrUnsupported }
func (l *Listener) Addr() net.Addr                        { return Addr{} }
func (l *Listener) SyscallConn() (syscall.RawConn, error) { return nil, errors.ErrUnsupported }

func (c *Conn) Read(b []byte) (int, error)            { return 0, errors.ErrUnsupported }
func (c *Conn) Write(b []byte) (int, error)           { return 0, errors.ErrUnsupported }
func (c *Conn) ReadMessage() ([]byte, error)          { return nil, errors.ErrUnsupported }
func (c *Conn) WriteMessage(b []byte) error           { return errors.ErrUnsupported }
func (c *Conn) CloseWrite() error                     { return errors.ErrUnsupported }
func (c *Conn) Close() error                          { return errors.ErrUnsupported }
func (c *Conn) PeerCredentials() (Credentials, error) { return Credentials{}, errors.ErrUnsupported }
func (c *Conn) SendFile(f *os.File) error             { return errors.ErrUnsupported }
func (c *Conn) ReceiveFile() (*os.File, error)        { return nil, errors.ErrUnsupported }
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return nil, errors.ErrUnsupported }
func (c *Conn) LocalAddr() net.Addr                   { return Addr{} }
func (c *Conn) RemoteAddr() net.Addr                  { return Addr{} }
func (c *Conn) SetDeadline(t time.Time) error         { return errors.ErrUnsupported }
func (c *Conn) SetReadDeadline(t time.Time) error     { return errors.ErrUnsupported }
func (c *Conn) SetWriteDeadline(t time.Time) error    { return errors.ErrUnsupported }

func Path(name string) (string, error) { return "", errors.ErrUnsupported }
func RuntimeDir() (string, error)      { return "", errors.ErrUnsupported }
