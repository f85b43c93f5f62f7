package rpcguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

// pdu builds a response fragment for call 7 carrying stub.
func pdu(flags byte, stub []byte) []byte {
	b := make([]byte, responseLen, responseLen+len(stub))
	copy(b, []byte{5, 0, ptypeResponse, flags, 0x10, 0, 0, 0})
	binary.LittleEndian.PutUint16(b[8:], uint16(responseLen+len(stub)))
	binary.LittleEndian.PutUint32(b[12:], 7)
	return append(b, stub...)
}

func request(opnum uint16) []byte {
	b := make([]byte, responseLen)
	copy(b, []byte{5, 0, ptypeRequest, 3, 0x10, 0, 0, 0})
	binary.LittleEndian.PutUint16(b[8:], responseLen)
	binary.LittleEndian.PutUint32(b[12:], 7)
	binary.LittleEndian.PutUint16(b[22:], opnum)
	return b
}

func le32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// serve runs the guard over a pipe whose far end sends stream, after the
// client wrote req; it returns what the client read and the error.
func serve(t *testing.T, req, stream []byte) ([]byte, error) {
	a, b := net.Pipe()
	defer a.Close()
	g := New(a, Options{Host: "pc", Interface: "srvsvc", Check: SrvsvcChecker})
	go func() {
		_, _ = io.ReadFull(b, make([]byte, len(req)))
		_, _ = b.Write(stream)
		_ = b.Close()
	}()
	if _, err := g.Write(req); err != nil {
		return nil, err
	}
	var got bytes.Buffer
	_, err := io.Copy(&got, g)
	return got.Bytes(), err
}

func TestGuardPassesGoodRepliesAndRefusesHugeCounts(t *testing.T) {
	share := func(count uint32) []byte {
		s := le32(2, 0x20000, 0x20004, 0, 0, 0, 0, 0, 0, 0, count, 0, count)
		s = append(s, "A\x00B\x00"...)
		return append(s, le32(0)...)
	}
	good := append(pdu(flagFirst, share(2)[:20]), pdu(flagLast, share(2)[20:])...)
	got, err := serve(t, request(opNetrShareGetInfo), good)
	require.NoError(t, err)
	assert.Equal(t, good, got, "fragments pass whole, in order")

	_, err = serve(t, request(opNetrShareGetInfo), pdu(flagFirst|flagLast, share(0x7FFFFFFF)))
	var e *derrors.Error
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, derrors.ReasonMalformedReply, e.Reason)
	assert.Contains(t, err.Error(), "declares 2147483647 elements")

	_, err = serve(t, request(opNetrShareGetInfo), append([]byte{4, 0}, make([]byte, 30)...))
	assert.ErrorContains(t, err, "version 4.0")

	big := bytes.Repeat(pdu(0, make([]byte, 60000)), MaxResponse/60000+2)
	_, err = serve(t, request(opNetrShareGetInfo), append(pdu(flagFirst, nil), big...))
	assert.ErrorContains(t, err, "more than")
}

func TestCheckers(t *testing.T) {
	enum := le32(1, 1, 0x20000, 1, 0x20004, 1, 0x20008, 0, 0)
	enum = append(enum, le32(3, 0, 3)...)
	enum = append(enum, "C\x00$\x00\x00\x00"...)
	enum = append(enum, 0, 0)
	enum = append(enum, le32(1, 0, 0)...)
	assert.NoError(t, SrvsvcChecker(opNetrShareEnum, enum))
	assert.Error(t, SrvsvcChecker(opNetrShareEnum, enum[:40]))
	assert.ErrorContains(t, SrvsvcChecker(opNetrShareGetInfo, le32(502, 0x20000)), "level 502")
	assert.NoError(t, SrvsvcChecker(opNetrShareGetInfo, le32(2, 0, 0x43)), "an error reply with no info")
	cfg := le32(0x10, 3, 1, 0x20000, 0, 0, 0, 0, 0, 2, 0, 2)
	cfg = append(cfg, "x\x00\x00\x00"...)
	cfg = append(cfg, le32(0, 0)...)
	assert.NoError(t, SvcctlChecker(opRQueryServiceConfigW, cfg))
	cfg[47] = 0x7F // actual count 0x7F000002
	assert.Error(t, SvcctlChecker(opRQueryServiceConfigW, cfg))
	assert.NoError(t, SvcctlChecker(1, nil), "other opnums are not walked")
}

// FuzzRPCGuard feeds the guard any byte stream after a request for any
// opnum: it must never panic, never hand out more than MaxResponse bytes of
// one response, and either pass bytes or fail with a typed error.
func FuzzRPCGuard(f *testing.F) {
	f.Add(uint16(16), pdu(3, le32(2, 0x20000, 0x20004, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0x41, 0)))
	f.Add(uint16(15), pdu(3, le32(1, 1, 0x20000, 1, 0x20004, 1, 0x20008, 0, 0, 3, 0, 3, 0x43, 0x24, 0, 1, 0, 0)))
	f.Add(uint16(17), pdu(3, le32(0x10, 3, 1, 0x20000, 0, 0, 0, 0, 0, 2, 0, 2, 0x78, 0, 0)))
	f.Fuzz(func(t *testing.T, opnum uint16, stream []byte) {
		got, err := serve(t, request(opnum), stream)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			if _, ok := derrors.As(err); !ok {
				t.Fatalf("untyped error %v", err)
			}
		}
		if len(got) > len(stream) {
			t.Fatalf("read %d bytes from a %d-byte stream", len(got), len(stream))
		}
		_ = SrvsvcChecker(opnum, stream)
		_ = SvcctlChecker(opnum, stream)
	})
}
