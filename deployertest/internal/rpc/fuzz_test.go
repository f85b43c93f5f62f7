package rpc

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/stretchr/testify/require"
)

func FuzzParsePDU(f *testing.F) {
	f.Add(bindPDU(ptypeBind, 1, 4280, 4280, []pduCtx{{0, svcctlSyntax, []syntaxID{ndr20, ndr64}}}, nil))
	f.Add(bindPDU(ptypeAlterContext, 1, 0, 0, []pduCtx{{0, svcctlSyntax, []syntaxID{featureNeg}}}, []byte{1, 2, 3, 4}))
	f.Add(requestPDUs(1, 0, 15, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 4)[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		if bb, err := parseBind(h, b); err == nil {
			for _, c := range bb.Contexts {
				_ = c.Abstract.String()
			}
		}
		if r, err := parseRequest(h, b); err == nil {
			require.LessOrEqual(t, len(r.Stub), len(b))
		}
	})
}

// FuzzAssociation feeds a bound svcctl (NDR and NDR64)+srvsvc+lsarpc
// association arbitrary PDUs:
// it must never panic and must only emit well-formed PDUs within the
// negotiated fragment size.
// ntlmNegotiate is an NTLM NEGOTIATE asking for sign and seal.
var ntlmNegotiate = []byte("NTLMSSP\x00\x01\x00\x00\x00\x35\x82\x08\xe2" + "\x00\x00\x00\x00\x00\x00\x00\x00" + "\x00\x00\x00\x00\x00\x00\x00\x00")

func FuzzAssociation(f *testing.F) {
	stub, err := ndr.Marshal(&svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerAllAccess})
	require.NoError(f, err)
	seeds := [][]byte{
		requestPDUs(2, 0, 15, stub, 4096)[0],
		requestPDUs(3, 1, 15, []byte{0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0}, 4096)[0],
		bindPDU(ptypeAlterContext, 4, 0, 0, []pduCtx{{9, srvsvcSyntax, []syntaxID{ndr20}}}, nil),
		bindPDU(ptypeBind, 5, 10, 10, nil, nil),
	}
	openPolicy, err := hex.DecodeString("000002005c00000018000000000000000000000000000000000000000000000000000002")
	require.NoError(f, err)
	seeds = append(seeds, requestPDUs(7, 2, opnumOpenPolicy, openPolicy, 4096)[0])
	stub64, err := ndr.Marshal64(&svcctl.OpenSCMWRequest{MachineName: "H", DesiredAccess: scm.SCManagerAllAccess})
	require.NoError(f, err)
	seeds = append(seeds, requestPDUs(8, 3, 15, stub64, 4096)[0])
	frags := requestPDUs(6, 0, 17, make([]byte, 40), 8)
	seeds = append(seeds, append(append([]byte(nil), frags[0]...), frags[1]...))
	authenticate := append([]byte("NTLMSSP\x00\x03\x00\x00\x00"), make([]byte, 80)...)
	seeds = append(seeds, append([]byte{1}, bindPDU(ptypeAuth3, 2, 0, 0, nil, authenticate)...))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mgr := scm.New(scm.Options{AdminDir: t.TempDir()})
		defer mgr.Close()
		s := newServer(Config{SCM: mgr, MaxFrag: 256, RPCAccounts: testAccounts()})
		a := newAssociation(s, s.interfaces("", pipe.Caller{Admin: true}), "135")
		defer a.close()
		ctx := context.Background()
		// An odd first byte binds with an NTLM NEGOTIATE (the rest may
		// carry an auth3 or alter_context with its AUTHENTICATE).
		var auth []byte
		if len(data) > 0 && data[0]&1 == 1 {
			auth = ntlmNegotiate
			data = data[1:]
		}
		_, err := a.process(ctx, bindPDU(ptypeBind, 1, 256, 256, []pduCtx{
			{0, svcctlSyntax, []syntaxID{ndr20}}, {1, srvsvcSyntax, []syntaxID{ndr20}},
			{2, lsarpcSyntax, []syntaxID{ndr20}}, {3, svcctlSyntax, []syntaxID{ndr64}}}, auth))
		require.NoError(t, err)
		for len(data) >= headerSize {
			h, _ := parseHeader(data)
			n := int(h.FragLen)
			if n < headerSize || n > len(data) {
				n = len(data)
			}
			out, err := a.process(ctx, data[:n])
			data = data[n:]
			for _, o := range out {
				oh, perr := parseHeader(o)
				require.NoError(t, perr)
				require.Equal(t, int(oh.FragLen), len(o))
				if oh.Type == ptypeResponse {
					require.LessOrEqual(t, len(o), 256)
				}
			}
			if err != nil {
				return
			}
		}
	})
}
