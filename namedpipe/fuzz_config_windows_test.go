package namedpipe

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// FuzzListenConfig checks ListenConfig's validation and its SDDL for any
// values: validate accepts exactly the configurations the field comments
// allow (an oracle written out from them) and fills in the documented
// defaults; an SDDL either fails with ErrInvalidConfig or gives a valid,
// self-relative security descriptor; and Listen with the configuration
// fails with an *os.PathError on the pipe's path (ErrInvalidConfig for
// every invalid configuration) or listens on a pipe whose client sees the
// configured type and limit. Listen runs only for backlogs of up to 8: each
// instance costs a handle and a round trip to the file system.
func FuzzListenConfig(f *testing.F) {
	user, err := currentUserSDDL()
	if err != nil {
		f.Fatal(err)
	}
	type seed struct {
		message                    bool
		dir, max, backlog, in, out int
		sddl                       string
		remote, currentUserOnly    bool
	}
	for _, s := range []seed{
		{},
		{message: true, dir: 1, max: 3, backlog: 2, in: 8192, out: 1},
		{dir: 2, max: 254, backlog: 8},
		{max: 255}, {max: -1}, {backlog: -1}, {backlog: 255}, {backlog: math.MaxInt}, {max: 2, backlog: 3},
		{in: -1}, {out: math.MaxInt}, {in: int(maxQuota)}, {dir: 3}, {dir: -1},
		{sddl: "D:P(A;;GA;;;SY)(A;;GA;;;OW)(A;;" + ClientAccessSDDL + ";;;AU)"},
		{sddl: "O:" + user + "D:P(A;;GA;;;" + user + ")"},
		{sddl: "D:P(A;;GR;;;WD)"}, {sddl: "D:"}, {sddl: "D:NO_ACCESS_CONTROL"}, {sddl: "this is not SDDL"},
		{sddl: "O:S-1-5-21-1-2-3-4D:(A;;GA;;;WD)"}, {sddl: "D:(A;;GA;;;S-1-999999999999)"}, {sddl: "S:(ML;;NW;;;LW)"},
		{sddl: "D:(A;;0x12019b;;;AU)\x00"}, {sddl: "x", currentUserOnly: true}, {currentUserOnly: true, remote: true},
	} {
		f.Add(s.message, s.dir, s.max, s.backlog, s.in, s.out, s.sddl, s.remote, s.currentUserOnly)
	}
	f.Fuzz(func(t *testing.T, message bool, dir, max, backlog, in, out int, sddl string, remote, currentUserOnly bool) {
		c := ListenConfig{
			MessageMode: message, Direction: Direction(dir), MaxInstances: max, Backlog: backlog,
			InputBufferSize: in, OutputBufferSize: out, SecurityDescriptor: sddl,
			AllowRemoteClients: remote, CurrentUserOnly: currentUserOnly,
		}
		valid := max >= 0 && max <= 254 && backlog >= 0 && backlog <= MaxBacklog && (max == 0 || backlog <= max) &&
			in >= 0 && uint64(in) <= math.MaxUint32 && out >= 0 && uint64(out) <= math.MaxUint32 &&
			dir >= 0 && dir <= 2 && !(currentUserOnly && sddl != "")
		if strings.Contains(sddl, "::") && onWine() {
			t.Skip(`wine: ConvertStringSecurityDescriptorToSecurityDescriptorW crashes the process on "::" in SDDL`)
		}
		v, err := c.validate()
		if (err == nil) != valid {
			t.Fatalf("validate(%+v) = %v; the documented ranges say valid = %v", c, err, valid)
		}
		if err == nil {
			checkDefaults(t, c, v)
		}

		sd, sdErr := securityDescriptor(sddl)
		switch {
		case sdErr != nil && sddl == "":
			t.Fatalf("the default security descriptor: %v", sdErr)
		case sdErr != nil && !errors.Is(sdErr, ErrInvalidConfig):
			t.Fatalf("securityDescriptor(%q) = %v, want ErrInvalidConfig", sddl, sdErr)
		case sdErr == nil && !sd.IsValid():
			t.Fatalf("securityDescriptor(%q) is not a valid security descriptor", sddl)
		case sdErr == nil:
			if ctl, _, err := sd.Control(); err != nil || ctl&windows.SE_SELF_RELATIVE == 0 {
				t.Fatalf("securityDescriptor(%q): control %#x, %v; want self-relative", sddl, ctl, err)
			}
		}

		if backlog > 8 || (backlog == 0 && max > 8) {
			return
		}
		name := testPipe(t)
		l, err := c.Listen(name)
		if err != nil {
			var pe *os.PathError
			switch {
			case !errors.As(err, &pe) || pe.Path != `\\.\pipe\`+name:
				t.Fatalf("Listen with %+v = %v, want an *os.PathError on the pipe's path", c, err)
			case (!valid || sdErr != nil) && !errors.Is(err, ErrInvalidConfig):
				t.Fatalf("Listen with the invalid %+v = %v, want ErrInvalidConfig", c, err)
			case valid && sdErr == nil && sddl == "":
				t.Fatalf("Listen with the valid %+v and the default descriptor: %v", c, err)
			}
			return
		}
		defer l.Close()
		if !valid || sdErr != nil {
			t.Fatalf("Listen with the invalid %+v succeeded", c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		client, err := Dial(ctx, name)
		if err != nil {
			// A custom DACL may refuse this user the client's access on
			// Windows; Listen only checked what the server needs.
			if sddl != "" && errors.Is(err, fs.ErrPermission) {
				return
			}
			t.Fatalf("Dial of a pipe listened on with %+v: %v", c, err)
		}
		defer client.Close()
		info, err := client.Info()
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		if info.MessageType != message || info.MaxInstances != max || info.Direction != c.Direction {
			t.Fatalf("pipe listened on with %+v: client sees %+v", c, info)
		}
	})
}

// maxQuota is the largest quota, a variable so that int(maxQuota) builds
// where int has 32 bits (it is -1 there: another seed).
var maxQuota int64 = math.MaxUint32

// checkDefaults checks what validate filled in for an accepted c.
func checkDefaults(t *testing.T, c ListenConfig, v validated) {
	t.Helper()
	switch {
	case v.backlog < 1 || v.backlog > MaxBacklog || (c.MaxInstances > 0 && v.backlog > c.MaxInstances):
		t.Fatalf("validate(%+v): backlog %d", c, v.backlog)
	case c.Backlog != 0 && v.backlog != c.Backlog:
		t.Fatalf("validate(%+v): backlog %d, want the configured %d", c, v.backlog, c.Backlog)
	case c.Backlog == 0 && v.backlog != defaultBacklog(c.MaxInstances):
		t.Fatalf("validate(%+v): default backlog %d, want %d", c, v.backlog, defaultBacklog(c.MaxInstances))
	case c.InputBufferSize == 0 && v.InputBufferSize != DefaultBufferSize,
		c.InputBufferSize != 0 && v.InputBufferSize != c.InputBufferSize,
		c.OutputBufferSize == 0 && v.OutputBufferSize != DefaultBufferSize,
		c.OutputBufferSize != 0 && v.OutputBufferSize != c.OutputBufferSize:
		t.Fatalf("validate(%+v): quotas %d and %d", c, v.InputBufferSize, v.OutputBufferSize)
	}
}

// defaultBacklog is the documented default: DefaultBacklog, or
// MaxInstances if that is lower.
func defaultBacklog(maxInstances int) int {
	if maxInstances > 0 && maxInstances < DefaultBacklog {
		return maxInstances
	}
	return DefaultBacklog
}

func currentUserSDDL() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", err
	}
	return u.User.Sid.String(), nil
}
