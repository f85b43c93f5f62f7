package smb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// TestLabShareReadsAndRemoveAll proves the Share's own listing, reading and
// bounded tree removal against Samba: what ReadDir and Lstat report, that
// ReadAt reads across 1 MiB requests, and that RemoveAll refuses a tree over
// its bounds (deleting nothing), the share's root and ".." paths.
func TestLabShareReadsAndRemoveAll(t *testing.T) {
	noLeaks(t)
	_, _, s, cfg := labTarget(t, lab.SambaOptions{SigningMandatory: true})
	ctx := context.Background()
	sess, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	admin, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, admin.Close()) })

	root := filepath.Join(s.AdminShareDir, "nxdeploy", "run1")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sub"), 0o777))
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	require.NoError(t, os.WriteFile(filepath.Join(root, "install.log"), big, 0o666))
	require.NoError(t, os.WriteFile(filepath.Join(root, "sub", "x.txt"), []byte("x"), 0o666))

	list, err := admin.ReadDir(ctx, `nxdeploy\run1`, 0)
	require.NoError(t, err)
	names := map[string]smb.FileInfo{}
	for _, fi := range list {
		names[fi.Name] = fi
	}
	require.Len(t, names, 2)
	assert.True(t, names["sub"].IsDir())
	assert.False(t, names["install.log"].IsDir())
	assert.Equal(t, int64(len(big)), names["install.log"].Size)
	_, err = admin.ReadDir(ctx, `nxdeploy\run1`, 1)
	assert.ErrorIs(t, err, smb.ErrTooManyEntries)
	_, err = admin.ReadDir(ctx, `nxdeploy\missing`, 0)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	fi, err := admin.Lstat(ctx, `nxdeploy\run1\sub`)
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	assert.False(t, fi.IsReparsePoint())

	got, err := admin.ReadAt(ctx, `nxdeploy\run1\install.log`, 100, 2<<20+5)
	require.NoError(t, err)
	assert.Equal(t, big[100:100+2<<20+5], got, "read across several 1 MiB requests")
	got, err = admin.ReadAt(ctx, `nxdeploy\run1\install.log`, int64(len(big))-3, 100)
	require.NoError(t, err)
	assert.Equal(t, big[len(big)-3:], got, "short at the end")
	got, err = admin.ReadAt(ctx, `nxdeploy\run1\install.log`, int64(len(big))+10, 100)
	require.NoError(t, err)
	assert.Empty(t, got, "nothing past the end")
	_, err = admin.ReadFile(ctx, `nxdeploy\run1\nothing.txt`, 10)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	for _, bad := range []string{"", ".", `nxdeploy\..`, `..\x`, `nxdeploy\run1\..\..`} {
		err := admin.RemoveAll(ctx, bad, smb.RemoveAllOptions{})
		assert.ErrorIs(t, err, smb.ErrUnsafePath, "%q", bad)
	}
	err = admin.RemoveAll(ctx, `nxdeploy\run1`, smb.RemoveAllOptions{MaxDepth: 0, MaxEntries: 2})
	assert.ErrorIs(t, err, smb.ErrTooManyEntries)
	err = admin.RemoveAll(ctx, `nxdeploy`, smb.RemoveAllOptions{MaxDepth: 1})
	assert.ErrorIs(t, err, smb.ErrTreeTooDeep)
	assert.FileExists(t, filepath.Join(root, "sub", "x.txt"), "a refused tree is left whole")
	require.NoError(t, admin.RemoveAll(ctx, `nxdeploy\run1`, smb.RemoveAllOptions{MaxDepth: 2, MaxEntries: 3}))
	assert.NoDirExists(t, root)
	assert.DirExists(t, filepath.Join(s.AdminShareDir, "nxdeploy"))
}

// TestLabShareRequestsBoundedInBlackHole: once Samba's host drops every
// segment (iptables DROP in its namespace), each of the Share's calls fails
// within a few request timeouts with a connection timeout, instead of
// waiting for ever.
func TestLabShareRequestsBoundedInBlackHole(t *testing.T) {
	lab.Require(t, "iptables")
	_, h, s, cfg := labTarget(t, lab.SambaOptions{})
	cfg.RequestTimeout = time.Second
	ctx := context.Background()
	require.NoError(t, os.MkdirAll(filepath.Join(s.AdminShareDir, "nxdeploy", "run1"), 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(s.AdminShareDir, "nxdeploy", "run1", "f"), []byte("data"), 0o666))
	sess, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sess.Close() })
	admin, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	h.Drop(t, 445)

	calls := map[string]func() error{
		"ReadDir":  func() error { _, err := admin.ReadDir(ctx, `nxdeploy\run1`, 0); return err },
		"Lstat":    func() error { _, err := admin.Lstat(ctx, `nxdeploy\run1`); return err },
		"ReadAt":   func() error { _, err := admin.ReadAt(ctx, `nxdeploy\run1\f`, 0, 10); return err },
		"ReadFile": func() error { _, err := admin.ReadFile(ctx, `nxdeploy\run1\f`, 10); return err },
		"RemoveAll": func() error {
			return admin.RemoveAll(ctx, `nxdeploy\run1`, smb.RemoveAllOptions{})
		},
		"MkdirAll": func() error { return admin.MkdirAll(ctx, `nxdeploy\run2`) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call()
			took := time.Since(start)
			require.Error(t, err)
			assert.Less(t, took, 4*cfg.RequestTimeout, "bounded by the request timeout")
			assert.True(t, derrors.Timeout(err), "%v", err)
			var de *derrors.Error
			require.True(t, errors.As(err, &de), "%v", err)
			assert.Equal(t, derrors.ConnectionTimeout, de.Kind, fmt.Sprint(err))
		})
	}
	assert.FileExists(t, filepath.Join(s.AdminShareDir, "nxdeploy", "run1", "f"))
}
