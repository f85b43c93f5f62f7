package smb

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	derrors "github.com/nxdeploy/deployer/errors"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	assert.Equal(t, 445, c.port())
	assert.Equal(t, DefaultResolveTimeout, c.resolveTimeout())
	assert.Equal(t, DefaultConnectTimeout, c.connectTimeout())
	assert.Equal(t, DefaultRequestTimeout, c.requestTimeout())
	assert.Equal(t, uint16(DefaultMaxCredits), c.maxCredits())
	assert.Same(t, net.DefaultResolver, c.resolver())
	assert.NotNil(t, c.dial())
	c = Config{Port: 1445, ResolveTimeout: time.Second, ConnectTimeout: 2 * time.Second, RequestTimeout: 3 * time.Second, MaxCredits: 64}
	assert.Equal(t, 1445, c.port())
	assert.Equal(t, time.Second, c.resolveTimeout())
	assert.Equal(t, 2*time.Second, c.connectTimeout())
	assert.Equal(t, 3*time.Second, c.requestTimeout())
	assert.Equal(t, uint16(64), c.maxCredits())
}

func TestEnumStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{SMB202.String(), "2.0.2"}, {SMB210.String(), "2.1"}, {SMB300.String(), "3.0"},
		{SMB302.String(), "3.0.2"}, {SMB311.String(), "3.1.1"}, {Dialect(0).String(), ""},
		{Dialect(0x02FF).String(), "0x02FF"},
		{EncryptIfOffered.String(), "if offered"}, {EncryptRequired.String(), "required"},
		{EncryptNever.String(), "never"}, {Encryption(9).String(), "unknown"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got)
	}
}

func TestWithStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   uint32
		is     error
		kind   derrors.Kind
		reason derrors.Reason
	}{
		{"tree connect denied", &os.PathError{Op: "open", Path: "x", Err: os.ErrPermission}, statusAccessDenied,
			fs.ErrPermission, derrors.SharedAccessFailure, derrors.ReasonAdminShareDenied},
		{"not found", &os.PathError{Op: "open", Path: "x", Err: os.ErrNotExist}, statusObjectNameNotFound,
			fs.ErrNotExist, derrors.WindowsError, derrors.NoReason},
		{"exists", os.ErrExist, statusObjectNameCollision, fs.ErrExist, derrors.WindowsError, derrors.NoReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := withStatus(tt.err)
			assert.ErrorIs(t, err, tt.is)
			var re *smb2.ResponseError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.code, re.Code)
			assert.Contains(t, err.Error(), "NTSTATUS 0x"+strings.ToUpper(strconv.FormatUint(uint64(tt.code), 16)))
			e := derrors.Wrap("pc", derrors.StepTreeConnect, err)
			assert.Equal(t, tt.kind, e.Kind)
			assert.Equal(t, tt.reason, e.Reason)
		})
	}
	cancelled := withStatus(&os.PathError{Op: "write", Err: &smb2.ContextError{Err: context.Canceled}})
	assert.ErrorIs(t, cancelled, context.Canceled)
	assert.Equal(t, "write : context canceled", cancelled.Error())
	timedOut := derrors.Wrap("pc", derrors.StepUpload, withStatus(&smb2.ContextError{Err: context.DeadlineExceeded}))
	assert.ErrorIs(t, timedOut, context.DeadlineExceeded)
	assert.Equal(t, derrors.ConnectionTimeout, timedOut.Kind)
	other := errors.New("other")
	assert.Same(t, other, withStatus(other))
	assert.NoError(t, withStatus(nil))
}

func TestRetryableRemove(t *testing.T) {
	for code, want := range map[uint32]bool{
		statusSharingViolation: true, statusDeletePending: true, statusCannotDelete: true,
		statusAccessDenied: false, 0xC000006D: false,
	} {
		assert.Equal(t, want, retryableRemove(&os.PathError{Op: "remove", Err: &smb2.ResponseError{Code: code}}), "0x%08X", code)
	}
	assert.False(t, retryableRemove(errors.New("x")))
}

