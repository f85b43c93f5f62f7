package rpc

import (
	"context"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	"github.com/oiweiwei/go-msrpc/ndr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pduCtx is one presentation context of a test bind.
type pduCtx struct {
	id        uint16
	abstract  syntaxID
	transfers []syntaxID
}

func appendSyntax(b []byte, s syntaxID) []byte {
	b = append(b, s.UUID[:]...)
	return binary.LittleEndian.AppendUint32(b, uint32(s.Major)|uint32(s.Minor)<<16)
}

// bindPDU builds a little-endian bind (or alter_context) PDU.
func bindPDU(ptype uint8, callID uint32, maxXmit, maxRecv uint16, ctxs []pduCtx, auth []byte) []byte {
	b := make([]byte, headerSize)
	b = binary.LittleEndian.AppendUint16(b, maxXmit)
	b = binary.LittleEndian.AppendUint16(b, maxRecv)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, uint8(len(ctxs)), 0, 0, 0)
	for _, c := range ctxs {
		b = binary.LittleEndian.AppendUint16(b, c.id)
		b = append(b, uint8(len(c.transfers)), 0)
		b = appendSyntax(b, c.abstract)
		for _, t := range c.transfers {
			b = appendSyntax(b, t)
		}
	}
	if auth != nil {
		// sec_trailer: type NTLM, level connect, no pad, context 0.
		b = append(b, 10, 2, 0, 0, 0, 0, 0, 0)
		b = append(b, auth...)
	}
	putHeader(b, ptype, pfcFirstFrag|pfcLastFrag, len(b), callID)
	binary.LittleEndian.PutUint16(b[10:], uint16(len(auth)))
	return b
}

// requestPDUs splits stub into request fragments of at most chunk bytes.
func requestPDUs(callID uint32, ctxID, opnum uint16, stub []byte, chunk int) [][]byte {
	var out [][]byte
	for off := 0; ; {
		n := min(chunk, len(stub)-off)
		b := make([]byte, requestHeaderSize+n)
		flags := uint8(0)
		if off == 0 {
			flags |= pfcFirstFrag
		}
		if off+n == len(stub) {
			flags |= pfcLastFrag
		}
		putHeader(b, ptypeRequest, flags, len(b), callID)
		binary.LittleEndian.PutUint32(b[16:], uint32(len(stub)))
		binary.LittleEndian.PutUint16(b[20:], ctxID)
		binary.LittleEndian.PutUint16(b[22:], opnum)
		copy(b[requestHeaderSize:], stub[off:off+n])
		out = append(out, b)
		off += n
		if off == len(stub) {
			return out
		}
	}
}

// ackResults decodes the results of a bind_ack / alter_context_resp.
func ackResults(t *testing.T, pdu []byte) (maxXmit, maxRecv uint16, secAddr string, results []ctxResult) {
	t.Helper()
	require.GreaterOrEqual(t, len(pdu), 28)
	maxXmit = binary.LittleEndian.Uint16(pdu[16:])
	maxRecv = binary.LittleEndian.Uint16(pdu[18:])
	n := int(binary.LittleEndian.Uint16(pdu[24:]))
	if n > 0 {
		secAddr = string(pdu[26 : 26+n-1])
	}
	off := 26 + n
	off = (off + 3) &^ 3
	count := int(pdu[off])
	off += 4
	for range count {
		r := ctxResult{Result: binary.LittleEndian.Uint16(pdu[off:]), Reason: binary.LittleEndian.Uint16(pdu[off+2:])}
		copy(r.Transfer.UUID[:], pdu[off+4:off+20])
		v := binary.LittleEndian.Uint32(pdu[off+20:])
		r.Transfer.Major, r.Transfer.Minor = uint16(v), uint16(v>>16)
		results = append(results, r)
		off += 24
	}
	return
}

type testPipe struct {
	t testing.TB
	c pipe.Conn
}

func openPipe(t testing.TB, o pipe.Opener, name string, caller pipe.Caller) *testPipe {
	t.Helper()
	c, err := o.OpenPipe(name, caller)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &testPipe{t: t, c: c}
}

// roundTrip writes msgs and reads one reply message.
func (p *testPipe) roundTrip(msgs ...[]byte) []byte {
	p.t.Helper()
	for _, m := range msgs {
		_, err := p.c.Write(m)
		require.NoError(p.t, err)
	}
	return p.read()
}

func (p *testPipe) read() []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := p.c.ReadMessage(ctx)
	require.NoError(p.t, err)
	return m
}

