package dpaping

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// ParseSID parses "S-1-5-21-..." into its binary form ([MS-DTYP] 2.4.2.2).
func ParseSID(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" || len(parts) > 3+15 {
		return nil, fmt.Errorf("%w: SID %q", ErrMalformed, s)
	}
	auth, err := strconv.ParseUint(parts[2], 10, 48)
	if err != nil {
		return nil, fmt.Errorf("%w: SID %q authority", ErrMalformed, s)
	}
	subs := parts[3:]
	b := make([]byte, 8, 8+4*len(subs))
	b[0], b[1] = 1, byte(len(subs))
	for i := 0; i < 6; i++ {
		b[2+i] = byte(auth >> (8 * (5 - i)))
	}
	for _, p := range subs {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: SID %q sub-authority %q", ErrMalformed, s, p)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b, nil
}

// Well-known SIDs of the target security descriptor.
var (
	sidLocalSystem = []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0} // S-1-5-18
	sidEveryone    = []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}  // S-1-1-0
)

// TargetSD builds the security descriptor a DPAPI-NG client sends to GetKey
// for a "SID=sid" protection descriptor, as Windows does: self-relative,
// owner and group LocalSystem, a DACL granting the SID access mask 3 and
// Everyone access mask 2.
func TargetSD(sid string) ([]byte, error) {
	principal, err := ParseSID(sid)
	if err != nil {
		return nil, err
	}
	ace := func(mask uint32, sid []byte) []byte {
		a := []byte{0, 0} // ACCESS_ALLOWED_ACE_TYPE, no flags
		a = binary.LittleEndian.AppendUint16(a, uint16(8+len(sid)))
		a = binary.LittleEndian.AppendUint32(a, mask)
		return append(a, sid...)
	}
	aces := append(ace(3, principal), ace(2, sidEveryone)...)
	dacl := []byte{2, 0} // ACL_REVISION
	dacl = binary.LittleEndian.AppendUint16(dacl, uint16(8+len(aces)))
	dacl = binary.LittleEndian.AppendUint16(dacl, 2)
	dacl = append(append(dacl, 0, 0), aces...)

	const header = 20
	owner := header + len(dacl)
	group := owner + len(sidLocalSystem)
	sd := []byte{1, 0}                                // revision, Sbz1
	sd = binary.LittleEndian.AppendUint16(sd, 0x8004) // SE_SELF_RELATIVE | SE_DACL_PRESENT
	sd = binary.LittleEndian.AppendUint32(sd, uint32(owner))
	sd = binary.LittleEndian.AppendUint32(sd, uint32(group))
	sd = binary.LittleEndian.AppendUint32(sd, 0) // no SACL
	sd = binary.LittleEndian.AppendUint32(sd, header)
	sd = append(sd, dacl...)
	sd = append(sd, sidLocalSystem...)
	return append(sd, sidLocalSystem...), nil
}
