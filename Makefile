# conduit's build, test bed and benchmarks. `make test` is the one command
# that checks everything; on a fresh Debian machine it installs what it needs
# (as root) through testbed/setup.sh.

GO       ?= go
PKGS     := ./...
# The Wine test bed (testbed/winrun.sh): the command after it runs with
# GOOS=windows GOARCH=amd64 against a Wine prefix and server of its own,
# copied from a template that testbed/setup.sh installs outside the
# repository, and torn down after. Each Windows test binary is bounded from
# outside (testbed/winexec.sh): its -timeout plus a minute, then it is
# killed with its Wine programs, named, and the run fails; a Wine server
# that dies fails the run at once. So two runs on one machine (make test
# beside make bench, two checkouts) share nothing but the template.
WINRUN    = bash "$(CURDIR)/testbed/winrun.sh"
# Each Windows test binary's own limit (then the test bed's, a minute more):
# the slowest suite, cmd/conduit's with -race under Wine, took 160 s beside
# make stress's load and another make test, a minute on a quiet machine.
WINTIMEOUT ?= 300s

# Each fuzz target runs this long in `make test`; `make fuzz FUZZTIME=5m`
# is the long run.
FUZZTIME ?= 1s

.PHONY: test vet ci-check test-native test-windows test-windows-race fuzz soak stress hang-demo run bench bench-quick generate fmt

test: vet ci-check test-native test-windows test-windows-race fuzz

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	# Every platform we ship: Windows on amd64, 386 (32-bit int) and
	# arm64; Linux; darwin (Unix without pipe2, SOCK_CLOEXEC and
	# SOCK_SEQPACKET) and FreeBSD (ipc's other peer-credential code).
	for p in windows/amd64 windows/386 windows/arm64 linux/amd64 darwin/arm64 freebsd/amd64; do \
		echo "vet $$p"; GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet $(PKGS) || exit 1; \
	done
	cd bench && GOOS=windows GOARCH=amd64 $(GO) vet ./... && $(GO) vet ./...
	cd interop && for a in amd64 386 arm64; do GOOS=windows GOARCH=$$a $(GO) vet ./... || exit 1; done

# The CI workflow, .github/workflows/ci.yml, read with a YAML parser and its
# jobs checked (module ci/, which keeps gopkg.in/yaml.v3 out of our go.mod).
ci-check:
	cd ci && $(GO) vet ./... && $(GO) test -count=1 ./...

test-native:
	$(GO) test -count=1 $(PKGS)
	# ipc again under the race detector: its reliability suite (storms,
	# churn, killed peers, Close racing everything). -race needs cgo's gcc,
	# which the test bed installs.
	bash testbed/setup.sh >/dev/null && CGO_ENABLED=1 $(GO) test -race -count=1 ./ipc
	# ipc's framing on 32-bit (int is 32 bits: a length of 2 GiB or more
	# must not panic), the fuzz targets' seeds included.
	GOARCH=386 $(GO) test -count=1 -run 'Fuzz|Framed|Packet|Message' ./ipc
	# gRPC over ipc, in a module of its own (examples/grpc).
	cd examples/grpc && $(GO) vet ./... && $(GO) test -count=1 ./...

test-windows:
	$(WINRUN) $(GO) test -count=1 -timeout $(WINTIMEOUT) $(PKGS)
	cd examples/grpc && $(WINRUN) $(GO) test -count=1 -timeout $(WINTIMEOUT) ./...
	# go-winio against conduit, in a module of its own (interop).
	cd interop && $(WINRUN) $(GO) test -count=1 -timeout $(WINTIMEOUT) ./...
	# go-winio's own pipe_test.go, and a Docker-style program written
	# against go-winio, run against conduit's winio: these two tests run on
	# the host (GOOS unset) and start go test for windows/amd64 under Wine
	# (the run's go_windows_amd64_exec), which bounds each binary.
	cd interop && $(WINRUN) env GOOS= GOARCH= CONDUIT_WINIO_SUITE=1 $(GO) test -count=1 -timeout 600s -run 'TestGoWinioPipeSuite|TestEngineWithConduitWinio' .

