package winreg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is a Windows Installer product version: major.minor.build, the
// form of the ProductVersion property. Windows Installer allows major and
// minor up to 255 and build up to 65535, and ignores a fourth field when it
// compares versions (upgrades, FindRelatedProducts): so does Compare.
type Version struct {
	Major, Minor, Build uint16
	// Revision is a fourth field when the text had one; Compare ignores it.
	Revision uint32
	// HasRevision reports that the text had a fourth field.
	HasRevision bool
}

// ErrVersion is returned for a text that is not a ProductVersion.
var ErrVersion = errors.New("winreg: not a Windows Installer product version (major.minor.build)")

// ParseVersion parses "major.minor.build" with an optional ".revision", as
// Windows Installer accepts ProductVersion: major and minor at most 255,
// build at most 65535, decimal fields without signs.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 3 || len(parts) > 4 {
		return Version{}, fmt.Errorf("%w: %q", ErrVersion, s)
	}
	limits := []uint64{255, 255, 65535, 1<<32 - 1}
	var n [4]uint64
	for i, p := range parts {
		if p == "" || len(p) > 10 || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, fmt.Errorf("%w: %q", ErrVersion, s)
		}
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil || v > limits[i] {
			return Version{}, fmt.Errorf("%w: %q (field %d out of range)", ErrVersion, s, i+1)
		}
		n[i] = v
	}
	return Version{Major: uint16(n[0]), Minor: uint16(n[1]), Build: uint16(n[2]),
		Revision: uint32(n[3]), HasRevision: len(parts) == 4}, nil
}

// VersionFromDword decodes the Version value Windows Installer writes in a
// product's Uninstall key: major in the top byte, minor in the next, build
// in the low 16 bits.
func VersionFromDword(d uint32) Version {
	return Version{Major: uint16(d >> 24), Minor: uint16(d >> 16 & 0xFF), Build: uint16(d)}
}

// Compare compares v and w as Windows Installer does: by major, minor and
// build; the fourth field is ignored. It returns -1, 0 or +1.
func (v Version) Compare(w Version) int {
	a := [3]uint16{v.Major, v.Minor, v.Build}
	b := [3]uint16{w.Major, w.Minor, w.Build}
	for i := range a {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	return 0
}

// String formats the version as "major.minor.build" (with ".revision" when
// it had one).
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Build)
	if v.HasRevision {
		s += fmt.Sprintf(".%d", v.Revision)
	}
	return s
}

// IsZero reports the zero Version (no version known).
func (v Version) IsZero() bool { return v == Version{} }
