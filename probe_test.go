package deployer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	deployer "github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// probeLab is one Samba host in a namespace and the options that reach it
// as its administrator.
type probeLab struct {
	n    *lab.Net
	h    *lab.Host
	s    *lab.Samba
	opts deployer.ProbeOptions
	host discovery.Host
}

func newProbeLab(t *testing.T, so lab.SambaOptions) *probeLab {
	t.Helper()
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	h := n.AddHost(t, "pc")
	s := h.StartSamba(t, so)
	return &probeLab{n: n, h: h, s: s,
		host: discovery.Host{Name: "PC", Addr: s.Addr, Source: "test"},
		opts: deployer.ProbeOptions{
			ConnectConfig: deployer.ConnectConfig{SMB: smb.Config{
				Credentials:    smb.Credentials{User: s.AdminUser, Password: s.AdminPassword, Domain: s.Workgroup},
				Dial:           n.DialContext,
				ConnectTimeout: time.Second,
				RequestTimeout: 10 * time.Second,
			}},
			WriteTest: true,
		}}
}

// assertFailure checks the report's first failure: its kind, the Deployer documentation's
// message, its reason, and the step.
func assertFailure(t *testing.T, r *deployer.ProbeReport, kind derrors.Kind, message string, reason derrors.Reason, step derrors.Step, lastStep string) *derrors.Error {
	t.Helper()
	require.False(t, r.OK)
	require.NotNil(t, r.Err, "report %+v", r)
	e, ok := derrors.As(r.Err)
	require.True(t, ok, "a typed error: %v", r.Err)
	assert.Equal(t, kind, e.Kind, "%v", e)
	assert.Equal(t, message, e.Message(), "the Deployer documentation's message")
	assert.Equal(t, reason, e.Reason, "%v", e)
	assert.Equal(t, step, e.Step, "%v", e)
	assert.Equal(t, "PC", e.Host)
	assert.NotEmpty(t, e.Cause())
	assert.NotEmpty(t, e.Solution())
	require.NotEmpty(t, r.Steps)
	// The failing step is the last one, but for the share listing that
	// follows a failing ADMIN$ to explain it.
	failing := len(r.Steps) - 1
	if r.Steps[failing].Name == deployer.ProbeStepListShares && failing > 0 {
		failing--
	}
	last := r.Steps[failing]
	assert.Equal(t, lastStep, last.Name)
	assert.Same(t, e, last.Err)
	for _, s := range r.Steps[:failing] {
		assert.Nil(t, s.Err, "step %s", s.Name)
	}
	return e
}

