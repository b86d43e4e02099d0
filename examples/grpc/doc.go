// Package grpcexample shows gRPC over ipc: a server on an ipc.Listener and a
// client that dials with ipc.DialAddress, on every OS. It is a module of its
// own so that gRPC stays out of conduit's go.mod.
package grpcexample
