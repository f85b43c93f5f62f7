//go:build cgo

package native

/*
#cgo CFLAGS: -std=c99 -O2 -Wall -Wextra -Werror -Wshadow -Wconversion -I${SRCDIR}/../csrc
#include <stdlib.h>
#include <string.h>
#include "nxjob.h"
*/
import "C"

import (
	"unsafe"
)

// Available reports whether the C code is compiled in (cgo is on).
const Available = true

// Property is one parsed property, as raw UTF-16 code units.
type Property struct {
	Name, Value []uint16
	Secret      bool
}

// Job is what nxjob_parse returned: Code is NXJOB_OK (0) or an NXJOB_E_*
// code, with Record and Offset where parsing stopped.
type Job struct {
	Code       int
	Record     uint32
	Offset     uint32
	ID         []uint16
	Operation  uint32
	Package    []uint16
	PackageUNC bool
	Product    []uint16
	Timeout    uint32
	Grace      uint32
	SHA256     []byte
	// HasSkip and SkipVersion are the skip-if-installed record.
	HasSkip     bool
	SkipVersion uint32
	// KeepLog is the keep-log record.
	KeepLog    bool
	Properties []Property
	// CommandLine is nxjob_cmdline's line for a job that parsed.
	CommandLine []uint16
}

// parse runs nxjob_parse on a copy of b in C memory; free releases the
// job, its arena and the copy.
func parse(b []byte) (job *C.nxjob, rc C.int, free func()) {
	buf := C.malloc(C.size_t(len(b) + 1))
	if len(b) > 0 {
		C.memcpy(buf, unsafe.Pointer(&b[0]), C.size_t(len(b)))
	}
	job = (*C.nxjob)(C.calloc(1, C.size_t(unsafe.Sizeof(C.nxjob{}))))
	units := C.nxjob_arena_units(C.size_t(len(b)))
	arena := (*C.nx_char)(C.calloc(units, 2))
	rc = C.nxjob_parse((*C.uint8_t)(buf), C.size_t(len(b)), job, arena, units)
	return job, rc, func() {
		C.free(buf)
		C.free(unsafe.Pointer(job))
		C.free(unsafe.Pointer(arena))
	}
}

// Parse runs nxsvc's parser on b, and for a job that parses, its
// command-line builder.
func Parse(b []byte) Job {
	job, rc, free := parse(b)
	defer free()
	out := Job{Code: int(rc), Record: uint32(job.err_record), Offset: uint32(job.err_offset)}
	if rc != C.NXJOB_OK {
		return out
	}
	out.ID = goStr(job.id)
	out.Operation = uint32(job.op)
	out.Package = goStr(job._package)
	out.PackageUNC = job.package_unc != 0
	out.Product = goStr(job.product)
	out.Timeout = uint32(job.timeout_s)
	out.Grace = uint32(job.grace_s)
	if job.has_sha256 != 0 {
		out.SHA256 = C.GoBytes(unsafe.Pointer(&job.sha256[0]), 32)
	}
	out.HasSkip, out.SkipVersion = job.has_skip != 0, uint32(job.skip_version)
	out.KeepLog = job.keep_log != 0
	props := unsafe.Slice(&job.props[0], int(job.nprops))
	for _, p := range props {
		out.Properties = append(out.Properties, Property{Name: goStr(p.name), Value: goStr(p.value), Secret: p.secret != 0})
	}
	need := C.nxjob_cmdline(job, nil, 0)
	line := (*C.nx_char)(C.calloc(need+1, 2))
	defer C.free(unsafe.Pointer(line))
	if got := C.nxjob_cmdline(job, line, need+1); got != need {
		panic("nxjob_cmdline returned two lengths")
	}
	out.CommandLine = append([]uint16(nil), unsafe.Slice((*uint16)(unsafe.Pointer(line)), int(need))...)
	if *(*uint16)(unsafe.Add(unsafe.Pointer(line), 2*int(need))) != 0 {
		panic("nxjob_cmdline did not terminate its line")
	}
	return out
}

// Succeeded is nxjob_succeeded.
func Succeeded(op, code uint32) bool { return C.nxjob_succeeded(C.uint32_t(op), C.uint32_t(code)) != 0 }

