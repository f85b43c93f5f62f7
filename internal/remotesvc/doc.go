// Package remotesvc holds nxsvc, the small Windows service the deployer pushes
// to ADMIN$ to run msiexec (see ./cmd/nxsvc and the job contract in ./job),
// compiled for windows/amd64, windows/386 and windows/arm64 and embedded here.
//
// Binary returns the bytes for a host's architecture, accepting both GOARCH
// names ("amd64", "386", "arm64") and the values of Windows'
// PROCESSOR_ARCHITECTURE ("AMD64", "x86", "ARM64"); SHA256 returns their
// digest, for verifying an upload.
//
// The binaries are produced by `go generate ./internal/remotesvc`, which builds
// each one twice with
//
//	CGO_ENABLED=0 GOOS=windows GOARCH=<arch> go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' ./cmd/nxsvc
//
// and refuses to write them unless both builds are identical. A test rebuilds
// them and fails if the result differs from the embedded bytes, so the
// committed binaries always match the committed source (same Go toolchain).
package remotesvc
