package msi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspectTestdata(t *testing.T) {
	tests := []struct {
		file string
		want PackageInfo
		prop map[string]string
	}{
		{
			file: "testdata/ok.msi",
			want: PackageInfo{
				ProductName: "Nexthink Test Collector", ProductVersion: "1.2.3",
				ProductCode:  "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}",
				UpgradeCode:  "{2B7E1516-28AE-4D2A-ABF7-158809CF4F3C}",
				Manufacturer: "Nexthink Test", ProductLanguage: "1033",
			},
			prop: map[string]string{"SERVER": "collector.example.test", "PORT": "443", "ALLUSERS": "1"},
		},
		{
			file: "testdata/fails.msi",
			want: PackageInfo{
				ProductName: "Nexthink Failing Test", ProductVersion: "0.9.1",
				ProductCode:  "{9C4E2D71-5B3A-4F18-8E6D-2A7B9C0D1E2F}",
				UpgradeCode:  "{D3A1F6B2-7C4E-4B59-A8D0-3E5F6A7B8C9D}",
				Manufacturer: "Nexthink Test", ProductLanguage: "1033",
			},
			prop: map[string]string{"ALLUSERS": "1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			info, err := Inspect(tc.file)
			require.NoError(t, err)
			assert.Equal(t, tc.want.ProductName, info.ProductName)
			assert.Equal(t, tc.want.ProductVersion, info.ProductVersion)
			assert.Equal(t, tc.want.ProductCode, info.ProductCode)
			assert.Equal(t, tc.want.UpgradeCode, info.UpgradeCode)
			assert.Equal(t, tc.want.Manufacturer, info.Manufacturer)
			assert.Equal(t, tc.want.ProductLanguage, info.ProductLanguage)
			for k, v := range tc.prop {
				got, ok := info.Property(k)
				assert.True(t, ok, k)
				assert.Equal(t, v, got, k)
			}
			_, ok := info.Property("NOSUCH")
			assert.False(t, ok)
			assert.Equal(t, "x64", info.Summary.Platform)
			assert.Equal(t, "1033", info.Summary.Languages)
			assert.Equal(t, 200, info.Summary.MinInstallerVersion)
			assert.Regexp(t, `^\{[0-9A-F-]{36}\}$`, info.Summary.PackageCode)
			assert.False(t, info.Summary.Created.IsZero())

			raw, err := os.ReadFile(tc.file)
			require.NoError(t, err)
			viaReader, err := InspectReader(bytes.NewReader(raw), int64(len(raw)))
			require.NoError(t, err)
			assert.Equal(t, info, viaReader)
		})
	}
}

// msiinfoProperties runs `msiinfo export X Property` and parses its rows.
func msiinfoProperties(t *testing.T, path string) []Property {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", path, "Property").Output()
	require.NoError(t, err, "msiinfo export %s Property", path)
	lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 3)
	require.Equal(t, "Property\tValue", lines[0])
	var props []Property
	for _, l := range lines[3:] {
		name, value, ok := strings.Cut(l, "\t")
		require.True(t, ok, "row %q", l)
		props = append(props, Property{Name: name, Value: value})
	}
	return props
}

const wxsTemplate = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{11111111-2222-3333-4444-555555555555}" UpgradeCode="{11111111-2222-3333-4444-666666666666}"
           Name="%s" Version="%s" Language="1033" Manufacturer="%s">
    <Package InstallerVersion="200" Compressed="yes"/>
%s
    <Directory Id="TARGETDIR" Name="SourceDir"/>
    <Feature Id="Main" Level="1"/>
  </Product>