// Leaves runs nxjob_keeps_log and nxjob_leaves_result for the job in b
// ending with code. b must parse.
func Leaves(b []byte, code uint32, installedBefore bool) (log, result bool) {
	job, rc, free := parse(b)
	defer free()
	if rc != C.NXJOB_OK {
		panic("Leaves: job does not parse")
	}
	before := C.int(0)
	if installedBefore {
		before = 1
	}
	return C.nxjob_keeps_log(job, C.uint32_t(code)) != 0, C.nxjob_leaves_result(job, C.uint32_t(code), before) != 0
}

// Codes are nxsvc's own exit codes (NX_CODE_*), in the order of the Go
// package job's Code* values from CodeBadJob.
func Codes() []uint32 {
	return []uint32{C.NX_CODE_BAD_JOB, C.NX_CODE_SETUP_FAILED, C.NX_CODE_TIMEOUT, C.NX_CODE_STOPPED,
		C.NX_CODE_BAD_PACKAGE, C.NX_CODE_ALREADY_INSTALLED}
}

// Version runs nxjob_version on s: the packed version and whether s is one.
func Version(s []uint16) (uint32, bool) {
	p := cUnits(s)
	defer C.free(unsafe.Pointer(p))
	var v C.uint32_t
	ok := C.nxjob_version(p, C.uint32_t(len(s)), &v) != 0
	return uint32(v), ok
}

func goStr(s C.nx_str) []uint16 {
	if s.s == nil {
		return nil
	}
	return append([]uint16(nil), unsafe.Slice((*uint16)(unsafe.Pointer(s.s)), int(s.n))...)
}

// StrError is nxjob_strerror.
func StrError(code int) string { return C.GoString(C.nxjob_strerror(C.int(code))) }

// CommandLineCap runs nxjob_cmdline for the job in b into a buffer of cap
// units and returns what it wrote (up to cap units) and the length it
// reported. b must parse.
func CommandLineCap(b []byte, capUnits int) ([]uint16, int) {
	job, rc, free := parse(b)
	defer free()
	if rc != C.NXJOB_OK {
		panic("CommandLineCap: job does not parse")
	}
	out := (*C.nx_char)(C.calloc(C.size_t(capUnits+1), 2))
	defer C.free(unsafe.Pointer(out))
	n := C.nxjob_cmdline(job, out, C.size_t(capUnits))
	return append([]uint16(nil), unsafe.Slice((*uint16)(unsafe.Pointer(out)), capUnits+1)...), int(n)
}

// MinorUpgrade runs nxjob_minor_upgrade for the job in b with the
// installed version installed, sets the job's minor_upgrade to its verdict
// as nxsvc does, and returns the verdict and nxjob_cmdline's line. b must
// parse.
func MinorUpgrade(b []byte, installed []uint16) (bool, []uint16) {
	job, rc, free := parse(b)
	defer free()
	if rc != C.NXJOB_OK {
		panic("MinorUpgrade: job does not parse")
	}
	p := cUnits(installed)
	defer C.free(unsafe.Pointer(p))
	job.minor_upgrade = C.nxjob_minor_upgrade(job, p, C.uint32_t(len(installed)))
	need := C.nxjob_cmdline(job, nil, 0)
	line := (*C.nx_char)(C.calloc(need+1, 2))
	defer C.free(unsafe.Pointer(line))
	C.nxjob_cmdline(job, line, need+1)
	return job.minor_upgrade != 0, append([]uint16(nil), unsafe.Slice((*uint16)(unsafe.Pointer(line)), int(need))...)
}

// Progress is nxsvc's progress arithmetic.
type Progress struct{ p C.nxprog }

// NewProgress is nxprog_init.
func NewProgress() *Progress {
	var p Progress
	C.nxprog_init(&p.p)
	return &p
}

// Message applies one INSTALLMESSAGE_PROGRESS record.
func (p *Progress) Message(f1, f2, f3, f4 int32) {
	C.nxprog_progress(&p.p, C.int32_t(f1), C.int32_t(f2), C.int32_t(f3), C.int32_t(f4))
}

