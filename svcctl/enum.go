package svcctl

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
)

// ServiceEntry is one service of an enumeration (ENUM_SERVICE_STATUSW).
type ServiceEntry struct {
	// Name is the service's key name, the one OpenService takes.
	Name string
	// DisplayName is the service's display name.
	DisplayName string
	// Status is the service's status (without PID).
	Status Status
}

// enumEntrySize is sizeof(ENUM_SERVICE_STATUSW) on the wire: two 32-bit
// string offsets and a SERVICE_STATUS.
const enumEntrySize = 4 + 4 + 7*4

// parseEnumServices decodes count ENUM_SERVICE_STATUSW entries from the
// buffer REnumServicesStatusW returns ([MS-SCMR] 3.1.4.14): the fixed-size
// entries first, their string pointers given as offsets from the start of
// the buffer to NUL-terminated UTF-16LE strings.
func parseEnumServices(b []byte, count uint32) ([]ServiceEntry, error) {
	if uint64(count)*enumEntrySize > uint64(len(b)) {
		return nil, fmt.Errorf("ENUM_SERVICE_STATUSW: %d entries do not fit in %d bytes", count, len(b))
	}
	out := make([]ServiceEntry, 0, count)
	for i := 0; i < int(count); i++ {
		e := b[i*enumEntrySize : (i+1)*enumEntrySize]
		u := func(j int) uint32 { return binary.LittleEndian.Uint32(e[4*j:]) }
		name, err := utf16At(b, u(0))
		if err != nil {
			return nil, fmt.Errorf("ENUM_SERVICE_STATUSW %d: service name: %w", i, err)
		}
		display, err := utf16At(b, u(1))
		if err != nil {
			return nil, fmt.Errorf("ENUM_SERVICE_STATUSW %d: display name: %w", i, err)
		}
		out = append(out, ServiceEntry{
			Name:        name,
			DisplayName: display,
			Status: Status{
				Type:                    u(2),
				State:                   State(u(3)),
				ControlsAccepted:        u(4),
				Win32ExitCode:           u(5),
				ServiceSpecificExitCode: u(6),
				CheckPoint:              u(7),
				WaitHint:                time.Duration(u(8)) * time.Millisecond,
			},
		})
	}
	return out, nil
}

// utf16At reads the NUL-terminated UTF-16LE string at offset off of b. A zero
// offset is a null pointer and reads as "".
func utf16At(b []byte, off uint32) (string, error) {
	if off == 0 {
		return "", nil
	}
	if uint64(off) >= uint64(len(b)) {
		return "", fmt.Errorf("offset %d outside the %d-byte buffer", off, len(b))
	}
	var units []uint16
	for i := int(off); ; i += 2 {
		if i+1 >= len(b) {
			return "", fmt.Errorf("string at offset %d is not terminated", off)
		}
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		units = append(units, c)
	}
	return string(utf16.Decode(units)), nil
}