</Wix>
`

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// buildMSI writes a wxs with props and builds it with wixl.
func buildMSI(t *testing.T, name, product, manufacturer string, props []Property) string {
	t.Helper()
	dir := t.TempDir()
	var pb strings.Builder
	for _, p := range props {
		fmt.Fprintf(&pb, "    <Property Id=\"%s\" Value=\"%s\"/>\n", p.Name, xmlEscape(p.Value))
	}
	wxs := filepath.Join(dir, name+".wxs")
	require.NoError(t, os.WriteFile(wxs, fmt.Appendf(nil, wxsTemplate, product, "3.4.5", xmlEscape(manufacturer), pb.String()), 0o644))
	out := filepath.Join(dir, name+".msi")
	msg, err := exec.Command("wixl", "-o", out, wxs).CombinedOutput()
	require.NoError(t, err, "wixl: %s", msg)
	return out
}

// TestInspectAgainstMsiinfo builds packages with wixl and compares every
// Property row with msitools' msiinfo.
func TestInspectAgainstMsiinfo(t *testing.T) {
	lab.Require(t, "wixl", "msiinfo")
	type pkg struct {
		name, product, manufacturer string
		props                       []Property
		slow                        bool
	}
	// wixl stores strings in Windows-1252 (code page 0) and crashes on a
	// non-ASCII product name, so the text below stays inside Windows-1252.
	var many []Property
	for i := range 33000 {
		many = append(many, Property{fmt.Sprintf("P%05d", i), fmt.Sprintf("value %d", i)})
	}
	pkgs := []pkg{
		{name: "testdata-ok", product: "Nexthink Test Collector", manufacturer: "Nexthink Test"},
		{
			name: "latin", product: "Latin Product", manufacturer: "Société Générale ½ © €",
			props: []Property{
				{"QUOTES", `say "hi" ‘single’ “double” — dash`},
				{"PATHS", `C:\Program Files\Nx\ \\server\share\`},
				{"SPECIAL", `100% & <tag> | ^ ; = ! ` + "\u0152\u0153\u0160\u0161\u017d\u017e\u0178\u2122"},
				{"EMPTYISH", " "},
				{"LONGVALUE", strings.Repeat("0123456789", 7000)},
				{"AFTERLONG", "still aligned"},
			},
		},
		{name: "many", product: "Many Properties", manufacturer: "M", props: many, slow: true},
	}
	for _, p := range pkgs {
		t.Run(p.name, func(t *testing.T) {
			if p.slow && testing.Short() {
				t.Skip("wixl needs ~20 s for 33000 properties; skipped with -short")
			}
			path := "testdata/ok.msi"
			if p.name != "testdata-ok" {
				path = buildMSI(t, p.name, p.product, p.manufacturer, p.props)
			}
			info, err := Inspect(path)
			require.NoError(t, err)
			want := msiinfoProperties(t, path)
			require.Equal(t, len(want), len(info.Properties))
			for i := range want {
				require.Equal(t, want[i], info.Properties[i], "row %d", i)
			}
			assert.Equal(t, p.product, info.ProductName)
			assert.Equal(t, p.manufacturer, info.Manufacturer)
			for _, pr := range p.props {
				v, ok := info.Property(pr.Name)
				require.True(t, ok, pr.Name)
				require.Equal(t, pr.Value, v, pr.Name)
			}
			if p.name == "many" {
				db := openTestDB(t, path)
				assert.Equal(t, 3, db.pool.refSize, "more than 65535 strings need 3-byte string references")
			}
		})
	}
}

func openTestDB(t *testing.T, path string) *database {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	db, err := openDatabase(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	return db
}

func TestInspectErrors(t *testing.T) {
	ok, err := os.ReadFile("testdata/ok.msi")
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	// A compound file without MSI streams: a copy of ok.msi whose directory
	// names are wiped to plain "x" streams.
	tests := []struct {
		name     string
		path     string
		sentinel error
		text     string
	}{
		{"missing", filepath.Join(dir, "nope.msi"), os.ErrNotExist, "nope.msi"},
		{"empty", write("empty.msi", nil), ErrNotMSI, "too short"},
		{"text", write("text.msi", bytes.Repeat([]byte("not an msi "), 100)), ErrNotMSI, "signature"},
		{"truncated header", write("trunc.msi", ok[:600]), nil, "trunc.msi"},
		{"half", write("half.msi", ok[:len(ok)/2]), nil, "half.msi"},
		{"zeroed tail", write("zero.msi", append(append([]byte(nil), ok[:4096]...), make([]byte, len(ok)-4096)...)), nil, "zero.msi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := Inspect(tc.path)
			require.Error(t, err)
			assert.Nil(t, info)
			var ie *InspectError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.path, ie.Name)
			assert.Contains(t, err.Error(), tc.text)
			if tc.sentinel != nil {
				assert.ErrorIs(t, err, tc.sentinel)
			}
		})
	}
}

func TestStringPool(t *testing.T) {
	pool := func(codepage uint32, entries ...[2]uint16) []byte {
		b := binary.LittleEndian.AppendUint32(nil, codepage)
		for _, e := range entries {
			b = binary.LittleEndian.AppendUint16(b, e[0])
			b = binary.LittleEndian.AppendUint16(b, e[1])
		}
		return b
	}
	long := strings.Repeat("é", 40000) // 80000 bytes in UTF-8
	tests := []struct {
		name    string
		pool    []byte
		data    []byte
		want    []string
		refSize int
		cp      int
		err     string
	}{
		{"utf8", pool(65001, [2]uint16{2, 1}, [2]uint16{0, 0}, [2]uint16{3, 1}), []byte("é✓"), []string{"", "é", "", "✓"}, 2, 65001, ""},
		{"cp1252 and long refs", pool(1252|0x80000000, [2]uint16{2, 1}), []byte{0x80, 0xe9}, []string{"", "€é"}, 3, 1252, ""},
		{"long string", pool(65001, [2]uint16{0, 1}, [2]uint16{uint16(len(long) & 0xffff), uint16(len(long) >> 16)}, [2]uint16{1, 1}), []byte(long + "z"), []string{"", long, "z"}, 2, 65001, ""},
		{"past data", pool(0, [2]uint16{5, 1}), []byte("abc"), nil, 0, 0, "runs past"},
		{"cut long entry", pool(0, [2]uint16{0, 1}), nil, nil, 0, 0, "long-string"},
		{"short", []byte{1, 2}, nil, nil, 0, 0, "at least 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := loadStringPool(tc.pool, tc.data)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrCorrupt)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, sp.strs)
			assert.Equal(t, tc.refSize, sp.refSize)
			assert.Equal(t, tc.cp, sp.codepage)
			_, err = sp.get(len(tc.want))
			assert.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestDecodeStreamName(t *testing.T) {
	// Encodings of "!_StringPool" and "!Property" as MSI writes them.
	enc := func(s string, table bool) string {
		const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
		var out []rune
		if table {
			out = append(out, 0x4840)
		}
		for i := 0; i < len(s); i += 2 {
			a := rune(strings.IndexByte(alphabet, s[i]))
			if i+1 < len(s) {
				b := rune(strings.IndexByte(alphabet, s[i+1]))
				out = append(out, 0x3800+a+b<<6)
			} else {
				out = append(out, 0x4800+a)
			}
		}
		return string(out)
	}
	assert.Equal(t, "!_StringPool", decodeStreamName(enc("_StringPool", true)))
	assert.Equal(t, "!Property", decodeStreamName(enc("Property", true)))
	assert.Equal(t, "Binary.x", decodeStreamName(enc("Binary.x", false)))
	assert.Equal(t, "SummaryInformation", decodeStreamName("SummaryInformation"))
}

func FuzzInspect(f *testing.F) {
	for _, name := range []string{"testdata/ok.msi", "testdata/fails.msi"} {
		b, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(b)
		for _, n := range []int{512, 1024, 2048, len(b) / 2, len(b) - 512} {
			f.Add(b[:n])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := InspectReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			require.Nil(t, info)
			var ie *InspectError
			require.ErrorAs(t, err, &ie)
			return
		}
		require.NotNil(t, info)
	})
}
