// Package loader decides, as the Windows loader would, whether an executable starts as a service on a given
// Windows version and architecture, and with which error the service control manager reports it when it does not.
//
// Two kinds of failure are told apart, because Windows reports them differently:
//
//   - CreateProcess refuses the file: it is not a PE image, is truncated, is a DLL, is for a subsystem other than
//     Windows GUI or console, or needs a newer subsystem version than the host (ERROR_BAD_EXE_FORMAT, 193, "%1 is
//     not a valid Win32 application"), or it is for a machine the host cannot run (ERROR_EXE_MACHINE_TYPE_MISMATCH,
//     216). StartService fails with that code at once (Microsoft's StartService documentation: "Others can be set
//     by the registry functions that are called by the service control manager"; field reports of "[SC]
//     StartService FAILED 193" for wrong-architecture and corrupt binaries).
//   - The process starts and dies before it connects to the service control manager: a DLL or an entry point its
//     import table names is missing (STATUS_DLL_NOT_FOUND, STATUS_ENTRYPOINT_NOT_FOUND), or the Go runtime (1.21.5
//     and later) aborts because bcryptprimitives.dll has no ProcessPrng, which Windows has from Windows 8 / Server
//     2012 on (Microsoft's ProcessPrng page, aws-lc PR #2940; field reports: golang/go #64602 on Server 2008 R2,
//     ligolo-ng #158 "fatal error: bcryptprimitives.dll not found" on Windows 7, syncthing #9403). The service
//     control manager sees the process end before StartServiceCtrlDispatcher connects and StartService fails with
//     ERROR_SERVICE_REQUEST_TIMEOUT (1053) without waiting out its timeout, as impacket's smbexec and NetExec see it
//     for a service process that exits at once (NetExec PR #552) and as .NET services whose runtime is missing do
//     (DnsTube #48).
//
// Only the exports listed in this package are versioned; a function of a known system DLL that the table does not
// name is taken to exist on every modelled version.
package loader

import (
	"bytes"
	"debug/buildinfo"
	"debug/pe"
	"fmt"
	"strconv"
	"strings"
)

// Version is a Windows version: 6.1 is Windows 7 and Server 2008 R2, 6.2 Windows 8 and Server 2012, 6.3 Windows 8.1
// and Server 2012 R2, 10.0 Windows 10, 11 and Server 2016 to 2025 (told apart by their build).
type Version struct{ Major, Minor, Build uint32 }

func (v Version) atLeast(major, minor uint32) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// Arch is a host's processor architecture, as PROCESSOR_ARCHITECTURE names it.
type Arch string

// Architectures.
const (
	AMD64 Arch = "AMD64"
	X86   Arch = "x86"
	ARM64 Arch = "ARM64"
)

// Win32 codes of a refused start.
const (
	ErrorBadExeFormat           uint32 = 193
	ErrorExeMachineTypeMismatch uint32 = 216
	ErrorServiceRequestTimeout  uint32 = 1053
)

// Result is what starting an image as a service gives.
type Result struct {
	// Code is the Win32 code StartService fails with; 0 means the image starts.
	Code uint32
	// Exited reports that the process started and exited before connecting to the service control manager (a
	// loader or runtime failure), rather than CreateProcess refusing the file.
	Exited bool
	// Reason tells why, for logs and test messages: "not a PE image", "ProcessPrng missing from
	// bcryptprimitives.dll (Go 1.26.8 runtime)", ...
	Reason string
}

// OK reports whether the image starts.
func (r Result) OK() bool { return r.Code == 0 }

func refuse(code uint32, format string, args ...any) Result {
	return Result{Code: code, Reason: fmt.Sprintf(format, args...)}
}

func exits(format string, args ...any) Result {
	return Result{Code: ErrorServiceRequestTimeout, Exited: true, Reason: fmt.Sprintf(format, args...)}
}

// Machine types ([MS-PE] IMAGE_FILE_MACHINE_*).
const (
	machineI386  = 0x014c
	machineAMD64 = 0x8664
	machineARMNT = 0x01c4
	machineARM64 = 0xaa64
)

// runs reports whether a host of arch runs images for machine: natively, under WOW64 (x86 on 64-bit Windows), or
// emulated (x64 on Windows 11 on ARM).
func runs(arch Arch, v Version, machine uint16) bool {
	switch arch {
	case X86:
		return machine == machineI386
	case AMD64:
		return machine == machineI386 || machine == machineAMD64
	case ARM64:
		switch machine {
		case machineARM64, machineI386, machineARMNT:
			return true
		case machineAMD64:
			return v.Build >= 22000 // x64 emulation came with Windows 11
		}
	}
	return false
}