// call sends a request and reassembles the response; it returns the stub,
// the number of fragments, or the fault status.
func (p *testPipe) call(callID uint32, ctxID, opnum uint16, stub []byte, chunk int) (resp []byte, frags int, fault uint32) {
	p.t.Helper()
	for _, m := range requestPDUs(callID, ctxID, opnum, stub, chunk) {
		_, err := p.c.Write(m)
		require.NoError(p.t, err)
	}
	for {
		m := p.read()
		h, err := parseHeader(m)
		require.NoError(p.t, err)
		require.Equal(p.t, callID, h.CallID)
		if h.Type == ptypeFault {
			return nil, 1, binary.LittleEndian.Uint32(m[24:])
		}
		require.Equal(p.t, ptypeResponse, h.Type)
		frags++
		require.Equal(p.t, frags == 1, h.Flags&pfcFirstFrag != 0)
		resp = append(resp, m[responseHeaderSize:]...)
		if h.Flags&pfcLastFrag != 0 {
			return resp, frags, 0
		}
	}
}

var featureNeg = syntaxID{UUID: [16]byte{0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45, 3, 0, 0, 0, 0, 0, 0, 0}, Major: 1}

func TestPipeOpen(t *testing.T) {
	mgr := scm.New(scm.Options{AdminDir: t.TempDir()})
	t.Cleanup(func() { _ = mgr.Close() })
	tests := []struct {
		name   string
		cfg    Config
		exists bool
	}{
		{"svcctl", Config{SCM: mgr}, true},
		{"SVCCTL", Config{SCM: mgr}, true},
		{"ntsvcs", Config{SCM: mgr}, true},
		{"srvsvc", Config{SCM: mgr}, true},
		{"svcctl", Config{}, false},
		{"lsarpc", Config{}, true},
		{"samr", Config{SCM: mgr}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewOpener(tt.cfg).OpenPipe(tt.name, pipe.Caller{Admin: true})
			if !tt.exists {
				require.ErrorIs(t, err, os.ErrNotExist)
				return
			}
			require.NoError(t, err)
			require.NoError(t, c.Close())
			require.NoError(t, c.Close())
			_, err = c.Write([]byte{5})
			require.Error(t, err)
		})
	}
}

func TestPipeBindNegotiation(t *testing.T) {
	mgr := scm.New(scm.Options{AdminDir: t.TempDir()})
	t.Cleanup(func() { _ = mgr.Close() })
	p := openPipe(t, NewOpener(Config{SCM: mgr}), "svcctl", pipe.Caller{Admin: true})
	unknown := mustSyntax("12345778-1234-abcd-ef00-0123456789ac", 1, 0)
	ack := p.roundTrip(bindPDU(ptypeBind, 1, 4280, 4280, []pduCtx{
		{0, svcctlSyntax, []syntaxID{ndr20}},
		{1, svcctlSyntax, []syntaxID{ndr64}},
		{2, unknown, []syntaxID{ndr20}},
		{3, srvsvcSyntax, []syntaxID{ndr20}},
		{4, svcctlSyntax, []syntaxID{featureNeg}},
		{5, svcctlSyntax, []syntaxID{ndr20, ndr64}},
		{6, svcctlSyntax, []syntaxID{unknown}},
	}, nil))
	h, err := parseHeader(ack)
	require.NoError(t, err)
	require.Equal(t, ptypeBindAck, h.Type)
	maxXmit, maxRecv, secAddr, results := ackResults(t, ack)
	assert.Equal(t, uint16(4280), maxXmit)
	assert.Equal(t, uint16(4280), maxRecv)
	assert.Equal(t, `\PIPE\ntsvcs`, secAddr)
	assert.Equal(t, []ctxResult{
		{Result: resultAcceptance, Transfer: ndr20},
		{Result: resultAcceptance, Transfer: ndr64},
		{Result: resultProviderRejection, Reason: reasonAbstractSyntaxNotSupported},
		{Result: resultProviderRejection, Reason: reasonAbstractSyntaxNotSupported},
		{Result: resultNegotiateAck, Reason: 3},
		{Result: resultAcceptance, Transfer: ndr64},
		{Result: resultProviderRejection, Reason: reasonTransferSyntaxNotSupported},
	}, results)

	// A second bind on the association is refused; alter_context works.
	nak := p.roundTrip(bindPDU(ptypeBind, 2, 4280, 4280, []pduCtx{{0, svcctlSyntax, []syntaxID{ndr20}}}, nil))
	assert.Equal(t, ptypeBindNak, nak[2])
	alt := p.roundTrip(bindPDU(ptypeAlterContext, 3, 0, 0, []pduCtx{{7, svcctlSyntax, []syntaxID{ndr20}}}, nil))
	assert.Equal(t, ptypeAlterResp, alt[2])
	_, _, secAddr, results = ackResults(t, alt)
	assert.Empty(t, secAddr)
	assert.Equal(t, []ctxResult{{Result: resultAcceptance, Transfer: ndr20}}, results)

	// Requests on the accepted contexts run in their transfer syntax; on
	// rejected ones they fault.
	req := &svcctl.OpenSCMWRequest{MachineName: "HOST", DesiredAccess: scm.SCManagerConnect}
	stub20, err := ndr.Marshal(req)
	require.NoError(t, err)
	stub64, err := ndr.Marshal64(req)
	require.NoError(t, err)
	for _, tc := range []struct {
		ctxID uint16
		ndr64 bool
		fault uint32
	}{{0, false, 0}, {7, false, 0}, {1, true, 0}, {5, true, 0}, {6, false, faultInvalidPresCtxID}, {99, false, faultInvalidPresCtxID}} {
		stub := stub20
		if tc.ndr64 {
			stub = stub64
		}
		resp, _, fault := p.call(10+uint32(tc.ctxID), tc.ctxID, 15, stub, 4096)
		require.Equal(t, tc.fault, fault, "context %d", tc.ctxID)
		if fault != 0 {
			continue
		}
		var open svcctl.OpenSCMWResponse
		if tc.ndr64 {
			require.NoError(t, ndr.Unmarshal64(resp, &open))
		} else {
			require.NoError(t, ndr.Unmarshal(resp, &open))
		}
		assert.Zero(t, open.Return, "context %d", tc.ctxID)
		assert.NotNil(t, open.SCM.UUID)
	}
}

