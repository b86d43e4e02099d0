// Package winsec holds conduit's default security: the descriptor that pipes
// and mailslots get when their configuration names none.
package winsec

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/windows"
)

var (
	userOnce sync.Once
	user     *windows.SID
	userErr  error
)

// CurrentUserSID returns the SID of the process token's user, read once.
// Callers must not modify it.
func CurrentUserSID() (*windows.SID, error) {
	userOnce.Do(func() {
		u, err := windows.GetCurrentProcessToken().GetTokenUser()
		if err != nil {
			userErr = fmt.Errorf("reading the process token's user: %w", err)
			return
		}
		user, userErr = u.User.Sid.Copy()
	})
	return user, userErr
}

// CurrentUser returns the SID of the process token's user as a string.
func CurrentUser() (string, error) {
	sid, err := CurrentUserSID()
	if err != nil {
		return "", err
	}
	return sid.String(), nil
}

// DefaultSDDL is the security descriptor of objects whose configuration sets
// none: owned by the current user, with a protected DACL (P: no inherited
// entries) that grants full access (GA) to that user and to LocalSystem (SY)
// and to no one else. Anonymous, Everyone and even Administrators get
// nothing; a service that must admit others says so in its configuration.
func DefaultSDDL() (string, error) {
	user, err := CurrentUser()
	if err != nil {
		return "", err
	}
	const system = "S-1-5-18"
	if user == system {
		return "O:SYD:P(A;;GA;;;SY)", nil
	}
	return "O:" + user + "D:P(A;;GA;;;" + user + ")(A;;GA;;;SY)", nil
}

// CurrentUserOnlySDDL is DefaultSDDL without LocalSystem: owned by the
// current user, a protected DACL that grants full access to that user alone.
func CurrentUserOnlySDDL() (string, error) {
	user, err := CurrentUser()
	if err != nil {
		return "", err
	}
	return "O:" + user + "D:P(A;;GA;;;" + user + ")", nil
}

// ErrBadSDDL is wrapped by Descriptor's error for SDDL that does not parse.
var ErrBadSDDL = errors.New("bad SDDL")

// Descriptor turns sddl, or DefaultSDDL when it is empty, into the
// self-relative descriptor that the NT create calls take.
func Descriptor(sddl string) (*windows.SECURITY_DESCRIPTOR, error) {
	if sddl == "" {
		var err error
		if sddl, err = DefaultSDDL(); err != nil {
			return nil, err
		}
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("%w: SecurityDescriptor %q: %w", ErrBadSDDL, sddl, err)
	}
	return sd, nil
}
