package winreg

import (
	"encoding/binary"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		ok   bool
	}{
		{"1.2.3", Version{Major: 1, Minor: 2, Build: 3}, true},
		{"255.255.65535", Version{Major: 255, Minor: 255, Build: 65535}, true},
		{"2.1.3000.17", Version{Major: 2, Minor: 1, Build: 3000, Revision: 17, HasRevision: true}, true},
		{"01.002.0003", Version{Major: 1, Minor: 2, Build: 3}, true},
		{"256.0.0", Version{}, false},
		{"1.256.0", Version{}, false},
		{"1.0.65536", Version{}, false},
		{"1.2", Version{}, false},
		{"1.2.3.4.5", Version{}, false},
		{"1.2.x", Version{}, false},
		{"1.2.-3", Version{}, false},
		{"1.2.+3", Version{}, false},
		{" 1.2.3", Version{}, false},
		{"1..3", Version{}, false},
		{"", Version{}, false},
		{"1.2.3.4294967296", Version{}, false},
	}
	for _, tc := range tests {
		v, err := ParseVersion(tc.in)
		if !tc.ok {
			assert.ErrorIs(t, err, ErrVersion, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, v, tc.in)
	}
	assert.Equal(t, "2.1.3000.17", Version{Major: 2, Minor: 1, Build: 3000, Revision: 17, HasRevision: true}.String())
}

// TestCompare follows Windows Installer's rules: three fields, numerically,
// the fourth ignored.
func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.3", 0},
		{"1.2.3", "1.2.4", -1},
		{"1.10.0", "1.9.0", 1},
		{"2.0.0", "10.0.0", -1},
		{"1.2.3.4", "1.2.3.9", 0},
		{"1.2.3.9", "1.2.3", 0},
		{"1.2.65535", "1.3.0", -1},
	}
	for _, tc := range tests {
		a, err := ParseVersion(tc.a)
		require.NoError(t, err)
		b, err := ParseVersion(tc.b)
		require.NoError(t, err)
		assert.Equal(t, tc.want, a.Compare(b), "%s vs %s", tc.a, tc.b)
		assert.Equal(t, -tc.want, b.Compare(a), "%s vs %s", tc.b, tc.a)
	}
	assert.Equal(t, Version{Major: 2, Minor: 1, Build: 3000}, VersionFromDword(0x02010bb8))
	assert.True(t, Version{}.IsZero())
}

func TestGUIDs(t *testing.T) {
	n, err := NormalizeGUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
	require.NoError(t, err)
	assert.Equal(t, "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}", n)
	// Windows Installer's packing (the names under Installer\UpgradeCodes
	// and Installer\Products): groups 1-3 reversed, then the digits of
	// each remaining byte swapped.
	p, err := PackGUID("{8BDC3E8C-6BC8-4F4B-ADE7-CB4FD10D5932}")
	require.NoError(t, err)
	assert.Equal(t, "C8E3CDB88CB6B4F4DA7EBCF41DD09523", p)
	u, err := UnpackGUID(p)
	require.NoError(t, err)
	assert.Equal(t, "{8BDC3E8C-6BC8-4F4B-ADE7-CB4FD10D5932}", u)
	for _, bad := range []string{"", "{3F2504E0-4F89-11D3-9A0C-0305E82C330}", "{3F2504E0-4F89-11D3-9A0C-0305E82C330G}", "3F2504E0+4F89-11D3-9A0C-0305E82C3301"} {
		_, err := NormalizeGUID(bad)
		assert.ErrorIs(t, err, ErrBadGUID, bad)
	}
	_, err = UnpackGUID("C8E3CDB8")
	assert.ErrorIs(t, err, ErrBadGUID)
	_, err = UnpackGUID("C8E3CDB88CB6B4F4DA7EBCF41DD0952Z")
	assert.ErrorIs(t, err, ErrBadGUID)
}

func utf16z(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}

