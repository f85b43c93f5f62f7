package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/ndr"
)

// Fragment sizes.
const (
	// DefaultMaxFrag is the largest fragment the server sends or accepts
	// when Config.MaxFrag is zero (Windows' ncacn_ip_tcp limit).
	DefaultMaxFrag = 5840
	// minFrag is the smallest fragment size honoured from a client.
	minFrag = 64
	// maxCallSize bounds the stub data of one reassembled request.
	maxCallSize = 4 << 20
)

// iface is an RPC interface offered on an endpoint.
type iface struct {
	name   string
	syntax syntaxID
	// open builds the interface's handler for one association; the
	// returned close func runs when the association ends.
	open func(ctx context.Context) (dcerpc.ServerHandle, func())
	// rewrite, when set, adjusts a request's stub (NDR20 only) before it is
	// decoded.
	rewrite func(opnum int, stub []byte)
	// privacy makes the interface refuse calls below packet privacy
	// (fault ERROR_ACCESS_DENIED), as Windows' Task Scheduler does.
	privacy bool
}

// faultError makes a handler answer with a fault PDU carrying status.
type faultError struct{ status uint32 }

func (e *faultError) Error() string { return fmt.Sprintf("rpc: fault 0x%08x", e.status) }

// boundCtx is an accepted presentation context.
type boundCtx struct {
	iface *iface
	ndr64 bool
}

// pendingCall collects the fragments of a request.
type pendingCall struct {
	callID uint32
	ctxID  uint16
	opnum  uint16
	drep   [4]byte
	stub   []byte
}

// association is the server side of one connection-oriented association:
// presentation contexts, negotiated fragment sizes, and request
// reassembly. It is used by one goroutine at a time.
type association struct {
	srv        *server
	auth       *rpcAuth
	ifaces     []*iface
	secAddr    string
	serverMax  int
	newGroupID func() uint32

	bound      bool
	maxXmit    int
	maxRecv    int
	assocGroup uint32
	contexts   map[uint16]boundCtx
	handlers   map[*iface]dcerpc.ServerHandle
	closers    []func()
	pending    *pendingCall
}

func newAssociation(srv *server, ifaces []*iface, secAddr string) *association {
	serverMax := int(srv.cfg.MaxFrag)
	if serverMax <= 0 {
		serverMax = DefaultMaxFrag
	}
	return &association{srv: srv, ifaces: ifaces, secAddr: secAddr, serverMax: serverMax, newGroupID: srv.nextGroupID,
		contexts: make(map[uint16]boundCtx), handlers: make(map[*iface]dcerpc.ServerHandle)}
}

// close runs the interfaces' rundown (closing context handles).
func (a *association) close() {
	for _, c := range a.closers {
		c()
	}
	a.closers = nil
}

// errFatal reports a PDU after which the connection must be dropped.
var errFatal = errors.New("rpc: protocol violation")

// process handles one complete PDU and returns the PDUs to send back.
// errFatal means the transport should be closed.
func (a *association) process(ctx context.Context, pdu []byte) ([][]byte, error) {
	h, err := parseHeader(pdu)
	if err != nil || int(h.FragLen) != len(pdu) {
		return nil, errFatal
	}
	if h.Version != 5 || h.VersionMinor > 1 {
		if h.Type == ptypeBind {
			return [][]byte{encodeBindNak(h.CallID, rejectProtocolVersion)}, nil
		}
		return nil, errFatal
	}
	switch h.Type {
	case ptypeBind:
		return a.bind(h, pdu), nil
	case ptypeAlterContext:
		return a.alterContext(h, pdu)
	case ptypeRequest:
		return a.request(ctx, h, pdu), nil
	case ptypeAuth3:
		// A failed logon leaves the association without a security
		// context: its calls are refused.
		if t, ok := parseTrailer(h, pdu); ok && a.auth != nil && a.auth.authType == authTypeNTLM {
			a.completeAuth(t)
		}
		return nil, nil
	case ptypeShutdown:
		return nil, nil
	case ptypeCancel, ptypeOrphaned:
		if a.pending != nil && a.pending.callID == h.CallID {
			a.pending = nil
		}
		return nil, nil
	}
	return nil, errFatal
}

