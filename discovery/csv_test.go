package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// row is what a test expects of one host.
type row struct {
	name string
	addr string
	line int
}

func hostsOf(t *testing.T, file string, rows []row) []Host {
	t.Helper()
	var hs []Host
	for _, r := range rows {
		h := Host{Name: r.name, Source: fmt.Sprintf("csv:%s:%d", file, r.line)}
		if r.addr != "" {
			h.Addr = netip.MustParseAddr(r.addr)
		}
		hs = append(hs, h)
	}
	return hs
}

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     []row
		problems []Problem
	}{
		{
			name: "documented format with header",
			in:   "BIOS_NAME,IP_ADDRESS\nPC-001,10.0.0.1\nPC-002,10.0.0.2\n",
			want: []row{{"PC-001", "10.0.0.1", 2}, {"PC-002", "10.0.0.2", 3}},
		},
		{
			name: "no header, CRLF, BOM, blank lines, spaces, comments",
			in:   "\xEF\xBB\xBFPC-001 , 10.0.0.1\r\n\r\n   \r\n# a comment\r\n\tPC-002,\t10.0.0.2 \r\n",
			want: []row{{"PC-001", "10.0.0.1", 1}, {"PC-002", "10.0.0.2", 5}},
		},
		{
			name: "BOM before the header",
			in:   "\xEF\xBB\xBFbios_name,ip_address\nPC-001,10.0.0.1",
			want: []row{{"PC-001", "10.0.0.1", 2}},
		},
		{
			name: "quoted cells with spaces around them",
			in:   `"BIOS_NAME" , "IP_ADDRESS"` + "\n" + ` "PC-001" , "10.0.0.1" ` + "\n" + `PC-002,"fe80::1%eth0"` + "\n",
			want: []row{{"PC-001", "10.0.0.1", 2}, {"PC-002", "fe80::1%eth0", 3}},
		},
		{
			name: "empty address means resolve later, lone address, IPv6 forms",
			in:   "PC-001,\nPC-002\n10.0.0.9\nPC-003,::ffff:10.0.0.3\nPC-004,[2001:db8::4]\npc-005.lab.test.,2001:db8::5\n",
			want: []row{{"PC-001", "", 1}, {"PC-002", "", 2}, {"", "10.0.0.9", 3}, {"PC-003", "10.0.0.3", 4},
				{"PC-004", "2001:db8::4", 5}, {"pc-005.lab.test.", "2001:db8::5", 6}},
		},
		{
			name: "header in another order with an extra column",
			in:   "IP_ADDRESS;Site;BIOS_NAME\n10.0.0.1;Paris;PC-001\n10.0.0.2;;PC-002\n",
			want: []row{{"PC-001", "10.0.0.1", 2}, {"PC-002", "10.0.0.2", 3}},
		},
		{
			name: "semicolon separated without header",
			in:   "PC-001;10.0.0.1\nPC-002;10.0.0.2\n",
			want: []row{{"PC-001", "10.0.0.1", 1}, {"PC-002", "10.0.0.2", 2}},
		},
		{
			name: "last line without newline",
			in:   "Name,IP\nPC-001,10.0.0.1",
			want: []row{{"PC-001", "10.0.0.1", 2}},
		},
		{
			name: "every invalid line is reported, valid rows kept",
			in: strings.Join([]string{
				"BIOS_NAME,IP_ADDRESS",  // 1
				"PC-001,10.0.0.1",       // 2
				"PC-002,10.0.0.300",     // 3 bad address
				"PC 003,10.0.0.3",       // 4 bad name
				"PC-004,10.0.0.4,extra", // 5 too many cells
				`"PC-005,10.0.0.5`,      // 6 unterminated quote
				"PC-006,10.0.0.6",       // 7
				",",                     // 8 a line of separators: blank
				"-bad,0.0.0.0",          // 9 two problems
				"pc-001,10.0.0.10",      // 10 duplicate name of line 2
				"PC-011,10.0.0.6",       // 11 duplicate address of line 7
				`PC-012,"10.0.0.12"x`,   // 12 text after the quote
				"PC-013,224.0.0.1",      // 13 multicast
				"PC-014,2001:db8::1%3",  // 14 zone on a global address
				"10.0.0.15,",            // 15 an address in the name column
				"PC-016,255.255.255.255",
				"PC-017,10.0.0.17",
			}, "\n"),
			want: []row{{"PC-001", "10.0.0.1", 2}, {"PC-006", "10.0.0.6", 7}, {"PC-017", "10.0.0.17", 17}},
			problems: []Problem{
				{Line: 3, Field: "IP_ADDRESS", Msg: `"10.0.0.300" is not an IPv4 or IPv6 address`},
				{Line: 4, Field: "BIOS_NAME", Msg: `name "PC 003" has the character ' ' (U+0020): only letters, digits, '-', '_' and '.' are allowed`},
				{Line: 5, Msg: "3 cells, but the header has 2"},
				{Line: 6, Msg: "cell 1: quote not closed on this line"},
				{Line: 9, Field: "BIOS_NAME", Msg: `name "-bad" has a label that starts or ends with '-'`},
				{Line: 9, Field: "IP_ADDRESS", Msg: "address 0.0.0.0 is unspecified"},
				{Line: 10, Field: "BIOS_NAME", Msg: `duplicate name "pc-001", first on line 2`},
				{Line: 11, Field: "IP_ADDRESS", Msg: "duplicate address 10.0.0.6, first on line 7"},
				{Line: 12, Msg: "cell 2: text after the closing quote"},
				{Line: 13, Field: "IP_ADDRESS", Msg: "address 224.0.0.1 is multicast"},
				{Line: 14, Field: "IP_ADDRESS", Msg: "address 2001:db8::1%3 has a zone but is not link-local"},
				{Line: 15, Field: "BIOS_NAME", Msg: `name "10.0.0.15" is an address, not a name`},
				{Line: 16, Field: "IP_ADDRESS", Msg: "address 255.255.255.255 is the broadcast address"},
			},
		},
		{
			name: "problems name the header's own spelling",
			in:   "Computer,Address\nPC-001,nope\n",
			problems: []Problem{
				{Line: 2, Field: "Address", Msg: `"nope" is not an IPv4 or IPv6 address`},
			},
		},
		{
			name: "no header, too many cells",
			in:   "PC-001,10.0.0.1,x\n",
			problems: []Problem{
				{Line: 1, Msg: "3 cells, expected BIOS_NAME,IP_ADDRESS"},
			},
		},
		{
			name: "mistyped address as a lone cell",
			in:   "10.0.0.300\n",
			problems: []Problem{
				{Line: 1, Field: "BIOS_NAME", Msg: `name "10.0.0.300" ends in an all-digit label: a mistyped address?`},
			},
		},
		{
			name: "header with an empty cell and a row that has only extras",
			in:   "BIOS_NAME,IP_ADDRESS,,site\n,,,Paris\n",
			problems: []Problem{
				{Line: 1, Msg: "header cell 3 is empty"},
				{Line: 2, Msg: "neither BIOS_NAME nor IP_ADDRESS is given"},
			},
		},
		{name: "empty input", in: ""},
		{name: "only a header", in: "BIOS_NAME,IP_ADDRESS\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := ReadCSV(strings.NewReader(tt.in), "hosts.csv")
			for i := range hosts {
				hosts[i].Attrs = nil // checked in TestReadCSVAttrs
			}
			assert.Equal(t, hostsOf(t, "hosts.csv", tt.want), hosts)
			if tt.problems == nil {
				require.NoError(t, err)
				return
			}
			var ce *CSVError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "hosts.csv", ce.File)
			assert.Equal(t, tt.problems, ce.Problems)
		})
	}
}

