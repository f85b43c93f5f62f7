package ntlmssp

import (
	"encoding/binary"
	"time"
)

var le = binary.LittleEndian

// filetime converts t to a Windows FILETIME (100 ns since 1601).
func filetime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()/100 + 116444736000000000)
}
