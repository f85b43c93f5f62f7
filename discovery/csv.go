package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The Deployer documentation's column names. A file without a header has these two columns, in
// this order.
const (
	ColumnName = "BIOS_NAME"
	ColumnAddr = "IP_ADDRESS"
)

// maxLineLen bounds one CSV line; a longer line is reported and skipped.
const maxLineLen = 64 << 10

// maxErrorLines bounds how many problems CSVError.Error spells out.
const maxErrorLines = 10

// Problem is one thing wrong on one line of a CSV file.
type Problem struct {
	// Line is the 1-based line number in the file.
	Line int
	// Field is the column the problem is in, as the header spells it (or
	// ColumnName / ColumnAddr in a file without a header); "" when the
	// problem is the whole line.
	Field string
	// Msg says what is wrong.
	Msg string
}

// String returns "line 12: IP_ADDRESS: ..." .
func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Msg)
}

// CSVError lists every invalid line of a CSV file. ReadCSV returns it together
// with the valid rows, so a caller can deploy to those and show the operator
// every line to fix at once.
type CSVError struct {
	// File is the name the caller gave ReadCSV.
	File string
	// Problems are in line order; a line can have more than one.
	Problems []Problem
}

// Error names the file, counts the problems and spells out the first ten.
func (e *CSVError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "discovery: %s: %d problem", e.File, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteByte('s')
	}
	for i, p := range e.Problems {
		if i == maxErrorLines {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-maxErrorLines)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Lines returns the distinct line numbers that have problems, in order.
func (e *CSVError) Lines() []int {
	var lines []int
	for _, p := range e.Problems {
		if len(lines) == 0 || lines[len(lines)-1] != p.Line {
			lines = append(lines, p.Line)
		}
	}
	return lines
}

// Header cells recognised as the name and address columns, compared after
// lower-casing and dropping ' ', '_' and '-'.
var (
	nameHeaders = []string{"biosname", "name", "hostname", "host", "computer", "computername", "netbiosname", "dnshostname"}
	addrHeaders = []string{"ipaddress", "ip", "address", "addr", "ipv4", "ipv6"}
)

// ReadCSV reads hosts from the Deployer documentation's CSV format, BIOS_NAME,IP_ADDRESS, one
// host a line. name is the file's name for Host.Source ("csv:NAME:LINE") and
// for errors.
//
// What it accepts:
//   - A header line is optional. The first line that is neither blank nor a
//     comment is a header when one of its cells is BIOS_NAME or IP_ADDRESS
//     (in any case, with or without '_'), or when its first two cells are a
//     name heading (NAME, HOSTNAME, HOST, COMPUTER, ...) and an address
//     heading (IP, ADDRESS, ...). With a header the columns may come in any
//     order, and other columns are kept in Host.Attrs under their lower-case
//     heading. Without one, a line has one or two cells: BIOS_NAME then
//     IP_ADDRESS; a single cell that parses as an address is an address.
//   - A UTF-8 byte order mark, CRLF or LF line ends, blank lines, lines
//     whose first non-blank character is '#', spaces and tabs around cells,
//     and cells in double quotes ("" inside is a quote). A quoted cell must
//     end on its line: a stray quote costs one line, not the rest of the file.
//     The separator is ',', or ';' when the first line has ';' and no ','
//     (spreadsheets in many locales save that way).
//   - BIOS_NAME is a NetBIOS or DNS host name (see ValidateName); it may be
//     empty when the address is given.
//   - IP_ADDRESS is IPv4 or IPv6 (see ParseAddr): IPv4-mapped IPv6 becomes
//     IPv4, brackets are accepted, and an IPv6 zone ("fe80::1%eth0") only on
//     a link-local address. An empty IP_ADDRESS means "resolve the name
//     later": the Host's Addr is the zero Addr.
//
// Every invalid line is reported, with its line number, in a *CSVError, and
// the valid rows are returned with it. The second and later lines with a name
// (compared without case or trailing dot) or an address already seen are
// duplicates: they are reported, naming the first line, and left out, so no
// host is deployed twice. Any other error (reading r) is returned alone.
func ReadCSV(r io.Reader, name string) ([]Host, error) {
	p := csvReader{
		file:   name,
		lr:     lineReader{r: r, buf: make([]byte, readBufSize)},
		prefix: "csv:" + name + ":",
	}
	if err := p.read(); err != nil {
		return nil, fmt.Errorf("discovery: reading %s: %w", name, err)
	}
	hosts := p.dedupe()
	if len(p.problems) > 0 {
		return hosts, &CSVError{File: name, Problems: p.problems}
	}
	return hosts, nil
}

// csvReader is the state of one ReadCSV call.
type csvReader struct {
	file     string
	lr       lineReader
	prefix   string
	src      []byte // scratch for Host.Source
	sep      byte
	started  bool // the first non-blank line has been seen
	nameCol  int
	addrCol  int
	nameHdr  string
	addrHdr  string
	extras   []string // lower-case heading per column, "" for name/address columns
	header   bool
	fields   []string
	problems []Problem
	// The valid rows, duplicates included until dedupe, in chunks (so a
	// million rows are not copied over and over as one slice grows), with
	// their line numbers.
	chunks [][]Host
	lines  []int32
}

// chunkLen is the number of hosts per chunk of csvReader.chunks.
const chunkLen = 4096

func (p *csvReader) problem(line int, field, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *csvReader) read() error {
	for lineNo := 1; ; lineNo++ {
		line, tooLong, err := p.lr.next()
		if err != nil && err != io.EOF {
			return err
		}
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		switch {
		case tooLong:
			p.problem(lineNo, "", "line is longer than %d bytes", maxLineLen)
		default:
			p.line(lineNo, line)
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readBufSize is the line reader's buffer: a line longer than maxLineLen
// is reported and skipped, so the buffer holds any line it keeps.
const readBufSize = maxLineLen + 1

// lineReader splits its input into lines ended by LF, CRLF or a lone CR
// (files saved by classic Mac OS and some exports end lines with CR only).
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	eof        bool
	err        error
	skipLF     bool // the last line ended with CR: a LF right after it belongs to it
}

// next returns the next line without its line end; the slice is valid until
// the next call. tooLong reports a line longer than maxLineLen (its content
// is then dropped). err is io.EOF with the last line (which may be empty),
// or the read error.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	for {
		if l.skipLF && l.start < l.end {
			if l.buf[l.start] == '\n' {
				l.start++
			}
			l.skipLF = false
		}
		data := l.buf[l.start:l.end]
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			line = data[:i]
			l.skipLF = data[i] == '\r'
			l.start += i + 1
			if tooLong {
				return nil, true, nil
			}
			return line, false, nil
		}
		if l.eof {
			l.start = l.end
			if l.err != nil {
				return nil, tooLong, l.err
			}
			if tooLong {
				return nil, true, io.EOF
			}
			return data, false, io.EOF
		}
		if len(data) >= maxLineLen {
			tooLong = true
			l.start, data = l.end, nil
		}
		// Keep the unfinished line at the start of the buffer and read more.
		n := copy(l.buf, data)
		l.start, l.end = 0, n
		m, rerr := l.r.Read(l.buf[n:])
		l.end += m
		if rerr != nil {
			l.eof = true
			if rerr != io.EOF {
				l.err = rerr
			}
		}
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func (p *csvReader) line(lineNo int, raw []byte) {
	i := 0
	for i < len(raw) && isBlank(raw[i]) {
		i++
	}
	if i == len(raw) || raw[i] == '#' {
		return
	}
	if !p.started {
		p.started = true
		p.sep = ','
		if bytes.IndexByte(raw, ';') >= 0 && bytes.IndexByte(raw, ',') < 0 {
			p.sep = ';'
		}
		fields, msg := splitLine(string(raw), p.sep, p.fields)
		p.fields = fields
		if msg == "" && p.detectHeader(lineNo, fields) {
			return
		}
		p.nameCol, p.addrCol = 0, 1
		p.nameHdr, p.addrHdr = ColumnName, ColumnAddr
	}
	fields, msg := splitLine(string(raw), p.sep, p.fields)
	p.fields = fields
	if msg != "" {
		p.problem(lineNo, "", "%s", msg)
		return
	}
	p.row(lineNo, fields)
}

// headerKey normalises a heading for comparison.
func headerKey(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' {
			return -1
		}
		return r
	}, s)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// detectHeader decides whether fields, the first record, is a header, and if
