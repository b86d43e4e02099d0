package namedpipe

import (
	"errors"

	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

// securityDescriptor turns the configured SDDL, or the default (the current
// user and LocalSystem only, see winsec.DefaultSDDL), into the self-relative
// descriptor that NtCreateNamedPipeFile takes.
func securityDescriptor(sddl string) (*windows.SECURITY_DESCRIPTOR, error) {
	sd, err := winsec.Descriptor(sddl)
	if errors.Is(err, winsec.ErrBadSDDL) {
		err = configError(err)
	}
	return sd, err
}