func TestReadCSVAttrs(t *testing.T) {
	hosts, err := ReadCSV(strings.NewReader("IP_ADDRESS,Site,BIOS_NAME,Owner\n10.0.0.1,Paris,PC-001,\n"), "f")
	require.NoError(t, err)
	require.Len(t, hosts, 1)
	assert.Equal(t, map[string]string{"site": "Paris"}, hosts[0].Attrs)
}

func TestReadCSVLongLine(t *testing.T) {
	in := "PC-001,10.0.0.1\n" + strings.Repeat("x", maxLineLen+10) + "\nPC-003,10.0.0.3\n"
	hosts, err := ReadCSV(strings.NewReader(in), "f")
	assert.Equal(t, hostsOf(t, "f", []row{{"PC-001", "10.0.0.1", 1}, {"PC-003", "10.0.0.3", 3}}), hosts)
	var ce *CSVError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []Problem{{Line: 2, Msg: "line is longer than 65536 bytes"}}, ce.Problems)
}

func TestReadCSVReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	hosts, err := ReadCSV(iotest.TimeoutReader(strings.NewReader("PC-001,10.0.0.1\n")), "f")
	require.Error(t, err)
	assert.Nil(t, hosts)
	assert.ErrorIs(t, err, iotest.ErrTimeout)
	_, err = ReadCSV(iotest.ErrReader(boom), "f")
	assert.ErrorIs(t, err, boom)
}