// ActionData applies one INSTALLMESSAGE_ACTIONDATA message.
func (p *Progress) ActionData() { C.nxprog_actiondata(&p.p) }

// Percent is nxprog_percent.
func (p *Progress) Percent() int { return int(C.nxprog_percent(&p.p)) }

// Phase is nxprog_phase.
func (p *Progress) Phase() string { return C.GoString(C.nxprog_phase(&p.p)) }

// FormatProgress is nxfmt_progress into a buffer of capBytes.
func FormatProgress(capBytes int, seq uint32, percent int, phase string, action []uint16) []byte {
	out := (*C.char)(C.calloc(C.size_t(capBytes+1), 1))
	defer C.free(unsafe.Pointer(out))
	cphase := C.CString(phase)
	defer C.free(unsafe.Pointer(cphase))
	act := cUnits(action)
	defer C.free(unsafe.Pointer(act))
	n := C.nxfmt_progress(out, C.size_t(capBytes), C.uint32_t(seq), C.int(percent), cphase, act)
	return C.GoBytes(unsafe.Pointer(out), C.int(n))
}

// FormatResult is nxfmt_result into a buffer of capBytes.
func FormatResult(capBytes int, id []uint16, code uint32, outcome string, hasMSI bool, msi uint32, message string, installed []uint16) []byte {
	out := (*C.char)(C.calloc(C.size_t(capBytes+1), 1))
	defer C.free(unsafe.Pointer(out))
	coutcome := C.CString(outcome)
	defer C.free(unsafe.Pointer(coutcome))
	cmsg := C.CString(message)
	defer C.free(unsafe.Pointer(cmsg))
	cid := cUnits(id)
	defer C.free(unsafe.Pointer(cid))
	valid := C.int(0)
	if hasMSI {
		valid = 1
	}
	cinst := cUnits(installed)
	defer C.free(unsafe.Pointer(cinst))
	n := C.nxfmt_result_installed(out, C.size_t(capBytes), cid, C.uint32_t(code), coutcome, valid, C.uint32_t(msi), cmsg, nil, cinst)
	return C.GoBytes(unsafe.Pointer(out), C.int(n))
}

// cUnits copies u into C memory with a terminating NUL; nil stays nil.
func cUnits(u []uint16) *C.nx_char {
	if u == nil {
		return nil
	}
	p := (*C.nx_char)(C.calloc(C.size_t(len(u)+1), 2))
	copy(unsafe.Slice((*uint16)(unsafe.Pointer(p)), len(u)), u)
	return p
}

// Scrub is nxscrub on a copy of buf.
func Scrub(buf, needle []byte, unit int) ([]byte, int) {
	out := C.malloc(C.size_t(len(buf) + 1))
	defer C.free(out)
	if len(buf) > 0 {
		C.memcpy(out, unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	}
	nd := C.malloc(C.size_t(len(needle) + 1))
	defer C.free(nd)
	if len(needle) > 0 {
		C.memcpy(nd, unsafe.Pointer(&needle[0]), C.size_t(len(needle)))
	}
	units := len(needle) / unit
	table := (*C.size_t)(C.calloc(C.size_t(units+1), C.size_t(unsafe.Sizeof(C.size_t(0)))))
	defer C.free(unsafe.Pointer(table))
	n := C.nxscrub((*C.uint8_t)(out), C.size_t(len(buf)), (*C.uint8_t)(nd), C.size_t(units), C.int(unit), table)
	return C.GoBytes(out, C.int(len(buf))), int(n)
}

// UTF8 is nx_utf8, with the buffer sized by a first call.
func UTF8(u []uint16) []byte {
	s := cUnits(u)
	defer C.free(unsafe.Pointer(s))
	n := C.nx_utf8(s, C.uint32_t(len(u)), nil, 0)
	out := (*C.uint8_t)(C.calloc(n+1, 1))
	defer C.free(unsafe.Pointer(out))
	if m := C.nx_utf8(s, C.uint32_t(len(u)), out, n); m != n {
		panic("nx_utf8 returned two lengths")
	}
	return C.GoBytes(unsafe.Pointer(out), C.int(n))
}
