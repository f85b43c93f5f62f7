package svcctl_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/svcctl"
)

// BenchmarkWinhostQueryStatus measures one RQueryServiceStatusEx round trip
// on an open transport (the Engine's polling cost per host).
func BenchmarkWinhostQueryStatus(b *testing.B) {
	p := startWinhost(b)
	ctx := context.Background()
	c, err := svcctl.Dial(ctx, p.h.IP, p.config(true))
	require.NoError(b, err)
	defer c.Close()
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(b, err)
	svc, err := m.OpenService(ctx, "LanmanServer", svcctl.ServiceQueryStatus)
	require.NoError(b, err)
	for b.Loop() {
		if _, err := svc.QueryStatus(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWinhostDialOpenSCManager measures the probe's administrator
// check: TCP connect, SMB negotiate and NTLM logon with signing, IPC$,
// \pipe\svcctl, bind, ROpenSCManagerW, close.
func BenchmarkWinhostDialOpenSCManager(b *testing.B) {
	p := startWinhost(b)
	ctx := context.Background()
	for b.Loop() {
		c, err := svcctl.Dial(ctx, p.h.IP, p.config(true))
		if err != nil {
			b.Fatal(err)
		}
		m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSambaFaultRecovery measures what a fault costs against Samba
// 4.17: CreateServiceW answered with nca_op_rng_error (go-msrpc closes the
// transport), then the next QueryStatus on a redialled transport with the
// Manager and Service handles reopened.
func BenchmarkSambaFaultRecovery(b *testing.B) {
	lab.Require(b, "root", "netns", "smbd")
	n := lab.NewNet(b)
	s := n.AddHost(b, "scm1").StartSamba(b, lab.SambaOptions{SigningMandatory: true})
	p := &sambaPeer{n: n, s: s}
	ctx := context.Background()
	c, err := svcctl.Dial(ctx, s.Addr.String(), p.config(true))
	require.NoError(b, err)
	defer c.Close()
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(b, err)
	svc, err := m.OpenService(ctx, "Spooler", svcctl.ServiceQueryStatus)
	require.NoError(b, err)
	for b.Loop() {
		if _, err := m.CreateService(ctx, "nxd-bench", "", `C:\x.exe`, svcctl.CreateOptions{}); !errors.Is(err, svcctl.ErrFault) {
			b.Fatalf("want a fault, got %v", err)
		}
		if _, err := svc.QueryStatus(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.Generation())/float64(b.N), "transports/op")
}