func TestCSVErrorMessage(t *testing.T) {
	var b strings.Builder
	for i := range 12 {
		fmt.Fprintf(&b, "PC-%03d,10.0.0.%d00\n", i, i+3)
	}
	_, err := ReadCSV(strings.NewReader(b.String()), "big.csv")
	var ce *CSVError
	require.ErrorAs(t, err, &ce)
	assert.Len(t, ce.Problems, 12)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, ce.Lines())
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, `discovery: big.csv: 12 problems: line 1: IP_ADDRESS: "10.0.0.300" is not`), msg)
	assert.True(t, strings.HasSuffix(msg, "; and 2 more"), msg)

	one := &CSVError{File: "x", Problems: []Problem{{Line: 4, Msg: "bad"}}}
	assert.Equal(t, "discovery: x: 1 problem: line 4: bad", one.Error())
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"PC-001", true},
		{"pc_001.lab.test", true},
		{"pc.lab.test.", true},
		{"1234", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a.", 126) + "a", true},
		{"", false},
		{".", false},
		{"a..b", false},
		{"-a", false},
		{"a-.b", false},
		{strings.Repeat("a", 64), false},
		{strings.Repeat("a.", 127) + "a", false},
		{"a b", false},
		{`DOM\pc`, false},
		{"pc\x00", false},
		{"pé", false},
		{"10.0.0.1", false},
		{"::1", false},
		{"10.0.0.256", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.name)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"10.0.0.1", "10.0.0.1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"127.0.0.1", "127.0.0.1"},
		{"2001:db8::1%eth0", ""},
		{"::ffff:10.0.0.1%eth0", ""},
		{"::", ""},
		{"ff02::1", ""},
		{"1.2.3", ""},
		{"[10.0.0.1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := ParseAddr(tt.in)
			if tt.want == "" {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, netip.MustParseAddr(tt.want), a)
		})
	}
}

func TestCSVSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.csv")
	require.NoError(t, os.WriteFile(path, []byte("BIOS_NAME,IP_ADDRESS\nPC-001,10.0.0.1\nPC-002,x\n"), 0o600))

	var src Source = CSVSource{Path: path}
	hosts, err := src.Discover(context.Background())
	assert.Equal(t, hostsOf(t, path, []row{{"PC-001", "10.0.0.1", 2}}), hosts)
	var ce *CSVError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []int{3}, ce.Lines())

	_, err = CSVSource{Path: filepath.Join(dir, "missing.csv")}.Discover(context.Background())
	assert.ErrorIs(t, err, os.ErrNotExist)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = CSVSource{Path: path}.Discover(ctx)
	assert.ErrorIs(t, err, context.Canceled)

	hosts, err = ReaderSource{Name: "stdin", R: strings.NewReader("PC-9,10.9.9.9\n")}.Discover(context.Background())
	require.NoError(t, err)
	assert.Equal(t, hostsOf(t, "stdin", []row{{"PC-9", "10.9.9.9", 1}}), hosts)
	_, err = ReaderSource{Name: "none"}.Discover(context.Background())
	assert.Error(t, err)
}

// csvFixture is n lines in the Deployer documentation's format with a header.
func csvFixture(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 28)
	b.WriteString("BIOS_NAME,IP_ADDRESS\r\n")
	for i := range n {
		fmt.Fprintf(&b, "WS-%06d,10.%d.%d.%d\r\n", i, i>>16&0xff, i>>8&0xff, i&0xff)
	}
	return b.Bytes()
}

func TestReadCSVHundredThousand(t *testing.T) {
	hosts, err := ReadCSV(bytes.NewReader(csvFixture(100_000)), "big.csv")
	require.NoError(t, err)
	require.Len(t, hosts, 100_000)
	assert.Equal(t, "WS-099999", hosts[99_999].Name)
	assert.Equal(t, netip.MustParseAddr("10.1.134.159"), hosts[99_999].Addr)
	assert.Equal(t, "csv:big.csv:100001", hosts[99_999].Source)
}

