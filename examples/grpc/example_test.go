package grpcexample

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/conduit-ipc/conduit/ipc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// gRPC over ipc: the server serves on an ipc.Listener; the client's target
// is any address ParseAddress reads, and grpc.WithContextDialer takes
// ipc.DialAddress as it is. ipc's peer check stands in for transport
// security: only this user's processes get through.
func Example() {
	name := "grpc-example-" + strconv.Itoa(os.Getpid())
	l, err := ipc.Listen(name)
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer()) // reports SERVING
	go srv.Serve(l)
	defer srv.Stop()

	conn, err := grpc.NewClient("passthrough:///"+name,
		grpc.WithContextDialer(ipc.DialAddress),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Status)
	// Output: SERVING
}
