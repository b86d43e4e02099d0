package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/ipc"
	"golang.org/x/sys/windows"
)

type pipeInfo struct {
	Path         string   `json:"path"`
	Type         string   `json:"type"`
	Direction    string   `json:"direction"`
	Instances    int      `json:"instances"`
	MaxInstances int      `json:"max_instances"`
	InputQuota   int      `json:"input_quota"`
	OutputQuota  int      `json:"output_quota"`
	ServerPID    int      `json:"server_pid"`
	ServerImage  string   `json:"server_image"`
	Owner        string   `json:"owner"`
	OwnerName    string   `json:"owner_name"`
	SDDL         string   `json:"sddl"`
	MayConnect   []string `json:"may_connect"`
	MayCreate    []string `json:"may_create_instances"`
	Denied       []string `json:"denied"`
	OthersCreate bool     `json:"others_may_create_instances"`
	Warnings     []string `json:"warnings"`
}

func infoCmd(name string, asJSON bool) error {
	t, err := resolveName(name)
	if err != nil {
		return err
	}
	if t.kind == "unix" {
		return fmt.Errorf("info %s: conduit describes Unix sockets on Unix only", t)
	}
	path, err := ipc.Path(t.name)
	if err != nil {
		return usagef("info: %v", err)
	}
	p, _ := windows.UTF16PtrFromString(path)
	// No read or write access, Identification level: the server sees a
	// client come and go.
	h, err := windows.CreateFile(p, windows.READ_CONTROL|windows.FILE_READ_ATTRIBUTES|windows.SYNCHRONIZE, 0, nil,
		windows.OPEN_EXISTING, windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
	if err == windows.ERROR_PIPE_BUSY {
		return &os.PathError{Op: "info", Path: path, Err: fmt.Errorf("every instance is busy: try again when one is free (%w)", err)}
	}
	if err != nil {
		return &os.PathError{Op: "info", Path: path, Err: err}
	}
	// Closed as soon as the pipe has answered, before the slower lookups
	// below: the server's Accept drops a client that left without a
	// word only if it has left by then.
	closed := false
	closeH := func() {
		if !closed {
			windows.CloseHandle(h)
			closed = true
		}
	}
	defer closeH()
	info := pipeInfo{Path: path, MayConnect: []string{}, MayCreate: []string{}, Denied: []string{}, Warnings: []string{}}
	local, err := nt.QueryInformationFile[nt.FILE_PIPE_LOCAL_INFORMATION](h, nt.FilePipeLocalInformation)
	if err != nil {
		return &os.PathError{Op: "info", Path: path, Err: err}
	}
	info.Type = "byte"
	if local.NamedPipeType&windows.FILE_PIPE_MESSAGE_TYPE != 0 {
		info.Type = "message"
	}
	info.Direction = map[uint32]string{windows.FILE_PIPE_INBOUND: "inbound", windows.FILE_PIPE_OUTBOUND: "outbound"}[local.NamedPipeConfiguration]
	if info.Direction == "" {
		info.Direction = "duplex"
	}
	info.Instances, info.MaxInstances = int(local.CurrentInstances), int(local.MaximumInstances)
	if local.MaximumInstances == 0xFFFFFFFF {
		info.MaxInstances = 0
	}
	info.InputQuota, info.OutputQuota = int(local.InboundQuota), int(local.OutboundQuota)
	var pid uint32
	if windows.GetNamedPipeServerProcessId(h, &pid) == nil {
		info.ServerPID = int(pid)
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return &os.PathError{Op: "info", Path: path, Err: err}
	}
	closeH()
	if pid != 0 {
		info.ServerImage = processImage(pid)
	}
	info.SDDL = sd.String()
	owner, _, _ := sd.Owner()
	if owner != nil {
		info.Owner, info.OwnerName = owner.String(), account(owner)
	}
	analyse(sd, owner, &info)
	if asJSON {
		return writeJSON(std.out, info)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	max := fmt.Sprint(info.MaxInstances)
	if info.MaxInstances == 0 {
		max = "unlimited"
	}
	fmt.Fprintf(w, "path\t%s\n", info.Path)
	fmt.Fprintf(w, "type\t%s, %s\n", info.Type, info.Direction)
	fmt.Fprintf(w, "instances\t%d of %s\n", info.Instances, max)
	fmt.Fprintf(w, "quotas\tin %d, out %d bytes\n", info.InputQuota, info.OutputQuota)
	fmt.Fprintf(w, "server\tpid %d %s\n", info.ServerPID, info.ServerImage)
	fmt.Fprintf(w, "owner\t%s (%s)\n", info.OwnerName, info.Owner)
	fmt.Fprintf(w, "sddl\t%s\n", info.SDDL)
	fmt.Fprintf(w, "may connect\t%s\n", list(info.MayConnect))
	fmt.Fprintf(w, "may create instances\t%s\n", list(info.MayCreate))
	if len(info.Denied) > 0 {
		fmt.Fprintf(w, "denied\t%s\n", list(info.Denied))
	}
	for _, warn := range info.Warnings {
		fmt.Fprintf(w, "WARNING\t%s\n", warn)
	}
	return w.Flush()
}

func list(names []string) string {
	if len(names) == 0 {
		return "no one"
	}
	return strings.Join(names, ", ")
}

// trusted are the SIDs that may create instances without a warning: they
// can do anything on the machine anyway.
var trusted = map[string]bool{"S-1-5-18": true, "S-1-5-32-544": true}

// analyse reads the DACL: who may connect (read or write data), who may
// create instances (FILE_CREATE_PIPE_INSTANCE), who is denied.
func analyse(sd *windows.SECURITY_DESCRIPTOR, owner *windows.SID, info *pipeInfo) {
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		info.MayConnect = append(info.MayConnect, "everyone (no DACL)")
		info.MayCreate = append(info.MayCreate, "everyone (no DACL)")
		info.OthersCreate = true
		info.Warnings = append(info.Warnings, "the pipe has no DACL: anyone may connect and create instances")
		return
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if windows.GetAce(dacl, i, &ace) != nil {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		who := account(sid)
		mask := mapGeneric(uint32(ace.Mask))
		switch ace.Header.AceType {
		case windows.ACCESS_DENIED_ACE_TYPE:
			info.Denied = append(info.Denied, who)
		case windows.ACCESS_ALLOWED_ACE_TYPE:
			if mask&(windows.FILE_READ_DATA|windows.FILE_WRITE_DATA) != 0 {
				info.MayConnect = append(info.MayConnect, who)
			}
			if mask&nt.FILE_CREATE_PIPE_INSTANCE != 0 {
				info.MayCreate = append(info.MayCreate, who)
				if !trusted[sid.String()] && (owner == nil || !sid.Equals(owner)) {
					info.OthersCreate = true
					info.Warnings = append(info.Warnings, who+" may create instances of this pipe and so serve some of its clients, who cannot tell (grant namedpipe.ClientAccess, 0x12019b, instead of GA or GW)")
				}
			}
		}
	}
}

// mapGeneric turns generic rights into the file rights they stand for.
func mapGeneric(m uint32) uint32 {
	for _, g := range [...]struct{ generic, specific uint32 }{
		{windows.GENERIC_READ, windows.FILE_GENERIC_READ},
		{windows.GENERIC_WRITE, windows.FILE_GENERIC_WRITE},
		{windows.GENERIC_EXECUTE, nt.FILE_GENERIC_EXECUTE},
		{windows.GENERIC_ALL, nt.FILE_ALL_ACCESS},
	} {
		if m&g.generic != 0 {
			m = m&^g.generic | g.specific
		}
	}
	return m
}

// account names a SID: DOMAIN\name, or the SID string.
func account(sid *windows.SID) string {
	name, domain, _, err := sid.LookupAccount("")
	switch {
	case err != nil:
		return sid.String()
	case domain != "":
		return domain + `\` + name
	}
	return name
}

// processImage returns the path of a process's executable, or "".
func processImage(pid uint32) string {
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return ""
	}
	defer windows.CloseHandle(p)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if windows.QueryFullProcessImageName(p, 0, &buf[0], &n) != nil {
		return ""
	}
	return windows.UTF16ToString(buf[:n])
}