func TestPipeBindRejections(t *testing.T) {
	mgr := scm.New(scm.Options{AdminDir: t.TempDir()})
	t.Cleanup(func() { _ = mgr.Close() })
	o := NewOpener(Config{SCM: mgr})
	good := []pduCtx{{0, svcctlSyntax, []syntaxID{ndr20}}}
	tests := []struct {
		name   string
		pdu    []byte
		reason uint16
	}{
		{"auth verifier", bindPDU(ptypeBind, 1, 4280, 4280, good, make([]byte, 16)), rejectAuthTypeNotRecognized},
		{"rpc version 4", func() []byte { b := bindPDU(ptypeBind, 1, 4280, 4280, good, nil); b[0] = 4; return b }(), rejectProtocolVersion},
		{"truncated body", func() []byte {
			b := bindPDU(ptypeBind, 1, 4280, 4280, good, nil)[:30]
			binary.LittleEndian.PutUint16(b[8:], 30)
			return b
		}(), rejectReasonNotSpecified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openPipe(t, o, "svcctl", pipe.Caller{Admin: true})
			nak := p.roundTrip(tt.pdu)
			require.Equal(t, ptypeBindNak, nak[2])
			assert.Equal(t, tt.reason, binary.LittleEndian.Uint16(nak[16:]))
		})
	}
}

