# conduit's build, test bed and benchmarks. `make test` is the one command
# that checks everything; on a fresh Debian machine it installs what it needs
# (as root) through testbed/setup.sh.

GO       ?= go
PKGS     := ./...
# The Wine test bed: a prefix and the go_windows_amd64_exec wrapper, outside
# the repository. setup.sh prints the directory to put on PATH; a recipe
# stops if it fails.
WINENV    = bin=$$(bash "$(CURDIR)/testbed/setup.sh") && export PATH="$$bin:$$PATH" GOOS=windows GOARCH=amd64 &&

# Each fuzz target runs this long in `make test`; `make fuzz FUZZTIME=5m`
# is the long run.
FUZZTIME ?= 1s

.PHONY: test vet ci-check test-native test-windows test-windows-race fuzz soak run bench bench-quick generate fmt

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
	# gRPC over ipc, in a module of its own (examples/grpc).
	cd examples/grpc && $(GO) vet ./... && $(GO) test -count=1 ./...

test-windows:
	$(WINENV) $(GO) test -count=1 -timeout 600s $(PKGS)
	cd examples/grpc && $(WINENV) $(GO) test -count=1 ./...
	# go-winio against conduit, in a module of its own (interop).
	cd interop && $(WINENV) $(GO) test -count=1 -timeout 300s ./...
	# go-winio's own pipe_test.go, and a Docker-style program written
	# against go-winio, run against conduit's winio: these two tests run on
	# the host (GOOS unset) and start go test for windows/amd64 under Wine.
	cd interop && $(WINENV) GOOS= GOARCH= CONDUIT_WINIO_SUITE=1 $(GO) test -count=1 -timeout 900s -run 'TestGoWinioPipeSuite|TestEngineWithConduitWinio' .

# The same tests built with the race detector (cgo through mingw-w64, which
# the test bed installs), as the Windows workflow runs them: it also turns on
# checkptr and x/sys's race annotations, which read what a plain build never
# touches.
test-windows-race:
	$(WINENV) CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) test -race -count=1 -timeout 600s $(PKGS)
	cd interop && $(WINENV) CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) test -race -count=1 -timeout 300s ./...

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
	$(WINENV) CONDUIT_SOAK=1 $(GO) test -count=1 -timeout 30m -run 'Reliability|TestStorm|TestChurn|TestPeerKilled|TestListenerCloseDuring|TestConnCloseDuringPendingOp|TestSlotCloseDuringRead|TestWriterCloseDuringWrites' ./ipc ./namedpipe ./mailslot

# The demonstration: conduit built for Windows, run under Wine through the
# same test bed (testbed/demo.sh): a server and a client over a named pipe,
# ls and info, a mailslot message, an anonymous pipe to a child (--exec) and
# a short bench.
run:
	$(WINENV) $(GO) build -o $(CURDIR)/.build/conduit.exe ./cmd/conduit && \
		bash testbed/demo.sh $(CURDIR)/.build/conduit.exe

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
