// Package hangdemo holds one test, TestHangInWine, that shows the test bed
// ending a Windows test binary that can no longer end itself: it stops
// every other thread of its process and blocks in a Wine call, so Go's own
// -timeout never fires. It runs only with CONDUIT_HANG_DEMO=1 (`make
// hang-demo`), which expects testbed/winexec.sh to kill it and name this
// package within the test's -timeout plus the grace the demo sets.
package hangdemo

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go hang_windows.go
