package smb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// TestEmulatedHostSecurity sets and reads back the deployment directory's
// DACL on the emulated Windows host, with the path as Windows takes it,
// and checks what its files inherit and what a non-administrator gets.
func TestEmulatedHostSecurity(t *testing.T) {
	h, err := deployertest.New(deployertest.WithUsers(deployertest.User{Name: "alice", Password: "A1ice!pw"}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	ctx := context.Background()
	dial := func(user, password string) *smb.Session {
		s, err := smb.Dial(ctx, h.IP, smb.Config{Credentials: smb.Credentials{User: user, Password: password},
			Port: h.Port, ConnectTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second}, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sess := dial(h.User, h.Password)
	sh, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	require.NoError(t, sh.MkdirAll(ctx, "nxdeploy/dep1"))

	before, err := sess.Security(ctx, "ADMIN$", "nxdeploy/dep1")
	require.NoError(t, err)
	assert.Contains(t, sids(before), "S-1-5-32-545", "like C:\\Windows's children, Users may read before")

	require.NoError(t, sess.SetSecurity(ctx, "ADMIN$", "nxdeploy/dep1", smb.AdminOnly()))
	got, err := sess.Security(ctx, "ADMIN$", "nxdeploy/dep1")
	require.NoError(t, err)
	assert.NotZero(t, got.Control&smb.SEDACLProtected)
	assert.ElementsMatch(t, smb.AdminOnly().DACL, got.DACL)

	_, err = sh.Upload(ctx, "nxdeploy/dep1/job", strings.NewReader("job"), 3, smb.UploadOptions{})
	require.NoError(t, err)
	file, err := sess.Security(ctx, "ADMIN$", "nxdeploy/dep1/job")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{smb.SIDLocalSystem, smb.SIDAdministrators}, sids(file))
	for _, a := range file.DACL {
		assert.Equal(t, smb.InheritedACE, a.Flags, "inherited, and a file passes nothing on")
	}

	err = sess.SetSecurity(ctx, "ADMIN$", "nxdeploy/none", smb.AdminOnly())
	require.Error(t, err)
	e, ok := derrors.As(err)
	require.True(t, ok)
	assert.Equal(t, derrors.Win32Code(2), e.Code)

	assertExists(t, sess, map[string]bool{"nxdeploy": true, "nxdeploy/dep1/job": true, "nxdeploy/none": false, "none/x": false})

	user := dial("alice", "A1ice!pw")
	_, err = user.Security(ctx, "ADMIN$", "nxdeploy/dep1")
	require.Error(t, err, "srvsvc file security is for administrators")
	_, err = user.Exists(ctx, "ADMIN$", "nxdeploy")
	require.Error(t, err, "srvsvc file security is for administrators")
}

// assertExists checks Session.Exists on ADMIN$ names, and that a missing
// one does not cost the srvsvc binding (the next call still answers).
func assertExists(t *testing.T, sess *smb.Session, want map[string]bool) {
	t.Helper()
	for name, exists := range want {
		got, err := sess.Exists(context.Background(), "ADMIN$", name)
		require.NoError(t, err, name)
		assert.Equal(t, exists, got, name)
	}
}

func sids(sd smb.SecurityDescriptor) []string {
	var out []string
	for _, a := range sd.DACL {
		out = append(out, a.SID)
	}
	return out
}
