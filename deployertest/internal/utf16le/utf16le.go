// Package utf16le converts between Go strings and the UTF-16LE text of
// Windows protocols, for the emulated host's SMB2 server and NTLMSSP.
package utf16le

import (
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// Encode encodes s as UTF-16LE without a terminator.
func Encode(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// Decode decodes UTF-16LE bytes, dropping trailing NULs (an odd trailing
// byte is ignored).
func Decode(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}
