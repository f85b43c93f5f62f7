//go:build cgo

/* The service's portable C, compiled here by cgo exactly as mingw-w64
 * compiles it into nxsvc. */
#include "../csrc/nxjob.c"
