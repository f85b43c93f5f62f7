package smb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// labTarget starts a Samba host and returns it with a config that reaches it
// as the administrator.
func labTarget(t *testing.T, opts lab.SambaOptions) (*lab.Net, *lab.Host, *lab.Samba, smb.Config) {
	t.Helper()
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	h := n.AddHost(t, "smb")
	s := h.StartSamba(t, opts)
	cfg := smb.Config{
		Credentials:    smb.Credentials{User: s.AdminUser, Password: s.AdminPassword, Domain: s.Workgroup},
		Dial:           n.DialContext,
		ConnectTimeout: 2 * time.Second,
		RequestTimeout: 10 * time.Second,
	}
	return n, h, s, cfg
}

func TestLabDialFacts(t *testing.T) {
	_, _, s, cfg := labTarget(t, lab.SambaOptions{SigningMandatory: true, EncryptionRequired: true, MinSMB311: true})
	ctx := context.Background()
	var steps []derrors.Step
	sess, err := smb.Dial(ctx, s.Addr.String(), cfg, func(step derrors.Step, took time.Duration, e *derrors.Error) {
		assert.Nil(t, e, "step %s", step)
		assert.GreaterOrEqual(t, took, time.Duration(0))
		steps = append(steps, step)
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	assert.Equal(t, []derrors.Step{derrors.StepResolve, derrors.StepConnect, derrors.StepNegotiate, derrors.StepLogon}, steps)
	info := sess.Info()
	assert.Equal(t, smb.SMB311, info.Dialect)
	assert.True(t, info.SigningRequired)
	assert.True(t, info.Signed)
	assert.True(t, info.Encrypted)
	assert.NotEmpty(t, info.Cipher)
	assert.False(t, info.Guest)
	assert.NotEmpty(t, info.Server.NetBIOSName)
	assert.Equal(t, "SMB", info.Server.NetBIOSName, "the host's netbios name")
	assert.NotEmpty(t, info.Server.NetBIOSDomain)
	assert.False(t, info.Server.OS.IsZero())
	t.Logf("info: %+v", info)

	shares, err := sess.ListShares(ctx)
	require.NoError(t, err)
	assert.Contains(t, shares, "ADMIN$")
	assert.Contains(t, shares, "IPC$")

	// srvsvc over \pipe\srvsvc on this session: Samba reports the share's
	// directory as a drive path.
	adminPath, err := sess.SharePath(ctx, "ADMIN$")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(adminPath, `C:\`), adminPath)
	assert.True(t, strings.HasSuffix(strings.ReplaceAll(adminPath, `\`, "/"), filepath.ToSlash(s.AdminShareDir)), adminPath)
	_, err = sess.SharePath(ctx, "NOSUCHSHARE")
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, derrors.StepListShares, de.Step, "%v", err)
	assert.Equal(t, derrors.Win32, de.Code.Space, "the server's code is kept (Samba: ERROR_INVALID_NAME): %v", err)

	admin, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	sp, err := admin.Statfs(ctx)
	require.NoError(t, err)
	assert.Greater(t, sp.Total, uint64(0))
	assert.LessOrEqual(t, sp.Available, sp.Total)

	data := make([]byte, 3<<20+12345)
	_, _ = rand.Read(data)
	var last int64
	res, err := admin.Upload(ctx, "up.bin", bytes.NewReader(data), int64(len(data)), smb.UploadOptions{
		VerifySHA256: true,
		Progress: func(w, total int64) {
			assert.GreaterOrEqual(t, w, last)
			assert.Equal(t, int64(len(data)), total)
			last = w
		},
	})
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), last)
	assert.Len(t, res.SHA256, 64)
	got, err := os.ReadFile(filepath.Join(s.AdminShareDir, "up.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
	assertOnlyFiles(t, s.AdminShareDir, "up.bin")

	_, err = admin.Upload(ctx, "up.bin", bytes.NewReader(data), int64(len(data)), smb.UploadOptions{})
	require.Error(t, err)
	assertOnlyFiles(t, s.AdminShareDir, "up.bin")
	_, err = admin.Upload(ctx, "up.bin", bytes.NewReader(data[:100]), 100, smb.UploadOptions{Overwrite: true})
	require.NoError(t, err)
	got, err = os.ReadFile(filepath.Join(s.AdminShareDir, "up.bin"))
	require.NoError(t, err)
	assert.Equal(t, data[:100], got)

	require.NoError(t, admin.Remove(ctx, "up.bin"))
	require.NoError(t, admin.Remove(ctx, "up.bin"), "removing a missing file is not an error")
	_, err = admin.Stat(ctx, "up.bin")
	assert.True(t, errors.Is(err, fs.ErrNotExist), "%v", err)
	assertOnlyFiles(t, s.AdminShareDir)
	require.NoError(t, admin.Close())
}

// assertOnlyFiles checks the exact set of names in dir.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	got := []string{}
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if names == nil {
		names = []string{}
	}
	assert.ElementsMatch(t, names, got)
}

// noLeaks checks, after every other cleanup of t, that no goroutine started
// during the test is left.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func TestLabUploadCancelLeavesNothing(t *testing.T) {
	noLeaks(t)
	n, _, s, cfg := labTarget(t, lab.SambaOptions{SigningMandatory: true})
	proxy := lab.StartDelayProxy(t, netip.AddrPortFrom(s.Addr, 445).String(), 5*time.Millisecond, n.DialContext)
	host, port, err := splitHostPort(proxy.Addr())
	require.NoError(t, err)
	cfg.Dial, cfg.Port = nil, port
	ctx := context.Background()
	sess, err := smb.Dial(ctx, host, cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	admin, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)

	data := make([]byte, 64<<20)
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var cancelledAt atomic.Int64
	_, err = admin.Upload(uctx, "cancel.bin", bytes.NewReader(data), int64(len(data)), smb.UploadOptions{
		Progress: func(w, _ int64) {
			if w >= 8<<20 && cancelledAt.Load() == 0 {
				cancelledAt.Store(time.Now().UnixNano())
				cancel()
			}
		},
	})
	returned := time.Now()
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	var de *derrors.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, derrors.StepUpload, de.Step)
	require.NotZero(t, cancelledAt.Load())
	assert.Less(t, returned.Sub(time.Unix(0, cancelledAt.Load())), 2*time.Second, "cancel returns promptly")
	assertOnlyFiles(t, s.AdminShareDir)

	// The session still works after the cancelled upload.
	res, err := admin.Upload(ctx, "after.bin", bytes.NewReader(data[:1<<20]), 1<<20, smb.UploadOptions{VerifySHA256: true})
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20), res.Size)
	assertOnlyFiles(t, s.AdminShareDir, "after.bin")
}

func TestLabUploadSourceErrorLeavesNothing(t *testing.T) {
	noLeaks(t)
	_, _, s, cfg := labTarget(t, lab.SambaOptions{})
	ctx := context.Background()
	sess, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	admin, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	short := bytes.NewReader(make([]byte, 5<<20))
	_, err = admin.Upload(ctx, "short.bin", short, 9<<20, smb.UploadOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reading the source")
	assertOnlyFiles(t, s.AdminShareDir)

	require.NoError(t, admin.MkdirAll(ctx, `nxdeploy\run1`))
	local := filepath.Join(t.TempDir(), "setup.msi")
	require.NoError(t, os.WriteFile(local, []byte("an msi"), 0o644))
	res, err := admin.UploadFile(ctx, `nxdeploy/run1/setup.msi`, local, smb.UploadOptions{VerifySHA256: true})
	require.NoError(t, err)
	assert.Equal(t, `nxdeploy\run1\setup.msi`, res.Path)
	got, err := os.ReadFile(filepath.Join(s.AdminShareDir, "nxdeploy", "run1", "setup.msi"))
	require.NoError(t, err)
	assert.Equal(t, "an msi", string(got))
	_, err = admin.UploadFile(ctx, "x.msi", filepath.Join(t.TempDir(), "missing.msi"), smb.UploadOptions{})
	assert.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, admin.RemoveAll(ctx, "nxdeploy", smb.RemoveAllOptions{}))
	require.NoError(t, admin.RemoveAll(ctx, "nxdeploy", smb.RemoveAllOptions{}), "a missing tree is not an error")
	assertOnlyFiles(t, s.AdminShareDir)
}

func TestLabRemoveRetriesWhileInUse(t *testing.T) {
	noLeaks(t)
	_, _, s, cfg := labTarget(t, lab.SambaOptions{})
	ctx := context.Background()
	require.NoError(t, os.WriteFile(filepath.Join(s.AdminShareDir, "busy.exe"), []byte("MZ"), 0o644))
	holder, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, holder.Close()) })
	hshare, err := holder.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	f, err := smb.RawShare(ctx, hshare).OpenFile("busy.exe", os.O_RDWR, 0) // no FILE_SHARE_DELETE
	require.NoError(t, err)

	sess, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	admin, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)

	release := time.AfterFunc(400*time.Millisecond, func() { _ = f.Close() })
	defer release.Stop()
	t0 := time.Now()
	require.NoError(t, admin.Remove(ctx, "busy.exe"))
	assert.GreaterOrEqual(t, time.Since(t0), 350*time.Millisecond, "Remove waited for the other handle")
	assertOnlyFiles(t, s.AdminShareDir)

	// A file held open past the caller's deadline is a typed "file in use".
	require.NoError(t, os.WriteFile(filepath.Join(s.AdminShareDir, "busy2.exe"), []byte("MZ"), 0o644))
	f2, err := smb.RawShare(ctx, hshare).OpenFile("busy2.exe", os.O_RDWR, 0)
	require.NoError(t, err)
	defer func() { _ = f2.Close() }()
	dctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	err = admin.Remove(dctx, "busy2.exe")
	require.Error(t, err)
	assert.ErrorIs(t, err, derrors.ReasonFileInUse)
	var de *derrors.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, derrors.StepCleanup, de.Step)
	assert.Equal(t, derrors.NTStatusCode(derrors.StatusSharingViolation), de.Code)
}

func splitHostPort(addr string) (string, int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", 0, err
	}
	return ap.Addr().String(), int(ap.Port()), nil
}
