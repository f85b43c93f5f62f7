package msi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/richardlehane/mscfb"
)

// Errors wrapped by *InspectError, for errors.Is.
var (
	// ErrNotMSI reports a file that is not an OLE compound file or lacks the
	// streams every Windows Installer database has.
	ErrNotMSI = errors.New("not a Windows Installer package")
	// ErrCorrupt reports an MSI whose string pool or tables are inconsistent
	// (truncated streams, string references out of range, ...).
	ErrCorrupt = errors.New("corrupt Windows Installer package")
)

// maxStream bounds any single stream read into memory.
const maxStream = 256 << 20

// InspectError reports why a package could not be read. Name is the file
// path given to Inspect, or "<reader>" for InspectReader.
type InspectError struct {
	// Name identifies the package.
	Name string
	// Err is the cause; it wraps ErrNotMSI or ErrCorrupt when the content is
	// at fault, or an I/O error.
	Err error
}

// Error implements error.
func (e *InspectError) Error() string { return "msi: inspect " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *InspectError) Unwrap() error { return e.Err }

// PackageInfo is what Inspect reads from a package: the well-known product
// properties, every row of the Property table, and the summary information.
type PackageInfo struct {
	// ProductName, ProductVersion, ProductCode, UpgradeCode, Manufacturer and
	// ProductLanguage are copied from the Property table ("" when absent).
	ProductName     string
	ProductVersion  string
	ProductCode     string
	UpgradeCode     string
	Manufacturer    string
	ProductLanguage string
	// Properties holds every Property table row, in table order.
	Properties []Property
	// Codepage is the database code page from the string pool (0 neutral,
	// 1252, 65001 UTF-8, ...); strings are decoded from it.
	Codepage int
	// Summary is the summary information stream; its fields are empty when
	// the stream is absent.
	Summary SummaryInfo
}

// Property returns the value of the Property table row name.
func (p *PackageInfo) Property(name string) (string, bool) {
	for _, pr := range p.Properties {
		if pr.Name == name {
			return pr.Value, true
		}
	}
	return "", false
}

// Inspect reads the product properties and summary information of the .msi
// at path. Errors are *InspectError naming path.
func Inspect(path string) (*PackageInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InspectError{Name: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &InspectError{Name: path, Err: err}
	}
	return inspect(path, f, st.Size())
}

// InspectReader reads a package of size bytes from r, as Inspect does.
// Errors are *InspectError with Name "<reader>".
func InspectReader(r io.ReaderAt, size int64) (*PackageInfo, error) {
	return inspect("<reader>", r, size)
}

func inspect(name string, r io.ReaderAt, size int64) (info *PackageInfo, err error) {
	fail := func(e error) (*PackageInfo, error) { return nil, &InspectError{Name: name, Err: e} }
	if size < 512 {
		return fail(fmt.Errorf("%w: %d bytes is too short for a compound file", ErrNotMSI, size))
	}
	var head [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return fail(err)
	}
	if !bytes.Equal(head[:], []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}) {
		return fail(fmt.Errorf("%w: no OLE compound file signature", ErrNotMSI))
	}
	if err := checkHeader(r, size); err != nil {
		return fail(err)
	}
	db, err := openDatabase(io.NewSectionReader(r, 0, size), size)
	if err != nil {
		return fail(err)
	}
	info, err = db.packageInfo()
	if err != nil {
		return fail(err)
	}
	return info, nil
}

// checkHeader bounds the compound file header's counts by the file size
// before mscfb sizes its tables from them: mscfb allocates what the header
// claims, so a 1 KiB file could otherwise ask for gigabytes.
func checkHeader(r io.ReaderAt, size int64) error {
	var h [76]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("%w: reading the header: %v", ErrNotMSI, err)
	}
	le := binary.LittleEndian
	shift := le.Uint16(h[30:])
	if shift != 9 && shift != 12 {
		return fmt.Errorf("%w: sector shift %d is neither 9 nor 12", ErrNotMSI, shift)
	}
	sectors := size>>shift + 1
	for _, f := range []struct {
		name string
		off  int
	}{{"directory", 40}, {"FAT", 44}, {"mini FAT", 64}, {"DIFAT", 72}} {
		if n := int64(le.Uint32(h[f.off:])); n > sectors {
			return fmt.Errorf("%w: header claims %d %s sectors in a %d-byte file", ErrCorrupt, n, f.name, size)
		}
	}
	return nil
}

// database is an opened MSI: its streams by decoded name and string pool.
type database struct {
	size    int64
	streams map[string]*mscfb.File
	pool    *stringPool
}

