// Package build compiles nxsvc reproducibly for each Windows architecture the
// deployer supports. `go generate ./internal/remotesvc` uses it to produce the
// embedded binaries, and the tests of package remotesvc use it to check that
// the embedded bytes are exactly what the source builds to.
package build