// so sets the column layout from it.
func (p *csvReader) detectHeader(lineNo int, fields []string) bool {
	isHeader := false
	for _, f := range fields {
		if k := headerKey(f); k == "biosname" || k == "ipaddress" {
			isHeader = true
		}
	}
	if len(fields) >= 2 && contains(nameHeaders, headerKey(fields[0])) && contains(addrHeaders, headerKey(fields[1])) {
		isHeader = true
	}
	if !isHeader {
		return false
	}
	p.header = true
	p.nameCol, p.addrCol = -1, -1
	p.extras = make([]string, len(fields))
	for i, f := range fields {
		k := headerKey(f)
		switch {
		case p.nameCol < 0 && contains(nameHeaders, k):
			p.nameCol, p.nameHdr = i, f
		case p.addrCol < 0 && contains(addrHeaders, k):
			p.addrCol, p.addrHdr = i, f
		case f == "":
			p.problem(lineNo, "", "header cell %d is empty", i+1)
		default:
			p.extras[i] = strings.ToLower(f)
		}
	}
	return true
}

// row validates one record and keeps it as a Host when it is valid.
func (p *csvReader) row(lineNo int, fields []string) {
	empty := true
	for _, f := range fields {
		if f != "" {
			empty = false
			break
		}
	}
	if empty {
		return // a line of separators is as blank as an empty one
	}
	var nameS, addrS string
	var attrs map[string]string
	if p.header {
		if len(fields) > len(p.extras) {
			p.problem(lineNo, "", "%d cells, but the header has %d", len(fields), len(p.extras))
			return
		}
		if p.nameCol >= 0 && p.nameCol < len(fields) {
			nameS = fields[p.nameCol]
		}
		if p.addrCol >= 0 && p.addrCol < len(fields) {
			addrS = fields[p.addrCol]
		}
		for i, f := range fields {
			if p.extras[i] != "" && f != "" {
				if attrs == nil {
					attrs = make(map[string]string)
				}
				attrs[p.extras[i]] = f
			}
		}
	} else {
		switch len(fields) {
		case 1:
			if _, err := netip.ParseAddr(strings.Trim(fields[0], "[]")); err == nil {
				addrS = fields[0]
			} else {
				nameS = fields[0]
			}
		case 2:
			nameS, addrS = fields[0], fields[1]
		default:
			p.problem(lineNo, "", "%d cells, expected %s,%s", len(fields), ColumnName, ColumnAddr)
			return
		}
	}
	if nameS == "" && addrS == "" {
		p.problem(lineNo, "", "neither %s nor %s is given", p.nameHdr, p.addrHdr)
		return
	}
	ok := true
	h := Host{Attrs: attrs}
	if nameS != "" {
		if err := ValidateName(nameS); err != nil {
			p.problem(lineNo, p.nameHdr, "%v", err)
			ok = false
		} else {
			h.Name = nameS
		}
	}
	if addrS != "" {
		a, err := ParseAddr(addrS)
		if err != nil {
			p.problem(lineNo, p.addrHdr, "%v", err)
			ok = false
		} else {
			h.Addr = a
		}
	}
	if !ok {
		return
	}
	p.src = strconv.AppendInt(append(p.src[:0], p.prefix...), int64(lineNo), 10)
	h.Source = string(p.src)
	if k := len(p.chunks); k == 0 || len(p.chunks[k-1]) == chunkLen {
		p.chunks = append(p.chunks, make([]Host, 0, chunkLen))
	}
	k := len(p.chunks) - 1
	p.chunks[k] = append(p.chunks[k], h)
	p.lines = append(p.lines, int32(lineNo))
}

