// Package build compiles nxsvc, the deployer's remote service, from its C
// source (../csrc) with Debian's mingw-w64 cross compilers, reproducibly:
// the same source and the same toolchain give the same bytes on any
// machine (no timestamp, no build id, no identification string, file paths
// mapped, fixed flags and locale). `go generate ./internal/remotesvc` uses
// it to produce the embedded binaries, and the tests of package remotesvc
// use it to check that the embedded bytes are exactly what the source
// builds to.
package build
