package mailslot

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/winsec"
)

// FuzzMailslotConfig creates a slot with any Config. Create fails with an
// *os.PathError on the slot's path, wrapping ErrInvalidConfig exactly when
// MaxMessageSize is negative or the SDDL is one winsec refuses; otherwise
// it makes a slot whose Info reports the configured message size and read
// timeout (NoWait for any negative one), and which a writer can reach.
func FuzzMailslotConfig(f *testing.F) {
	for _, s := range []struct {
		max     int
		timeout int64
		sddl    string
	}{
		{}, {max: 424, timeout: int64(time.Millisecond)}, {max: -1}, {timeout: -1}, {timeout: math.MinInt64},
		{timeout: math.MaxInt64}, {timeout: 1}, {max: math.MaxInt32}, {sddl: "D:(A;;GA;;;WD)"}, {sddl: "not SDDL"},
		{sddl: "O:SY"}, {sddl: "D:P(A;;GRGW;;;SY)"}, {sddl: "D:NO_ACCESS_CONTROL"}, {sddl: "O::"},
	} {
		f.Add(s.max, s.timeout, s.sddl)
	}
	f.Fuzz(func(t *testing.T, max int, timeout int64, sddl string) {
		if strings.Contains(sddl, "::") && onWine() {
			t.Skip(`wine: ConvertStringSecurityDescriptorToSecurityDescriptorW crashes the process on "::" in SDDL`)
		}
		_, sdErr := winsec.Descriptor(sddl)
		invalid := max < 0 || uint64(max) > math.MaxUint32 || sdErr != nil
		c := Config{MaxMessageSize: max, ReadTimeout: time.Duration(timeout), SecurityDescriptor: sddl}
		name := testName(t)
		s, err := c.Create(name)
		if err != nil {
			var pe *os.PathError
			switch {
			case !errors.As(err, &pe) || pe.Path != `\\.\mailslot\`+name:
				t.Fatalf("Create with %+v = %v, want an *os.PathError on the slot's path", c, err)
			case errors.Is(err, ErrInvalidConfig) != invalid:
				t.Fatalf("Create with %+v = %v; ErrInvalidConfig should match: %v", c, err, invalid)
			}
			return
		}
		defer s.Close()
		if invalid {
			t.Fatalf("Create with the invalid %+v succeeded", c)
		}
		info, err := s.Info()
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		want := c.ReadTimeout
		if want < 0 {
			want = NoWait
		}
		if info.ReadTimeout != want || info.MaxMessageSize != max {
			t.Fatalf("Create with %+v: Info %+v", c, info)
		}
		w, err := Open(name)
		if err != nil {
			t.Fatalf("Open of a slot created with %+v: %v", c, err)
		}
		w.Close()
	})
}
