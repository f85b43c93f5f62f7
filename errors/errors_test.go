package errors_test

import (
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

// The Deployer documentation's table, as operators read it. This is the contract: a change here
// is a change of what operators see.
var seedTable = []struct {
	kind     derrors.Kind
	typ      string
	message  string
	cause    string
	solution string
}{
	{derrors.DNSResolutionFailure, "Network error", "dns resolution failure",
		"Unable to resolve the IP address of a source", "Check the DNS resolution"},
	{derrors.LogonFailure, "Network error", "logon failure",
		"The username/password is incorrect", "Check the username password provided"},
	{derrors.HostUnreachable, "Network error", "host unreachable",
		"ping request from our computer cannot find the route to the destination IP address",
		"Check the firewall on the target computer or packet routing issue between Engine and target computer"},
	{derrors.SharedAccessFailure, "Share error or process launch error on the target computer", "shared access failure",
		"this computer can’t access to the share drive where the updater MSI is located",
		"check if the firewall on this computer doesn’t block this share connection"},
	{derrors.FileAccessFailure, "Share error or process launch error on the target computer", "file access failure",
		"this computer can’t access to the share drive where the updater MSI is located",
		`Check if the firewall on this computer doesn’t block this share connection and also if the remote computer can access to the file \\Engine_IP\nxshare\`},
	{derrors.WindowsError, "Share error or process launch error on the target computer", "windows error",
		"depend of the windows error provided",
		"Please check the windows error related topic here: http://msdn.microsoft.com/en-us/library/windows/desktop/ms681381%28v=vs.85%29.aspx"},
	{derrors.MSIError, "MSI error", "MSI error",
		"MSI didn’t succeed to install on this computer",
		"Please run MSI in debug log – “msiexec –i NEXThink_Updater.msi –l*v C:/Temp/MSI_logs.txt and provide us this file"},
	{derrors.InstallationError, "MSI error", "installation error",
		"MSI didn’t succeed to install on this computer",
		"Please run MSI in debug log – “msiexec –i NEXThink_Updater.msi –l*v C:/Temp/MSI_logs.txt and provide us this file"},
}

func TestKindsCarryTheSeedTextVerbatim(t *testing.T) {
	for _, row := range seedTable {
		t.Run(row.message, func(t *testing.T) {
			assert.Equal(t, row.typ, row.kind.Type().String())
			assert.Equal(t, row.message, row.kind.Message())
			assert.Equal(t, row.cause, row.kind.Cause())
			assert.Equal(t, row.solution, row.kind.Solution())
			assert.True(t, row.kind.FromSeed())
		})
	}
}

// TestDeployerDocumentContainsEveryRow reads the Deployer documentation itself, so a typo in the
// table above cannot hide: every documentation-sourced message, cause and solution
// occurs verbatim in the source document.
func TestDeployerDocumentContainsEveryRow(t *testing.T) {
	matches, _ := filepath.Glob("../../shared/seed/000_*.txt")
	if len(matches) == 0 {
		if os.Getenv("DEPLOYER_LAB") == "required" {
			t.Fatal("the Deployer documentation ../../shared/seed/000_*.txt is missing")
		}
		t.Skip("the Deployer documentation ../../shared/seed is not beside this checkout")
	}
	raw, err := os.ReadFile(matches[0])
	require.NoError(t, err)
	doc := string(raw)
	for _, k := range derrors.Kinds() {
		if k == derrors.ConnectionRefused || k == derrors.Cancelled {
			continue // ours, not the Deployer documentation's
		}
		assert.Contains(t, doc, k.Message(), "message of %v", k)
		assert.Contains(t, doc, k.Type().String(), "type of %v", k)
		if k.FromSeed() {
			assert.Contains(t, doc, k.Cause(), "cause of %v", k)
			assert.Contains(t, doc, k.Solution(), "solution of %v", k)
		}
	}
	// Rows the Deployer documentation leaves empty get our own words, and they must say something.
	for _, k := range []derrors.Kind{derrors.ConnectionTimeout, derrors.UnknownError, derrors.RebootNeeded, derrors.ConnectionRefused,
		derrors.Cancelled} {
		assert.False(t, k.FromSeed(), "%v", k)
		assert.Greater(t, len(k.Cause()), 40, "%v", k)
		assert.Greater(t, len(k.Solution()), 40, "%v", k)
	}
}

func TestEveryKindAndReasonIsComplete(t *testing.T) {
	assert.Len(t, derrors.Kinds(), 13)
	for _, k := range derrors.Kinds() {
		assert.NotZero(t, k.Type(), "%v", k)
		assert.NotEmpty(t, k.Cause(), "%v", k)
		assert.NotEmpty(t, k.Solution(), "%v", k)
		assert.NotContains(t, k.Message(), "errors.Kind")
	}
	require.NotEmpty(t, derrors.Reasons())
	for _, r := range derrors.Reasons() {
		assert.NotZero(t, r.Kind(), "%v", r)
		assert.NotEmpty(t, r.String())
		assert.NotEmpty(t, r.Cause(), "%v", r)
		assert.NotEmpty(t, r.Solution(), "%v", r)
	}
}

func TestSpecificSolutions(t *testing.T) {
	cases := []struct {
		reason derrors.Reason
		kind   derrors.Kind
		want   string
	}{
		{derrors.ReasonGuestOnly, derrors.LogonFailure, "Classic: Local users authenticate as themselves."},
		{derrors.ReasonAccountLockedOut, derrors.LogonFailure, "Unlock the account"},
		{derrors.ReasonAccountDisabled, derrors.LogonFailure, "Enable the account"},
		{derrors.ReasonPasswordExpired, derrors.LogonFailure, "password"},
		{derrors.ReasonAdminShareMissing, derrors.SharedAccessFailure, "AutoShareWks"},
		{derrors.ReasonAdminShareDenied, derrors.SharedAccessFailure, `reg add HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\system /v LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f`},
		{derrors.ReasonNotAdministrator, derrors.SharedAccessFailure, "LocalAccountTokenFilterPolicy"},
		{derrors.ReasonQuarantined, derrors.WindowsError, "antivirus"},
	}
	for _, c := range cases {
		t.Run(c.reason.String(), func(t *testing.T) {
			e := &derrors.Error{Host: "pc1", Kind: c.kind, Reason: c.reason}
			assert.Equal(t, c.kind, c.reason.Kind())
			assert.Contains(t, e.Solution(), c.want)
			assert.Equal(t, c.kind.Message(), e.Message(), "the Deployer documentation's message stays")
			assert.NotEqual(t, c.kind.Solution(), e.Solution())
		})
	}
}

func TestWrapNetworkErrors(t *testing.T) {
	// A real refused connection: nothing listens on a port we just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, refused := net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, refused)

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()

	cases := []struct {
		name string
		step derrors.Step
		err  error
		kind derrors.Kind
	}{
		{"refused", derrors.StepConnect, refused, derrors.ConnectionRefused},
		{"dns not found", derrors.StepResolve, &net.DNSError{Err: "no such host", Name: "pc1.lab.test", IsNotFound: true}, derrors.DNSResolutionFailure},
		{"dns timeout", derrors.StepResolve, &net.DNSError{Err: "i/o timeout", Name: "pc1", IsTimeout: true}, derrors.DNSResolutionFailure},
		{"host unreachable", derrors.StepConnect, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, derrors.HostUnreachable},
		{"net unreachable", derrors.StepConnect, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, derrors.HostUnreachable},
		{"dial timeout", derrors.StepConnect, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, derrors.ConnectionTimeout},
		{"context deadline", derrors.StepNegotiate, ctx.Err(), derrors.ConnectionTimeout},
		{"smb2 context deadline", derrors.StepUpload, &smb2.ContextError{Err: context.DeadlineExceeded}, derrors.ConnectionTimeout},
		{"smb2 transport refused", derrors.StepConnect, &smb2.TransportError{Err: refused}, derrors.ConnectionRefused},
		{"reset at negotiate (SMB1-only host)", derrors.StepNegotiate, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, derrors.SharedAccessFailure},
		{"closed at negotiate", derrors.StepNegotiate, &smb2.TransportError{Err: io.EOF}, derrors.SharedAccessFailure},
		{"reset mid-upload", derrors.StepUpload, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, derrors.UnknownError},
		{"anything else", derrors.StepUpload, stderrors.New("boom"), derrors.UnknownError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := derrors.Wrap("pc1", c.step, fmt.Errorf("dialing: %w", c.err))
			require.NotNil(t, e)
			assert.Equal(t, c.kind, e.Kind, "%v", e)
			assert.True(t, stderrors.Is(e, c.kind))
			assert.True(t, stderrors.Is(e, c.err), "the cause stays reachable")
			assert.Equal(t, "pc1", e.Host)
			assert.Equal(t, c.step, e.Step)
		})
	}
	assert.True(t, stderrors.Is(derrors.Wrap("pc1", derrors.StepConnect, refused), syscall.ECONNREFUSED))
	assert.Nil(t, derrors.Wrap("pc1", derrors.StepConnect, nil))
}

func TestWrapNTStatus(t *testing.T) {
	cases := []struct {
		code   uint32
		step   derrors.Step
		kind   derrors.Kind
		reason derrors.Reason
		name   string
	}{
		{0xC000006D, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonBadCredentials, "STATUS_LOGON_FAILURE"},
		{0xC0000234, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonAccountLockedOut, "STATUS_ACCOUNT_LOCKED_OUT"},
		{0xC0000071, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonPasswordExpired, "STATUS_PASSWORD_EXPIRED"},
		{0xC0000224, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonPasswordMustChange, "STATUS_PASSWORD_MUST_CHANGE"},
		{0xC0000072, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonAccountDisabled, "STATUS_ACCOUNT_DISABLED"},
		{0xC0000193, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonAccountExpired, "STATUS_ACCOUNT_EXPIRED"},
		{0xC00000BE, derrors.StepConnect, derrors.HostUnreachable, derrors.NoReason, "STATUS_BAD_NETWORK_PATH"},
		{0xC00000CC, derrors.StepTreeConnect, derrors.SharedAccessFailure, derrors.ReasonAdminShareMissing, "STATUS_BAD_NETWORK_NAME"},
		{0xC0000022, derrors.StepTreeConnect, derrors.SharedAccessFailure, derrors.ReasonAdminShareDenied, "STATUS_ACCESS_DENIED"},
		{0xC0000022, derrors.StepOpenSCManager, derrors.SharedAccessFailure, derrors.ReasonNotAdministrator, "STATUS_ACCESS_DENIED"},
		{0xC0000022, derrors.StepUpload, derrors.WindowsError, derrors.NoReason, "STATUS_ACCESS_DENIED"},
		{0xC00000BB, derrors.StepNegotiate, derrors.SharedAccessFailure, derrors.ReasonProtocolMismatch, "STATUS_NOT_SUPPORTED"},
		{0xC0000034, derrors.StepStartService, derrors.WindowsError, derrors.NoReason, "STATUS_OBJECT_NAME_NOT_FOUND"},
		{0xC0000906, derrors.StepUpload, derrors.WindowsError, derrors.ReasonQuarantined, "STATUS_VIRUS_INFECTED"},
		{0xC0000121, derrors.StepCleanup, derrors.WindowsError, derrors.ReasonFileInUse, "STATUS_CANNOT_DELETE"},
		{0xC0000043, derrors.StepCleanup, derrors.WindowsError, derrors.ReasonFileInUse, "STATUS_SHARING_VIOLATION"},
		{0xC0000056, derrors.StepCleanup, derrors.WindowsError, derrors.ReasonFileInUse, "STATUS_DELETE_PENDING"},
		{0xC000007F, derrors.StepUpload, derrors.WindowsError, derrors.ReasonDiskFull, "STATUS_DISK_FULL"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s@%s", c.name, c.step), func(t *testing.T) {
			e := derrors.Wrap("pc1", c.step, &smb2.ResponseError{Code: c.code})
			assert.Equal(t, c.kind, e.Kind)
			assert.Equal(t, c.reason, e.Reason)
			assert.Equal(t, derrors.NTStatusCode(c.code), e.Code)
			assert.Equal(t, c.name, e.Code.Name())
			assert.NotEmpty(t, e.Code.Text())
			assert.Contains(t, e.Error(), fmt.Sprintf("NTSTATUS 0x%08X %s", c.code, c.name))
		})
	}
}

func TestWrapWin32(t *testing.T) {
	cases := []struct {
		code   uint32
		step   derrors.Step
		kind   derrors.Kind
		reason derrors.Reason
		text   string // Windows' own message
	}{
		{5, derrors.StepOpenSCManager, derrors.SharedAccessFailure, derrors.ReasonNotAdministrator, "Access is denied."},
		{5, derrors.StepCreateService, derrors.WindowsError, derrors.NoReason, "Access is denied."},
		{53, derrors.StepConnect, derrors.HostUnreachable, derrors.NoReason, "The network path was not found."},
		{67, derrors.StepTreeConnect, derrors.SharedAccessFailure, derrors.ReasonAdminShareMissing, "The network name cannot be found."},
		{1053, derrors.StepStartService, derrors.WindowsError, derrors.ReasonServiceStartTimeout, "The service did not respond to the start or control request in a timely fashion."},
		{1056, derrors.StepStartService, derrors.WindowsError, derrors.NoReason, "An instance of the service is already running."},
		{1058, derrors.StepStartService, derrors.WindowsError, derrors.NoReason, "The service cannot be started, either because it is disabled or because it has no enabled devices associated with it."},
		{1060, derrors.StepOpenService, derrors.WindowsError, derrors.NoReason, "The specified service does not exist as an installed service."},
		{1069, derrors.StepStartService, derrors.WindowsError, derrors.NoReason, "The service did not start due to a logon failure."},
		{1072, derrors.StepDeleteService, derrors.WindowsError, derrors.ReasonServiceMarkedForDelete, "The specified service has been marked for deletion."},
		{1073, derrors.StepCreateService, derrors.WindowsError, derrors.NoReason, "The specified service already exists."},
		{1219, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonCredentialConflict, "Multiple connections to a server or shared resource by the same user"},
		{1326, derrors.StepLogon, derrors.LogonFailure, derrors.ReasonBadCredentials, "Unknown user name or bad password."},
		{1722, derrors.StepOpenSCManager, derrors.WindowsError, derrors.NoReason, "The RPC server is unavailable."},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d@%s", c.code, c.step), func(t *testing.T) {
			cause := win32.FromCode(c.code)
			require.Error(t, cause)
			e := derrors.Wrap("pc1", c.step, fmt.Errorf("svcctl: %w", cause))
			assert.Equal(t, c.kind, e.Kind)
			assert.Equal(t, c.reason, e.Reason)
			assert.Equal(t, derrors.Win32Code(c.code), e.Code)
			assert.Contains(t, e.Code.Text(), c.text)
			assert.True(t, stderrors.Is(e, cause))
			if c.kind == derrors.WindowsError {
				assert.Equal(t, fmt.Sprintf("windows error (%d)", c.code), e.Message())
				if c.reason == derrors.NoReason {
					assert.Contains(t, e.Cause(), c.text, "the cause quotes Windows' message")
				}
			}
		})
	}
	assert.True(t, stderrors.Is(derrors.Wrap("h", derrors.StepCreateService, win32.ErrorServiceExists), win32.ErrorServiceExists))
}

func TestMSIExitTable(t *testing.T) {
	codes := derrors.MSIExitCodes()
	for _, c := range []uint32{0, 13, 87, 120, 1259, 3010, 3011} {
		assert.Contains(t, codes, c)
	}
	for c := uint32(1601); c <= 1650; c++ {
		if c == 1617 { // not an msiexec code (ERROR_DEVICE_REMOVED)
			assert.False(t, derrors.MSIExitKnown(c))
			continue
		}
		assert.True(t, derrors.MSIExitKnown(c), "%d", c)
	}
	for _, c := range codes {
		code := derrors.MSIExitCode(c)
		assert.NotEmpty(t, code.Name(), "%d", c)
		assert.NotEmpty(t, code.Text(), "%d", c)
	}
	cases := []struct {
		code    uint32
		outcome derrors.MSIOutcome
		kind    derrors.Kind
		retry   derrors.RetryClass
		name    string
	}{
		{0, derrors.MSISuccess, 0, derrors.NoRetry, "ERROR_SUCCESS"},
		{3010, derrors.MSISuccessReboot, derrors.RebootNeeded, derrors.NoRetry, "ERROR_SUCCESS_REBOOT_REQUIRED"},
		{1641, derrors.MSISuccessReboot, derrors.RebootNeeded, derrors.NoRetry, "ERROR_SUCCESS_REBOOT_INITIATED"},
		{1618, derrors.MSIRetryable, derrors.MSIError, derrors.RetryBackoff, "ERROR_INSTALL_ALREADY_RUNNING"},
		{1603, derrors.MSIFailed, derrors.MSIError, derrors.NoRetry, "ERROR_INSTALL_FAILURE"},
		{1619, derrors.MSIFailed, derrors.MSIError, derrors.NoRetry, "ERROR_INSTALL_PACKAGE_OPEN_FAILED"},
		{1605, derrors.MSIFailed, derrors.MSIError, derrors.NoRetry, "ERROR_UNKNOWN_PRODUCT"},
		{3011, derrors.MSIFailed, derrors.MSIError, derrors.NoRetry, "ERROR_SUCCESS_RESTART_REQUIRED"},
		{424242, derrors.MSIFailed, derrors.MSIError, derrors.NoRetry, ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			assert.Equal(t, c.outcome, derrors.ClassifyMSIExit(c.code))
			e := derrors.FromMSIExit("pc1", c.code, "Action ended: InstallFinalize. Return value 3.")
			assert.Equal(t, c.name, derrors.MSIExitCode(c.code).Name())
			if c.outcome == derrors.MSISuccess {
				assert.Nil(t, e)
				return
			}
			require.NotNil(t, e)
			assert.Equal(t, c.kind, e.Kind)
			assert.Equal(t, derrors.StepMSIExec, e.Step)
			assert.Equal(t, c.retry, derrors.Retry(e))
			assert.Equal(t, "Action ended: InstallFinalize. Return value 3.", e.Detail)
			if c.kind == derrors.MSIError {
				assert.Equal(t, fmt.Sprintf("MSI error (%d)", c.code), e.Message())
			}
		})
	}
	assert.Equal(t, "successful installation(reboot needed)", derrors.FromMSIExit("h", 3010, "").Message())
}

func TestRetryClassification(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want derrors.RetryClass
	}{
		{"nil", nil, derrors.NoRetry},
		{"plain error is unknown", stderrors.New("x"), derrors.NoRetry},
		{"unknown kind", derrors.New("h", derrors.StepUpload, derrors.UnknownError, nil), derrors.NoRetry},
		{"logon failure never", derrors.Wrap("h", derrors.StepLogon, &smb2.ResponseError{Code: 0xC000006D}), derrors.NoRetry},
		{"locked account never", derrors.Wrap("h", derrors.StepLogon, &smb2.ResponseError{Code: 0xC0000234}), derrors.NoRetry},
		{"timeout while connecting", derrors.New("h", derrors.StepConnect, derrors.ConnectionTimeout, nil), derrors.RetryLater},
		{"unreachable", derrors.New("h", derrors.StepConnect, derrors.HostUnreachable, nil), derrors.RetryLater},
		{"dns", derrors.New("h", derrors.StepResolve, derrors.DNSResolutionFailure, nil), derrors.RetryLater},
		{"timeout mid-upload is not proven safe", derrors.New("h", derrors.StepUpload, derrors.ConnectionTimeout, nil), derrors.NoRetry},
		{"1618", derrors.FromMSIExit("h", 1618, ""), derrors.RetryBackoff},
		{"1603", derrors.FromMSIExit("h", 1603, ""), derrors.NoRetry},
		{"marked for delete", derrors.Wrap("h", derrors.StepCreateService, win32.ErrorServiceMarkedForDelete), derrors.RetryBackoff},
		{"wrapped further", fmt.Errorf("deploy: %w", derrors.FromMSIExit("h", 1618, "")), derrors.RetryBackoff},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, derrors.Retry(c.err))
			assert.Equal(t, c.want != derrors.NoRetry, derrors.SafeToRetry(c.err))
		})
	}
	assert.True(t, derrors.Timeout(derrors.New("h", derrors.StepConnect, derrors.ConnectionTimeout, nil)))
	assert.True(t, derrors.Timeout(fmt.Errorf("x: %w", context.DeadlineExceeded)))
	assert.False(t, derrors.Timeout(stderrors.New("x")))
	assert.False(t, derrors.Timeout(nil))
}

func TestErrorReadsAsOneLogLine(t *testing.T) {
	e := derrors.Wrap("pc42", derrors.StepLogon, &smb2.ResponseError{Code: 0xC000006D})
	line := e.Error()
	assert.NotContains(t, line, "\n")
	for _, part := range []string{"pc42", "logon", "logon failure", "0xC000006D", "STATUS_LOGON_FAILURE"} {
		assert.Contains(t, line, part)
	}
	assert.Equal(t, "pc42: msiexec: MSI error (1603) [MSI 1603 ERROR_INSTALL_FAILURE]: msiexec exited with 1603: Fatal error during installation.",
		derrors.FromMSIExit("pc42", 1603, "").Error())
}

func TestIsAndAs(t *testing.T) {
	base := derrors.Wrap("pc1", derrors.StepTreeConnect, &smb2.ResponseError{Code: 0xC00000CC})
	err := fmt.Errorf("probe pc1: %w", base)
	assert.True(t, stderrors.Is(err, derrors.SharedAccessFailure))
	assert.True(t, stderrors.Is(err, derrors.ReasonAdminShareMissing))
	assert.False(t, stderrors.Is(err, derrors.ReasonAdminShareDenied))
	assert.False(t, stderrors.Is(err, derrors.LogonFailure))
	assert.False(t, stderrors.Is(err, derrors.NoReason))
	assert.True(t, stderrors.Is(err, &derrors.Error{Kind: derrors.SharedAccessFailure, Code: derrors.NTStatusCode(0xC00000CC)}))
	assert.False(t, stderrors.Is(err, &derrors.Error{Kind: derrors.SharedAccessFailure, Code: derrors.NTStatusCode(0xC0000022)}))
	var de *derrors.Error
	require.True(t, stderrors.As(err, &de))
	assert.Same(t, base, de)
	got, ok := derrors.As(err)
	assert.True(t, ok)
	assert.Same(t, base, got)
	assert.Equal(t, derrors.SharedAccessFailure, derrors.KindOf(err))
	assert.Equal(t, derrors.UnknownError, derrors.KindOf(stderrors.New("x")))
	assert.Equal(t, derrors.Kind(0), derrors.KindOf(nil))

	// Re-wrapping keeps the classification and fills only what is missing.
	again := derrors.Wrap("other", derrors.StepCleanup, derrors.New("", "", derrors.LogonFailure, nil))
	assert.Equal(t, derrors.LogonFailure, again.Kind)
	assert.Equal(t, "other", again.Host)
	assert.Equal(t, derrors.StepCleanup, again.Step)
	kept := derrors.Wrap("other", derrors.StepCleanup, err)
	assert.Equal(t, "pc1", kept.Host)
	assert.Equal(t, derrors.StepTreeConnect, kept.Step)
}

func TestCredentialsNeverAppear(t *testing.T) {
	// The error type has no field for a secret; a cause that names an account
	// is the caller's text, and Wrap adds nothing of its own beyond the table.
	e := derrors.Wrap("pc1", derrors.StepLogon, &smb2.ResponseError{Code: 0xC000006D})
	assert.False(t, strings.Contains(strings.ToLower(e.Error()), "password="))
}

func TestWrapFindsTheGuardsErrorInsideGoSMB2s(t *testing.T) {
	fault := &derrors.Error{Host: "pc", Kind: derrors.SharedAccessFailure, Reason: derrors.ReasonMalformedReply,
		Err: stderrors.New("malformed NEGOTIATE reply")}
	// go-smb2 hands the reader's error to every request inside a
	// TransportError, which has no Unwrap.
	e := derrors.Wrap("pc", derrors.StepTreeConnect, &os.PathError{Op: "open", Err: &smb2.TransportError{Err: fault}})
	assert.Equal(t, derrors.SharedAccessFailure, e.Kind)
	assert.Equal(t, derrors.ReasonMalformedReply, e.Reason)
	assert.Equal(t, derrors.StepTreeConnect, e.Step)
	assert.False(t, derrors.SafeToRetry(e))

	unsigned := derrors.Wrap("pc", derrors.StepTreeConnect, &smb2.InvalidResponseError{Message: "signing required"})
	assert.Equal(t, derrors.SharedAccessFailure, unsigned.Kind)
	assert.Equal(t, derrors.ReasonSigningUnavailable, unsigned.Reason)
	for _, r := range []derrors.Reason{derrors.ReasonSMB1Only, derrors.ReasonSigningUnavailable, derrors.ReasonMalformedReply} {
		assert.Equal(t, derrors.SharedAccessFailure, r.Kind(), "%v", r)
	}
}
