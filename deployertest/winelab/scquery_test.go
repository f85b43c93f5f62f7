package winelab

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Captured from Wine 8.0 (Debian 8.0~repack-4) on this lab.
const (
	wineStopped1077 = "SERVICE_NAME: nxt1\r\n        TYPE               : 10  WIN32_OWN_PROCESS\r\n        STATE              : 1  STOPPED\r\n        WIN32_EXIT_CODE    : 1077  (0x435)\r\n        SERVICE_EXIT_CODE  : 0  (0x0)\r\n        CHECKPOINT         : 0x0\r\n        WAIT_HINT          : 0x0\r\n"
	wineStopped1603 = "SERVICE_NAME: nxb2\r\n        TYPE               : 10  WIN32_OWN_PROCESS\r\n        STATE              : 1  STOPPED\r\n        WIN32_EXIT_CODE    : 1066  (0x42a)\r\n        SERVICE_EXIT_CODE  : 1603  (0x643)\r\n        CHECKPOINT         : 0x0\r\n        WAIT_HINT          : 0x0\r\n"
	wineStopPending = "SERVICE_NAME: nxh1\r\n        TYPE               : 10  WIN32_OWN_PROCESS\r\n        STATE              : 3  STOP_PENDING\r\n        WIN32_EXIT_CODE    : 0  (0x0)\r\n        SERVICE_EXIT_CODE  : 0  (0x0)\r\n        CHECKPOINT         : 0x0\r\n        WAIT_HINT          : 0x3a98\r\n"
	wineStoppedNX   = "SERVICE_NAME: nxh1\r\n        TYPE               : 10  WIN32_OWN_PROCESS\r\n        STATE              : 1  STOPPED\r\n        WIN32_EXIT_CODE    : 1066  (0x42a)\r\n        SERVICE_EXIT_CODE  : 1314390020  (0x4e580004)\r\n        CHECKPOINT         : 0x0\r\n        WAIT_HINT          : 0x0\r\n"
	// The layout of Windows' sc.exe (queryex), for the same parser.
	windowsQueryEx = `
SERVICE_NAME: Spooler
        TYPE               : 110  WIN32_OWN_PROCESS  (interactive)
        STATE              : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)
        SERVICE_EXIT_CODE  : 0  (0x0)
        CHECKPOINT         : 0x0
        WAIT_HINT          : 0x0
        PID                : 2412
        FLAGS              :
`
)

func TestParseSCQuery(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ServiceStatus
		exit uint32
	}{
		{"wine never started", wineStopped1077, ServiceStatus{Name: "nxt1", Type: 0x10, State: Stopped, Win32ExitCode: 1077}, 1077},
		{"wine msi 1603", wineStopped1603, ServiceStatus{Name: "nxb2", Type: 0x10, State: Stopped, Win32ExitCode: 1066, ServiceExitCode: 1603}, 1603},
		{"wine stop pending", wineStopPending, ServiceStatus{Name: "nxh1", Type: 0x10, State: StopPending, WaitHint: 15000}, 0},
		{"wine nxsvc code", wineStoppedNX, ServiceStatus{Name: "nxh1", Type: 0x10, State: Stopped, Win32ExitCode: 1066, ServiceExitCode: 0x4e580004}, 0x4e580004},
		{"windows queryex", windowsQueryEx, ServiceStatus{Name: "Spooler", Type: 0x110, State: Running, PID: 2412}, 0},
		{"sc start preamble", "[SC] StartService SUCCESS\n\n" + wineStopPending, ServiceStatus{Name: "nxh1", Type: 0x10, State: StopPending, WaitHint: 15000}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSCQuery(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.exit, got.ExitCode())
		})
	}
}

func TestParseSCQueryAll(t *testing.T) {
	all, err := ParseSCQueryAll(wineStopped1077 + "\r\n" + windowsQueryEx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, "nxt1", all[0].Name)
	assert.Equal(t, "Spooler", all[1].Name)
}

func TestParseSCQueryRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"wine error text", "Could not get handle to service.\r\n"},
		{"no state", "SERVICE_NAME: x\n WIN32_EXIT_CODE : 0 (0x0)\n"},
		{"no exit code", "SERVICE_NAME: x\n STATE : 1 STOPPED\n"},
		{"bad number", strings.Replace(wineStopped1603, "1603  (0x643)", "16x3", 1)},
		{"hex disagrees", strings.Replace(wineStopped1603, "1603  (0x643)", "1603  (0x644)", 1)},
		{"overflow", strings.Replace(wineStopped1603, "1603  (0x643)", "4294967296", 1)},
		{"repeated key", wineStopped1603 + "        STATE              : 4  RUNNING\r\n"},
		{"empty name", "SERVICE_NAME:\n STATE : 1\n WIN32_EXIT_CODE : 0\n"},
		{"empty value", strings.Replace(wineStopped1603, "1  STOPPED", "", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSCQuery(tc.in)
			require.ErrorIs(t, err, ErrNoStatus)
		})
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		Stopped: "STOPPED", StartPending: "START_PENDING", StopPending: "STOP_PENDING", Running: "RUNNING",
		ContinuePending: "CONTINUE_PENDING", PausePending: "PAUSE_PENDING", Paused: "PAUSED", State(9): "State(9)",
	} {
		assert.Equal(t, want, s.String())
	}
}

func FuzzParseSCQuery(f *testing.F) {
	for _, s := range []string{wineStopped1077, wineStopped1603, wineStopPending, wineStoppedNX, windowsQueryEx, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		all, err := ParseSCQueryAll(in)
		if err != nil {
			require.ErrorIs(t, err, ErrNoStatus)
			return
		}
		require.NotEmpty(t, all)
		for _, s := range all {
			require.NotEmpty(t, s.Name)
		}
		first, err := ParseSCQuery(in)
		require.NoError(t, err)
		require.Equal(t, all[0], first)
	})
}

func TestLaunchFailedIsRetriedOnlyForWinesOwnFailure(t *testing.T) {
	cases := []struct {
		err  RunError
		want bool
	}{
		{RunError{ExitCode: 1, Stderr: "Application could not be started, or no application associated with the specified file.\nShellExecuteEx failed: Internal error.\n"}, true},
		{RunError{ExitCode: 1, Stdout: "ShellExecuteEx failed: File not found.\n"}, true},
		{RunError{ExitCode: 1, Stderr: "wine: fixed a temporary directory error, please try running the same command again\n"}, true},
		{RunError{ExitCode: 1060, Stdout: "[SC] OpenService FAILED 1060:\n"}, false},
		{RunError{ExitCode: 1}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, launchFailed(&c.err), "%+v", c.err)
	}
}
