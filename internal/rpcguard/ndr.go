package rpcguard

import (
	"encoding/binary"
	"fmt"
)

// reader walks NDR 2.0 little-endian data ([C706] 14) just far enough to
// check the counts in it.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format+" (at byte %d of %d)", append(args, r.off, len(r.b))...)
	}
}

func (r *reader) align(n int) {
	if m := r.off % n; m != 0 {
		r.off += n - m
	}
}

// u32 reads an aligned 32-bit value.
func (r *reader) u32() uint32 {
	r.align(4)
	if r.err != nil || r.off+4 > len(r.b) {
		r.fail("reply ends inside a 32-bit value")
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

// left is the number of bytes not read yet.
func (r *reader) left() int { return max(len(r.b)-r.off, 0) }

// count reads a conformance or variance count of elements of size bytes and
// checks that they fit in the rest of the reply.
func (r *reader) count(what string, size int) int {
	n := r.u32()
	if r.err == nil && int64(n)*int64(size) > int64(r.left()) {
		r.fail("%s declares %d elements of %d bytes, %d bytes are left", what, n, size, r.left())
		return 0
	}
	return int(n)
}

// wstring reads a conformant varying string of UTF-16 units ([string]
// wchar_t*): maximum count, offset, actual count, then the characters.
func (r *reader) wstring(what string) {
	maxCount := r.u32()
	offset := r.u32()
	actual := r.count(what, 2)
	if r.err == nil && (offset != 0 || uint32(actual) > maxCount) {
		r.fail("%s: offset %d, %d characters of at most %d", what, offset, actual, maxCount)
	}
	r.off += 2 * actual
}

// ptrs reads n referent ids and returns which are not null.
func (r *reader) ptrs(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = r.u32() != 0
	}
	return out
}

// strings reads the deferred strings of the non-null pointers.
func (r *reader) strings(what string, present []bool) {
	for _, p := range present {
		if p {
			r.wstring(what)
		}
	}
}

// srvsvc opnums the deployer calls ([MS-SRVS] 3.1.4).
const (
	opNetrShareEnum    = 15
	opNetrShareGetInfo = 16
)

// SrvsvcChecker checks NetrShareGetInfo replies (level 2, the level the
// deployer asks for; any other level is refused) and NetrShareEnum replies
// (level 1).
func SrvsvcChecker(opnum uint16, stub []byte) error {
	r := &reader{b: stub}
	switch opnum {
	case opNetrShareGetInfo:
		// LPSHARE_INFO InfoStruct: union discriminant, then the arm.
		level := r.u32()
		if r.u32() != 0 { // SHARE_INFO_2*
			if level != 2 {
				return fmt.Errorf("NetrShareGetInfo answered level %d, not the level 2 asked for", level)
			}
			// netname, type, remark, permissions, max uses, current uses, path, passwd
			netname, _, remark := r.u32() != 0, r.u32(), r.u32() != 0
			r.u32()
			r.u32()
			r.u32()
			path, passwd := r.u32() != 0, r.u32() != 0
			r.strings("a SHARE_INFO_2 string", []bool{netname, remark, path, passwd})
		}
		r.u32() // return value
	case opNetrShareEnum:
		// SHARE_ENUM_STRUCT: Level, then the union's discriminant and arm.
		level, sw := r.u32(), r.u32()
		if r.u32() != 0 { // SHARE_INFO_1_CONTAINER*
			if level != 1 || sw != 1 {
				return fmt.Errorf("NetrShareEnum answered level %d, not the level 1 asked for", level)
			}
			r.u32() // EntriesRead
			if r.u32() != 0 {
				n := r.count("the SHARE_INFO_1 array", 12)
				present := make([]bool, 0, 2*n)
				for i := 0; i < n && r.err == nil; i++ {
					p := r.ptrs(3) // netname, type, remark
					present = append(present, p[0], p[2])
				}
				r.strings("a SHARE_INFO_1 string", present)
			}
		}
		r.u32() // TotalEntries
		if r.u32() != 0 {
			r.u32() // ResumeHandle
		}
		r.u32() // return value
	default:
		return nil
	}
	return r.err
}

// svcctl opnums whose replies carry strings ([MS-SCMR] 3.1.4).
const opRQueryServiceConfigW = 17

// SvcctlChecker checks RQueryServiceConfigW replies, the only svcctl reply
// the deployer reads strings from; its other replies are fixed-size or
// byte arrays that go-msrpc bounds by the bytes left.
func SvcctlChecker(opnum uint16, stub []byte) error {
	if opnum != opRQueryServiceConfigW {
		return nil
	}
	r := &reader{b: stub}
	// QUERY_SERVICE_CONFIGW: type, start type, error control, binary path*,
	// load order group*, tag, dependencies*, start name*, display name*.
	r.u32()
	r.u32()
	r.u32()
	bin, group := r.u32() != 0, r.u32() != 0
	r.u32()
	deps, start, display := r.u32() != 0, r.u32() != 0, r.u32() != 0
	r.strings("a QUERY_SERVICE_CONFIGW string", []bool{bin, group, deps, start, display})
	r.u32() // pcbBytesNeeded
	r.u32() // return value
	return r.err
}
