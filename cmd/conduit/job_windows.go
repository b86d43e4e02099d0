package main

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

var childJob sync.Once

// endChildrenWithConduit puts conduit in a job object of its own with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, once, before its first --exec child
// is started: every process conduit starts from then on (and every one they
// start) is in the job from its creation, and ends when conduit ends,
// however it ends (the job's only handle is conduit's, closed by Windows as
// conduit exits or is terminated).
//
// What it prevents: CreateProcess makes the child's first thread suspended
// and resumes it only after the child is set up (kernelbase's
// CreateProcessInternalW; Windows and Wine alike), so a conduit terminated
// between the two leaves a child that never runs and never ends, holding
// the connection's pipe ends and conduit's stderr (seen under Wine with a
// server killed while a client's cmd.exe was being started). A child left
// by a killed conduit has lost its connection anyway; a child that does
// not read its stdin would otherwise run on unseen.
//
// Everything the command starts goes with conduit too, unless it leaves
// the job on purpose (CREATE_BREAKAWAY_FROM_JOB, allowed here). A job in a
// job is allowed from Windows 8 on; where conduit cannot have a job of its
// own (Windows 7 inside another job, an outer job with UI limits), children
// are started as before: the failure changes nothing else. Once conduit is
// in its job, a supervisor can no longer put it in a job that holds other
// processes (Windows allows only an empty job or one above conduit's).
//
// Ctrl+C still reaches children on conduit's console, but conduit exits at
// once and its job then ends them: a command's own cleanup on Ctrl+C may be
// cut short.
func endChildrenWithConduit() {
	childJob.Do(func() {
		job, err := windows.CreateJobObject(nil, nil)
		if err != nil {
			return
		}
		var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
		// BREAKAWAY_OK: a program that asks to leave the job
		// (CREATE_BREAKAWAY_FROM_JOB) may; nothing leaves it otherwise.
		info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
			windows.JOB_OBJECT_LIMIT_BREAKAWAY_OK
		if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
			uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
			windows.CloseHandle(job)
			return
		}
		if err := windows.AssignProcessToJobObject(job, windows.CurrentProcess()); err != nil {
			windows.CloseHandle(job)
			return
		}
		// The handle stays open for conduit's life: closing it would end
		// conduit.
	})
}
