// Command genbin builds the nxsvc binaries embedded in package remotesvc. It is
// run by `go generate ./internal/remotesvc` with the package directory as its
// working directory:
//
//	go run ./internal/genbin -out bin
//
// Each binary is built twice into a temporary directory and written to -out
// only if both builds are byte-identical, so a non-reproducible build fails
// here instead of in CI. It also records the toolchain in -out/TOOLCHAIN,
// which the comparison test reads to say why a rebuild differs.
package main
