package job

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Names of the files in a deployment directory.
const (
	// FileJob is the job file the deployer writes.
	FileJob = "job"
	// FileProgress is the progress file the service rewrites.
	FileProgress = "progress"
	// FileResult is the result file the service writes when it ends: after
	// a run that failed, after an install that found another version of
	// the product, and after any run of a job with KeepLog.
	FileResult = "result"
	// FileLog is Windows Installer's verbose log; a run that succeeds
	// deletes it unless the job has KeepLog.
	FileLog = "install.log"
)

// Limits of a job file, as nxsvc enforces them.
const (
	MaxFileSize      = 65536
	MaxRecords       = 1024
	MaxProperties    = 256
	MaxIDLen         = 64
	MaxPropertyName  = 72
	MaxPackageName   = 128
	MaxUNCPath       = 1024
	MaxTimeout       = 604800 * time.Second
	MaxGrace         = 3600 * time.Second
	DefaultGrace     = 120 * time.Second
	headerSize       = 16
	recordHeaderSize = 8
	// version is the job file's format: 2 since KEEPLOG, and since a
	// successful run leaves nothing but the service in its directory (see
	// the package's doc). nxsvc reads only its own version, so a service of
	// another version refuses the job (ErrVersion) instead of ending with
	// other files than the Engine expects.
	version = 2
	magic   = "NXJB"
)

// Record tags and flags of the job file.
const (
	tagID        = 1
	tagOperation = 2
	tagPackage   = 3
	tagProduct   = 4
	tagProperty  = 5
	tagTimeout   = 6
	tagGrace     = 7
	tagSHA256    = 8
	tagSkip      = 9
	tagKeepLog   = 10
	flagSecret   = 1
)

// Operation is what the service does with the product.
type Operation uint32

// Operations.
const (
	// Install installs the package (MsiInstallProduct).
	Install Operation = 1
	// Uninstall removes the product (MsiConfigureProductEx, INSTALLSTATE_ABSENT).
	Uninstall Operation = 2
)

// String names the operation.
func (o Operation) String() string {
	switch o {
	case Install:
		return "install"
	case Uninstall:
		return "uninstall"
	}
	return fmt.Sprintf("operation(%d)", uint32(o))
}

// Property is one Windows Installer property of the job.
type Property struct {
	// Name is a Windows Installer identifier, such as "SERVER".
	Name string
	// Value is any text without NUL.
	Value string
	// Secret asks Windows Installer not to write the value into its log
	// (MsiHiddenProperties).
	Secret bool
}

// Job is what the service does in one deployment directory.
type Job struct {
	// ID names the deployment.
	ID string
	// Operation is Install or Uninstall.
	Operation Operation
	// Package is, for Install, the package's file name in the deployment
	// directory, or a UNC path \\server\share\...\file.msi.
	Package string
	// ProductCode is, for Uninstall, the product's code in braces; for
	// Install, the package's own, given with SkipIfInstalled and only then.
	ProductCode string
	// SkipIfInstalled, for Install, is the package's ProductVersion
	// ("major.minor.build", a fourth field is ignored as Windows Installer
	// ignores it): the service asks Windows Installer what it has of
	// ProductCode (MsiQueryProductState, MsiGetProductInfo) and, when that
	// version is installed, installs nothing and ends with
	// CodeAlreadyInstalled. Decode returns it as "major.minor.build".
	SkipIfInstalled string
	// PackageSHA256, when set (32 bytes), is the package's SHA-256: the
	// service installs nothing from a file that differs (CodeBadPackage).
	PackageSHA256 []byte
	// Properties are passed to Windows Installer in order.
	Properties []Property
	// Timeout bounds the installation: the service cancels it then (encoded
	// in whole seconds, rounded up).
	Timeout time.Duration
	// Grace is how long the service waits for Windows Installer to roll back
	// after a cancel before it ends its own process; 0 means DefaultGrace.
	Grace time.Duration
	// KeepLog keeps Windows Installer's log and the result file after a
	// successful run too, for an Engine that reads the log back after a
	// success too. Without it, a run that succeeds (installed, reboot
	// needed, already installed, or a product removed or already absent)
	// leaves only the service in its directory, and a result file only when
	// the host had another version of the product before; a run that fails
	// always leaves the log and the result. The log's secret values are
	// scrubbed either way.
	KeepLog bool
}

