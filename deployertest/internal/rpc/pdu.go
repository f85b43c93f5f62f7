package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Connection-oriented PDU types (C706 12.6.4).
const (
	ptypeRequest      uint8 = 0
	ptypeResponse     uint8 = 2
	ptypeFault        uint8 = 3
	ptypeBind         uint8 = 11
	ptypeBindAck      uint8 = 12
	ptypeBindNak      uint8 = 13
	ptypeAlterContext uint8 = 14
	ptypeAlterResp    uint8 = 15
	ptypeAuth3        uint8 = 16
	ptypeShutdown     uint8 = 17
	ptypeCancel       uint8 = 18
	ptypeOrphaned     uint8 = 19
)

// PFC flags (C706 12.6.3.1).
const (
	pfcFirstFrag       uint8 = 0x01
	pfcLastFrag        uint8 = 0x02
	pfcDidNotExecute   uint8 = 0x20
	pfcObjectUUID      uint8 = 0x80
	headerSize               = 16
	requestHeaderSize        = 24
	responseHeaderSize       = 24
	secTrailerSize           = 8
)

// Presentation context results and reasons (C706 12.6.3.2, [MS-RPCE] 2.2.2.4).
const (
	resultAcceptance        uint16 = 0
	resultProviderRejection uint16 = 2
	resultNegotiateAck      uint16 = 3

	reasonAbstractSyntaxNotSupported uint16 = 1
	reasonTransferSyntaxNotSupported uint16 = 2
)

// bind_nak reject reasons (C706 12.6.3.1 p_reject_reason_t, [MS-RPCE] 2.2.2.5).
const (
	rejectReasonNotSpecified    uint16 = 0
	rejectProtocolVersion       uint16 = 4
	rejectAuthTypeNotRecognized uint16 = 8
)

// Fault status codes (C706 appendix E, [MS-RPCE] 2.2.2.11).
const (
	faultOpRangeError     uint32 = 0x1c010002
	faultProtoError       uint32 = 0x1c01000b
	faultInvalidPresCtxID uint32 = 0x1c00001c
	faultNDR              uint32 = 0x000006f7
	faultAccessDenied     uint32 = 0x00000005
	faultRemoteNoMemory   uint32 = 0x1c000018
)

var errShortPDU = errors.New("rpc: truncated PDU")

// syntaxID is an interface or transfer syntax: a UUID in its little-endian
// wire form and a version.
type syntaxID struct {
	UUID         [16]byte
	Major, Minor uint16
}

func (s syntaxID) String() string {
	u := s.UUID
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x v%d.%d", binary.LittleEndian.Uint32(u[0:4]),
		binary.LittleEndian.Uint16(u[4:6]), binary.LittleEndian.Uint16(u[6:8]), u[8:10], u[10:], s.Major, s.Minor)
}

// mustSyntax builds a syntaxID from a UUID string and a version.
func mustSyntax(s string, major, minor uint16) syntaxID {
	var b [16]byte
	var d1 uint32
	var d2, d3 uint16
	var d4 [8]byte
	if _, err := fmt.Sscanf(s, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", &d1, &d2, &d3,
		&d4[0], &d4[1], &d4[2], &d4[3], &d4[4], &d4[5], &d4[6], &d4[7]); err != nil {
		panic("rpc: bad uuid " + s)
	}
	binary.LittleEndian.PutUint32(b[0:], d1)
	binary.LittleEndian.PutUint16(b[4:], d2)
	binary.LittleEndian.PutUint16(b[6:], d3)
	copy(b[8:], d4[:])
	return syntaxID{UUID: b, Major: major, Minor: minor}
}

var (
	// ndr20 is the NDR 2.0 transfer syntax.
	ndr20 = mustSyntax("8a885d04-1ceb-11c9-9fe8-08002b104860", 2, 0)
	// ndr64 is the NDR64 transfer syntax ([MS-RPCE] 2.2.5.2).
	ndr64 = mustSyntax("71710533-beba-4937-8319-b5dbef9ccc36", 1, 0)
	// bindTimeFeaturePrefix is the first 8 bytes (little-endian form) of the
	// bind-time feature negotiation UUID 6cb71c2c-9812-4540-hhhh-hhhhhhhhhhhh (h: feature bits)
	// ([MS-RPCE] 3.3.1.5.3): the last 8 bytes carry the feature bitmask.
	bindTimeFeaturePrefix = [8]byte{0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45}
)