func TestPipeFaultsAndFragments(t *testing.T) {
	dir := t.TempDir()
	mgr := scm.New(scm.Options{AdminDir: dir})
	t.Cleanup(func() { _ = mgr.Close() })
	o := NewOpener(Config{SCM: mgr})
	p := openPipe(t, o, "svcctl", pipe.Caller{User: "admin", Admin: true})

	// Request before bind.
	_, _, fault := p.call(1, 0, 15, []byte{0, 0, 0, 0}, 100)
	assert.Equal(t, faultProtoError, fault)

	// Bind with a 64-byte max_recv_frag: responses come in small fragments.
	ack := p.roundTrip(bindPDU(ptypeBind, 2, 4280, 64, []pduCtx{{0, svcctlSyntax, []syntaxID{ndr20}}}, nil))
	maxXmit, maxRecv, _, _ := ackResults(t, ack)
	assert.Equal(t, uint16(64), maxXmit)
	assert.Equal(t, uint16(4280), maxRecv)

	_, _, fault = p.call(3, 0, 200, nil, 100)
	assert.Equal(t, faultOpRangeError, fault, "unknown opnum")
	_, _, fault = p.call(4, 0, 15, []byte{1, 2, 3}, 100)
	assert.Equal(t, faultNDR, fault, "undecodable stub")
	_, _, fault = p.call(5, 0, 3, make([]byte, 20), 100)
	assert.Equal(t, faultOpRangeError, fault, "unimplemented RLockServiceDatabase")

	// OpenSCManagerW sent in 8-byte request fragments.
	stub, err := ndr.Marshal(&svcctl.OpenSCMWRequest{MachineName: "HOST", DatabaseName: "ServicesActive", DesiredAccess: scm.SCManagerAllAccess})
	require.NoError(t, err)
	resp, _, fault := p.call(6, 0, 15, stub, 8)
	require.Zero(t, fault)
	var open svcctl.OpenSCMWResponse
	require.NoError(t, ndr.Unmarshal(resp, &open))
	require.Zero(t, open.Return)

	stub, err = ndr.Marshal(&svcctl.CreateServiceWRequest{ServiceManager: open.SCM, ServiceName: "nx-pipe",
		DesiredAccess: scm.ServiceAllAccess, ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand,
		BinaryPathName: `C:\Windows\nx\a-rather-long-path\to\the\remote\service.exe --job 1234567890`})
	require.NoError(t, err)
	resp, _, fault = p.call(7, 0, 12, stub, 4096)
	require.Zero(t, fault)
	var created svcctl.CreateServiceWResponse
	require.NoError(t, ndr.Unmarshal(resp, &created))
	require.Zero(t, created.Return)

	stub, err = ndr.Marshal(&svcctl.QueryServiceConfigWRequest{Service: created.Service, BufferLength: 8192})
	require.NoError(t, err)
	resp, frags, fault := p.call(8, 0, 17, stub, 4096)
	require.Zero(t, fault)
	assert.Greater(t, frags, 3, "response split into 64-byte fragments")
	var cfg svcctl.QueryServiceConfigWResponse
	require.NoError(t, ndr.Unmarshal(resp, &cfg))
	assert.Equal(t, `C:\Windows\nx\a-rather-long-path\to\the\remote\service.exe --job 1234567890`, cfg.ServiceConfig.BinaryPathName)

	// A [range] violation is a fault, not a huge buffer.
	stub, err = ndr.Marshal(&svcctl.QueryServiceStatusExRequest{Service: created.Service, BufferLength: 36})
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(stub[len(stub)-4:], 1<<30)
	_, _, fault = p.call(9, 0, 40, stub, 4096)
	assert.Equal(t, faultInvalidBound, fault)

	// Delete, then closing the pipe runs down the handles: the service goes.
	stub, err = ndr.Marshal(&svcctl.DeleteServiceRequest{Service: created.Service})
	require.NoError(t, err)
	_, _, fault = p.call(10, 0, 2, stub, 4096)
	require.Zero(t, fault)
	info, ok := mgr.Service("nx-pipe")
	require.True(t, ok)
	assert.True(t, info.MarkedForDelete)
	assert.Equal(t, 1, info.OpenHandles)
	require.NoError(t, p.c.Close())
	_, ok = mgr.Service("nx-pipe")
	assert.False(t, ok)
}

func TestPipeNonAdminCaller(t *testing.T) {
	mgr := scm.New(scm.Options{AdminDir: t.TempDir()})
	t.Cleanup(func() { _ = mgr.Close() })
	p := openPipe(t, NewOpener(Config{SCM: mgr}), "svcctl", pipe.Caller{User: "bob"})
	p.roundTrip(bindPDU(ptypeBind, 1, 4280, 4280, []pduCtx{{0, svcctlSyntax, []syntaxID{ndr20}}}, nil))
	for _, tc := range []struct {
		access uint32
		want   uint32
	}{
		{scm.SCManagerAllAccess, 5},
		{scm.SCManagerCreateService, 5},
		{scm.GenericAll, 5},
		{scm.SCManagerConnect | scm.SCManagerEnumerateService, 0},
		{scm.GenericRead, 0},
	} {
		stub, err := ndr.Marshal(&svcctl.OpenSCMWRequest{DesiredAccess: tc.access})
		require.NoError(t, err)
		resp, _, fault := p.call(2, 0, 15, stub, 4096)
		require.Zero(t, fault)
		var open svcctl.OpenSCMWResponse
		require.NoError(t, ndr.Unmarshal(resp, &open))
		assert.Equal(t, tc.want, open.Return, "access %#x", tc.access)
	}
}

func TestPipeGarbageBreaksPipe(t *testing.T) {
	p := openPipe(t, NewOpener(Config{}), "srvsvc", pipe.Caller{Admin: true})
	_, err := p.c.Write([]byte{5, 0, 0, 3, 0x10, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = p.c.ReadMessage(ctx)
	require.Error(t, err)
	_, err = p.c.Write([]byte{5})
	require.Error(t, err)
}

func TestPipeReadMessageHonoursContext(t *testing.T) {
	p := openPipe(t, NewOpener(Config{}), "srvsvc", pipe.Caller{Admin: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.c.ReadMessage(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