// Encode validates j with the service's own rules and returns the job file.
// Its errors name the offending field, never a property's value.
func (j Job) Encode() ([]byte, error) {
	for i, p := range j.Properties {
		if !utf8.ValidString(p.Value) {
			return nil, fmt.Errorf("job: property %d (%s): value is not valid UTF-8", i+1, safeName(p.Name))
		}
	}
	for field, s := range map[string]string{"id": j.ID, "package": j.Package, "product code": j.ProductCode} {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("job: %s is not valid UTF-8", field)
		}
	}
	if j.ID == "" {
		return nil, fmt.Errorf("job: id: %s (empty)", ErrID)
	}
	if j.Timeout <= 0 || j.Timeout > MaxTimeout {
		return nil, fmt.Errorf("job: timeout %v outside (0, %v]", j.Timeout, MaxTimeout)
	}
	if j.Grace < 0 || j.Grace > MaxGrace {
		return nil, fmt.Errorf("job: grace %v outside [0, %v]", j.Grace, MaxGrace)
	}
	if _, ok := PackVersion(j.SkipIfInstalled); j.SkipIfInstalled != "" && !ok {
		return nil, fmt.Errorf("job: skip-if-installed version %q is not a Windows Installer version (major.minor.build)", j.SkipIfInstalled)
	}
	b := j.marshal()
	if _, err := Decode(b); err != nil {
		return nil, j.describe(err)
	}
	return b, nil
}

// describe turns a ParseError of the job's own encoding into an error that
// names the field.
func (j Job) describe(err error) error {
	var pe *ParseError
	if !errors.As(err, &pe) {
		return err
	}
	field := pe.Code.String()
	if pe.Record > 0 {
		if name, ok := j.recordName(pe.Record); ok {
			return fmt.Errorf("job: %s: %s", name, field)
		}
	}
	return fmt.Errorf("job: %s", field)
}

// recordName names the n-th record (1-based) that marshal writes.
func (j Job) recordName(n uint32) (string, bool) {
	names := []string{"id", "operation"}
	if j.Package != "" {
		names = append(names, "package")
	}
	if j.ProductCode != "" {
		names = append(names, "product code")
	}
	if j.PackageSHA256 != nil {
		names = append(names, "package SHA-256")
	}
	if j.SkipIfInstalled != "" {
		names = append(names, "skip-if-installed version")
	}
	for i, p := range j.Properties {
		names = append(names, fmt.Sprintf("property %d (%s)", i+1, safeName(p.Name)))
	}
	names = append(names, "timeout", "grace")
	if j.KeepLog {
		names = append(names, "keep log")
	}
	if n == 0 || int(n) > len(names) {
		return "", false
	}
	return names[n-1], true
}

