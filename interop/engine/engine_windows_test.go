package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// underWine reports whether the tests run under Wine (its ntdll exports
// wine_get_version).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// winioPackage is the import path these files were built against: go-winio
// as written, or conduit's winio when TestEngineWithConduitWinio changed
// the import.
var winioPackage = reflect.TypeOf(winio.PipeConfig{}).PkgPath()

func TestEngine(t *testing.T) {
	if underWine() && winioPackage == "github.com/Microsoft/go-winio" {
		t.Skip("wine: go-winio's listener keeps a first instance without read or write access, which Wine connects the first client to (Windows leaves it disconnected); nobody serves it")
	}
	t.Logf("pipe API: %s", winioPackage)
	path := fmt.Sprintf(`\\.\pipe\conduit-engine-%d`, os.Getpid())
	user, err := currentUser()
	if err != nil {
		t.Fatal(err)
	}
	// dockerd's default descriptor, plus this user (dockerd adds a group
	// given with -G).
	l, err := Listen(path, "D:P(A;;GA;;;BA)(A;;GA;;;SY)(A;;GA;;;"+user+")")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := NewClient(path)
	defer c.Close()
	for i := range 3 { // the transport reuses its connection
		v, err := c.Ping(ctx)
		if err != nil || v != APIVersion {
			t.Fatalf("ping %d = %q, %v", i, v, err)
		}
	}
	v, err := c.Version(ctx)
	if err != nil || v.APIVersion != APIVersion || v.Os != "windows" {
		t.Fatalf("version = %+v, %v", v, err)
	}

	// Attaches at once, each with stdin larger than one message and a
	// chunk size that splits it unevenly.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", i)
			stdin := bytes.Repeat([]byte(fmt.Sprintf("line %d of stdin\n", i)), 5000)
			out, err := c.Attach(id, stdin, 7000+i*1000)
			if err != nil {
				t.Errorf("attach %s: %v", id, err)
				return
			}
			// The server echoes each read with its id in front: strip
			// the prefixes and the rest is stdin, upper-cased.
			got := strings.ReplaceAll(string(out), strings.ToUpper(id)+":", "")
			if got != strings.ToUpper(string(stdin)) {
				t.Errorf("attach %s: got %d bytes back, want %d upper-cased", id, len(got), len(stdin))
			}
		}()
	}
	wg.Wait()

	// Shutdown closes the listener: go-winio before v0.6.4 hung here when
	// no Accept was pending (#281).
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve = %v", err)
	}
	c.Close()
	if _, err := NewClient(path).Ping(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ping after the server left = %v, want an error matching fs.ErrNotExist", err)
	}
}

func currentUser() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", err
	}
	return u.User.Sid.String(), nil
}
