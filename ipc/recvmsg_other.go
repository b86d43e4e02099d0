//go:build darwin || freebsd

package ipc

import "net"

// rawReader is Linux's: elsewhere package net's ReadMsgUnix serves.
type rawReader struct{}

func newRawReader(*net.UnixConn) *rawReader { return nil }

func (*rawReader) recvmsg(b, oob []byte) (int, int, int, error) { panic("unreachable") }
