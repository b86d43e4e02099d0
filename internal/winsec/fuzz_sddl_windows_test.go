package winsec

import (
	"errors"
	"strings"
	"testing"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// FuzzDescriptor checks Descriptor for any SDDL: it fails with ErrBadSDDL,
// or gives a valid, self-relative security descriptor with a DACL (never
// one that leaves the access to Windows' defaults), which writes back as
// SDDL that Descriptor accepts again. Grants on whatever it accepts answers or fails, never
// panics, and the default descriptor grants this process everything.
func FuzzDescriptor(f *testing.F) {
	user, err := CurrentUser()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"O:" + user + "G:" + user + "D:P(A;;GA;;;" + user + ")", "", "D:P(A;;GA;;;SY)(A;;GA;;;OW)(A;;0x12019b;;;AU)", "O:SYD:P(A;;GA;;;SY)", "D:", "D:NO_ACCESS_CONTROL",
		"D:P(D;;GA;;;WD)(A;;GA;;;SY)", "O:S-1-5-21-1-2-3-4G:BAD:(A;OICI;GRGW;;;BU)", "S:(ML;;NW;;;LW)",
		"D:(A;;0xffffffff;;;WD)", "D:(OA;;GA;01234567-89ab-cdef-0123-456789abcdef;;WD)", "this is not SDDL",
		"D:(A;;GA;;;S-1-99999999999)", "O:", "O::P(A;;GA;0", "D:(A;;GA;;;SY)\x00(A;;GA;;;WD)", "\xff\xfe",
		"D:AI(A;ID;GA;;;SY)", "D:(XA;;GA;;;WD;(Member_of {SID(BA)}))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sddl string) {
		skipWineSDDLCrash(t, sddl)
		sd, err := Descriptor(sddl)
		if err != nil {
			if sddl == "" || !errors.Is(err, ErrBadSDDL) {
				t.Fatalf("Descriptor(%q) = %v, want ErrBadSDDL", sddl, err)
			}
			return
		}
		if !sd.IsValid() {
			t.Fatalf("Descriptor(%q): not a valid security descriptor", sddl)
		}
		ctl, _, err := sd.Control()
		if err != nil || ctl&windows.SE_SELF_RELATIVE == 0 {
			t.Fatalf("Descriptor(%q): control %#x, %v; want self-relative", sddl, ctl, err)
		}
		if ctl&windows.SE_DACL_PRESENT == 0 {
			t.Fatalf("Descriptor(%q): no DACL, so Windows would choose the access", sddl)
		}
		if _, _, err := sd.DACL(); err != nil {
			t.Fatalf("Descriptor(%q): the DACL it has: %v", sddl, err)
		}
		// Written back (String is "" if Windows cannot write it, as Wine
		// cannot for some SDDL its lenient parser took, "G:G:D:0"), it
		// is SDDL that Descriptor accepts again.
		if back := sd.String(); back != "" {
			if again, err := Descriptor(back); err != nil || !again.IsValid() {
				t.Fatalf("Descriptor(%q) writes back as %q, which Descriptor refuses: %v", sddl, back, err)
			}
		}
		// Grants wants an owner and a group; without them AccessCheck
		// fails, and Grants must say so rather than answer.
		owner, _, oerr := sd.Owner()
		group, _, gerr := sd.Group()
		ok, err := Grants(sd, windows.GENERIC_READ|windows.GENERIC_WRITE)
		if (oerr != nil || owner == nil || gerr != nil || group == nil) && err == nil && ok {
			t.Fatalf("Grants on %q, which lacks an owner or a group: granted", sddl)
		}
		if strings.HasPrefix(sddl, "O:"+user+"G:"+user+"D:P(A;;GA;;;"+user+")") && (err != nil || !ok) {
			t.Fatalf("Grants on %q, which grants this user everything: %v, %v", sddl, ok, err)
		}
	})
}

// skipWineSDDLCrash skips SDDL that kills the process under Wine 8:
// ConvertStringSecurityDescriptorToSecurityDescriptorW faults (0xc0000005)
// on a "::" ("D::", "O:SYG::", "D:(A;;GA;;;SY)(::)"), where Windows returns
// an error. Such SDDL still runs, and must fail cleanly, on Windows.
func skipWineSDDLCrash(t *testing.T, sddl string) {
	t.Helper()
	if strings.Contains(sddl, "::") && nt.Wine() {
		t.Skip(`wine: ConvertStringSecurityDescriptorToSecurityDescriptorW crashes the process on "::" in SDDL`)
	}
}