// bind answers a bind PDU with bind_ack (per-context results) or bind_nak.
func (a *association) bind(h header, pdu []byte) [][]byte {
	b, err := parseBind(h, pdu)
	switch {
	case err != nil:
		return [][]byte{encodeBindNak(h.CallID, rejectReasonNotSpecified)}
	case a.bound:
		return [][]byte{encodeBindNak(h.CallID, rejectReasonNotSpecified)}
	}
	var challenge []byte
	if h.AuthLen > 0 {
		// NTLM, bare or in SPNEGO, against Config.RPCAccounts.
		t, ok := parseTrailer(h, pdu)
		if ok {
			challenge = a.startAuth(t)
		}
		if challenge == nil {
			return [][]byte{encodeBindNak(h.CallID, rejectAuthTypeNotRecognized)}
		}
	}
	a.maxXmit = clampFrag(int(b.MaxRecv), a.serverMax)
	a.maxRecv = clampFrag(int(b.MaxXmit), a.serverMax)
	a.assocGroup = b.AssocGroup
	if a.assocGroup == 0 {
		a.assocGroup = a.newGroupID()
	}
	a.bound = true
	results := a.negotiate(b.Contexts, true)
	ack := encodeBindAck(ptypeBindAck, h.CallID, uint16(a.maxXmit), uint16(a.maxRecv), a.assocGroup,
		a.secAddr, results)
	if challenge != nil {
		ack = finishAuth(appendTrailer(ack, a.auth.authType, a.auth.level, a.auth.ctxID, challenge), len(challenge))
	}
	return [][]byte{ack}
}

// alterContext answers an alter_context PDU.
func (a *association) alterContext(h header, pdu []byte) ([][]byte, error) {
	b, err := parseBind(h, pdu)
	if err != nil || !a.bound {
		return nil, errFatal
	}
	var final []byte
	if h.AuthLen > 0 {
		// The third leg of SPNEGO: AUTHENTICATE and the mechListMIC.
		t, ok := parseTrailer(h, pdu)
		if !ok || a.auth == nil || a.auth.authType != authTypeSPNEGO {
			return [][]byte{encodeFault(h.CallID, 0, faultAccessDenied, true)}, nil
		}
		if final, ok = a.completeAuth(t); !ok {
			return [][]byte{encodeFault(h.CallID, 0, faultAccessDenied, true)}, nil
		}
	}
	results := a.negotiate(b.Contexts, false)
	resp := encodeBindAck(ptypeAlterResp, h.CallID, uint16(a.maxXmit), uint16(a.maxRecv), a.assocGroup,
		"", results)
	if final != nil {
		resp = finishAuth(appendTrailer(resp, a.auth.authType, a.auth.level, a.auth.ctxID, final), len(final))
	}
	return [][]byte{resp}, nil
}

func clampFrag(v, serverMax int) int {
	return max(minFrag, min(v, serverMax))
}

// negotiate decides each presentation context as 64-bit Windows does: NDR64
// is accepted when offered, else NDR 2.0; a context offering neither is
// rejected with proposed_transfer_syntaxes_not_supported, an interface the
// endpoint does not offer with abstract_syntax_not_supported, and a
// bind-time feature negotiation context (on bind only) is answered with
// negotiate_ack and the supported feature bits.
func (a *association) negotiate(ctxs []presContext, bind bool) []ctxResult {
	results := make([]ctxResult, 0, len(ctxs))
	for _, c := range ctxs {
		if bits, ok := featureBits(c); ok {
			if bind {
				// Security context multiplexing (0x1) and keeping the
				// connection on orphan (0x2) are both supported.
				results = append(results, ctxResult{Result: resultNegotiateAck, Reason: bits & 0x3})
			} else {
				results = append(results, ctxResult{Result: resultProviderRejection, Reason: reasonTransferSyntaxNotSupported})
			}
			continue
		}
		var found *iface
		for _, f := range a.ifaces {
			if f.syntax.UUID == c.Abstract.UUID && f.syntax.Major == c.Abstract.Major && c.Abstract.Minor <= f.syntax.Minor {
				found = f
				break
			}
		}
		if found == nil {
			results = append(results, ctxResult{Result: resultProviderRejection, Reason: reasonAbstractSyntaxNotSupported})
			continue
		}
		transfer, ok := chooseTransfer(c.Transfers)
		if !ok {
			results = append(results, ctxResult{Result: resultProviderRejection, Reason: reasonTransferSyntaxNotSupported})
			continue
		}
		a.contexts[c.ID] = boundCtx{iface: found, ndr64: transfer == ndr64}
		results = append(results, ctxResult{Result: resultAcceptance, Transfer: transfer})
	}
	return results
}

