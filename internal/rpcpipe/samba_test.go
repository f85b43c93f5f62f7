package rpcpipe_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	rrp "github.com/oiweiwei/go-msrpc/msrpc/rrp/winreg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/deployertest/lab/addc"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/rpcpipe"
	"github.com/nxdeploy/deployer/smb"
)

// pipes opens \pipe\winreg on one session and keeps every pipe it opened,
// so a test can break the one in use.
type pipes struct {
	sess *smb.Session
	mu   sync.Mutex
	all  []net.Conn
}

func (p *pipes) open(ctx context.Context) (net.Conn, error) {
	c, err := p.sess.OpenPipe(ctx, "winreg")
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.all = append(p.all, c)
	p.mu.Unlock()
	return c, nil
}

func (p *pipes) breakLast() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.all[len(p.all)-1].Close()
}

// currentVersion reads HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion's
// CurrentVersion, which Samba's registry has ("6.1").
func currentVersion(ctx context.Context, cli rrp.WinregClient) (string, error) {
	hk, err := rpcpipe.Check(cli.OpenLocalMachine(ctx, &rrp.OpenLocalMachineRequest{DesiredAccess: 0x20019}))
	if err != nil {
		return "", err
	}
	defer cli.BaseRegCloseKey(ctx, &rrp.BaseRegCloseKeyRequest{Key: hk.Key})
	k, err := rpcpipe.Check(cli.BaseRegOpenKey(ctx, &rrp.BaseRegOpenKeyRequest{Key: hk.Key,
		SubKey: &rrp.UnicodeString{Buffer: `SOFTWARE\Microsoft\Windows NT\CurrentVersion` + "\x00"}, DesiredAccess: 0x20019}))
	if err != nil {
		return "", err
	}
	defer cli.BaseRegCloseKey(ctx, &rrp.BaseRegCloseKeyRequest{Key: k.ResultKey})
	v, err := rpcpipe.Check(cli.BaseRegQueryValue(ctx, &rrp.BaseRegQueryValueRequest{Key: k.ResultKey,
		ValueName: &rrp.UnicodeString{Buffer: "CurrentVersion\x00"}, DataLength: 512}))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i+1 < int(v.Length) && i+1 < len(v.Data); i += 2 {
		if c := rune(v.Data[i]) | rune(v.Data[i+1])<<8; c != 0 {
			b.WriteRune(c)
		}
	}
	return b.String(), nil
}

