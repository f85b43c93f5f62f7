package winreg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Type is a registry value's type ([MS-RRP] 2.2.5).
type Type uint32

// Registry value types.
const (
	TypeNone           Type = 0
	TypeString         Type = 1  // REG_SZ
	TypeExpandString   Type = 2  // REG_EXPAND_SZ
	TypeBinary         Type = 3  // REG_BINARY
	TypeDword          Type = 4  // REG_DWORD
	TypeDwordBigEndian Type = 5  // REG_DWORD_BIG_ENDIAN
	TypeLink           Type = 6  // REG_LINK
	TypeMultiString    Type = 7  // REG_MULTI_SZ
	TypeQword          Type = 11 // REG_QWORD
)

var typeNames = map[Type]string{
	TypeNone: "REG_NONE", TypeString: "REG_SZ", TypeExpandString: "REG_EXPAND_SZ", TypeBinary: "REG_BINARY",
	TypeDword: "REG_DWORD", TypeDwordBigEndian: "REG_DWORD_BIG_ENDIAN", TypeLink: "REG_LINK",
	TypeMultiString: "REG_MULTI_SZ", TypeQword: "REG_QWORD",
}

// String returns the type's name as regedit shows it, such as "REG_SZ".
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("REG_TYPE_%d", uint32(t))
}

// Value is one registry value as the host returned it.
type Value struct {
	Name string
	Type Type
	Data []byte
}

// ErrValueType is returned when a value cannot be read as asked.
var ErrValueType = errors.New("winreg: value has another type or a malformed content")

// String returns a REG_SZ, REG_EXPAND_SZ (unexpanded) or REG_LINK value's
// text: UTF-16LE up to its first NUL (a missing terminator is tolerated, as
// Windows does for values written without one). REG_DWORD values are given
// in decimal, as some installers store versions that way.
func (v Value) String() (string, error) {
	switch v.Type {
	case TypeString, TypeExpandString, TypeLink:
		return decodeUTF16(v.Data)
	case TypeDword, TypeDwordBigEndian, TypeQword:
		n, err := v.Uint64()
		if err != nil {
			return "", err
		}
		return fmt.Sprint(n), nil
	}
	return "", fmt.Errorf("%w: value %q is %s", ErrValueType, v.Name, v.Type)
}

// Strings returns a REG_MULTI_SZ value's strings (a REG_SZ as one).
func (v Value) Strings() ([]string, error) {
	switch v.Type {
	case TypeString, TypeExpandString:
		s, err := v.String()
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	case TypeMultiString:
	default:
		return nil, fmt.Errorf("%w: value %q is %s", ErrValueType, v.Name, v.Type)
	}
	if len(v.Data)%2 != 0 {
		return nil, fmt.Errorf("%w: value %q has an odd length", ErrValueType, v.Name)
	}
	u := make([]uint16, len(v.Data)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(v.Data[2*i:])
	}
	var out []string
	start := 0
	for i, c := range u {
		if c != 0 {
			continue
		}
		if i == start { // the empty string ends the list
			break
		}
		out = append(out, string(utf16.Decode(u[start:i])))
		start = i + 1
	}
	if start < len(u) && u[len(u)-1] != 0 {
		out = append(out, string(utf16.Decode(u[start:])))
	}
	return out, nil
}

// Uint64 returns a REG_DWORD, REG_DWORD_BIG_ENDIAN or REG_QWORD value.
func (v Value) Uint64() (uint64, error) {
	switch {
	case v.Type == TypeDword && len(v.Data) == 4:
		return uint64(binary.LittleEndian.Uint32(v.Data)), nil
	case v.Type == TypeDwordBigEndian && len(v.Data) == 4:
		return uint64(binary.BigEndian.Uint32(v.Data)), nil
	case v.Type == TypeQword && len(v.Data) == 8:
		return binary.LittleEndian.Uint64(v.Data), nil
	}
	return 0, fmt.Errorf("%w: value %q is %s of %d bytes", ErrValueType, v.Name, v.Type, len(v.Data))
}

// decodeUTF16 decodes UTF-16LE text up to its first NUL.
func decodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		// Windows stores what the writer gave; a stray last byte is dropped.
		b = b[:len(b)-1]
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u)), nil
}