// BenchmarkReadCSV reads 100,000 lines per iteration.
func BenchmarkReadCSV(b *testing.B) {
	data := csvFixture(100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		hosts, err := ReadCSV(bytes.NewReader(data), "big.csv")
		if err != nil || len(hosts) != 100_000 {
			b.Fatalf("got %d hosts, %v", len(hosts), err)
		}
	}
}

// BenchmarkReadCSVMillion reads 1,000,000 rows per iteration. Besides the
// bytes allocated (B/op) it reports live-MB, the heap the returned hosts
// and the reader's leftovers keep after a collection.
func BenchmarkReadCSVMillion(b *testing.B) {
	data := csvFixture(1_000_000)
	b.ReportAllocs()
	var live uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		hosts, err := ReadCSV(bytes.NewReader(data), "big.csv")
		if err != nil || len(hosts) != 1_000_000 {
			b.Fatalf("got %d hosts, %v", len(hosts), err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		live = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(hosts)
	}
	b.ReportMetric(float64(live)/(1<<20), "live-MB")
}

// TestReadCSVLineEnds: LF, CRLF and a lone CR (classic Mac OS, some
// exports) all end lines, mixed in one file too, also where a read stops
// between a CR and its LF.
func TestReadCSVLineEnds(t *testing.T) {
	want := []string{"PC-1", "PC-2", "PC-3"}
	for name, data := range map[string]string{
		"LF":          "BIOS_NAME,IP_ADDRESS\nPC-1,10.0.0.1\nPC-2,10.0.0.2\nPC-3,10.0.0.3\n",
		"CRLF":        "BIOS_NAME,IP_ADDRESS\r\nPC-1,10.0.0.1\r\nPC-2,10.0.0.2\r\nPC-3,10.0.0.3\r\n",
		"CR":          "BIOS_NAME,IP_ADDRESS\rPC-1,10.0.0.1\rPC-2,10.0.0.2\rPC-3,10.0.0.3\r",
		"CR, no last": "BIOS_NAME,IP_ADDRESS\rPC-1,10.0.0.1\rPC-2,10.0.0.2\rPC-3,10.0.0.3",
		"mixed":       "\xEF\xBB\xBFBIOS_NAME,IP_ADDRESS\rPC-1,10.0.0.1\r\nPC-2,10.0.0.2\nPC-3,10.0.0.3",
	} {
		t.Run(name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(data), iotest.OneByteReader(strings.NewReader(data))} {
				hosts, err := ReadCSV(r, "x.csv")
				require.NoError(t, err)
				var got []string
				for _, h := range hosts {
					got = append(got, h.Name)
				}
				assert.Equal(t, want, got)
				require.Len(t, hosts, 3)
				assert.Equal(t, "csv:x.csv:4", hosts[2].Source, "line numbers count CR line ends")
			}
		})
	}
	_, err := ReadCSV(strings.NewReader("PC-1,10.0.0.1\rPC 2,10.0.0.2\r"), "x.csv")
	var ce *CSVError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []int{2}, ce.Lines())
}

// TestValidateNameShowsCharacters: a refused character is shown as itself
// when visible and as an escape when invisible or bidirectional (U+202E
// would reverse the rest of the message), never as the bytes of its UTF-8
// read one by one.
func TestValidateNameShowsCharacters(t *testing.T) {
	cases := map[string]string{
		"PC\u202E-001": `name "PC\u202e-001" has the character '\u202e' (U+202E)`,
		"pé":           `name "pé" has the character 'é' (U+00E9)`,
		"PC\u200B1":    `name "PC\u200b1" has the character '\u200b' (U+200B)`,
		"PC\xff":       `name "PC\xff" has the byte 0xFF, which is not UTF-8`,
		"a b":          `name "a b" has the character ' ' (U+0020)`,
	}
	for in, want := range cases {
		err := ValidateName(in)
		require.Error(t, err, "%q", in)
		assert.Contains(t, err.Error(), want)
		assert.NotContains(t, err.Error(), "â")
		assert.NotContains(t, err.Error(), "\u202E", "the raw override never reaches the message")
	}
	_, err := ReadCSV(strings.NewReader("BIOS_NAME,IP_ADDRESS\nPC\u202E-001,10.0.0.1\n"), "x.csv")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `line 2: BIOS_NAME: name "PC\u202e-001" has the character '\u202e' (U+202E)`)
}
