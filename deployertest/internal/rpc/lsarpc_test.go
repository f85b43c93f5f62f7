package rpc

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/oiweiwei/go-msrpc/dcerpc"
	lsarpc "github.com/oiweiwei/go-msrpc/msrpc/lsad/lsarpc/v0"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLsarpcOverTCP(t *testing.T) {
	h := startHost(t, scm.Options{}, Config{ServerName: "HOST1", Workgroup: "LAB"})
	ctx := context.Background()
	conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_ip_tcp:127.0.0.1[%d]", h.addr.Port))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	cli, err := lsarpc.NewLsarpcClient(ctx, conn, dcerpc.WithInsecure())
	require.NoError(t, err)
	pol, err := cli.OpenPolicy2(ctx, &lsarpc.OpenPolicy2Request{ObjectAttributes: &lsarpc.ObjectAttributes{}, DesiredAccess: scm.MaximumAllowed})
	require.NoError(t, err)
	acct, err := cli.QueryInformationPolicy2(ctx, &lsarpc.QueryInformationPolicy2Request{Policy: pol.Policy,
		InformationClass: lsarpc.PolicyInformationClassAccountDomainInformation})
	require.NoError(t, err)
	info := acct.PolicyInformation.Value.(*lsarpc.PolicyInformation_PolicyAccountDomainInfo).PolicyAccountDomainInfo
	assert.Equal(t, "HOST1", info.DomainName.Buffer)
	assert.Equal(t, machineSID("HOST1").SubAuthority, info.DomainSID.SubAuthority)
	prim, err := cli.QueryInformationPolicy(ctx, &lsarpc.QueryInformationPolicyRequest{Policy: pol.Policy,
		InformationClass: lsarpc.PolicyInformationClassPrimaryDomainInformation})
	require.NoError(t, err)
	assert.Equal(t, "LAB", prim.PolicyInformation.Value.(*lsarpc.PolicyInformation_PolicyPrimaryDomainInfo).PolicyPrimaryDomainInfo.Name.Buffer)
	_, err = cli.QueryInformationPolicy(ctx, &lsarpc.QueryInformationPolicyRequest{Policy: pol.Policy,
		InformationClass: lsarpc.PolicyInformationClassAuditLogInformation})
	require.Error(t, err)
	_, err = cli.Close(ctx, &lsarpc.CloseRequest{Object: pol.Policy})
	require.NoError(t, err)
}

// TestLsarpcOpenPolicySambaStub replays the LsarOpenPolicy stub Samba's
// `net rpc` sends (SystemName is one wchar_t), which go-msrpc's generated
// stub cannot decode.
func TestLsarpcOpenPolicySambaStub(t *testing.T) {
	p := openPipe(t, NewOpener(Config{}), "lsarpc", pipe.Caller{Admin: true})
	p.roundTrip(bindPDU(ptypeBind, 1, 4280, 4280, []pduCtx{{0, lsarpcSyntax, []syntaxID{ndr20}}}, nil))
	stub, err := hex.DecodeString("000002005c00000018000000000000000000000000000000000000000000000000000002")
	require.NoError(t, err)
	resp, _, fault := p.call(2, 0, opnumOpenPolicy, stub, 4096)
	require.Zero(t, fault)
	var open lsarpc.OpenPolicyResponse
	require.NoError(t, ndr.Unmarshal(resp, &open))
	assert.Zero(t, open.Return)
	require.NotNil(t, open.Policy.UUID)

	q, err := ndr.Marshal(&lsarpc.QueryInformationPolicyRequest{Policy: open.Policy,
		InformationClass: lsarpc.PolicyInformationClassAccountDomainInformation})
	require.NoError(t, err)
	resp, _, fault = p.call(3, 0, 7, q, 4096)
	require.Zero(t, fault)
	var info lsarpc.QueryInformationPolicyResponse
	require.NoError(t, ndr.Unmarshal(resp, &info))
	assert.Zero(t, info.Return)

	c, err := ndr.Marshal(&lsarpc.CloseRequest{Object: open.Policy})
	require.NoError(t, err)
	for _, want := range []int32{0, statusInvalidHandle} {
		resp, _, fault = p.call(4, 0, 0, c, 4096)
		require.Zero(t, fault)
		var closed lsarpc.CloseResponse
		require.NoError(t, ndr.Unmarshal(resp, &closed))
		assert.Equal(t, want, closed.Return)
	}
}
