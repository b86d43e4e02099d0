//go:build darwin || freebsd

package ipc

import "syscall"

// rawReader is Linux's: elsewhere package net's ReadMsgUnix serves.
type rawReader struct{}

func newRawReader(syscall.RawConn) *rawReader { return nil }

func (*rawReader) recvmsg(b, oob []byte) (int, int, int, error) { panic("unreachable") }

func (*rawReader) atEnd() (bool, error) { panic("unreachable") }
