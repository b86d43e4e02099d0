package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	winio "github.com/Microsoft/go-winio"
)

// APIVersion is the API version the server reports.
const APIVersion = "1.47"

// Listen listens on the pipe path as dockerd does for an npipe:// host: a
// message pipe (so that hijacked connections have CloseWrite) with 64 KiB
// buffers and the descriptor sddl.
func Listen(path, sddl string) (net.Listener, error) {
	return winio.ListenPipe(path, &winio.PipeConfig{
		SecurityDescriptor: sddl,
		MessageMode:        true,
		InputBufferSize:    65536,
		OutputBufferSize:   65536,
	})
}

// Version is GET /version's answer.
type Version struct {
	APIVersion string `json:"ApiVersion"`
	Os         string
	Arch       string
}

// NewServer returns the Engine API's handlers: GET /_ping, GET /version and
// POST /containers/{id}/attach, which upgrades the connection to a raw
// stream that echoes stdin back upper-cased until the client half-closes,
// then half-closes in turn.
func NewServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", APIVersion)
		io.WriteString(w, "OK")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Version{APIVersion: APIVersion, Os: "windows", Arch: "amd64"})
	})
	mux.HandleFunc("POST /containers/{id}/attach", attach)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

type closeWriter interface{ CloseWrite() error }

func attach(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	if err := buf.Flush(); err != nil {
		return
	}
	// Echo until the client's CloseWrite, which reads as io.EOF.
	line := make([]byte, 32<<10)
	for {
		n, err := buf.Read(line)
		if n > 0 {
			if _, werr := conn.Write([]byte(strings.ToUpper(r.PathValue("id") + ":" + string(line[:n])))); werr != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	if cw, ok := conn.(closeWriter); ok {
		cw.CloseWrite()
	}
}

// Client talks to the Engine API on a pipe, as Docker's client does.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the pipe path: an http.Client whose
// transport dials with DialPipeContext, without compression (go-connections'
// configureNpipeTransport).
func NewClient(path string) *Client {
	tr := &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return winio.DialPipeContext(ctx, path)
		},
	}
	return &Client{path: path, http: &http.Client{Transport: tr}}
}

// Close closes the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Ping returns the server's API version.
func (c *Client) Ping(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if string(body) != "OK" {
		return "", fmt.Errorf("ping: %s %q", resp.Status, body)
	}
	return resp.Header.Get("Api-Version"), nil
}

// Version returns GET /version's answer.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/version", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// Attach attaches to container id, as docker attach does: it hijacks a
// connection of its own (dialed with DialPipe and a timeout, as the CLI's
// hijack dialer does), writes stdin in chunks, half-closes with CloseWrite
// and returns everything the server sent until it half-closed too.
func (c *Client) Attach(id string, stdin []byte, chunk int) ([]byte, error) {
	timeout := 10 * time.Second
	conn, err := winio.DialPipe(c.path, &timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /containers/%s/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n", id)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("attach: %s", resp.Status)
	}
	out := make(chan []byte, 1)
	rerr := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(br)
		out <- b
		rerr <- err
	}()
	for len(stdin) > 0 {
		n := min(chunk, len(stdin))
		if _, err := conn.Write(stdin[:n]); err != nil {
			return nil, err
		}
		stdin = stdin[n:]
	}
	cw, ok := conn.(closeWriter)
	if !ok {
		return nil, errors.New("attach: the connection has no CloseWrite")
	}
	if err := cw.CloseWrite(); err != nil {
		return nil, err
	}
	b := <-out
	return b, <-rerr
}