// chooseTransfer picks NDR64 when offered, as 64-bit Windows does, else
// NDR 2.0.
func chooseTransfer(offered []syntaxID) (syntaxID, bool) {
	found20 := false
	for _, t := range offered {
		if t == ndr64 {
			return ndr64, true
		}
		found20 = found20 || t == ndr20
	}
	return ndr20, found20
}

// featureBits recognises a bind-time feature negotiation context.
func featureBits(c presContext) (uint16, bool) {
	for _, t := range c.Transfers {
		if [8]byte(t.UUID[:8]) == bindTimeFeaturePrefix && t.Major == 1 && t.Minor == 0 {
			return binary.LittleEndian.Uint16(t.UUID[8:]), true
		}
	}
	return 0, false
}

// request collects request fragments and, on the last one, invokes the
// operation.
func (a *association) request(ctx context.Context, h header, pdu []byte) [][]byte {
	// The verifier is checked (and the stub decrypted) before the body is
	// read.
	protected := a.unprotect(h, pdu)
	req, err := parseRequest(h, pdu)
	if err != nil {
		a.pending = nil
		return [][]byte{encodeFault(h.CallID, 0, faultProtoError, true)}
	}
	if !a.bound {
		return [][]byte{encodeFault(h.CallID, req.ContextID, faultProtoError, true)}
	}
	if !protected || a.auth != nil && !a.auth.established() {
		a.pending = nil
		return [][]byte{encodeFault(h.CallID, req.ContextID, faultAccessDenied, true)}
	}
	if h.Flags&pfcFirstFrag != 0 {
		a.pending = &pendingCall{callID: h.CallID, ctxID: req.ContextID, opnum: req.OpNum, drep: h.DRep}
	} else if a.pending == nil || a.pending.callID != h.CallID {
		a.pending = nil
		return [][]byte{encodeFault(h.CallID, req.ContextID, faultProtoError, true)}
	}
	call := a.pending
	if len(call.stub)+len(req.Stub) > maxCallSize {
		a.pending = nil
		return [][]byte{encodeFault(h.CallID, call.ctxID, faultRemoteNoMemory, true)}
	}
	call.stub = append(call.stub, req.Stub...)
	if h.Flags&pfcLastFrag == 0 {
		return nil
	}
	a.pending = nil
	stub, status := a.invoke(ctx, call)
	if status != 0 {
		return [][]byte{encodeFault(call.callID, call.ctxID, status, status == faultOpRangeError)}
	}
	if a.auth.established() && a.auth.level >= authLevelIntegrity {
		// Each fragment carries its verifier: room for the trailer, the
		// signature and padding to 16 bytes.
		frags := encodeResponse(call.callID, call.ctxID, stub, a.maxXmit-secTrailerSize-16-15)
		for i, f := range frags {
			frags[i] = a.protectResponse(f)
		}
		return frags
	}
	return encodeResponse(call.callID, call.ctxID, stub, a.maxXmit)
}

// invoke runs one operation and returns its marshalled response, or a
// fault status.
func (a *association) invoke(ctx context.Context, call *pendingCall) (stub []byte, status uint32) {
	bc, ok := a.contexts[call.ctxID]
	if !ok {
		return nil, faultInvalidPresCtxID
	}
	if bc.iface.privacy && (!a.auth.established() || a.auth.level < authLevelPrivacy) {
		return nil, faultAccessDenied
	}
	handle, ok := a.handlers[bc.iface]
	if !ok {
		var closeFn func()
		handle, closeFn = bc.iface.open(ctx)
		a.handlers[bc.iface] = handle
		if closeFn != nil {
			a.closers = append(a.closers, closeFn)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			stub, status = nil, faultNDR
		}
	}()
	drep := ndr.DataRepresentation(binary.LittleEndian.Uint32(call.drep[:]))
	codec := ndr.NDR20
	if bc.ndr64 {
		codec = ndr.NDR64
	}
	if bc.iface.rewrite != nil && !bc.ndr64 {
		bc.iface.rewrite(int(call.opnum), call.stub)
	}
	op, err := handle(ctx, int(call.opnum), newBoundedReader(codec(call.stub, drep), len(call.stub)))
	var fe *faultError
	switch {
	case errors.As(err, &fe):
		return nil, fe.status
	case errors.Is(err, dcerpc.ErrNotImplemented):
		return nil, faultOpRangeError
	case err != nil:
		return nil, faultNDR
	case op == nil:
		return nil, faultOpRangeError
	}
	w := codec(nil)
	if err := op.MarshalNDRResponse(ctx, w); err != nil {
		return nil, faultNDR
	}
	return w.Bytes(), 0
}