// dedupe reports the second and later rows with a name (compared without
// case or trailing dot) or an address already seen, naming the first line,
// and returns the other rows in file order. It sorts row indices rather
// than keeping maps of every name and address: a million rows cost two
// slices of int32 instead of two maps.
func (p *csvReader) dedupe() []Host {
	n := len(p.lines)
	host := func(i int32) *Host { return &p.chunks[i/chunkLen][i%chunkLen] }
	drop := make([]bool, n)
	var dups []Problem
	idx := make([]int32, 0, n)
	find := func(has func(*Host) bool, cmp func(a, b *Host) int, report func(i, first int32)) {
		idx = idx[:0]
		for i := range int32(n) {
			if has(host(i)) {
				idx = append(idx, i)
			}
		}
		// Indices are in line order, and the sort is stable: each group
		// of equal keys starts with its first line.
		slices.SortStableFunc(idx, func(a, b int32) int { return cmp(host(a), host(b)) })
		for k := 1; k < len(idx); k++ {
			first := k - 1
			for k < len(idx) && cmp(host(idx[first]), host(idx[k])) == 0 {
				drop[idx[k]] = true
				report(idx[k], idx[first])
				k++
			}
		}
	}
	find(func(h *Host) bool { return h.Name != "" }, func(a, b *Host) int { return compareNames(a.Name, b.Name) },
		func(i, first int32) {
			dups = append(dups, Problem{Line: int(p.lines[i]), Field: p.nameHdr,
				Msg: fmt.Sprintf("duplicate name %q, first on line %d", host(i).Name, p.lines[first])})
		})
	find(func(h *Host) bool { return h.Addr.IsValid() }, func(a, b *Host) int { return a.Addr.Compare(b.Addr) },
		func(i, first int32) {
			dups = append(dups, Problem{Line: int(p.lines[i]), Field: p.addrHdr,
				Msg: fmt.Sprintf("duplicate address %s, first on line %d", host(i).Addr, p.lines[first])})
		})
	if len(dups) > 0 {
		// Name problems come before address problems of the same line.
		slices.SortStableFunc(dups, func(a, b Problem) int { return a.Line - b.Line })
		p.problems = append(p.problems, dups...)
		slices.SortStableFunc(p.problems, func(a, b Problem) int { return a.Line - b.Line })
	}
	kept := 0
	for _, d := range drop {
		if !d {
			kept++
		}
	}
	if kept == 0 {
		return nil
	}
	out := make([]Host, 0, kept)
	for i := range int32(n) {
		if !drop[i] {
			out = append(out, *host(i))
		}
	}
	p.chunks, p.lines = nil, nil
	return out
}

