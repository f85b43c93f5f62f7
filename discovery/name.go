package discovery

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// maxNameLen is the longest DNS name (RFC 1035 2.3.4, without the root dot).
const maxNameLen = 253

// ValidateName checks that name can be a host's Name: a NetBIOS computer name
// ("PC-042") or a DNS host name ("pc-042.lab.test"), that is 1 to 253
// characters in dot-separated labels of 1 to 63 letters, digits, '-' or '_',
// where a label neither starts nor ends with '-' and the last label of a
// dotted name is not all digits. One trailing dot (a rooted name) is
// allowed. Anything else — spaces, quotes, backslashes, control or non-ASCII
// characters — is refused: such a string cannot be resolved or connected to,
// and it would end up in logs and commands.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return fmt.Errorf("name %q has no label", name)
	}
	if len(n) > maxNameLen {
		return fmt.Errorf("name is %d characters long, more than %d", len(n), maxNameLen)
	}
	labelStart, labels := 0, 0
	var last string
	for i := 0; i <= len(n); i++ {
		if i < len(n) && n[i] != '.' {
			c := n[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("name %q has %s: only letters, digits, '-', '_' and '.' are allowed", name, describeChar(n[i:]))
			}
			continue
		}
		label := n[labelStart:i]
		switch {
		case label == "":
			return fmt.Errorf("name %q has an empty label", name)
		case len(label) > 63:
			return fmt.Errorf("name %q has a label longer than 63 characters", name)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("name %q has a label that starts or ends with '-'", name)
		}
		labelStart = i + 1
		labels++
		last = label
	}
	// Only digits and dots can make an address here (':' is refused above);
	// netip.ParseAddr allocates an error for every name it refuses.
	if strings.Trim(n, "0123456789.") == "" {
		if _, err := netip.ParseAddr(n); err == nil {
			return fmt.Errorf("name %q is an address, not a name", name)
		}
	}
	if labels > 1 && strings.Trim(last, "0123456789") == "" {
		// RFC 3696 2: a top-level label is never all digits; "10.0.0.300"
		// is a mistyped address, not a name.
		return fmt.Errorf("name %q ends in an all-digit label: a mistyped address?", name)
	}
	return nil
}

// ValidateAddr checks that a can be a host's Addr: a valid IPv4 or IPv6
// address that is not unspecified (0.0.0.0, ::), multicast or the IPv4
// broadcast address, and that carries an IPv6 zone only when it is
// link-local (a zone names the interface a link-local address is reached on
// and means nothing elsewhere). IPv4-mapped IPv6 addresses must already be
// unmapped.
func ValidateAddr(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return fmt.Errorf("no address")
	case a.Is4In6():
		return fmt.Errorf("address %s is IPv4-mapped IPv6: use %s", a, a.Unmap().WithZone(""))
	case a.IsUnspecified():
		return fmt.Errorf("address %s is unspecified", a)
	case a.IsMulticast():
		return fmt.Errorf("address %s is multicast", a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("address %s is the broadcast address", a)
	case a.Zone() != "" && !a.IsLinkLocalUnicast():
		return fmt.Errorf("address %s has a zone but is not link-local", a)
	}
	return nil
}

// ParseAddr parses an IPv4 or IPv6 address as a host's Addr: surrounding
// brackets ("[fe80::1%eth0]") are accepted, an IPv4-mapped IPv6 address is
// unmapped to IPv4 (so "::ffff:10.0.0.1" and "10.0.0.1" are the same host),
// and the result must pass ValidateAddr.
func ParseAddr(s string) (netip.Addr, error) {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
	}
	if a.Is4In6() {
		if a.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("address %s is IPv4-mapped with a zone", a)
		}
		a = a.Unmap()
	}
	if err := ValidateAddr(a); err != nil {
		return netip.Addr{}, err
	}
	return a, nil
}

// describeChar names the first character of s for an error: quoted with
// Go's escapes, so an invisible or bidirectional character shows as
// '\u202e' rather than changing how the message reads, with its code point;
// a byte that is not UTF-8 is shown as such.
func describeChar(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("the byte 0x%02X, which is not UTF-8", s[0])
	}
	return fmt.Sprintf("the character %q (U+%04X)", r, r)
}
