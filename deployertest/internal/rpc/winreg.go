package rpc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/registry"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	rrp "github.com/oiweiwei/go-msrpc/msrpc/rrp/winreg/v1"
)

// Win32 codes of the registry calls.
const (
	regFileNotFound  uint32 = 2
	regAccessDenied  uint32 = 5
	regInvalidHandle uint32 = 6
	regInvalidParam  uint32 = 87
	regMoreData      uint32 = 234
	regNoMoreItems   uint32 = 259
)

// maxRegPath bounds a key path a client may send (Windows: 255 characters a
// name, 32767 a path; a shorter bound keeps the emulator's memory small).
const maxRegPath = 4096

// winregServer implements the [MS-RRP] calls that read HKEY_LOCAL_MACHINE
// (OpenLocalMachine, BaseRegOpenKey, BaseRegQueryInfoKey, BaseRegEnumKey,
// BaseRegEnumValue, BaseRegQueryValue, BaseRegCloseKey, BaseRegGetVersion)
// over a registry.Registry: what the deployer's winreg client and impacket's
// reg.py query use. A caller without an administrator token is refused
// (ERROR_ACCESS_DENIED at OpenLocalMachine), as Windows' winreg pipe ACL
// refuses a filtered token. Other methods answer with nca_op_rng_error.
type winregServer struct {
	rrp.UnimplementedWinregServer
	reg    *registry.Registry
	caller pipe.Caller

	mu      sync.Mutex
	handles map[[16]byte]string // open keys: their path under HKLM
}

var _ rrp.WinregServer = (*winregServer)(nil)

func newWinregServer(reg *registry.Registry, caller pipe.Caller) *winregServer {
	return &winregServer{reg: reg, caller: caller, handles: map[[16]byte]string{}}
}

func (s *winregServer) open(path string) *rrp.Key {
	var id [16]byte
	_, _ = rand.Read(id[:])
	s.mu.Lock()
	s.handles[id] = path
	s.mu.Unlock()
	return &rrp.Key{UUID: &dtyp.GUID{Data1: binary.LittleEndian.Uint32(id[0:]),
		Data2: binary.LittleEndian.Uint16(id[4:]), Data3: binary.LittleEndian.Uint16(id[6:]),
		Data4: append([]byte(nil), id[8:]...)}}
}

func keyID(k *rrp.Key) [16]byte {
	var id [16]byte
	if k == nil || k.UUID == nil {
		return id
	}
	binary.LittleEndian.PutUint32(id[0:], k.UUID.Data1)
	binary.LittleEndian.PutUint16(id[4:], k.UUID.Data2)
	binary.LittleEndian.PutUint16(id[6:], k.UUID.Data3)
	copy(id[8:], k.UUID.Data4)
	return id
}

// path returns the open key's path.
func (s *winregServer) path(k *rrp.Key) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.handles[keyID(k)]
	return p, ok
}

func (s *winregServer) OpenLocalMachine(_ context.Context, _ *rrp.OpenLocalMachineRequest) (*rrp.OpenLocalMachineResponse, error) {
	if !s.caller.Admin {
		return &rrp.OpenLocalMachineResponse{Key: &rrp.Key{UUID: &dtyp.GUID{}}, Return: regAccessDenied}, nil
	}
	return &rrp.OpenLocalMachineResponse{Key: s.open("")}, nil
}

func (s *winregServer) BaseRegCloseKey(_ context.Context, req *rrp.BaseRegCloseKeyRequest) (*rrp.BaseRegCloseKeyResponse, error) {
	id := keyID(req.Key)
	s.mu.Lock()
	_, ok := s.handles[id]
	delete(s.handles, id)
	s.mu.Unlock()
	if !ok {
		return &rrp.BaseRegCloseKeyResponse{Key: req.Key, Return: regInvalidHandle}, nil
	}
	return &rrp.BaseRegCloseKeyResponse{Key: &rrp.Key{UUID: &dtyp.GUID{}}}, nil
}

func (s *winregServer) BaseRegGetVersion(_ context.Context, req *rrp.BaseRegGetVersionRequest) (*rrp.BaseRegGetVersionResponse, error) {
	if _, ok := s.path(req.Key); !ok {
		return &rrp.BaseRegGetVersionResponse{Return: regInvalidHandle}, nil
	}
	return &rrp.BaseRegGetVersionResponse{Version: 6}, nil
}

func regString(u *rrp.UnicodeString) string {
	if u == nil {
		return ""
	}
	return strings.TrimRight(u.Buffer, "\x00")
}