// Check decides whether image starts as a service on a host running Windows v on arch.
func Check(image []byte, v Version, arch Arch) Result {
	if len(image) < 64 || image[0] != 'M' || image[1] != 'Z' {
		return refuse(ErrorBadExeFormat, "not a PE image (no MZ header)")
	}
	f, err := pe.NewFile(bytes.NewReader(image))
	if err != nil {
		return refuse(ErrorBadExeFormat, "not a valid PE image: %v", err)
	}
	defer f.Close()
	if f.Characteristics&0x2000 != 0 {
		return refuse(ErrorBadExeFormat, "a DLL, not an executable")
	}
	if f.Characteristics&0x0002 == 0 {
		return refuse(ErrorBadExeFormat, "not marked executable")
	}
	if !runs(arch, v, f.Machine) {
		return refuse(ErrorExeMachineTypeMismatch, "machine %#04x does not run on %s Windows", f.Machine, arch)
	}
	var subsystem, subMajor, subMinor uint16
	var sizeOfHeaders uint32
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		subsystem, subMajor, subMinor, sizeOfHeaders = oh.Subsystem, oh.MajorSubsystemVersion, oh.MinorSubsystemVersion, oh.SizeOfHeaders
	case *pe.OptionalHeader64:
		subsystem, subMajor, subMinor, sizeOfHeaders = oh.Subsystem, oh.MajorSubsystemVersion, oh.MinorSubsystemVersion, oh.SizeOfHeaders
	default:
		return refuse(ErrorBadExeFormat, "no optional header")
	}
	if (f.Machine == machineAMD64 || f.Machine == machineARM64) != is64(f) {
		return refuse(ErrorBadExeFormat, "optional header does not match machine %#04x", f.Machine)
	}
	if subsystem != 2 && subsystem != 3 {
		return refuse(ErrorBadExeFormat, "subsystem %d is neither Windows GUI nor console", subsystem)
	}
	if !v.atLeast(uint32(subMajor), uint32(subMinor)) {
		return refuse(ErrorBadExeFormat, "needs subsystem version %d.%d, the host is %d.%d", subMajor, subMinor, v.Major, v.Minor)
	}
	if int64(sizeOfHeaders) > int64(len(image)) {
		return refuse(ErrorBadExeFormat, "truncated: headers end at %d, the file has %d bytes", sizeOfHeaders, len(image))
	}
	for _, s := range f.Sections {
		if s.Size > 0 && int64(s.Offset)+int64(s.Size) > int64(len(image)) {
			return refuse(ErrorBadExeFormat, "truncated: section %s ends at %d, the file has %d bytes",
				s.Name, int64(s.Offset)+int64(s.Size), len(image))
		}
	}
	if syms, err := f.ImportedSymbols(); err == nil {
		for _, s := range syms {
			fn, dll, ok := strings.Cut(s, ":")
			if !ok {
				continue
			}
			if r := importMissing(strings.ToLower(dll), fn, v); r != "" {
				return exits("%s", r)
			}
		}
	}
	if r := goRuntime(image, v); r != "" {
		return exits("%s", r)
	}
	return Result{}
}

func is64(f *pe.File) bool {
	_, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	return ok
}

// goRuntime reports why a Go program's runtime aborts on v, or "".
func goRuntime(image []byte, v Version) string {
	bi, err := buildinfo.Read(bytes.NewReader(image))
	if err != nil {
		return ""
	}
	if !goUsesProcessPrng(bi.GoVersion) || v.atLeast(6, 2) {
		return ""
	}
	return fmt.Sprintf("ProcessPrng missing from bcryptprimitives.dll (the %s runtime aborts)", bi.GoVersion)
}

// goUsesProcessPrng reports whether a Go release's runtime needs ProcessPrng at start: Go 1.22 and later, and the
// 1.21 line from 1.21.5 (golang/go #64602).
func goUsesProcessPrng(version string) bool {
	v := strings.TrimPrefix(version, "go")
	v, _, _ = strings.Cut(v, " ")
	v, _, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	num := func(i int) int {
		if i >= len(parts) {
			return 0
		}
		digits := parts[i]
		if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			digits = digits[:j]
		}
		n, _ := strconv.Atoi(digits)
		return n
	}
	major, minor, patch := num(0), num(1), num(2)
	switch {
	case major != 1:
		return major > 1
	case minor >= 22:
		return true
	case minor == 21:
		return patch >= 5
	}
	return false
}