// openDatabase lists the root streams of the compound file. mscfb is
// defensive but not fuzz-proof everywhere, so a panic inside it becomes
// ErrCorrupt rather than crashing the caller.
func openDatabase(ra io.ReaderAt, size int64) (db *database, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: compound file reader failed: %v", ErrCorrupt, p)
		}
	}()
	cf, err := mscfb.New(ra)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotMSI, err)
	}
	db = &database{size: size, streams: map[string]*mscfb.File{}}
	for _, f := range cf.File {
		if len(f.Path) != 0 || f.FileInfo().IsDir() {
			continue
		}
		db.streams[decodeStreamName(f.Name)] = f
	}
	for _, must := range []string{"!_StringPool", "!_StringData", "!_Tables"} {
		if _, ok := db.streams[must]; !ok {
			return nil, fmt.Errorf("%w: no %s stream", ErrNotMSI, strings.TrimPrefix(must, "!"))
		}
	}
	poolBytes, err := db.read("!_StringPool")
	if err != nil {
		return nil, err
	}
	dataBytes, err := db.read("!_StringData")
	if err != nil {
		return nil, err
	}
	db.pool, err = loadStringPool(poolBytes, dataBytes)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// read returns a whole stream, or nil and no error when it does not exist.
func (db *database) read(name string) (b []byte, err error) {
	f, ok := db.streams[name]
	if !ok {
		return nil, nil
	}
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("%w: reading stream %s: %v", ErrCorrupt, displayStream(name), p)
		}
	}()
	if f.Size < 0 || f.Size > db.size || f.Size > maxStream {
		return nil, fmt.Errorf("%w: stream %s claims %d bytes in a %d-byte file", ErrCorrupt, displayStream(name), f.Size, db.size)
	}
	b = make([]byte, f.Size)
	if len(b) == 0 {
		return b, nil
	}
	// Read sequentially in chunks: mscfb's per-call work grows with the
	// square of the sectors one call spans.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%w: reading stream %s: %v", ErrCorrupt, displayStream(name), err)
	}
	const chunk = 64 << 10
	for off := 0; off < len(b); {
		end := min(off+chunk, len(b))
		n, err := f.Read(b[off:end])
		if n != end-off {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("%w: reading stream %s: %v", ErrCorrupt, displayStream(name), err)
		}
		off = end
	}
	return b, nil
}

func displayStream(name string) string {
	if strings.HasPrefix(name, "!") {
		return "table " + name[1:]
	}
	return name
}

