package smb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/deployertest/lab/addc"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/krbauth"
	"github.com/nxdeploy/deployer/smb"
)

// kerberosDC starts a Samba AD DC with an ADMIN$ share, a domain user and a
// disabled one, and returns it with a Kerberos config for the Administrator
// that finds the KDC through the DC's DNS (SRV records).
func kerberosDC(t *testing.T) (*addc.DC, smb.Config, string) {
	t.Helper()
	lab.Require(t, "root", "netns", "samba-tool", "samba", "ldbadd")
	n := lab.NewNet(t)
	admin := t.TempDir()
	dc := addc.StartWith(t, n, "dc", nil, addc.Options{
		Shares: map[string][]string{"ADMIN$": {"path = " + admin, "read only = no"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"user", "create", "alice", userPassword},
		{"user", "create", "mallory", userPassword},
		{"user", "disable", "mallory"},
	} {
		_, err := dc.SambaTool(ctx, args...)
		require.NoError(t, err)
	}
	cfg := smb.Config{
		Credentials: smb.Credentials{User: "Administrator", Domain: addc.Zone, Password: addc.AdminPassword,
			Kerberos: &smb.Kerberos{}},
		Dial:           dc.Dial,
		Resolver:       dc.Resolver(),
		ConnectTimeout: 2 * time.Second,
		RequestTimeout: 20 * time.Second,
	}
	return dc, cfg, admin
}

// userPassword is the lab users' password.
const userPassword = "Usr-Passw0rd-Lab!"

func TestLabKerberos(t *testing.T) {
	dc, base, adminDir := kerberosDC(t)
	ctx := context.Background()
	fqdn := dc.FQDN
	// Every logon below must leave no goroutine behind (gokrb5 starts a TGT
	// renewal goroutine per password logon unless the TGT comes from a
	// credentials cache, as the TGT cache makes it).
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	t.Run("logon by name, SRV-found KDC, upload", func(t *testing.T) {
		var steps []derrors.Step
		sess, err := smb.Dial(ctx, fqdn, base, func(step derrors.Step, _ time.Duration, e *derrors.Error) {
			assert.Nil(t, e, "step %s", step)
			steps = append(steps, step)
		})
		require.NoError(t, err)
		defer func() { assert.NoError(t, sess.Close()) }()
		assert.Equal(t, []derrors.Step{derrors.StepResolve, derrors.StepConnect, derrors.StepNegotiate, derrors.StepLogon}, steps)
		info := sess.Info()
		assert.Equal(t, "Kerberos", info.Auth)
		assert.Equal(t, "cifs/"+fqdn, info.SPN)
		assert.Equal(t, smb.SMB311, info.Dialect)
		assert.True(t, info.Signed)
		assert.True(t, info.Encrypted)
		assert.False(t, info.Guest)
		assert.Zero(t, info.Server, "Kerberos has no NTLM challenge to read")

		shares, err := sess.ListShares(ctx)
		require.NoError(t, err)
		assert.Contains(t, shares, "ADMIN$")
		assert.Contains(t, shares, "sysvol")

		share, err := sess.Mount(ctx, "ADMIN$")
		require.NoError(t, err)
		data := make([]byte, 5<<20+77)
		_, _ = rand.Read(data)
		sum := sha256.Sum256(data)
		res, err := share.Upload(ctx, "krb.bin", bytes.NewReader(data), int64(len(data)), smb.UploadOptions{VerifySHA256: true})
		require.NoError(t, err)
		assert.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)
		got, err := os.ReadFile(filepath.Join(adminDir, "krb.bin"))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "the file on the DC is byte-exact")
		require.NoError(t, share.Remove(ctx, "krb.bin"))
		_, err = os.Stat(filepath.Join(adminDir, "krb.bin"))
		assert.True(t, errors.Is(err, os.ErrNotExist))
	})

	t.Run("address with the NetBIOS name as label, listed KDC", func(t *testing.T) {
		cfg := base
		cfg.Label = addc.DCName
		cfg.Credentials.Kerberos = &smb.Kerberos{KDCs: []string{dc.Addr.String()}}
		sess, err := smb.Dial(ctx, dc.Addr.String(), cfg, nil)
		require.NoError(t, err)
		defer sess.Close()
		assert.Equal(t, "cifs/"+fqdn, sess.Info().SPN, "the realm is the NetBIOS name's domain")
	})

	t.Run("NT hash (RC4) and user@REALM", func(t *testing.T) {
		cfg := base
		hash := deployertest.NTHash(userPassword)
		cfg.Credentials = smb.Credentials{User: "alice@" + addc.Realm, NTHash: hash[:], Kerberos: &smb.Kerberos{}}
		sess, err := smb.Dial(ctx, fqdn, cfg, nil)
		require.NoError(t, err)
		defer sess.Close()
		assert.Equal(t, "Kerberos", sess.Info().Auth)
		assert.Equal(t, "alice@"+addc.Realm, cfg.Credentials.String())
	})

	t.Run("concurrent logons", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := smb.Dial(ctx, fqdn, base, nil)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "logon %d", i)
		}
	})

	failures := []struct {
		name   string
		host   string
		mod    func(c *smb.Config)
		reason derrors.Reason
		code   int32
	}{
		{"wrong password", fqdn, func(c *smb.Config) { c.Credentials.Password = "not-the-password" },
			derrors.ReasonBadCredentials, derrors.KDCErrPreauthFailed},
		{"unknown user", fqdn, func(c *smb.Config) { c.Credentials.User = "nobody" },
			derrors.ReasonBadCredentials, derrors.KDCErrCPrincipalUnknown},
		{"disabled account", fqdn, func(c *smb.Config) {
			c.Credentials.User, c.Credentials.Password = "mallory", userPassword
		}, derrors.ReasonAccountRevoked, derrors.KDCErrClientRevoked},
		{"name not in the directory", dc.Addr.String(), func(c *smb.Config) { c.Label = "nosuchpc." + addc.Zone },
			derrors.ReasonUnknownServicePrincipal, derrors.KDCErrSPrincipalUnknown},
		{"address only", dc.Addr.String(), nil, derrors.ReasonUnknownServicePrincipal, 0},
		{"realm without KDC records", fqdn, func(c *smb.Config) { c.Credentials.Kerberos = &smb.Kerberos{Realm: "NOWHERE.TEST"} },
			derrors.ReasonKDCUnreachable, 0},
		{"KDC refuses connections", fqdn, func(c *smb.Config) {
			c.Credentials.Kerberos = &smb.Kerberos{KDCs: []string{dc.Addr.String() + ":8888"}}
		}, derrors.ReasonKDCUnreachable, 0},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			sess, err := smb.Dial(ctx, tc.host, cfg, nil)
			if sess != nil {
				sess.Close()
			}
			require.Error(t, err)
			e, ok := derrors.As(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, derrors.LogonFailure, e.Kind, "%v", err)
			assert.Equal(t, "logon failure", e.Message())
			assert.Equal(t, derrors.StepLogon, e.Step)
			assert.True(t, errors.Is(err, tc.reason), "reason %v: %v", tc.reason, err)
			if tc.code != 0 {
				assert.Equal(t, derrors.KerberosErrorCode(tc.code), e.Code, "%v", err)
			}
			t.Logf("%v", err)
		})
	}

	t.Run("one TGT per account, one service ticket per logon", func(t *testing.T) {
		krbauth.ForgetTGTs()
		var kdcConns atomic.Int32
		cfg := base
		cfg.Credentials = smb.Credentials{User: "alice", Domain: addc.Zone, Password: userPassword,
			Kerberos: &smb.Kerberos{KDCs: []string{dc.Addr.String()}}}
		cfg.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			if strings.HasSuffix(address, ":88") {
				kdcConns.Add(1)
			}
			return dc.Dial(ctx, network, address)
		}
		for i, want := range []int32{3, 1, 1} { // AS twice (pre-authentication), then TGS; then TGS only
			kdcConns.Store(0)
			sess, err := smb.Dial(ctx, fqdn, cfg, nil)
			require.NoError(t, err)
			require.NoError(t, sess.Close())
			assert.Equal(t, want, kdcConns.Load(), "KDC connections of logon %d", i+1)
		}
	})

	t.Run("KDC silent: bounded by the connect timeout", func(t *testing.T) {
		krbauth.ForgetTGTs()
		undo := dc.Host.Drop(t, 88)
		defer undo()
		cfg := base
		cfg.Credentials.Kerberos = &smb.Kerberos{KDCs: []string{dc.Addr.String()}}
		start := time.Now()
		_, err := smb.Dial(ctx, fqdn, cfg, nil)
		took := time.Since(start)
		require.Error(t, err)
		assert.True(t, errors.Is(err, derrors.ReasonKDCUnreachable), "%v", err)
		assert.Less(t, took, cfg.ConnectTimeout+3*time.Second, "one KDC, one connect timeout")
	})

	t.Run("cancelled while the KDC is silent", func(t *testing.T) {
		undo := dc.Host.Drop(t, 88)
		defer undo()
		cfg := base
		cfg.ConnectTimeout = 30 * time.Second
		cfg.Credentials.Kerberos = &smb.Kerberos{KDCs: []string{dc.Addr.String()}}
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := smb.Dial(cctx, fqdn, cfg, nil)
		require.Error(t, err)
		assert.Less(t, time.Since(start), 3*time.Second, "the context ends the KDC exchange: %v", err)
	})

	t.Run("credentials cache from kinit", func(t *testing.T) {
		lab.Require(t, "kinit")
		dir := t.TempDir()
		conf := filepath.Join(dir, "krb5.conf")
		require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(
			"[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n[realms]\n %s = {\n  kdc = %s\n }\n",
			addc.Realm, addc.Realm, dc.Addr)), 0o644))
		ccache := filepath.Join(dir, "ccache")
		cmd := dc.Host.Net().Command(ctx, "kinit", "-c", "FILE:"+ccache, "alice@"+addc.Realm)
		cmd.Env = append(os.Environ(), "KRB5_CONFIG="+conf)
		cmd.Stdin = bytes.NewReader([]byte(userPassword + "\n"))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		cfg := base
		cfg.Credentials = smb.Credentials{User: "alice", Domain: addc.Zone, Kerberos: &smb.Kerberos{CCache: ccache}}
		sess, err := smb.Dial(ctx, fqdn, cfg, nil)
		require.NoError(t, err)
		defer sess.Close()
		assert.Equal(t, "Kerberos", sess.Info().Auth)
	})
}

