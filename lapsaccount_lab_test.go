package deployer

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/laps"
	"github.com/nxdeploy/deployer/smb"
)

// TestLocalAccountRIDSamba looks local accounts up through Samba's lsarpc
// on the deployment's own SMB session (as COMPUTER\user, the computer's
// name from the NTLM challenge), each account's RID checked against Samba's
// rpcclient lookupnames; a name the host does not know is no local user.
func TestLocalAccountRIDSamba(t *testing.T) {
	lab.Require(t, "root", "netns", "smbd", "rpcclient")
	n := lab.NewNet(t)
	s := n.AddHost(t, "pc").StartSamba(t, lab.SambaOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess, err := smb.Dial(ctx, s.Addr.String(), smb.Config{
		Credentials: smb.Credentials{User: s.User, Password: s.Password, Domain: s.Workgroup},
		Dial:        n.DialContext, ConnectTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second,
	}, nil)
	require.NoError(t, err)
	defer sess.Close()

	ridOf := regexp.MustCompile(`S-1-5-21-\d+-\d+-\d+-(\d+) \(User: 1\)`)
	for _, user := range []string{s.User, "root"} {
		out, err := n.Command(ctx, "rpcclient", "-U", s.User+"%"+s.Password, "-W", s.Workgroup, s.Addr.String(),
			"-c", "lookupnames "+user).CombinedOutput()
		require.NoError(t, err, "%s", out)
		m := ridOf.FindSubmatch(out)
		require.NotNil(t, m, "rpcclient: %s", out)
		want, err := strconv.ParseUint(string(m[1]), 10, 32)
		require.NoError(t, err)

		rid, err := localAccountRID(ctx, sess, "PC", user)
		require.NoError(t, err, user)
		assert.Equal(t, uint32(want), rid, user)
		t.Logf("%s: RID %d (rpcclient: %s)", user, rid, out)
	}
	// Samba's "Administrator" exists only in its username map (to root):
	// its LSA does not know the name, so the name rule decides, as when a
	// host refuses the lookup.
	for _, user := range []string{s.AdminUser, "no-such-user"} {
		_, err = localAccountRID(ctx, sess, "PC", user)
		require.Error(t, err, user)
		t.Logf("%s: %v", user, err)
	}
}

// TestConnectLAPSSamba connects to a Samba host with LAPS credentials: the
// account Samba's LSA knows as RID 1001 (a plain user, refused ADMIN$ as a
// filtered token would be) is named laps_account_filtered with its RID; the
// "Administrator" of Samba's username map, which its LSA cannot look up,
// is judged by its name and connects.
func TestConnectLAPSSamba(t *testing.T) {
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	s := n.AddHost(t, "pc").StartSamba(t, lab.SambaOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func(user, password string) (*Conn, error) {
		h := discovery.Host{Name: "PC", Addr: s.Addr, LAPS: &laps.Credential{Computer: "PC", Source: laps.Clear,
			Account: user, Password: laps.NewPassword(password)}}
		return Connect(ctx, h, ConnectConfig{SMB: smb.Config{Credentials: lapsCredentials(h), Dial: n.DialContext,
			ConnectTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second}})
	}

	_, err := connect(s.User, s.Password)
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, derrors.ReasonLAPSAccountFiltered, de.Reason, "%v", err)
	assert.Equal(t, derrors.StepTreeConnect, de.Step)
	assert.ErrorIs(t, err, laps.ErrFilteredAccount)
	assert.Contains(t, err.Error(), "(RID 1001) is not the built-in Administrator")
	assert.NotContains(t, err.Error(), "unless it was renamed", "the host said which account it is")

	conn, err := connect(s.AdminUser, s.AdminPassword)
	require.NoError(t, err)
	defer conn.Close()
	assert.Error(t, conn.lapsLookupErr, "Samba's LSA does not know its username map's names")
	assert.Zero(t, conn.Host().LAPS.RID)
	assert.NoError(t, conn.Host().LAPS.CheckRemoteAdmin(), "the name decides: Administrator")
}
