package laps

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	isdkey "github.com/oiweiwei/go-msrpc/msrpc/gkdi/isdkey/v1"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/laps/internal/dpaping"
)

// getKeyRequest is GetKey's request as DialGKDI's client sends it: target
// SD 01 02 03 04, root key 73294420-917f-416a-9ec3-86082afafb9e, index
// (-1, 1, 31).
func getKeyRequest(t *testing.T) *isdkey.GetKeyRequest {
	root, err := dpaping.ParseGUID("73294420-917f-416a-9ec3-86082afafb9e")
	require.NoError(t, err)
	return &isdkey.GetKeyRequest{TargetSDLength: 4, TargetSD: []byte{1, 2, 3, 4}, RootKeyID: rpcGUID(root), L0KeyID: -1, L1KeyID: 1, L2KeyID: 31}
}

// TestGetKeyMarshalling checks go-msrpc's encoding of GetKey against the
// layout [MS-GKDI] 3.1.4.1's IDL gives in NDR 2.0 (written out by hand
// here) and in NDR64 (the bytes the dpapi-ng library sends to Windows domain
// controllers, tests/test_gkdi.py test_get_key_pack), and its decoding of a
// response carrying a real domain controller's envelope.
func TestGetKeyMarshalling(t *testing.T) {
	ctx := context.Background()
	guid := "2044297" + "37f916a419ec386082afafb9e"
	ndr20 := "04000000" + "04000000" + "01020304" + "00000200" + guid + "ffffffff" + "01000000" + "1f000000"
	w := ndr.NDR20(nil)
	require.NoError(t, getKeyRequest(t).MarshalNDR(ctx, w))
	assert.Equal(t, ndr20, referent(t, w.Bytes(), 12, 4))

	ndr64 := "0400000000000000" + "0400000000000000" + "0102030400000000" + "0000020000000000" + guid + "ffffffff" + "01000000" + "1f000000"
	w = ndr.NDR64(nil)
	require.NoError(t, getKeyRequest(t).MarshalNDR(ctx, w))
	assert.Equal(t, ndr64, referent(t, w.Bytes(), 24, 8))

	// The response: pcbOut, then ppbOut (a unique pointer to a conformant
	// byte array: referent, conformance, bytes, padding), then the HRESULT.
	env, err := os.ReadFile(filepath.Join(vectorDir, "group_key_envelope"))
	require.NoError(t, err)
	var resp []byte
	resp = binary.LittleEndian.AppendUint32(resp, uint32(len(env)))
	resp = binary.LittleEndian.AppendUint32(resp, 0x00020000)
	resp = binary.LittleEndian.AppendUint32(resp, uint32(len(env)))
	resp = append(resp, env...)
	for len(resp)%4 != 0 {
		resp = append(resp, 0)
	}
	resp = binary.LittleEndian.AppendUint32(resp, 0)
	var out isdkey.GetKeyResponse
	require.NoError(t, out.UnmarshalNDR(ctx, ndr.NDR20(resp)))
	assert.Equal(t, env, out.Out)
	assert.Zero(t, out.Return)
	g, err := dpaping.ParseGroupKey(out.Out)
	require.NoError(t, err)
	assert.Equal(t, int32(361), g.L0)
}

// referent checks that the unique pointer's referent identifier at offset
// off (size n) is not null, and returns b in hexadecimal with it replaced by
// 0x00020000, the value in the expected layouts: NDR lets each sender number
// its referents as it likes.
func referent(t *testing.T, b []byte, off, n int) string {
	t.Helper()
	require.Greater(t, len(b), off+n)
	c := append([]byte{}, b...)
	assert.NotEqual(t, make([]byte, n), c[off:off+n], "null referent")
	clear(c[off : off+n])
	binary.LittleEndian.PutUint32(c[off:], 0x00020000)
	return hex.EncodeToString(c)
}

func TestRPCGUID(t *testing.T) {
	root, err := dpaping.ParseGUID("73294420-917f-416a-9ec3-86082afafb9e")
	require.NoError(t, err)
	g := rpcGUID(root)
	assert.Equal(t, &dtyp.GUID{Data1: 0x73294420, Data2: 0x917f, Data3: 0x416a, Data4: []byte{0x9e, 0xc3, 0x86, 0x08, 0x2a, 0xfa, 0xfb, 0x9e}}, g)
}
