package loader

import (
	"fmt"
	"strings"
)

// systemDLLs are DLLs of System32 on every modelled version (Windows 7 / Server 2008 R2 and later); an imported DLL
// that is neither here, an API set the host has, nor newer (sinceDLL) is not found.
var systemDLLs = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`kernel32 kernelbase ntdll advapi32 sechost user32 gdi32 msvcrt ws2_32 mswsock
		shell32 shlwapi ole32 oleaut32 msi bcrypt bcryptprimitives ncrypt crypt32 cryptbase secur32 sspicli
		netapi32 netutils srvcli wkscli samcli logoncli iphlpapi dnsapi version userenv wtsapi32 psapi dbghelp
		imagehlp winhttp wininet urlmon normaliz rpcrt4 powrprof winmm comctl32 comdlg32 setupapi cfgmgr32
		wintrust wevtapi authz credui activeds ntdsapi dsrole wldap32 mpr winspool.drv uxtheme dwmapi imm32
		msimg32 oledlg propsys profapi cabinet wer faultrep`) {
		systemDLLs[n+".dll"] = true
		if strings.HasSuffix(n, ".drv") {
			systemDLLs[n] = true
		}
	}
}

// sinceDLL gives the version from which Windows ships a DLL (without updates such as KB2999226, which brings the
// Universal CRT to Windows 7 and 8.1).
var sinceDLL = map[string]Version{
	"shcore.dll":   {Major: 6, Minor: 3},
	"ucrtbase.dll": {Major: 10},
}

// neverShipped are runtime DLLs that come with an application's redistributable, not with Windows.
var neverShipped = []string{"vcruntime", "msvcp1", "msvcr1", "concrt1", "vcomp1", "mfc1"}

// sinceExport gives the version that added an export (per DLL), for the exports programs commonly import that
// Windows 7 lacks.
var sinceExport = map[string]map[string]Version{
	"kernel32.dll": {
		"GetSystemTimePreciseAsFileTime":   {Major: 6, Minor: 2},
		"CreateFile2":                      {Major: 6, Minor: 2},
		"GetCurrentThreadStackLimits":      {Major: 6, Minor: 2},
		"PrefetchVirtualMemory":            {Major: 6, Minor: 2},
		"GetFirmwareType":                  {Major: 6, Minor: 2},
		"SetDefaultDllDirectories":         {Major: 6, Minor: 2},
		"AddDllDirectory":                  {Major: 6, Minor: 2},
		"RemoveDllDirectory":               {Major: 6, Minor: 2},
		"InitializeSynchronizationBarrier": {Major: 6, Minor: 2},
		"GetPackageFamilyName":             {Major: 6, Minor: 2},
		"GetCurrentPackageId":              {Major: 6, Minor: 2},
		"SetThreadDescription":             {Major: 10, Build: 14393},
		"GetThreadDescription":             {Major: 10, Build: 14393},
		"VirtualAlloc2":                    {Major: 10, Build: 17134},
		"MapViewOfFile3":                   {Major: 10, Build: 17134},
	},
	"bcryptprimitives.dll": {"ProcessPrng": {Major: 6, Minor: 2}},
	"ntdll.dll": {
		"NtCreateWaitCompletionPacket":    {Major: 6, Minor: 2},
		"NtAssociateWaitCompletionPacket": {Major: 6, Minor: 2},
		"NtCancelWaitCompletionPacket":    {Major: 6, Minor: 2},
	},
	"user32.dll": {
		"GetDpiForWindow":                     {Major: 10, Build: 14393},
		"SetProcessDpiAwarenessContext":       {Major: 10, Build: 15063},
		"GetSystemMetricsForDpi":              {Major: 10, Build: 14393},
		"SetThreadDpiAwarenessContext":        {Major: 10, Build: 14393},
		"AdjustWindowRectExForDpi":            {Major: 10, Build: 14393},
		"GetPointerType":                      {Major: 6, Minor: 2},
		"EnableNonClientDpiScaling":           {Major: 10, Build: 14393},
		"GetAwarenessFromDpiAwarenessContext": {Major: 10, Build: 14393},
	},
	"advapi32.dll": {
		"ControlServiceExW":          {Major: 6, Minor: 2},
		"NotifyServiceStatusChangeW": {Major: 6},
	},
}

func (v Version) before(min Version) bool {
	if v.Major != min.Major {
		return v.Major < min.Major
	}
	if v.Minor != min.Minor {
		return v.Minor < min.Minor
	}
	return v.Build < min.Build
}

func (v Version) String() string {
	if v.Build != 0 {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Build)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// dllPresent reports whether Windows v ships dll (lower case).
func dllPresent(dll string, v Version) bool {
	for _, p := range neverShipped {
		if strings.HasPrefix(dll, p) {
			return false
		}
	}
	if min, ok := sinceDLL[dll]; ok {
		return !v.before(min)
	}
	if strings.HasPrefix(dll, "api-ms-win-crt-") {
		// The Universal CRT's API sets: Windows 10 on.
		return !v.before(Version{Major: 10})
	}
	if strings.HasPrefix(dll, "api-ms-win-") || strings.HasPrefix(dll, "ext-ms-win-") {
		// API sets: Windows 7 has the l1-1-0 revision of the core sets; later revisions came with Windows 8.
		if strings.HasSuffix(dll, "-l1-1-0.dll") && strings.HasPrefix(dll, "api-ms-win-core-") {
			return true
		}
		return !v.before(Version{Major: 6, Minor: 2})
	}
	return systemDLLs[dll]
}

// importMissing reports why an import of fn from dll fails on v, or "".
func importMissing(dll, fn string, v Version) string {
	if !dllPresent(dll, v) {
		return fmt.Sprintf("%s not found (STATUS_DLL_NOT_FOUND) on Windows %s", dll, v)
	}
	if min, ok := sinceExport[dll][fn]; ok && v.before(min) {
		return fmt.Sprintf("entry point %s not found in %s (STATUS_ENTRYPOINT_NOT_FOUND): Windows %s, needs %s", fn, dll, v, min)
	}
	return ""
}
