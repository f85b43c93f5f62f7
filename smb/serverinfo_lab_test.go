package smb

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
)

// TestLabWindowsVersion reads the Windows version a Samba server gives:
// in its NTLM challenge, and through srvsvc NetrServerGetInfo, the source
// a Kerberos logon (which has no challenge) falls back on.
func TestLabWindowsVersion(t *testing.T) {
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	h := n.AddHost(t, "ver")
	srv := h.StartSamba(t, lab.SambaOptions{})
	ctx := context.Background()
	s, err := Dial(ctx, srv.Addr.String(), Config{
		Credentials: Credentials{User: srv.AdminUser, Password: srv.AdminPassword, Domain: srv.Workgroup},
		Dial:        n.DialContext, ConnectTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second,
	}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	v, err := s.WindowsVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, s.Info().Server.OS, v, "the NTLM challenge's version")
	assert.False(t, v.IsZero())

	fromRPC, err := s.serverInfoVersion(ctx)
	require.NoError(t, err)
	assert.NotZero(t, fromRPC.Major, "srvsvc reports a major version")
	assert.Zero(t, fromRPC.Build, "NetrServerGetInfo 101 has no build number")
	t.Logf("NTLM: %s; srvsvc: %d.%d", v, fromRPC.Major, fromRPC.Minor)
}