func TestProbePassesOnHardenedSamba(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // runs after the lab's own cleanups
	l := newProbeLab(t, lab.SambaOptions{SigningMandatory: true, EncryptionRequired: true, MinSMB311: true})
	ctx := context.Background()
	// By default only the steps of the verdict run.
	r := deployer.Probe(ctx, l.host, l.opts)
	require.True(t, r.OK, "%v", r.Err)
	var verdict []string
	for _, s := range r.Steps {
		verdict = append(verdict, s.Name)
	}
	assert.Equal(t, []string{deployer.ProbeStepResolve, deployer.ProbeStepConnect, deployer.ProbeStepNegotiate,
		deployer.ProbeStepLogon, deployer.ProbeStepIPC, deployer.ProbeStepAdmin, deployer.ProbeStepSCManager,
		deployer.ProbeStepWriteTest}, verdict)
	assert.Empty(t, r.Shares)

	inv := l.opts
	inv.Inventory = true
	r = deployer.Probe(ctx, l.host, inv)
	require.True(t, r.OK, "%v", r.Err)
	assert.Nil(t, r.Err)
	names := []string{}
	for _, s := range r.Steps {
		names = append(names, s.Name)
		assert.Nil(t, s.Err, s.Name)
		assert.GreaterOrEqual(t, s.Duration, time.Duration(0))
	}
	assert.Equal(t, []string{deployer.ProbeStepResolve, deployer.ProbeStepConnect, deployer.ProbeStepNegotiate,
		deployer.ProbeStepLogon, deployer.ProbeStepIPC, deployer.ProbeStepListShares, deployer.ProbeStepAdmin,
		deployer.ProbeStepFreeSpace, deployer.ProbeStepSCManager, deployer.ProbeStepWriteTest}, names)
	assert.Equal(t, smb.SMB311, r.Dialect)
	assert.True(t, r.SigningRequired)
	assert.True(t, r.Signing)
	assert.True(t, r.Encryption)
	assert.NotEmpty(t, r.Cipher)
	assert.True(t, r.Admin)
	assert.False(t, r.Guest)
	assert.Contains(t, r.Shares, "ADMIN$")
	assert.Contains(t, r.Shares, "IPC$")
	assert.Greater(t, r.AdminFree, uint64(0))
	assert.Equal(t, "PC", r.Server.NetBIOSName)
	assert.True(t, strings.HasPrefix(r.OS(), "Windows "), r.OS())
	assert.Equal(t, netip.AddrPortFrom(l.s.Addr, 445), r.Addr)
	ents, err := os.ReadDir(l.s.AdminShareDir)
	require.NoError(t, err)
	assert.Empty(t, ents, "the write test removes its file")

	// A 64 MiB upload over the same hardened session is byte-exact.
	sess, err := smb.Dial(ctx, l.s.Addr.String(), smb.Config{Credentials: l.opts.SMB.Credentials, Dial: l.n.DialContext}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	admin, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	data := make([]byte, 64<<20)
	_, _ = rand.Read(data)
	res, err := admin.Upload(ctx, "big.bin", bytes.NewReader(data), int64(len(data)), smb.UploadOptions{VerifySHA256: true})
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), res.Size)
	got, err := os.ReadFile(filepath.Join(l.s.AdminShareDir, "big.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "uploaded bytes differ")
}

func TestProbeDNSFailure(t *testing.T) {
	dns := lab.StartDNS(t, map[string][]netip.Addr{"known.lab.test": {netip.MustParseAddr("127.0.0.9")}})
	r := deployer.Probe(context.Background(), discovery.Host{Name: "PC"}, deployer.ProbeOptions{
		ConnectConfig: deployer.ConnectConfig{SMB: smb.Config{
			Credentials: smb.Credentials{User: "u", Password: "p"},
			Resolver:    dns.Resolver(),
		}},
	})
	e := assertFailure(t, r, derrors.DNSResolutionFailure, "dns resolution failure", derrors.NoReason, derrors.StepResolve, deployer.ProbeStepResolve)
	assert.Equal(t, "dns resolution failure", e.Message())
	assert.Equal(t, "Check the DNS resolution", e.Solution())
	assert.Positive(t, dns.Queries())
}

func TestProbeLogonFailures(t *testing.T) {
	l := newProbeLab(t, lab.SambaOptions{})
	tests := []struct {
		name string
		cred smb.Credentials
	}{
		{"wrong password", smb.Credentials{User: l.s.AdminUser, Password: "wrong", Domain: l.s.Workgroup}},
		{"unknown user", smb.Credentials{User: "nobody-here", Password: "x", Domain: l.s.Workgroup}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := l.opts
			opts.SMB.Credentials = tt.cred
			r := deployer.Probe(context.Background(), l.host, opts)
			e := assertFailure(t, r, derrors.LogonFailure, "logon failure", derrors.ReasonBadCredentials, derrors.StepLogon, deployer.ProbeStepLogon)
			assert.Equal(t, derrors.NTStatusCode(derrors.StatusLogonFailure), e.Code)
			assert.Equal(t, "logon failure", e.Message())
			assert.Equal(t, "The username/password is incorrect", e.Cause())
		})
	}
}

func TestProbeGuestOnly(t *testing.T) {
	l := newProbeLab(t, lab.SambaOptions{GuestOnly: true})
	for _, allowUnsigned := range []bool{false, true} {
		opts := l.opts
		opts.SMB.Credentials = smb.Credentials{User: "someone", Password: "secret"}
		opts.SMB.SigningOptional = allowUnsigned
		r := deployer.Probe(context.Background(), l.host, opts)
		e := assertFailure(t, r, derrors.LogonFailure, "logon failure", derrors.ReasonGuestOnly, derrors.StepLogon, deployer.ProbeStepLogon)
		assert.True(t, r.Guest)
		assert.Contains(t, e.Solution(), "Classic: Local users authenticate as themselves")
	}
}

