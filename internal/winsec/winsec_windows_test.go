package winsec

import (
	"errors"
	"testing"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// The default descriptors: owned by the current user, a protected DACL
// that grants this process everything.
func TestDefaultDescriptors(t *testing.T) {
	user, err := CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	def, err := DefaultSDDL()
	if err != nil {
		t.Fatal(err)
	}
	only, err := CurrentUserOnlySDDL()
	if err != nil {
		t.Fatal(err)
	}
	for _, sddl := range []string{"", def, only} {
		sd, err := Descriptor(sddl)
		if err != nil {
			t.Fatalf("Descriptor(%q): %v", sddl, err)
		}
		owner, _, err := sd.Owner()
		if err != nil || owner == nil || owner.String() != user {
			t.Errorf("Descriptor(%q): owner %v, %v; want %s", sddl, owner, err, user)
		}
		ctl, _, err := sd.Control()
		if err != nil || ctl&windows.SE_DACL_PROTECTED == 0 || ctl&windows.SE_DACL_PRESENT == 0 {
			t.Errorf("Descriptor(%q): control %#x, %v; want a protected DACL", sddl, ctl, err)
		}
		// AccessCheck needs an owner and a group, as a descriptor read
		// back from an object has; the SDDL names no group.
		abs, err := sd.ToAbsolute()
		if err != nil {
			t.Fatal(err)
		}
		if err := abs.SetGroup(owner, false); err != nil {
			t.Fatal(err)
		}
		if ok, err := Grants(abs, windows.GENERIC_ALL); err != nil || !ok {
			t.Errorf("Descriptor(%q) grants this process everything: %v, %v", sddl, ok, err)
		}
	}
}

// Grants refuses what a DACL does not grant.
func TestGrantsRefuses(t *testing.T) {
	if nt.Wine() {
		t.Skip("wine: security descriptors are not enforced")
	}
	sd, err := Descriptor("O:SYG:SYD:P(A;;GR;;;WD)")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Grants(sd, windows.GENERIC_READ); err != nil || !ok {
		t.Errorf("GR granted to Everyone: Grants(GENERIC_READ) = %v, %v", ok, err)
	}
	if ok, err := Grants(sd, windows.GENERIC_WRITE); err != nil || ok {
		t.Errorf("only GR granted: Grants(GENERIC_WRITE) = %v, %v", ok, err)
	}
}

// Bad SDDL is ErrBadSDDL, with the SDDL in the message; so is SDDL with no
// DACL, which the fuzz target found (" ", accepted before as a descriptor
// with nothing in it).
func TestDescriptorBadSDDL(t *testing.T) {
	for _, sddl := range []string{"this is not SDDL", "D:(A;;GA;;;S-1-x)", "O:SY\x00", "D:(Z;;GA;;;WD)", "O:S-",
		// No DACL: Windows, not the caller, would decide the access.
		" ", "O:SY", "O:SYG:SY", "S:(ML;;NW;;;LW)"} {
		sd, err := Descriptor(sddl)
		if !errors.Is(err, ErrBadSDDL) || sd != nil {
			t.Errorf("Descriptor(%q) = %v, %v; want ErrBadSDDL", sddl, sd, err)
		}
	}
}

// mapGeneric turns each generic right into the file rights it stands for
// and leaves the rest alone.
func TestMapGeneric(t *testing.T) {
	for in, want := range map[uint32]uint32{
		windows.GENERIC_READ:                       windows.FILE_GENERIC_READ,
		windows.GENERIC_WRITE:                      windows.FILE_GENERIC_WRITE,
		windows.GENERIC_ALL:                        nt.FILE_ALL_ACCESS,
		windows.GENERIC_READ | windows.SYNCHRONIZE: windows.FILE_GENERIC_READ | windows.SYNCHRONIZE,
		windows.FILE_READ_DATA:                     windows.FILE_READ_DATA,
	} {
		if got := mapGeneric(in); got != want {
			t.Errorf("mapGeneric(%#x) = %#x, want %#x", in, got, want)
		}
	}
}