// header is the common connection-oriented PDU header.
type header struct {
	Version, VersionMinor uint8
	Type, Flags           uint8
	DRep                  [4]byte
	FragLen, AuthLen      uint16
	CallID                uint32
}

// order returns the integer byte order the sender's data representation
// declares.
func (h header) order() binary.ByteOrder {
	if h.DRep[0]&0xf0 == 0x10 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// parseHeader decodes the 16-byte header at the start of b.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerSize {
		return header{}, errShortPDU
	}
	h := header{Version: b[0], VersionMinor: b[1], Type: b[2], Flags: b[3]}
	copy(h.DRep[:], b[4:8])
	o := h.order()
	h.FragLen = o.Uint16(b[8:])
	h.AuthLen = o.Uint16(b[10:])
	h.CallID = o.Uint32(b[12:])
	return h, nil
}

// body returns the bytes of pdu between the header of size hdr and the
// auth verifier (sec_trailer, its padding, and auth_value), if any.
func body(h header, pdu []byte, hdr int) ([]byte, error) {
	if int(h.FragLen) != len(pdu) || len(pdu) < hdr {
		return nil, errShortPDU
	}
	end := len(pdu)
	if h.AuthLen > 0 {
		end -= int(h.AuthLen) + secTrailerSize
		if end < hdr {
			return nil, errShortPDU
		}
		pad := int(pdu[end+2])
		if end-pad < hdr {
			return nil, errShortPDU
		}
		end -= pad
	}
	return pdu[hdr:end], nil
}

// reader decodes little- or big-endian fields.
type reader struct {
	b   []byte
	o   binary.ByteOrder
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errShortPDU
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8   { return r.take(1)[0] }
func (r *reader) u16() uint16 { return r.o.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return r.o.Uint32(r.take(4)) }

// syntax reads a p_syntax_id_t, normalising the UUID to little-endian form.
func (r *reader) syntax() syntaxID {
	var s syntaxID
	u := r.take(16)
	copy(s.UUID[:], u)
	if r.o == binary.BigEndian {
		binary.LittleEndian.PutUint32(s.UUID[0:], binary.BigEndian.Uint32(u[0:]))
		binary.LittleEndian.PutUint16(s.UUID[4:], binary.BigEndian.Uint16(u[4:]))
		binary.LittleEndian.PutUint16(s.UUID[6:], binary.BigEndian.Uint16(u[6:]))
	}
	v := r.u32()
	s.Major, s.Minor = uint16(v), uint16(v>>16)
	return s
}

// presContext is one p_cont_elem_t of a bind or alter_context.
type presContext struct {
	ID        uint16
	Abstract  syntaxID
	Transfers []syntaxID
}

// bindBody is the body of a bind or alter_context PDU.
type bindBody struct {
	MaxXmit, MaxRecv uint16
	AssocGroup       uint32
	Contexts         []presContext
}

// parseBind decodes a bind or alter_context PDU.
func parseBind(h header, pdu []byte) (bindBody, error) {
	b, err := body(h, pdu, headerSize)
	if err != nil {
		return bindBody{}, err
	}
	r := &reader{b: b, o: h.order()}
	var out bindBody
	out.MaxXmit = r.u16()
	out.MaxRecv = r.u16()
	out.AssocGroup = r.u32()
	n := int(r.u8())
	r.take(3)
	for i := 0; i < n && r.err == nil; i++ {
		c := presContext{ID: r.u16()}
		nt := int(r.u8())
		r.take(1)
		c.Abstract = r.syntax()
		for j := 0; j < nt && r.err == nil; j++ {
			c.Transfers = append(c.Transfers, r.syntax())
		}
		out.Contexts = append(out.Contexts, c)
	}
	return out, r.err
}

// requestPDU is a decoded request fragment.
type requestPDU struct {
	AllocHint uint32
	ContextID uint16
	OpNum     uint16
	Object    []byte
	Stub      []byte
}

// parseRequest decodes a request fragment.
func parseRequest(h header, pdu []byte) (requestPDU, error) {
	hdr := requestHeaderSize
	if h.Flags&pfcObjectUUID != 0 {
		hdr += 16
	}
	b, err := body(h, pdu, hdr)
	if err != nil {
		return requestPDU{}, err
	}
	o := h.order()
	req := requestPDU{
		AllocHint: o.Uint32(pdu[16:]),
		ContextID: o.Uint16(pdu[20:]),
		OpNum:     o.Uint16(pdu[22:]),
		Stub:      b,
	}
	if h.Flags&pfcObjectUUID != 0 {
		req.Object = pdu[24:40]
	}
	return req, nil
}

// putHeader writes a little-endian header for a PDU of fragLen bytes.
func putHeader(b []byte, ptype, flags uint8, fragLen int, callID uint32) {
	b[0], b[1], b[2], b[3] = 5, 0, ptype, flags
	b[4], b[5], b[6], b[7] = 0x10, 0, 0, 0
	binary.LittleEndian.PutUint16(b[8:], uint16(fragLen))
	binary.LittleEndian.PutUint16(b[10:], 0)
	binary.LittleEndian.PutUint32(b[12:], callID)
}

// ctxResult is one p_result_t of a bind_ack.
type ctxResult struct {
	Result, Reason uint16
	Transfer       syntaxID
}

// encodeBindAck builds a bind_ack or alter_context_resp PDU.
func encodeBindAck(ptype uint8, callID uint32, maxXmit, maxRecv uint16, assoc uint32, secAddr string, results []ctxResult) []byte {
	b := make([]byte, headerSize, 64+24*len(results))
	b = binary.LittleEndian.AppendUint16(b, maxXmit)
	b = binary.LittleEndian.AppendUint16(b, maxRecv)
	b = binary.LittleEndian.AppendUint32(b, assoc)
	if secAddr == "" {
		b = binary.LittleEndian.AppendUint16(b, 0)
	} else {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(secAddr)+1))
		b = append(b, secAddr...)
		b = append(b, 0)
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, uint8(len(results)), 0, 0, 0)
	for _, r := range results {
		b = binary.LittleEndian.AppendUint16(b, r.Result)
		b = binary.LittleEndian.AppendUint16(b, r.Reason)
		b = append(b, r.Transfer.UUID[:]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(r.Transfer.Major)|uint32(r.Transfer.Minor)<<16)
	}
	putHeader(b, ptype, pfcFirstFrag|pfcLastFrag, len(b), callID)
	return b
}