func TestProbeNetworkFaults(t *testing.T) {
	l := newProbeLab(t, lab.SambaOptions{})
	lab.Require(t, "iptables")
	tests := []struct {
		name    string
		fault   func() func()
		kind    derrors.Kind
		message string
		maxTime time.Duration
	}{
		{"no route", func() func() { return l.n.Unroute(t, l.s.Addr) }, derrors.HostUnreachable, "host unreachable", time.Second},
		{"icmp unreachable", func() func() { return l.h.RejectUnreachable(t, 445) }, derrors.HostUnreachable, "host unreachable", time.Second},
		{"dropped", func() func() { return l.h.Drop(t, 445) }, derrors.ConnectionTimeout, "connection timeout", l.opts.SMB.ConnectTimeout + time.Second},
		{"refused", func() func() { return l.h.RejectReset(t, 445) }, derrors.ConnectionRefused, "connection refused", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			undo := tt.fault()
			defer undo()
			t0 := time.Now()
			r := deployer.Probe(context.Background(), l.host, l.opts)
			took := time.Since(t0)
			e := assertFailure(t, r, tt.kind, tt.message, derrors.NoReason, derrors.StepConnect, deployer.ProbeStepConnect)
			assert.True(t, e.Code.IsZero(), "a network failure has no host code")
			assert.Less(t, took, tt.maxTime)
			assert.False(t, r.Addr.IsValid())
		})
	}
}

func TestProbeAdminShareMissing(t *testing.T) {
	l := newProbeLab(t, lab.SambaOptions{NoAdminShare: true})
	r := deployer.Probe(context.Background(), l.host, l.opts)
	e := assertFailure(t, r, derrors.SharedAccessFailure, "shared access failure", derrors.ReasonAdminShareMissing, derrors.StepTreeConnect, deployer.ProbeStepAdmin)
	assert.Equal(t, derrors.NTStatusCode(derrors.StatusBadNetworkName), e.Code)
	assert.Equal(t, "shared access failure", e.Message())
	assert.Contains(t, e.Solution(), "AutoShare")
	assert.Equal(t, smb.SMB311, r.Dialect, "facts of the session are kept")
	assert.Contains(t, r.Shares, "IPC$", "shares are listed to explain a failing ADMIN$")
	assert.NotContains(t, r.Shares, "ADMIN$")
}

func TestProbeAdminShareDenied(t *testing.T) {
	l := newProbeLab(t, lab.SambaOptions{DenyAdminShare: true})
	r := deployer.Probe(context.Background(), l.host, l.opts)
	e := assertFailure(t, r, derrors.SharedAccessFailure, "shared access failure", derrors.ReasonAdminShareDenied, derrors.StepTreeConnect, deployer.ProbeStepAdmin)
	assert.Equal(t, derrors.NTStatusCode(derrors.StatusAccessDenied), e.Code)
	assert.Contains(t, e.Solution(), "LocalAccountTokenFilterPolicy")
}

func TestProbeNotAdministrator(t *testing.T) {
	l := newProbeLab(t, lab.SambaOptions{})
	// Open ADMIN$ to the ordinary user too, so the probe reaches the service
	// manager: Samba then answers OpenSCManager with ERROR_ACCESS_DENIED.
	conf, err := os.ReadFile(l.s.Conf)
	require.NoError(t, err)
	opened := strings.Replace(string(conf), "valid users = root", "valid users = root "+l.s.User, 1)
	require.NotEqual(t, string(conf), opened)
	require.NoError(t, os.WriteFile(l.s.Conf, []byte(opened), 0o644))
	require.NoError(t, syscall.Kill(l.s.SmbdPID, syscall.SIGHUP))
	opts := l.opts
	opts.SMB.Credentials = smb.Credentials{User: l.s.User, Password: l.s.Password, Domain: l.s.Workgroup}
	var r *deployer.ProbeReport
	require.Eventually(t, func() bool {
		r = deployer.Probe(context.Background(), l.host, opts)
		res, ok := r.Step(deployer.ProbeStepAdmin)
		return ok && res.Err == nil
	}, 10*time.Second, 200*time.Millisecond, "smbd did not reload smb.conf")
	e := assertFailure(t, r, derrors.SharedAccessFailure, "shared access failure", derrors.ReasonNotAdministrator, derrors.StepOpenSCManager, deployer.ProbeStepSCManager)
	assert.Equal(t, derrors.Win32Code(derrors.ErrorAccessDenied), e.Code)
	assert.False(t, r.Admin)
	assert.Contains(t, e.Cause(), "OpenSCManager")
}