func TestValues(t *testing.T) {
	s, err := Value{Type: TypeString, Data: utf16z("Collector ✓")}.String()
	require.NoError(t, err)
	assert.Equal(t, "Collector ✓", s)
	s, err = Value{Type: TypeString, Data: utf16z("x")[:2]}.String() // no terminator
	require.NoError(t, err)
	assert.Equal(t, "x", s)
	s, err = Value{Type: TypeDword, Data: []byte{0xb8, 0x0b, 1, 2}}.String()
	require.NoError(t, err)
	assert.Equal(t, "33622968", s)
	_, err = Value{Name: "bin", Type: TypeBinary, Data: []byte{1}}.String()
	assert.ErrorIs(t, err, ErrValueType)
	n, err := Value{Type: TypeDwordBigEndian, Data: []byte{0, 0, 1, 0}}.Uint64()
	require.NoError(t, err)
	assert.Equal(t, uint64(256), n)
	n, err = Value{Type: TypeQword, Data: []byte{1, 0, 0, 0, 0, 0, 0, 1}}.Uint64()
	require.NoError(t, err)
	assert.Equal(t, uint64(1<<56+1), n)
	_, err = Value{Type: TypeDword, Data: []byte{1, 2}}.Uint64()
	assert.ErrorIs(t, err, ErrValueType)
	multi := append(append(utf16z("a"), utf16z("bc")...), 0, 0)
	ss, err := Value{Type: TypeMultiString, Data: multi}.Strings()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "bc"}, ss)
	ss, err = Value{Type: TypeMultiString, Data: utf16z("a")[:2]}.Strings() // unterminated
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, ss)
	_, err = Value{Type: TypeMultiString, Data: []byte{1}}.Strings()
	assert.ErrorIs(t, err, ErrValueType)
	assert.Equal(t, "REG_MULTI_SZ", TypeMultiString.String())
	assert.Equal(t, "REG_TYPE_99", Type(99).String())
}

func TestProductFromValues(t *testing.T) {
	dword := func(name string, v uint32) Value {
		return Value{Name: name, Type: TypeDword, Data: binary.LittleEndian.AppendUint32(nil, v)}
	}
	sz := func(name, v string) Value { return Value{Name: name, Type: TypeString, Data: utf16z(v)} }
	p := productFromValues("{A}", Native, []Value{sz("DisplayVersion", "9.9.9"), dword("Version", 0x01020003), dword("WindowsInstaller", 1)})
	assert.Equal(t, Version{Major: 1, Minor: 2, Build: 3}, p.Version, "the Version DWORD wins over DisplayVersion")
	assert.True(t, p.WindowsInstaller)
	p = productFromValues("x", Native, []Value{sz("DisplayVersion", "8.6 beta"), Value{Name: "WindowsInstaller", Type: TypeString, Data: utf16z("1")}})
	assert.True(t, p.Version.IsZero())
	assert.False(t, p.WindowsInstaller)
	assert.Equal(t, "", p.ProductCode())
}

func FuzzValue(f *testing.F) {
	f.Add(uint32(TypeString), utf16z("Collector"))
	f.Add(uint32(TypeMultiString), append(utf16z("a"), 0, 0))
	f.Add(uint32(TypeDword), []byte{1, 2, 3, 4})
	f.Add(uint32(TypeQword), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, typ uint32, data []byte) {
		v := Value{Name: "v", Type: Type(typ), Data: data}
		_, _ = v.String()
		_, _ = v.Strings()
		_, _ = v.Uint64()
		p := productFromValues("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}", Native, []Value{
			{Name: "DisplayVersion", Type: Type(typ), Data: data},
			{Name: "Version", Type: Type(typ), Data: data},
			{Name: "WindowsInstaller", Type: Type(typ), Data: data},
		})
		if !p.Version.IsZero() && p.Version.Compare(p.Version) != 0 {
			t.Fatal("a version differs from itself")
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "255.255.65535.4294967295", "1.2", "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again.Compare(v) != 0 {
			t.Fatalf("%q -> %v does not round-trip", s, v)
		}
	})
}

func FuzzUnpackGUID(f *testing.F) {
	f.Add("C8E3CDB88CB6B4F4DA7EBCF41DD09523")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := UnpackGUID(s)
		if err != nil {
			return
		}
		p, err := PackGUID(g)
		if err != nil || !equalFold(p, s) {
			t.Fatalf("%q -> %q -> %q", s, g, p)
		}
	})
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'a' && x <= 'z' {
			x -= 32
		}
		if y >= 'a' && y <= 'z' {
			y -= 32
		}
		if x != y {
			return false
		}
	}
	return true
}