// TestLabKerberosDomainRebuilt: the process caches an account's TGT; when the
// domain's krbtgt key changes (here: a new domain with the same realm, the
// account and the password, as after a rebuilt test domain or a krbtgt
// reset), the KDC refuses the cached TGT, and the logon drops it and gets a
// new one instead of failing.
func TestLabKerberosDomainRebuilt(t *testing.T) {
	lab.Require(t, "root", "netns", "samba-tool", "samba", "ldbadd")
	n := lab.NewNet(t)
	ctx := context.Background()
	logon := func(dc *addc.DC) (int32, error) {
		var kdcConns atomic.Int32
		cfg := smb.Config{
			Credentials: smb.Credentials{User: "Administrator", Domain: addc.Zone, Password: addc.AdminPassword,
				Kerberos: &smb.Kerberos{KDCs: []string{dc.Addr.String()}}},
			Label: addc.DCName,
			Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
				if strings.HasSuffix(address, ":88") {
					kdcConns.Add(1)
				}
				return dc.Dial(ctx, network, address)
			},
			ConnectTimeout: 2 * time.Second,
			RequestTimeout: 20 * time.Second,
		}
		s, err := smb.Dial(ctx, dc.Addr.String(), cfg, nil)
		if err == nil {
			err = s.Close()
		}
		return kdcConns.Load(), err
	}
	first := addc.Start(t, n, "dca", nil)
	_, err := logon(first)
	require.NoError(t, err)
	second := addc.Start(t, n, "dcb", nil)
	conns, err := logon(second)
	require.NoError(t, err, "the refused TGT is replaced")
	assert.Equal(t, int32(4), conns, "TGS refused, AS twice (pre-authentication), TGS")
	conns, err = logon(second)
	require.NoError(t, err)
	assert.Equal(t, int32(1), conns, "the new TGT is cached")
}