func TestPaths(t *testing.T) {
	tests := []struct{ in, dir, base string }{
		{"a.msi", "", "a.msi"},
		{`nx\run\a.msi`, `nx\run`, "a.msi"},
		{"nx/run/a.msi", `nx\run`, "a.msi"},
	}
	for _, tt := range tests {
		d, b := splitPath(tt.in)
		assert.Equal(t, tt.dir, d)
		assert.Equal(t, tt.base, b)
		assert.Equal(t, strings.ReplaceAll(tt.in, "/", `\`), joinPath(d, b))
	}
	a, err := tempName(`nx`, "a.msi")
	require.NoError(t, err)
	b, err := tempName(`nx`, "a.msi")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.True(t, strings.HasPrefix(a, `nx\~a.msi.`), a)
	assert.True(t, strings.HasSuffix(a, ".partial"), a)
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func TestDialFailuresWithoutServer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cred := Credentials{User: "u", Password: "p"}
	// A server that accepts TCP and never answers: negotiate times out.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		_ = silent.Close()
		for c := range accepted {
			_ = c.Close()
		}
	}()
	silentPort := silent.Addr().(*net.TCPAddr).Port
	nxResolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return nil, &net.DNSError{Err: "no such host", Name: "nx.invalid", IsNotFound: true}
	}}

	tests := []struct {
		name  string
		host  string
		cfg   Config
		kind  derrors.Kind
		step  derrors.Step
		steps []derrors.Step
	}{
		{"no user", "127.0.0.1", Config{}, derrors.LogonFailure, derrors.StepLogon, nil},
		{"refused", "127.0.0.1", Config{Credentials: cred, Port: closedPort(t)}, derrors.ConnectionRefused,
			derrors.StepConnect, []derrors.Step{derrors.StepResolve, derrors.StepConnect}},
		{"name does not resolve", "nx.invalid", Config{Credentials: cred, Resolver: nxResolver, ResolveTimeout: time.Second},
			derrors.DNSResolutionFailure, derrors.StepResolve, []derrors.Step{derrors.StepResolve}},
		{"silent server", "127.0.0.1", Config{Credentials: cred, Port: silentPort, RequestTimeout: 300 * time.Millisecond},
			derrors.ConnectionTimeout, derrors.StepNegotiate, []derrors.Step{derrors.StepResolve, derrors.StepConnect, derrors.StepNegotiate}},
		{"label names the host", "127.0.0.1", Config{Credentials: cred, Port: closedPort(t), Label: "PC9"},
			derrors.ConnectionRefused, derrors.StepConnect, []derrors.Step{derrors.StepResolve, derrors.StepConnect}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var steps []derrors.Step
			var last *derrors.Error
			s, err := Dial(context.Background(), tt.host, tt.cfg, func(step derrors.Step, _ time.Duration, e *derrors.Error) {
				steps = append(steps, step)
				last = e
			})
			require.Nil(t, s)
			var e *derrors.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.kind, e.Kind, "%v", e)
			assert.Equal(t, tt.step, e.Step)
			assert.Equal(t, tt.steps, steps)
			if tt.steps != nil {
				assert.Same(t, e, last)
			}
			if tt.cfg.Label != "" {
				assert.Equal(t, tt.cfg.Label, e.Host)
			} else {
				assert.Equal(t, tt.host, e.Host)
			}
		})
	}
}

func TestResolvePrefersIPv4(t *testing.T) {
	ip, err := resolve(context.Background(), "[::1]", Config{})
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("::1"), ip)
	ip, err = resolve(context.Background(), "::ffff:10.1.2.3", Config{})
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.1.2.3"), ip)
	_, err = resolve(context.Background(), "", Config{})
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
}

func TestFillInfo(t *testing.T) {
	tests := []struct {
		name    string
		dialect Dialect
		enc     Encryption
		facts   wireFacts
		want    Info
	}{
		{"311 gcm", SMB311, EncryptIfOffered, wireFacts{SecurityMode: negSigningRequired, Cipher: cipherAES128GCM, MaxWriteSize: 1 << 20, SessionSigned: true},
			Info{Dialect: SMB311, SigningRequired: true, Signed: true, Encrypted: true, Cipher: "AES-128-GCM", MaxWriteSize: 1 << 20}},
		{"311 never", SMB311, EncryptNever, wireFacts{Cipher: cipherAES128GCM, SessionSigned: true},
			Info{Dialect: SMB311, Signed: true}},
		{"311 no cipher offered", SMB311, EncryptRequired, wireFacts{SessionSigned: true},
			Info{Dialect: SMB311, Signed: true, EncryptionNotOffered: true}},
		{"302 capability", SMB302, EncryptIfOffered, wireFacts{Capabilities: capEncryption},
			Info{Dialect: SMB302, Signed: true, Encrypted: true, Cipher: "AES-128-CCM"}},
		{"server forces encryption", SMB300, EncryptNever, wireFacts{SessionFlags: sessionFlagEncryptData},
			Info{Dialect: SMB300, Signed: true, Encrypted: true, Cipher: "AES-128-CCM"}},
		{"21 never encrypts", SMB210, EncryptIfOffered, wireFacts{Capabilities: capEncryption, SessionSigned: true},
			Info{Dialect: SMB210, Signed: true, EncryptionNotOffered: true}},
		{"21 server that does not sign", SMB210, EncryptNever, wireFacts{},
			Info{Dialect: SMB210}},
		{"guest", SMB311, EncryptIfOffered, wireFacts{SessionFlags: sessionFlagGuest},
			Info{Dialect: SMB311, Guest: true, EncryptionNotOffered: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Session{cfg: Config{Encryption: tt.enc}}
			s.fillInfo(tt.dialect, tt.facts)
			assert.Equal(t, tt.want, s.info)
		})
	}
}