// compareNames orders host names without ASCII case and without a trailing
// dot (names are ASCII: see ValidateName), so equal names sort together.
func compareNames(a, b string) int {
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lowerASCII(a[i]), lowerASCII(b[i])
		if ca != cb {
			return int(ca) - int(cb)
		}
	}
	return len(a) - len(b)
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// splitLine splits one line into cells, reusing dst. Cells are trimmed of
// spaces and tabs; a cell in double quotes keeps its inside as is, with ""
// read as one quote. msg is non-empty when the line is malformed.
func splitLine(line string, sep byte, dst []string) (fields []string, msg string) {
	fields = dst[:0]
	i := 0
	for {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i < len(line) && line[i] == '"' {
			i++
			start, escaped := i, false
			for {
				j := strings.IndexByte(line[i:], '"')
				if j < 0 {
					return fields, fmt.Sprintf("cell %d: quote not closed on this line", len(fields)+1)
				}
				i += j + 1
				if i < len(line) && line[i] == '"' {
					escaped = true
					i++
					continue
				}
				break
			}
			f := line[start : i-1]
			if escaped {
				f = strings.ReplaceAll(f, `""`, `"`)
			}
			fields = append(fields, f)
			for i < len(line) && isBlank(line[i]) {
				i++
			}
			if i == len(line) {
				return fields, ""
			}
			if line[i] != sep {
				return fields, fmt.Sprintf("cell %d: text after the closing quote", len(fields))
			}
			i++
			continue
		}
		j := strings.IndexByte(line[i:], sep)
		if j < 0 {
			f := strings.TrimRight(line[i:], " \t")
			if strings.IndexByte(f, '"') >= 0 {
				return fields, fmt.Sprintf("cell %d: quote inside an unquoted cell", len(fields)+1)
			}
			return append(fields, f), ""
		}
		f := strings.TrimRight(line[i:i+j], " \t")
		if strings.IndexByte(f, '"') >= 0 {
			return fields, fmt.Sprintf("cell %d: quote inside an unquoted cell", len(fields)+1)
		}
		fields = append(fields, f)
		i += j + 1
	}
}

// CSVSource is a Source reading the Deployer documentation's CSV format from a file.
type CSVSource struct {
	// Path is the file to read.
	Path string
}

// Discover reads the file with ReadCSV. As with ReadCSV, a *CSVError comes
// with the valid hosts.
func (s CSVSource) Discover(ctx context.Context) ([]Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer f.Close()
	return ReadCSV(f, s.Path)
}

// ReaderSource is a Source reading the Deployer documentation's CSV format from a reader once
// (standard input, an upload, an embedded file).
type ReaderSource struct {
	// Name names the input in Host.Source and errors.
	Name string
	// R is read to its end by the first Discover.
	R io.Reader
}

// Discover reads R with ReadCSV.
func (s ReaderSource) Discover(ctx context.Context) ([]Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.R == nil {
		return nil, errors.New("discovery: ReaderSource has no reader")
	}
	return ReadCSV(s.R, s.Name)
}