func TestSamba(t *testing.T) {
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	s := n.AddHost(t, "rp1").StartSamba(t, lab.SambaOptions{SigningMandatory: true})
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	creds := smb.Credentials{User: s.AdminUser, Password: s.AdminPassword}
	sess, err := smb.Dial(ctx, s.Addr.String(), smb.Config{Credentials: creds, Dial: n.DialContext}, nil)
	require.NoError(t, err)
	defer sess.Close()
	p := &pipes{sess: sess}
	bind := func(t *testing.T, seal bool, maxRedials int) *rpcpipe.Conn[rrp.WinregClient] {
		c, err := rpcpipe.Bind(ctx, rpcpipe.Config{
			Host: "rp1", BindStep: "open registry", Open: p.open, Seal: seal, Credentials: creds,
			MaxRedials: maxRedials, Mappers: []rpcerrors.Mapper{win32.Mapper{}}, RequestTimeout: 10 * time.Second,
		}, rrp.NewWinregClient)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, c.Close()) })
		return c
	}
	read := func(c *rpcpipe.Conn[rrp.WinregClient], idempotent bool) (string, error) {
		var v string
		err := c.Call(ctx, "read registry", idempotent, func(ctx context.Context, cli rrp.WinregClient) error {
			var err error
			v, err = currentVersion(ctx, cli)
			return err
		})
		return v, err
	}

	for _, seal := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsealed", true: "sealed"}[seal], func(t *testing.T) {
			c := bind(t, seal, 0)
			v, err := read(c, true)
			require.NoError(t, err)
			assert.Equal(t, "6.1", v)
		})
	}

	t.Run("a lost pipe is reopened for an idempotent call", func(t *testing.T) {
		c := bind(t, true, 0)
		_, err := read(c, true)
		require.NoError(t, err)
		p.breakLast()
		v, err := read(c, true)
		require.NoError(t, err)
		assert.Equal(t, "6.1", v)
		assert.Equal(t, uint64(2), c.Generation())
	})

	t.Run("a non-idempotent call reports the loss", func(t *testing.T) {
		c := bind(t, false, 0)
		p.breakLast()
		_, err := read(c, false)
		assert.ErrorIs(t, err, rpcpipe.ErrTransportLost)
		de, ok := derrors.As(err)
		require.True(t, ok)
		assert.Equal(t, derrors.Step("read registry"), de.Step)
		// The next call opens a new pipe.
		_, err = read(c, false)
		assert.NoError(t, err)
	})

	t.Run("the redial limit", func(t *testing.T) {
		// No redial allowed: the retry of the idempotent call finds the
		// limit, and so does every later call.
		c := bind(t, false, -1)
		p.breakLast()
		_, err := read(c, true)
		assert.ErrorIs(t, err, rpcpipe.ErrRedialLimit)
		_, err = read(c, true)
		assert.ErrorIs(t, err, rpcpipe.ErrRedialLimit)
		assert.Equal(t, uint64(1), c.Generation())
	})

	t.Run("a return code is typed, the connection stays", func(t *testing.T) {
		c := bind(t, false, 0)
		err := c.Call(ctx, "read registry", true, func(ctx context.Context, cli rrp.WinregClient) error {
			hk, err := rpcpipe.Check(cli.OpenLocalMachine(ctx, &rrp.OpenLocalMachineRequest{DesiredAccess: 0x20019}))
			if err != nil {
				return err
			}
			_, err = rpcpipe.Check(cli.BaseRegOpenKey(ctx, &rrp.BaseRegOpenKeyRequest{Key: hk.Key,
				SubKey: &rrp.UnicodeString{Buffer: "SOFTWARE\\NoSuchKey\x00"}, DesiredAccess: 0x20019}))
			return err
		})
		de, ok := derrors.As(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, derrors.Win32Code(2), de.Code)
		assert.Equal(t, uint64(1), c.Generation())
	})

	t.Run("closed", func(t *testing.T) {
		c := bind(t, false, 0)
		require.NoError(t, c.Close())
		_, err := read(c, true)
		assert.ErrorIs(t, err, rpcpipe.ErrClosed)
	})

	t.Run("cancelled", func(t *testing.T) {
		c := bind(t, false, 0)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := c.Call(cctx, "read registry", true, func(ctx context.Context, cli rrp.WinregClient) error {
			_, err := currentVersion(ctx, cli)
			return err
		})
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	})
}

// TestKerberos seals the bind with Kerberos (a ticket for host/NAME) over a
// pipe of a Kerberos SMB session, against a Samba AD domain controller's
// winreg.
func TestKerberos(t *testing.T) {
	lab.Require(t, "root", "netns", "samba-tool", "samba", "ldbadd")
	n := lab.NewNet(t)
	dc := addc.Start(t, n, "dc", nil)
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	creds := smb.Credentials{User: "Administrator", Domain: addc.Zone, Password: addc.AdminPassword, Kerberos: &smb.Kerberos{}}
	sess, err := smb.Dial(ctx, dc.FQDN, smb.Config{Credentials: creds, Dial: dc.Dial, Resolver: dc.Resolver()}, nil)
	require.NoError(t, err)
	defer sess.Close()
	c, err := rpcpipe.Bind(ctx, rpcpipe.Config{
		Host: dc.FQDN, BindStep: "open registry", Seal: true, Credentials: creds,
		Open:     func(ctx context.Context) (net.Conn, error) { return sess.OpenPipe(ctx, "winreg") },
		Dial:     dc.Dial,
		Resolver: dc.Resolver(),
		Mappers:  []rpcerrors.Mapper{win32.Mapper{}},
	}, rrp.NewWinregClient)
	require.NoError(t, err)
	defer c.Close()
	var v string
	err = c.Call(ctx, "read registry", true, func(ctx context.Context, cli rrp.WinregClient) error {
		var err error
		v, err = currentVersion(ctx, cli)
		return err
	})
	require.NoError(t, err)
	assert.NotEmpty(t, v)
}
