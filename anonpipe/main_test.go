package anonpipe

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"testing"
)

// The test binary doubles as the child process: with CONDUIT_ANONPIPE_CHILD
// set it plays the role named there instead of running tests.
const childEnv = "CONDUIT_ANONPIPE_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(child(role))
	}
	os.Exit(m.Run())
}

// payload is what children write: n bytes of a fixed pattern.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func child(role string) int {
	switch role {
	case "write":
		// Writes 1 MiB to stdout and exits.
		if _, err := os.Stdout.Write(payload(1 << 20)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "digest":
		// Reads stdin to its end and writes the SHA-256 of what it read.
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Print(sum(b))
	default:
		if code, ok := platformChild(role); ok {
			return code
		}
		fmt.Fprintln(os.Stderr, "unknown child role", role)
		return 2
	}
	return 0
}
