// Package winsec holds conduit's default security: the descriptor that pipes
// and mailslots get when their configuration names none.
package winsec

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/conduit-ipc/conduit/internal/nt"
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
//
// SDDL with no DACL ("O:SY", or only blanks) is refused with ErrBadSDDL:
// an object created with such a descriptor gets no access control of its
// caller's choosing, but Windows' default (the creator token's default
// DACL, or the named-pipe file system's own, which lets Everyone read),
// neither what conduit defaults to nor what the caller wrote. A NULL DACL
// asked for in so many words ("D:NO_ACCESS_CONTROL") is the caller's
// choice and is kept.
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
	if ctl, _, err := sd.Control(); err != nil || ctl&windows.SE_DACL_PRESENT == 0 {
		return nil, fmt.Errorf("%w: SecurityDescriptor %q has no DACL (D:...), so Windows would decide who may open the object", ErrBadSDDL, sddl)
	}
	return sd, nil
}

// fileMapping is the generic mapping of files and pipes, as
// IoGetFileObjectGenericMapping returns it.
var fileMapping = nt.GENERIC_MAPPING{
	GenericRead:    windows.FILE_GENERIC_READ,
	GenericWrite:   windows.FILE_GENERIC_WRITE,
	GenericExecute: nt.FILE_GENERIC_EXECUTE,
	GenericAll:     nt.FILE_ALL_ACCESS,
}

// mapGeneric returns access with its generic rights replaced by the file
// rights they stand for, as AccessCheck requires.
func mapGeneric(access uint32) uint32 {
	for _, m := range [...]struct{ generic, specific uint32 }{
		{windows.GENERIC_READ, fileMapping.GenericRead},
		{windows.GENERIC_WRITE, fileMapping.GenericWrite},
		{windows.GENERIC_EXECUTE, fileMapping.GenericExecute},
		{windows.GENERIC_ALL, fileMapping.GenericAll},
	} {
		if access&m.generic != 0 {
			access = access&^m.generic | m.specific
		}
	}
	return access
}

var (
	tokenOnce sync.Once
	token     windows.Token
	tokenErr  error
)

// identificationToken returns an identification-level impersonation token
// of the process's own, for AccessCheck, made once.
func identificationToken() (windows.Token, error) {
	tokenOnce.Do(func() {
		var primary windows.Token
		if tokenErr = windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_DUPLICATE|windows.TOKEN_QUERY, &primary); tokenErr != nil {
			return
		}
		defer primary.Close()
		tokenErr = windows.DuplicateTokenEx(primary, windows.TOKEN_QUERY, nil, windows.SecurityIdentification, windows.TokenImpersonation, &token)
	})
	return token, tokenErr
}

// Grants reports whether sd, which must have an owner and a group (a
// descriptor read back from an object has both), grants this process's user
// every right in access, generic rights mapped as for files and pipes. It is
// AccessCheck with the process's token, whatever the calling thread
// impersonates: a Listener's further instances are made by whichever of its
// goroutines makes room, as the process.
func Grants(sd *windows.SECURITY_DESCRIPTOR, access uint32) (bool, error) {
	tok, err := identificationToken()
	if err != nil {
		return false, fmt.Errorf("AccessCheck: the process token: %w", err)
	}
	privileges := make([]byte, 256) // PRIVILEGE_SET: what the check used, unread
	for {
		var granted uint32
		var status int32
		size := uint32(len(privileges))
		err := nt.AccessCheck(sd, tok, mapGeneric(access), &fileMapping, &privileges[0], &size, &granted, &status)
		switch {
		case err == windows.ERROR_INSUFFICIENT_BUFFER && int(size) > len(privileges):
			privileges = make([]byte, size)
			continue
		case err != nil:
			return false, os.NewSyscallError("AccessCheck", err)
		}
		return status != 0, nil
	}
}
