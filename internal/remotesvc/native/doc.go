// Package native compiles the portable half of nxsvc (../csrc/nxjob.c: the
// job parser, the Windows Installer command-line builder, the progress
// arithmetic and the texts of the progress and result files) with cgo, so
// Go tests can check and fuzz the very C that runs on the hosts: against
// the Go decoder of package job, against the result and progress parsers,
// and for memory safety (see the sanitizer test).
//
// Without cgo the package is empty and Available is false.
package native
