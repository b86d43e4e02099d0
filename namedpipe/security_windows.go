package namedpipe

import (
	"fmt"
	"sync"

	"golang.org/x/sys/windows"
)

var (
	userOnce sync.Once
	userSID  string
	userErr  error
)

// currentUser returns the SID of the process token's user.
func currentUser() (string, error) {
	userOnce.Do(func() {
		u, err := windows.GetCurrentProcessToken().GetTokenUser()
		if err != nil {
			userErr = fmt.Errorf("reading the process token's user: %w", err)
			return
		}
		userSID = u.User.Sid.String()
	})
	return userSID, userErr
}

// defaultSDDL is the security descriptor of pipes whose ListenConfig sets
// none: owned by the current user, with a protected DACL (P: no inherited
// entries) that grants full access (GA) to that user and to LocalSystem (SY)
// and to no one else. Anonymous, Everyone and even Administrators get
// nothing; a service that must admit others says so in SecurityDescriptor.
func defaultSDDL() (string, error) {
	user, err := currentUser()
	if err != nil {
		return "", err
	}
	const system = "S-1-5-18"
	if user == system {
		return "O:SYD:P(A;;GA;;;SY)", nil
	}
	return "O:" + user + "D:P(A;;GA;;;" + user + ")(A;;GA;;;SY)", nil
}

// securityDescriptor turns the configured SDDL, or the default, into the
// self-relative descriptor that NtCreateNamedPipeFile takes.
func securityDescriptor(sddl string) (*windows.SECURITY_DESCRIPTOR, error) {
	if sddl == "" {
		var err error
		if sddl, err = defaultSDDL(); err != nil {
			return nil, err
		}
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, configError(fmt.Errorf("SecurityDescriptor %q: %w", sddl, err))
	}
	return sd, nil
}