# The same tests built with the race detector (cgo through mingw-w64, which
# the test bed installs), as the Windows workflow runs them: it also turns on
# checkptr and x/sys's race annotations, which read what a plain build never
# touches.
test-windows-race:
	$(WINRUN) env CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) test -race -count=1 -timeout $(WINTIMEOUT) $(PKGS)
	cd interop && $(WINRUN) env CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) test -race -count=1 -timeout $(WINTIMEOUT) ./...

# Every Go fuzz target for FUZZTIME each: the portable ones natively, the
# Windows ones under Wine (testbed/fuzz.sh). Inputs that fail are written
# to the package's testdata/fuzz/, which plain go test replays from then on.
fuzz:
	FUZZTIME=$(FUZZTIME) bash testbed/fuzz.sh

# The reliability suites at full size (CONDUIT_SOAK=1): storms of 64 clients
# x 50 connections, 10,000-cycle churn, hundreds of Close races; natively
# (ipc) and under Wine. make test runs them bounded.
soak:
	CONDUIT_SOAK=1 $(GO) test -count=1 -timeout 30m -run Reliability ./ipc
	$(WINRUN) env CONDUIT_SOAK=1 $(GO) test -count=1 -timeout 30m -run 'Reliability|TestStorm|TestChurn|TestPeerKilled|TestListenerCloseDuring|TestConnCloseDuringPendingOp|TestSlotCloseDuringRead|TestWriterCloseDuringWrites' ./ipc ./namedpipe ./mailslot

# Flaky tests, found now rather than one at a time in CI: every suite
# STRESS_RUNS times (default 20) with STRESS_LOAD busy processes beside it
# (default 2), and per test the number of runs it failed in
# (testbed/stress.sh). STRESS_SUITES picks suites: native, native-race,
# windows, windows-race.
stress:
	bash testbed/stress.sh $(STRESS_SUITES)

# The test bed's bound, shown: a Windows test binary that freezes every
# thread and blocks in a Wine call (testbed/hangdemo), so that Go's own
# -timeout cannot fire, is killed and named within its -timeout (10s) plus
# the grace (20s). The target succeeds when that happens.
hang-demo:
	@out=$$(CONDUIT_HANG_DEMO=1 CONDUIT_WINE_GRACE=20 $(WINRUN) $(GO) test -count=1 -timeout 10s -run TestHangInWine ./testbed/hangdemo 2>&1); \
	printf "%s\n" "$$out"; \
	printf "%s\n" "$$out" | grep -q 'testbed: HANG: the Windows test binary of package testbed/hangdemo' || { echo "hang-demo: the bound did not fire"; exit 1; }; \
	echo "hang-demo: the hung binary was ended and named, as it should be"
	@out=$$(CONDUIT_LEFT_DEMO=1 $(WINRUN) $(GO) test -count=1 -timeout 60s -run TestLeaveChild ./testbed/hangdemo 2>&1); \
	printf "%s\n" "$$out"; \
	printf "%s\n" "$$out" | grep -q 'testbed: LEFT RUNNING: the Windows test binary of package testbed/hangdemo' || { echo "hang-demo: the child left running was not named"; exit 1; }; \
	printf "%s\n" "$$out" | grep -q '^FAIL' || { echo "hang-demo: a child left running did not fail the run"; exit 1; }; \
	echo "hang-demo: the child left running was named and killed, and failed the run, as it should"

# The demonstration: conduit built for Windows, run under Wine through the
# same test bed (testbed/demo.sh): a server and a client over a named pipe,
# ls and info, a mailslot message, an anonymous pipe to a child (--exec) and
# a short bench.
run:
	$(WINRUN) sh -c '$(GO) build -o $(CURDIR)/.build/conduit.exe ./cmd/conduit && \
		bash testbed/demo.sh $(CURDIR)/.build/conduit.exe'

# Benchmarks: conduit against every peer in the same run, interleaved round
# by round (bench/run.sh, the bench module's cmd/report): writes
# docs/bench/results.md and chart.svg. BENCHARGS go to `report run`
# (e.g. BENCHARGS='-rounds 7 -only ping-pong'); `make bench-quick` is a
# smoke test that leaves docs/bench alone. The bench module's `go test
# -bench` benchmarks remain for profiling one row.
bench:
	bash bench/run.sh $(BENCHARGS)

bench-quick:
	bash bench/run.sh -quick $(BENCHARGS)

generate:
	$(GO) generate ./...
	cd interop && $(GO) generate ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
