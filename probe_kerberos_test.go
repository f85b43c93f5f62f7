package deployer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	deployer "github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/deployertest/lab/addc"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// TestProbeKerberos probes a Samba AD DC (which also serves SMB, an ADMIN$
// share and the service manager) with Kerberos logons: the SMB session and
// the service manager's own session both log on with tickets for the name
// the host was discovered by.
func TestProbeKerberos(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	lab.Require(t, "root", "netns", "samba-tool", "samba", "ldbadd")
	n := lab.NewNet(t)
	dc := addc.StartWith(t, n, "dc", nil, addc.Options{
		Shares: map[string][]string{"ADMIN$": {"path = " + t.TempDir(), "read only = no"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := dc.SambaTool(ctx, "user", "create", "alice", "Usr-Passw0rd-Lab!")
	require.NoError(t, err)

	// As the Deployer documentation's CSV would list it: the BIOS name and the address.
	host := discovery.Host{Name: addc.DCName, Addr: dc.Addr, Source: "test"}
	opts := deployer.ProbeOptions{
		ConnectConfig: deployer.ConnectConfig{SMB: smb.Config{
			Credentials: smb.Credentials{User: "Administrator", Domain: addc.Zone, Password: addc.AdminPassword,
				Kerberos: &smb.Kerberos{}},
			Dial:           dc.Dial,
			Resolver:       dc.Resolver(),
			ConnectTimeout: 2 * time.Second,
			RequestTimeout: 20 * time.Second,
		}},
		WriteTest: true,
	}

	t.Run("administrator passes every step", func(t *testing.T) {
		inv := opts
		inv.Inventory = true
		r := deployer.Probe(ctx, host, inv)
		require.True(t, r.OK, "%v", r.Err)
		for _, s := range r.Steps {
			assert.Nil(t, s.Err, s.Name)
		}
		_, ok := r.Step(deployer.ProbeStepWriteTest)
		assert.True(t, ok, "the probe ran to the write test")
		assert.True(t, r.Admin)
		assert.Equal(t, "Kerberos", r.Auth)
		assert.Equal(t, "cifs/"+dc.FQDN, r.SPN)
		assert.True(t, r.Signing)
		assert.Contains(t, r.Shares, "ADMIN$")
	})

	t.Run("Connect: ADMIN$ and the service manager with create rights", func(t *testing.T) {
		conn, err := deployer.Connect(ctx, host, opts.ConnectConfig)
		require.NoError(t, err)
		assert.Equal(t, "Kerberos", conn.Session().Info().Auth)
		assert.NoError(t, conn.Close())
	})

	t.Run("authenticated RPC bind with Kerberos", func(t *testing.T) {
		for _, auth := range []svcctl.RPCAuth{svcctl.RPCAuthIntegrity, svcctl.RPCAuthPrivacy} {
			o := opts
			o.RPCAuth = auth
			o.WriteTest = false
			r := deployer.Probe(ctx, host, o)
			assert.True(t, r.OK, "%v: %v", auth, r.Err)
			assert.True(t, r.Admin, "%v", auth)
			o.SMB.Credentials.Kerberos = nil
			o.SMB.Credentials.Domain = addc.Domain
			r = deployer.Probe(ctx, host, o)
			assert.True(t, r.OK, "NTLM %v: %v", auth, r.Err)
		}
	})

	t.Run("domain user is not an administrator", func(t *testing.T) {
		o := opts
		o.SMB.Credentials = smb.Credentials{User: "alice", Domain: addc.Zone, Password: "Usr-Passw0rd-Lab!",
			Kerberos: &smb.Kerberos{}}
		r := deployer.Probe(ctx, host, o)
		require.False(t, r.OK)
		e, ok := derrors.As(r.Err)
		require.True(t, ok, "%v", r.Err)
		assert.Equal(t, addc.DCName, e.Host)
		assert.ErrorIs(t, r.Err, derrors.ReasonNotAdministrator)
		assert.Equal(t, derrors.StepOpenSCManager, e.Step)
		assert.False(t, r.Admin)
	})

	t.Run("wrong password stops at logon with the KDC's code", func(t *testing.T) {
		o := opts
		o.SMB.Credentials.Password = "wrong"
		r := deployer.Probe(ctx, host, o)
		e, ok := derrors.As(r.Err)
		require.True(t, ok, "%v", r.Err)
		assert.Equal(t, derrors.LogonFailure, e.Kind)
		assert.Equal(t, derrors.ReasonBadCredentials, e.Reason)
		assert.Equal(t, derrors.KerberosErrorCode(derrors.KDCErrPreauthFailed), e.Code)
		assert.Equal(t, deployer.ProbeStepLogon, r.Steps[len(r.Steps)-1].Name)
	})
}
