package smb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// TestLabSecurity reads the deployment directory's DACL back from a Samba
// that keeps NT ACLs (acl_xattr) through srvsvc NetrpGetFileSecurity, after
// smbcacls (a third party, over SMB2 SET_INFO) set it; and shows what
// Samba 4.17 does with NetrpSetFileSecurity: it opens the file for
// FILE_WRITE_ATTRIBUTES only, then refuses to set the DACL without
// WRITE_DAC, so it answers ERROR_ACCESS_DENIED to any DACL (Windows sets
// it; the emulated host models Windows).
func TestLabSecurity(t *testing.T) {
	lab.Require(t, "smbcacls")
	n, _, s, cfg := labTarget(t, lab.SambaOptions{SigningMandatory: true, NTACLs: true})
	// The first srvsvc bind makes samba-dcerpcd start its rpcd worker: on a
	// loaded machine that took more than the lab's usual 10 s.
	cfg.RequestTimeout = 45 * time.Second
	ctx := context.Background()
	sess, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	sh, err := sess.Mount(ctx, "ADMIN$")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sh.Close() })
	require.NoError(t, sh.MkdirAll(ctx, "nxdeploy/dep1"))

	smbcacls := func(args ...string) string {
		t.Helper()
		cmd := n.Command(ctx, "smbcacls", append([]string{"//" + s.Addr.String() + "/ADMIN$", `nxdeploy\dep1`,
			"-U", s.AdminUser + "%" + s.AdminPassword, "--numeric"}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	smbcacls("--set", "ACL:S-1-5-18:ALLOWED/OI|CI/0x001f01ff,ACL:S-1-5-32-544:ALLOWED/OI|CI/0x001f01ff")
	smbcacls("--inherit=remove")
	t.Logf("smbcacls:\n%s", smbcacls())

	got, err := sess.Security(ctx, "ADMIN$", `nxdeploy\dep1`)
	require.NoError(t, err, "read back as Windows names it, or as Samba does")
	assert.NotZero(t, got.Control&smb.SEDACLProtected, "protected: nothing inherited from ADMIN$")
	assert.ElementsMatch(t, smb.AdminOnly().DACL, got.DACL)

	// A file written afterwards gets the directory's entries (Samba does
	// not mark them inherited when the parent's DACL is not auto-inherited).
	_, err = sh.Upload(ctx, "nxdeploy/dep1/job", strings.NewReader("job"), 3, smb.UploadOptions{})
	require.NoError(t, err)
	file, err := sess.Security(ctx, "ADMIN$", "nxdeploy/dep1/job")
	require.NoError(t, err)
	var sids []string
	for _, a := range file.DACL {
		sids = append(sids, a.SID)
		assert.Equal(t, smb.FileAllAccess, a.Mask)
	}
	assert.ElementsMatch(t, []string{smb.SIDLocalSystem, smb.SIDAdministrators}, sids)

	// Exists: one srvsvc request, for a directory, a file, a missing name
	// and a name under a missing directory.
	assertExists(t, sess, map[string]bool{"nxdeploy": true, "nxdeploy/dep1/job": true, "nxdeploy/none": false, "none/x": false})

	err = sess.SetSecurity(ctx, "ADMIN$", "nxdeploy/dep1", smb.AdminOnly())
	require.Error(t, err, "Samba 4.17's NetrpSetFileSecurity cannot set a DACL")
	e, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, derrors.StepUpload, e.Step)
	assert.Equal(t, derrors.Win32Code(5), e.Code)
}

func TestSecurityDescriptorRoundTrip(t *testing.T) {
	sd := smb.AdminOnly()
	sd.Owner, sd.Group = smb.SIDAdministrators, "S-1-5-21-1-2-3-513"
	b, err := sd.Marshal()
	require.NoError(t, err)
	got, err := smb.ParseSecurityDescriptor(b)
	require.NoError(t, err)
	assert.Equal(t, sd, got)
	for _, bad := range [][]byte{nil, make([]byte, 19), append([]byte{2}, b[1:]...)} {
		_, err := smb.ParseSecurityDescriptor(bad)
		assert.Error(t, err)
	}
	_, err = smb.SecurityDescriptor{Control: smb.SEDACLPresent, DACL: []smb.ACE{{SID: "X-1"}}}.Marshal()
	assert.Error(t, err)
}

func FuzzParseSecurityDescriptor(f *testing.F) {
	b, err := smb.AdminOnly().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := smb.ParseSecurityDescriptor(b)
		if err != nil {
			return
		}
		// What parses marshals, and parses back to the same.
		again, err := sd.Marshal()
		if err != nil {
			return // an ACE type this package keeps without its SID
		}
		back, err := smb.ParseSecurityDescriptor(again)
		require.NoError(t, err)
		assert.Equal(t, sd, back)
	})
}
