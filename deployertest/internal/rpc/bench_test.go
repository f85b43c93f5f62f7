package rpc

import (
	"testing"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/stretchr/testify/require"
)

// BenchmarkPipeQueryServiceStatus measures one RQueryServiceStatus round
// trip through a pipe: the call the deployer polls while msiexec runs.
func BenchmarkPipeQueryServiceStatus(b *testing.B) {
	mgr := scm.New(scm.Options{AdminDir: b.TempDir()})
	b.Cleanup(func() { _ = mgr.Close() })
	p := openPipe(b, NewOpener(Config{SCM: mgr}), "svcctl", pipe.Caller{Admin: true})
	p.roundTrip(bindPDU(ptypeBind, 1, 4280, 4280, []pduCtx{{0, svcctlSyntax, []syntaxID{ndr20}}}, nil))
	stub, err := ndr.Marshal(&svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerConnect})
	require.NoError(b, err)
	resp, _, _ := p.call(2, 0, 15, stub, 4096)
	var open svcctl.OpenSCMWResponse
	require.NoError(b, ndr.Unmarshal(resp, &open))
	stub, err = ndr.Marshal(&svcctl.OpenServiceWRequest{ServiceManager: open.SCM, ServiceName: "Spooler", DesiredAccess: scm.ServiceQueryStatus})
	require.NoError(b, err)
	resp, _, _ = p.call(3, 0, 16, stub, 4096)
	var svc svcctl.OpenServiceWResponse
	require.NoError(b, ndr.Unmarshal(resp, &svc))
	require.Zero(b, svc.Return)
	stub, err = ndr.Marshal(&svcctl.QueryServiceStatusRequest{Service: svc.Service})
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		resp, _, fault := p.call(uint32(10+i), 0, 6, stub, 4096)
		if fault != 0 || len(resp) != 32 {
			b.Fatalf("fault %#x, %d bytes", fault, len(resp))
		}
	}
}