// encodeBindNak builds a bind_nak PDU; with rejectProtocolVersion it lists
// version 5.0 as supported.
func encodeBindNak(callID uint32, reason uint16) []byte {
	b := make([]byte, headerSize, 24)
	b = binary.LittleEndian.AppendUint16(b, reason)
	if reason == rejectProtocolVersion {
		b = append(b, 1, 5, 0)
	} else {
		b = append(b, 0)
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	putHeader(b, ptypeBindNak, pfcFirstFrag|pfcLastFrag, len(b), callID)
	return b
}

// encodeFault builds a fault PDU.
func encodeFault(callID uint32, ctxID uint16, status uint32, didNotExecute bool) []byte {
	b := make([]byte, 32)
	flags := pfcFirstFrag | pfcLastFrag
	if didNotExecute {
		flags |= pfcDidNotExecute
	}
	putHeader(b, ptypeFault, flags, len(b), callID)
	binary.LittleEndian.PutUint16(b[20:], ctxID)
	binary.LittleEndian.PutUint32(b[24:], status)
	return b
}

// encodeResponse splits stub into response fragments of at most maxXmit
// bytes each; every fragment but the last carries a multiple of 8 bytes of
// stub data.
func encodeResponse(callID uint32, ctxID uint16, stub []byte, maxXmit int) [][]byte {
	room := (maxXmit - responseHeaderSize) &^ 7
	if room < 8 {
		room = 8
	}
	var out [][]byte
	for off := 0; ; {
		n := min(room, len(stub)-off)
		flags := uint8(0)
		if off == 0 {
			flags |= pfcFirstFrag
		}
		if off+n == len(stub) {
			flags |= pfcLastFrag
		}
		b := make([]byte, responseHeaderSize+n)
		putHeader(b, ptypeResponse, flags, len(b), callID)
		binary.LittleEndian.PutUint32(b[16:], uint32(len(stub)-off))
		binary.LittleEndian.PutUint16(b[20:], ctxID)
		copy(b[responseHeaderSize:], stub[off:off+n])
		out = append(out, b)
		off += n
		if off == len(stub) {
			return out
		}
	}
}