// safeName quotes a property name for an error, bounded and printable.
func safeName(s string) string {
	if len(s) > MaxPropertyName {
		s = s[:MaxPropertyName] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func (j Job) marshal() []byte {
	w := writer{buf: make([]byte, headerSize, 512)}
	w.str(tagID, 0, j.ID)
	w.u32(tagOperation, uint32(j.Operation))
	if j.Package != "" {
		w.str(tagPackage, 0, j.Package)
	}
	if j.ProductCode != "" {
		w.str(tagProduct, 0, j.ProductCode)
	}
	if j.PackageSHA256 != nil {
		w.record(tagSHA256, 0, j.PackageSHA256)
	}
	if v, ok := PackVersion(j.SkipIfInstalled); ok {
		w.u32(tagSkip, v)
	}
	for _, p := range j.Properties {
		name := utf16.Encode([]rune(p.Name))
		value := utf16.Encode([]rune(p.Value))
		var flags uint16
		if p.Secret {
			flags = flagSecret
		}
		payload := make([]byte, 2, 2+2*len(name)+2*len(value))
		binary.LittleEndian.PutUint16(payload, uint16(min(len(name), 0xFFFF)))
		payload = appendUTF16(payload, name)
		payload = appendUTF16(payload, value)
		w.record(tagProperty, flags, payload)
	}
	secs := int64(j.Timeout / time.Second)
	if j.Timeout%time.Second != 0 {
		secs++
	}
	w.u32(tagTimeout, uint32(min(secs, 1<<32-1)))
	if j.Grace > 0 {
		g := int64(j.Grace / time.Second)
		if j.Grace%time.Second != 0 {
			g++
		}
		w.u32(tagGrace, uint32(min(g, 1<<32-1)))
	}
	if j.KeepLog {
		w.record(tagKeepLog, 0, nil)
	}
	copy(w.buf, magic)
	binary.LittleEndian.PutUint32(w.buf[4:], version)
	binary.LittleEndian.PutUint32(w.buf[8:], uint32(min(len(w.buf), 1<<32-1)))
	binary.LittleEndian.PutUint32(w.buf[12:], w.count)
	return w.buf
}

type writer struct {
	buf   []byte
	count uint32
}

func (w *writer) record(tag, flags uint16, payload []byte) {
	var h [recordHeaderSize]byte
	binary.LittleEndian.PutUint16(h[0:], tag)
	binary.LittleEndian.PutUint16(h[2:], flags)
	binary.LittleEndian.PutUint32(h[4:], uint32(min(len(payload), 1<<32-1)))
	w.buf = append(append(w.buf, h[:]...), payload...)
	w.count++
}

func (w *writer) str(tag, flags uint16, s string) {
	w.record(tag, flags, appendUTF16(nil, utf16.Encode([]rune(s))))
}

func (w *writer) u32(tag uint16, v uint32) {
	w.record(tag, 0, binary.LittleEndian.AppendUint32(nil, v))
}

func appendUTF16(b []byte, units []uint16) []byte {
	for _, u := range units {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// ErrorCode is why a job file was refused; the values are nxsvc's (see
// csrc/nxjob.h) so both sides name a failure alike.
type ErrorCode int

// The job file's error codes.
const (
	ErrTooLarge ErrorCode = iota + 1
	ErrShort
	ErrMagic
	ErrVersion
	ErrLength
	ErrCount
	ErrTruncated
	ErrTrailing
	ErrTag
	ErrFlags
	ErrDuplicate
	ErrSize
	ErrNUL
	ErrID
	ErrOperation
	ErrPackage
	ErrProduct
	ErrPropertyName
	ErrPropertyReserved
	ErrPropertyDuplicate
	ErrPropertyCount
	ErrTimeout
	ErrGrace
	ErrMissing
	ErrConflict
)

var errorText = map[ErrorCode]string{
	ErrTooLarge:          "job file larger than 65536 bytes",
	ErrShort:             "job file shorter than its header",
	ErrMagic:             "not a job file (bad magic)",
	ErrVersion:           "job file version not supported",
	ErrLength:            "job file length differs from its header (truncated or extended)",
	ErrCount:             "too many records",
	ErrTruncated:         "record runs past the end of the file",
	ErrTrailing:          "bytes after the last record",
	ErrTag:               "unknown record tag",
	ErrFlags:             "record carries flags it may not have",
	ErrDuplicate:         "record given twice",
	ErrSize:              "record payload has the wrong size",
	ErrNUL:               "string contains a NUL character",
	ErrID:                "invalid deployment id",
	ErrOperation:         "unknown operation",
	ErrPackage:           "invalid package name or UNC path",
	ErrProduct:           "invalid product code",
	ErrPropertyName:      "invalid property name",
	ErrPropertyReserved:  "property set by the service itself (REBOOT, MsiHiddenProperties)",
	ErrPropertyDuplicate: "property given twice",
	ErrPropertyCount:     "too many properties",
	ErrTimeout:           "timeout out of range",
	ErrGrace:             "cancel grace period out of range",
	ErrMissing:           "required record missing",
	ErrConflict:          "records do not fit the operation",
}

// String is the code's description, the text nxsvc writes into its result.
func (c ErrorCode) String() string {
	if s, ok := errorText[c]; ok {
		return s
	}
	return fmt.Sprintf("job error %d", int(c))
}

// ParseError is a job file refused by Decode.
type ParseError struct {
	// Code says why.
	Code ErrorCode
	// Record is the 1-based record where parsing stopped, 0 for the header
	// or the file as a whole.
	Record uint32
	// Offset is the byte offset of that record.
	Offset uint32
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Record > 0 {
		return fmt.Sprintf("job file: record %d at byte %d: %s", e.Record, e.Offset, e.Code)
	}
	return "job file: " + e.Code.String()
}

// Decode parses and validates a job file with exactly nxsvc's rules (a
// test compiles nxsvc's parser and compares the two on fuzzed input).
func Decode(b []byte) (Job, error) {
	var (
		j      Job
		seen   uint32
		units  = make(map[string]bool)
		hasOp  bool
		hasPkg bool
		hasPrd bool
		hasID  bool
		hasSkp bool
	)
	fail := func(c ErrorCode, rec uint32, off int) (Job, error) {
		return Job{}, &ParseError{Code: c, Record: rec, Offset: uint32(off)}
	}
	switch {
	case len(b) > MaxFileSize:
		return fail(ErrTooLarge, 0, 0)
	case len(b) < headerSize:
		return fail(ErrShort, 0, 0)
	case string(b[:4]) != magic:
		return fail(ErrMagic, 0, 0)
	case binary.LittleEndian.Uint32(b[4:]) != version:
		return fail(ErrVersion, 0, 0)
	case binary.LittleEndian.Uint32(b[8:]) != uint32(len(b)):
		return fail(ErrLength, 0, 0)
	}
	count := binary.LittleEndian.Uint32(b[12:])
	if count > MaxRecords {
		return fail(ErrCount, 0, 0)
	}
	pos := headerSize
	for r := uint32(1); r <= count; r++ {
		start := pos
		if len(b)-pos < recordHeaderSize {
			return fail(ErrTruncated, r, start)
		}
		tag := binary.LittleEndian.Uint16(b[pos:])
		flags := binary.LittleEndian.Uint16(b[pos+2:])
		plen := binary.LittleEndian.Uint32(b[pos+4:])
		pos += recordHeaderSize
		if uint64(plen) > uint64(len(b)-pos) {
			return fail(ErrTruncated, r, start)
		}
		p := b[pos : pos+int(plen)]
		pos += int(plen)
		if tag < tagID || tag > tagKeepLog {
			return fail(ErrTag, r, start)
		}
		if flags != 0 && !(tag == tagProperty && flags == flagSecret) {
			return fail(ErrFlags, r, start)
		}
		if tag != tagProperty {
			if seen&(1<<tag) != 0 {
				return fail(ErrDuplicate, r, start)
			}
			seen |= 1 << tag
		}
		switch tag {
		case tagID, tagPackage, tagProduct:
			if plen == 0 || plen%2 != 0 {
				return fail(ErrSize, r, start)
			}
			u := readUTF16(p)
			if hasNUL(u) {
				return fail(ErrNUL, r, start)
			}
			switch tag {
			case tagID:
				if !validID(u) {
					return fail(ErrID, r, start)
				}
				j.ID, hasID = decodeUTF16(u), true
			case tagPackage:
				if !validPackage(u) {
					return fail(ErrPackage, r, start)
				}
				j.Package, hasPkg = decodeUTF16(u), true
			default:
				if !validProduct(u) {
					return fail(ErrProduct, r, start)
				}
				j.ProductCode, hasPrd = decodeUTF16(u), true
			}
		case tagOperation, tagTimeout, tagGrace, tagSkip:
			if plen != 4 {
				return fail(ErrSize, r, start)
			}
			v := binary.LittleEndian.Uint32(p)
			switch tag {
			case tagSkip:
				j.SkipIfInstalled, hasSkp = UnpackVersion(v), true
			case tagOperation:
				if v != uint32(Install) && v != uint32(Uninstall) {
					return fail(ErrOperation, r, start)
				}
				j.Operation, hasOp = Operation(v), true
			case tagTimeout:
				if v < 1 || time.Duration(v)*time.Second > MaxTimeout {
					return fail(ErrTimeout, r, start)
				}
				j.Timeout = time.Duration(v) * time.Second
			default:
				if v < 1 || time.Duration(v)*time.Second > MaxGrace {
					return fail(ErrGrace, r, start)
				}
				j.Grace = time.Duration(v) * time.Second
			}
		case tagSHA256:
			if plen != 32 {
				return fail(ErrSize, r, start)
			}
			j.PackageSHA256 = append([]byte(nil), p...)
		case tagKeepLog:
			if plen != 0 {
				return fail(ErrSize, r, start)
			}
			j.KeepLog = true
		case tagProperty:
			if len(j.Properties) >= MaxProperties {
				return fail(ErrPropertyCount, r, start)
			}
			if plen < 2 {
				return fail(ErrSize, r, start)
			}
			nlen := uint32(binary.LittleEndian.Uint16(p))
			if nlen == 0 || 2*nlen > plen-2 {
				return fail(ErrSize, r, start)
			}
			vbytes := plen - 2 - 2*nlen
			if vbytes%2 != 0 {
				return fail(ErrSize, r, start)
			}
			name := readUTF16(p[2 : 2+2*nlen])
			if hasNUL(name) {
				return fail(ErrNUL, r, start)
			}
			if !validPropertyName(name) {
				return fail(ErrPropertyName, r, start)
			}
			key := string(decodeUTF16(name))
			if strings.EqualFold(key, "REBOOT") || strings.EqualFold(key, "MsiHiddenProperties") {
				return fail(ErrPropertyReserved, r, start)
			}
			if units[key] {
				return fail(ErrPropertyDuplicate, r, start)
			}
			value := readUTF16(p[2+2*nlen:])
			if hasNUL(value) {
				return fail(ErrNUL, r, start)
			}
			units[key] = true
			j.Properties = append(j.Properties, Property{Name: key, Value: decodeUTF16(value), Secret: flags == flagSecret})
		}
	}
	if pos != len(b) {
		return fail(ErrTrailing, 0, pos)
	}
	if !hasID || !hasOp || j.Timeout == 0 {
		return fail(ErrMissing, 0, pos)
	}
	if j.Operation == Install {
		if !hasPkg {
			return fail(ErrMissing, 0, pos)
		}
		// The product code of an installation is the package's, for the
		// skip check alone: both or neither.
		if hasSkp && !hasPrd {
			return fail(ErrMissing, 0, pos)
		}
		if hasPrd && !hasSkp {
			return fail(ErrConflict, 0, pos)
		}
	} else {
		if !hasPrd {
			return fail(ErrMissing, 0, pos)
		}
		if hasPkg || j.PackageSHA256 != nil || hasSkp {
			return fail(ErrConflict, 0, pos)
		}
	}
	return j, nil
}

func readUTF16(p []byte) []uint16 {
	u := make([]uint16, len(p)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(p[2*i:])
	}
	return u
}

func decodeUTF16(u []uint16) string { return string(utf16.Decode(u)) }

func hasNUL(u []uint16) bool {
	for _, c := range u {
		if c == 0 {
			return true
		}
	}
	return false
}

func isAlpha(c uint16) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isDigit(c uint16) bool { return c >= '0' && c <= '9' }
func isHex(c uint16) bool   { return isDigit(c) || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f' }

func validID(u []uint16) bool {
	if len(u) < 1 || len(u) > MaxIDLen {
		return false
	}
	for _, c := range u {
		if !isAlpha(c) && !isDigit(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	s := decodeUTF16(u)
	return s != "." && s != ".."
}

func forbiddenInName(c uint16) bool {
	return c < 0x20 || c == 0x7f || strings.ContainsRune(`\/:*?"<>|`, rune(c))
}

func validComponent(u []uint16) bool {
	if len(u) == 0 {
		return false
	}
	if s := decodeUTF16(u); s == "." || s == ".." {
		return false
	}
	if last := u[len(u)-1]; last == ' ' || last == '.' {
		return false
	}
	for _, c := range u {
		if forbiddenInName(c) {
			return false
		}
	}
	return true
}

func validPackage(u []uint16) bool {
	if len(u) >= 2 && u[0] == '\\' && u[1] == '\\' {
		if len(u) > MaxUNCPath {
			return false
		}
		parts := 0
		start := 2
		for i := 2; i <= len(u); i++ {
			if i == len(u) || u[i] == '\\' {
				if !validComponent(u[start:i]) {
					return false
				}
				parts++
				start = i + 1
			}
		}
		return parts >= 3
	}
	return len(u) <= MaxPackageName && validComponent(u)
}

func validProduct(u []uint16) bool {
	if len(u) != 38 || u[0] != '{' || u[37] != '}' {
		return false
	}
	for i := 1; i < 37; i++ {
		switch i {
		case 9, 14, 19, 24:
			if u[i] != '-' {
				return false
			}
		default:
			if !isHex(u[i]) {
				return false
			}
		}
	}
	return true
}

func validPropertyName(u []uint16) bool {
	if len(u) < 1 || len(u) > MaxPropertyName {
		return false
	}
	if !isAlpha(u[0]) && u[0] != '_' {
		return false
	}
	for _, c := range u[1:] {
		if !isAlpha(c) && !isDigit(c) && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// PackVersion packs a Windows Installer version "major.minor.build" or
// "major.minor.build.revision" (major and minor at most 255, build at most
// 65535; the revision, which Windows Installer ignores, is dropped) as
// major<<24 | minor<<16 | build, as nxsvc's nxjob_version does; false when
// s is not such a version.
func PackVersion(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) < 3 || len(parts) > 4 {
		return 0, false
	}
	limits := [4]uint64{255, 255, 65535, 1<<32 - 1}
	var f [4]uint64
	for i, p := range parts {
		if p == "" || len(p) > 10 {
			return 0, false
		}
		var v uint64
		for _, c := range []byte(p) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + uint64(c-'0')
		}
		if v > limits[i] {
			return 0, false
		}
		f[i] = v
	}
	return uint32(f[0]<<24 | f[1]<<16 | f[2]), true
}

// UnpackVersion formats a packed version as "major.minor.build".
func UnpackVersion(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v>>24, v>>16&0xFF, v&0xFFFF)
}