// decodeStreamName undoes MSI's packing of stream names: characters
// U+3800..U+47FF hold two characters of the alphabet [0-9A-Za-z._], U+4800..
// U+483F one, and U+4840 marks a table stream (rendered "!").
func decodeStreamName(s string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x3800 && r < 0x4800:
			v := r - 0x3800
			b.WriteByte(alphabet[v&0x3f])
			b.WriteByte(alphabet[(v>>6)&0x3f])
		case r >= 0x4800 && r < 0x4840:
			b.WriteByte(alphabet[r-0x4800])
		case r == 0x4840:
			b.WriteByte('!')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stringPool is the decoded _StringPool/_StringData pair.
type stringPool struct {
	codepage int
	refSize  int      // bytes per string reference in tables: 2, or 3 with the long-ref flag
	strs     []string // index = string id; strs[0] is ""
}

func loadStringPool(pool, data []byte) (*stringPool, error) {
	if len(pool) < 4 {
		return nil, fmt.Errorf("%w: string pool has %d bytes, want at least 4", ErrCorrupt, len(pool))
	}
	w0 := binary.LittleEndian.Uint16(pool[0:])
	w1 := binary.LittleEndian.Uint16(pool[2:])
	sp := &stringPool{codepage: int(w0) | int(w1&^0x8000)<<16, refSize: 2, strs: []string{""}}
	if w1&0x8000 != 0 {
		sp.refSize = 3
	}
	dec := decoderFor(sp.codepage)
	count := len(pool) / 4
	off := 0
	for i := 1; i < count; {
		l := int(binary.LittleEndian.Uint16(pool[i*4:]))
		refs := binary.LittleEndian.Uint16(pool[i*4+2:])
		switch {
		case l == 0 && refs == 0:
			// An unused id.
			sp.strs = append(sp.strs, "")
			i++
			continue
		case l == 0:
			// A string of 64 KiB or more: the next entry holds its length,
			// low word then high word.
			if i+1 >= count {
				return nil, fmt.Errorf("%w: string pool ends inside a long-string entry", ErrCorrupt)
			}
			l = int(binary.LittleEndian.Uint16(pool[(i+1)*4:])) | int(binary.LittleEndian.Uint16(pool[(i+1)*4+2:]))<<16
			i += 2
		default:
			i++
		}
		if l > len(data)-off {
			return nil, fmt.Errorf("%w: string %d (%d bytes) runs past the %d-byte string data", ErrCorrupt, len(sp.strs), l, len(data))
		}
		sp.strs = append(sp.strs, dec(data[off:off+l]))
		off += l
	}
	return sp, nil
}

func (sp *stringPool) get(id int) (string, error) {
	if id < 0 || id >= len(sp.strs) {
		return "", fmt.Errorf("%w: string reference %d outside the pool of %d strings", ErrCorrupt, id, len(sp.strs))
	}
	return sp.strs[id], nil
}

// Column type bits from _Columns.Type: the low byte is the width of an
// integer column, and this bit marks a string column (a string-pool
// reference of refSize bytes).
const (
	colTypeWidth  = 0x00ff
	colTypeString = 0x0800
)

type column struct {
	number int
	name   string
	typ    int
}

// width is the stored size of a column: string references are refSize
// bytes, integers 2 or 4.
func (db *database) width(c column) int {
	if c.typ&colTypeString != 0 {
		return db.pool.refSize
	}
	if c.typ&colTypeWidth <= 2 {
		return 2
	}
	return 4
}

// columns returns the columns of table from _Columns, ordered by number.
func (db *database) columns(table string) ([]column, error) {
	raw, err := db.read("!_Columns")
	if err != nil || raw == nil {
		return nil, err
	}
	rs := db.pool.refSize
	rowSize := rs + 2 + rs + 2
	if len(raw)%rowSize != 0 {
		return nil, fmt.Errorf("%w: _Columns is %d bytes, not a multiple of its %d-byte rows", ErrCorrupt, len(raw), rowSize)
	}
	rows := len(raw) / rowSize
	var cols []column
	for r := 0; r < rows; r++ {
		tid := readInt(raw, r*rs, rs)
		tname, err := db.pool.get(tid)
		if err != nil {
			return nil, err
		}
		if tname != table {
			continue
		}
		num := readInt(raw, rows*rs+r*2, 2) - 0x8000
		nid := readInt(raw, rows*(rs+2)+r*rs, rs)
		cname, err := db.pool.get(nid)
		if err != nil {
			return nil, err
		}
		typ := readInt(raw, rows*(rs+2+rs)+r*2, 2) - 0x8000
		cols = append(cols, column{number: num, name: cname, typ: typ})
	}
	slices.SortFunc(cols, func(a, b column) int { return a.number - b.number })
	return cols, nil
}

func readInt(b []byte, off, n int) int {
	v := 0
	for i := 0; i < n; i++ {
		v |= int(b[off+i]) << (8 * i)
	}
	return v
}

// properties reads the Property table. Its schema is fixed (Property s72
// key, Value l0), both string columns; _Columns is consulted to confirm it.
func (db *database) properties() ([]Property, error) {
	cols, err := db.columns("Property")
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		cols = []column{{1, "Property", colTypeString}, {2, "Value", colTypeString}}
	}
	if len(cols) != 2 || cols[0].typ&colTypeString == 0 || cols[1].typ&colTypeString == 0 {
		return nil, fmt.Errorf("%w: Property table has %d columns, want two string columns", ErrCorrupt, len(cols))
	}
	raw, err := db.read("!Property")
	if err != nil || raw == nil {
		return nil, err
	}
	w0, w1 := db.width(cols[0]), db.width(cols[1])
	rowSize := w0 + w1
	if len(raw)%rowSize != 0 {
		return nil, fmt.Errorf("%w: Property table is %d bytes, not a multiple of its %d-byte rows", ErrCorrupt, len(raw), rowSize)
	}
	rows := len(raw) / rowSize
	props := make([]Property, 0, rows)
	for r := 0; r < rows; r++ {
		k, err := db.pool.get(readInt(raw, r*w0, w0))
		if err != nil {
			return nil, err
		}
		v, err := db.pool.get(readInt(raw, rows*w0+r*w1, w1))
		if err != nil {
			return nil, err
		}
		props = append(props, Property{Name: k, Value: v})
	}
	return props, nil
}

func (db *database) packageInfo() (*PackageInfo, error) {
	props, err := db.properties()
	if err != nil {
		return nil, err
	}
	info := &PackageInfo{Properties: props, Codepage: db.pool.codepage}
	for _, p := range props {
		switch p.Name {
		case "ProductName":
			info.ProductName = p.Value
		case "ProductVersion":
			info.ProductVersion = p.Value
		case "ProductCode":
			info.ProductCode = p.Value
		case "UpgradeCode":
			info.UpgradeCode = p.Value
		case "Manufacturer":
			info.Manufacturer = p.Value
		case "ProductLanguage":
			info.ProductLanguage = p.Value
		}
	}
	si, err := db.read("SummaryInformation")
	if err != nil {
		return nil, err
	}
	if si != nil {
		if info.Summary, err = parseSummaryInfo(si); err != nil {
			return nil, err
		}
	}
	return info, nil
}