func (s *winregServer) BaseRegOpenKey(_ context.Context, req *rrp.BaseRegOpenKeyRequest) (*rrp.BaseRegOpenKeyResponse, error) {
	base, ok := s.path(req.Key)
	if !ok {
		return &rrp.BaseRegOpenKeyResponse{ResultKey: &rrp.Key{UUID: &dtyp.GUID{}}, Return: regInvalidHandle}, nil
	}
	sub := regString(req.SubKey)
	if len(sub) > maxRegPath || strings.HasPrefix(sub, `\`) {
		return &rrp.BaseRegOpenKeyResponse{ResultKey: &rrp.Key{UUID: &dtyp.GUID{}}, Return: regInvalidParam}, nil
	}
	p := strings.Trim(base+`\`+sub, `\`)
	if _, found := s.reg.Lookup(p); !found {
		return &rrp.BaseRegOpenKeyResponse{ResultKey: &rrp.Key{UUID: &dtyp.GUID{}}, Return: regFileNotFound}, nil
	}
	return &rrp.BaseRegOpenKeyResponse{ResultKey: s.open(p)}, nil
}

// lookup returns the snapshot of an open key.
func (s *winregServer) lookup(k *rrp.Key) (registry.Key, uint32) {
	p, ok := s.path(k)
	if !ok {
		return registry.Key{}, regInvalidHandle
	}
	key, found := s.reg.Lookup(p)
	if !found {
		// Deleted while open: Windows answers ERROR_KEY_DELETED (1018).
		return registry.Key{}, 1018
	}
	return key, 0
}

func regLen(s string) uint32 { return uint32(len(utf16.Encode([]rune(s)))) }

func filetime(k registry.Key) *dtyp.Filetime {
	ft := uint64(k.Modified.UnixNano()/100) + 116444736000000000
	return &dtyp.Filetime{LowDateTime: uint32(ft), HighDateTime: uint32(ft >> 32)}
}

func (s *winregServer) BaseRegQueryInfoKey(_ context.Context, req *rrp.BaseRegQueryInfoKeyRequest) (*rrp.BaseRegQueryInfoKeyResponse, error) {
	k, code := s.lookup(req.Key)
	if code != 0 {
		return &rrp.BaseRegQueryInfoKeyResponse{ClassOut: &dtyp.UnicodeString{}, LastWriteTime: &dtyp.Filetime{}, Return: code}, nil
	}
	resp := &rrp.BaseRegQueryInfoKeyResponse{ClassOut: &dtyp.UnicodeString{}, SubKeysCount: uint32(len(k.Subkeys)),
		ValuesCount: uint32(len(k.Values)), LastWriteTime: filetime(k)}
	for _, n := range k.Subkeys {
		resp.MaxSubKeyLength = max(resp.MaxSubKeyLength, regLen(n))
	}
	for _, v := range k.Values {
		resp.MaxValueNameLength = max(resp.MaxValueNameLength, regLen(v.Name))
		resp.MaxValueLength = max(resp.MaxValueLength, uint32(len(v.Data)))
	}
	return resp, nil
}

func (s *winregServer) BaseRegEnumKey(_ context.Context, req *rrp.BaseRegEnumKeyRequest) (*rrp.BaseRegEnumKeyResponse, error) {
	k, code := s.lookup(req.Key)
	empty := &rrp.BaseRegEnumKeyResponse{NameOut: &rrp.UnicodeString{}, LastWriteTime: &dtyp.Filetime{}}
	if code != 0 {
		empty.Return = code
		return empty, nil
	}
	if int(req.Index) >= len(k.Subkeys) {
		empty.Return = regNoMoreItems
		return empty, nil
	}
	name := k.Subkeys[req.Index]
	size := 2 * (regLen(name) + 1)
	if req.NameIn == nil || uint32(req.NameIn.MaximumLength) < size {
		empty.Return = regMoreData
		return empty, nil
	}
	resp := &rrp.BaseRegEnumKeyResponse{
		NameOut:       &rrp.UnicodeString{Buffer: name + "\x00", Length: uint16(size), MaximumLength: req.NameIn.MaximumLength},
		LastWriteTime: filetime(k),
	}
	if req.ClassIn != nil {
		resp.ClassOut = &dtyp.UnicodeString{MaximumLength: req.ClassIn.MaximumLength}
	}
	return resp, nil
}

// valueData answers a data request: the data when the client's buffer
// holds it, else ERROR_MORE_DATA with the size needed; only the size when
// the client sent no buffer.
func valueData(v registry.Value, hasBuffer bool, size uint32) (data []byte, dataLen, length, code uint32) {
	n := uint32(len(v.Data))
	switch {
	case !hasBuffer:
		return nil, n, 0, 0
	case size < n:
		return nil, n, 0, regMoreData
	}
	return v.Data, n, n, 0
}

func (s *winregServer) BaseRegEnumValue(_ context.Context, req *rrp.BaseRegEnumValueRequest) (*rrp.BaseRegEnumValueResponse, error) {
	k, code := s.lookup(req.Key)
	if code != 0 {
		return &rrp.BaseRegEnumValueResponse{ValueNameOut: &dtyp.UnicodeString{}, Return: code}, nil
	}
	if int(req.Index) >= len(k.Values) {
		return &rrp.BaseRegEnumValueResponse{ValueNameOut: &dtyp.UnicodeString{}, Return: regNoMoreItems}, nil
	}
	v := k.Values[req.Index]
	size := 2 * (regLen(v.Name) + 1)
	if req.ValueNameIn == nil || uint32(req.ValueNameIn.MaximumLength) < size {
		return &rrp.BaseRegEnumValueResponse{ValueNameOut: &dtyp.UnicodeString{}, Return: regMoreData}, nil
	}
	data, dataLen, length, code := valueData(v, req.Data != nil || req.DataLength > 0, req.DataLength)
	return &rrp.BaseRegEnumValueResponse{
		ValueNameOut: &dtyp.UnicodeString{Buffer: v.Name + "\x00", Length: uint16(size), MaximumLength: req.ValueNameIn.MaximumLength},
		Type:         v.Type, Data: data, DataLength: dataLen, Length: length, Return: code,
	}, nil
}

func (s *winregServer) BaseRegQueryValue(_ context.Context, req *rrp.BaseRegQueryValueRequest) (*rrp.BaseRegQueryValueResponse, error) {
	k, code := s.lookup(req.Key)
	if code != 0 {
		return &rrp.BaseRegQueryValueResponse{Return: code}, nil
	}
	name := regString(req.ValueName)
	for _, v := range k.Values {
		if strings.EqualFold(v.Name, name) {
			data, dataLen, length, code := valueData(v, req.Data != nil || req.DataLength > 0, req.DataLength)
			return &rrp.BaseRegQueryValueResponse{Type: v.Type, Data: data, DataLength: dataLen, Length: length, Return: code}, nil
		}
	}
	return &rrp.BaseRegQueryValueResponse{Return: regFileNotFound}, nil
}
