package remotesvc

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// ErrNotService is returned (wrapped) by Identify for a binary that is not
// a build of this version of nxsvc.
var ErrNotService = errors.New("remotesvc: not a build of this version of nxsvc")

// peLayout finds, in a PE file, the offsets ImageDigest skips: the
// checksum field, the certificate-table directory entry, and where the
// certificate table begins (the end of the file when there is none).
type peLayout struct {
	checksum, certDir, end int
	signed                 bool
}

func layout(b []byte) (peLayout, error) {
	var l peLayout
	if len(b) < 0x40 || b[0] != 'M' || b[1] != 'Z' {
		return l, errors.New("remotesvc: not a PE file (no MZ header)")
	}
	pe := int(binary.LittleEndian.Uint32(b[0x3C:]))
	if pe < 0x40 || pe > len(b)-26 || string(b[pe:pe+4]) != "PE\x00\x00" {
		return l, errors.New("remotesvc: not a PE file (no PE signature)")
	}
	opt := pe + 24
	var dirs int
	switch binary.LittleEndian.Uint16(b[opt:]) {
	case 0x10b:
		dirs = opt + 96
	case 0x20b:
		dirs = opt + 112
	default:
		return l, errors.New("remotesvc: unknown PE optional header")
	}
	l.checksum, l.certDir, l.end = opt+64, dirs+4*8, len(b)
	if l.certDir+8 > len(b) {
		return l, errors.New("remotesvc: truncated PE data directories")
	}
	if off, size := binary.LittleEndian.Uint32(b[l.certDir:]), binary.LittleEndian.Uint32(b[l.certDir+4:]); size != 0 {
		if uint64(off)+uint64(size) > uint64(len(b)) || int(off) < l.certDir+8 {
			return l, errors.New("remotesvc: certificate table outside the file")
		}
		l.end, l.signed = int(off), true
	}
	return l, nil
}

// ImageDigest is the SHA-256 Authenticode digest of a PE file ("Windows
// Authenticode Portable Executable Signature Format"): the file without its
// checksum field, its certificate-table directory entry and the
// certificate table, zero-padded to a multiple of 8 bytes as signing tools
// pad it. Signing a file leaves this digest unchanged, so a signed copy of
// an embedded build has that build's digest.
func ImageDigest(b []byte) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	l, err := layout(b)
	if err != nil {
		return sum, err
	}
	h := sha256.New()
	h.Write(b[:l.checksum])
	h.Write(b[l.checksum+4 : l.certDir])
	h.Write(b[l.certDir+8 : l.end])
	if pad := (8 - l.end%8) % 8; pad > 0 {
		h.Write(make([]byte, pad))
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// Identify tells which embedded build of nxsvc b is ("amd64" or "386"),
// signed or not: its Authenticode digest must be one of the embedded
// builds'. signed reports a certificate table (a signature) in b. Any other
// binary, including nxsvc of another version of the deployer, is
// ErrNotService.
func Identify(b []byte) (build string, signed bool, err error) {
	l, err := layout(b)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrNotService, err)
	}
	sum, err := ImageDigest(b)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrNotService, err)
	}
	own, err := ownDigests()
	if err != nil {
		return "", false, err
	}
	for _, d := range own {
		if d.sum == sum {
			return d.arch, l.signed, nil
		}
	}
	return "", false, ErrNotService
}

// archDigest is an embedded build's Authenticode digest.
type archDigest struct {
	arch string
	sum  [sha256.Size]byte
}

// ownDigests are the embedded builds' digests, computed once: Identify
// runs for every host a Deployer pushes a signed build to.
var ownDigests = sync.OnceValues(func() ([]archDigest, error) {
	var out []archDigest
	for _, arch := range Arches() {
		own, err := Binary(arch)
		if err != nil {
			return nil, err
		}
		sum, err := ImageDigest(own)
		if err != nil {
			return nil, fmt.Errorf("remotesvc: the embedded %s build: %w", arch, err)
		}
		out = append(out, archDigest{arch: arch, sum: sum})
	}
	return out, nil
})
