// Package ci checks the structure of conduit's GitHub Actions workflow,
// .github/workflows/ci.yml: that it parses as YAML with only the keys
// GitHub Actions knows, and that its jobs run what conduit's CI promises
// (vet for every shipped Windows architecture, the race detector, 386,
// `make test` under Wine, pinned actions, a read-only token).
//
// It is its own module so that its YAML dependency stays out of conduit's
// go.mod and `go test ./...` in the repository root does not see it; run it
// with `cd ci && go test ./...`.
package ci
