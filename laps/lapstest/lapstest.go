// Package lapstest gives tests outside package laps an encrypted Windows
// LAPS password with the key material that decrypts it: the known vector of
// laps/testdata/dpapi-ng (a DPAPI-NG blob and the group key envelope a
// Windows domain controller returned for it), so an encrypted password can
// be stored in a lab directory and read back without a key service.
package lapstest

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nxdeploy/deployer/laps"
)

// The known vector's clear content.
const (
	// WindowsAccount is the account the vector's JSON names.
	WindowsAccount = "Administrator"
	// WindowsPassword is the vector's password.
	WindowsPassword = "Z}-FQ5ZjuB+4Yg"
)

// windowsStamp is the update time the vector's attribute header carries
// (a variable: its halves are taken at run time).
var windowsStamp uint64 = 0x01d9737aa6ba2536

// Envelope is a laps.KeySource that answers every request with one group
// key envelope.
type Envelope []byte

// GroupKey returns the envelope.
func (e Envelope) GroupKey(context.Context, laps.KeyRequest) ([]byte, error) { return e, nil }

// WindowsEncrypted returns the vector as an msLAPS-EncryptedPassword value
// ([MS-ADA2] 2.66: a 16-byte header, then the blob) and the key source that
// decrypts it.
func WindowsEncrypted() ([]byte, Envelope, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, nil, fmt.Errorf("lapstest: cannot find the test data")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "testdata", "dpapi-ng")
	blob, err := os.ReadFile(filepath.Join(dir, "dpapi_ng_blob"))
	if err != nil {
		return nil, nil, fmt.Errorf("lapstest: %w", err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "group_key_envelope"))
	if err != nil {
		return nil, nil, fmt.Errorf("lapstest: %w", err)
	}
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(windowsStamp>>32))
	binary.LittleEndian.PutUint32(h[4:], uint32(windowsStamp))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(blob)))
	return append(h[:], blob...), env, nil
}
