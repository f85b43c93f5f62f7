package msi

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// SummaryInfo is the package's summary information stream
// (\x05SummaryInformation, an OLE property set).
type SummaryInfo struct {
	// Title, Subject, Author, Keywords and Comments are free text.
	Title, Subject, Author, Keywords, Comments string
	// Template is "platform;languages", e.g. "x64;1033".
	Template string
	// Platform is Template's part before ';': "Intel", "x64", "Arm64",
	// "Intel64" or "" (meaning Intel).
	Platform string
	// Languages is Template's part after ';', e.g. "1033" or "0".
	Languages string
	// PackageCode is the revision number property: the package's GUID.
	PackageCode string
	// AppName is the name of the tool that built the package.
	AppName string
	// MinInstallerVersion is the page count property, e.g. 200 for 2.0.
	MinInstallerVersion int
	// SourceFlags is the word count property (bit 1: compressed).
	SourceFlags int
	// Security is the security property (2: read-only recommended).
	Security int
	// Created and LastSaved are the create and last-save times (zero if
	// absent).
	Created, LastSaved time.Time
}

// Summary information property identifiers (PIDSI_*) and variant types.
const (
	pidCodepage    = 1
	pidTitle       = 2
	pidSubject     = 3
	pidAuthor      = 4
	pidKeywords    = 5
	pidComments    = 6
	pidTemplate    = 7
	pidRevision    = 9
	pidCreated     = 12
	pidLastSaved   = 13
	pidPageCount   = 14
	pidWordCount   = 15
	pidAppName     = 18
	pidSecurity    = 19
	vtI2           = 2
	vtI4           = 3
	vtLPSTR        = 30
	vtFILETIME     = 64
	maxSummaryProp = 1024
)

// parseSummaryInfo decodes the first section of a property set stream.
func parseSummaryInfo(b []byte) (SummaryInfo, error) {
	var si SummaryInfo
	bad := func(what string) (SummaryInfo, error) {
		return SummaryInfo{}, fmt.Errorf("%w: summary information: %s", ErrCorrupt, what)
	}
	if len(b) < 48 {
		return bad("stream too short")
	}
	if binary.LittleEndian.Uint16(b) != 0xFFFE {
		return bad("bad byte-order mark")
	}
	if binary.LittleEndian.Uint32(b[24:]) < 1 {
		return bad("no property section")
	}
	secOff := int64(binary.LittleEndian.Uint32(b[44:]))
	if secOff < 48 || secOff > int64(len(b))-8 {
		return bad("section offset out of range")
	}
	sec := b[secOff:]
	secSize := int64(binary.LittleEndian.Uint32(sec))
	if secSize < 8 || secSize > int64(len(sec)) {
		return bad("section size out of range")
	}
	sec = sec[:secSize]
	n := int64(binary.LittleEndian.Uint32(sec[4:]))
	if n > maxSummaryProp || 8+n*8 > int64(len(sec)) {
		return bad("property count out of range")
	}
	type entry struct {
		typ  uint32
		data []byte
	}
	props := map[uint32]entry{}
	for i := int64(0); i < n; i++ {
		id := binary.LittleEndian.Uint32(sec[8+i*8:])
		off := int64(binary.LittleEndian.Uint32(sec[12+i*8:]))
		if off < 8 || off > int64(len(sec))-4 {
			return bad(fmt.Sprintf("property %d offset out of range", id))
		}
		props[id] = entry{typ: binary.LittleEndian.Uint32(sec[off:]) & 0xffff, data: sec[off+4:]}
	}
	codepage := 1252
	if e, ok := props[pidCodepage]; ok && e.typ == vtI2 && len(e.data) >= 2 {
		codepage = int(uint16(binary.LittleEndian.Uint16(e.data)))
	}
	dec := decoderFor(codepage)
	str := func(id uint32) string {
		e, ok := props[id]
		if !ok || e.typ != vtLPSTR || len(e.data) < 4 {
			return ""
		}
		l := int64(binary.LittleEndian.Uint32(e.data))
		if l > int64(len(e.data))-4 {
			return ""
		}
		s := e.data[4 : 4+l]
		for len(s) > 0 && s[len(s)-1] == 0 {
			s = s[:len(s)-1]
		}
		return dec(s)
	}
	num := func(id uint32) int {
		e, ok := props[id]
		switch {
		case !ok:
			return 0
		case e.typ == vtI2 && len(e.data) >= 2:
			return int(int16(binary.LittleEndian.Uint16(e.data)))
		case e.typ == vtI4 && len(e.data) >= 4:
			return int(int32(binary.LittleEndian.Uint32(e.data)))
		}
		return 0
	}
	tm := func(id uint32) time.Time {
		e, ok := props[id]
		if !ok || e.typ != vtFILETIME || len(e.data) < 8 {
			return time.Time{}
		}
		ft := binary.LittleEndian.Uint64(e.data)
		if ft == 0 {
			return time.Time{}
		}
		// 100 ns intervals since 1601-01-01 UTC.
		const epochDiff = 116444736000000000
		if ft < epochDiff {
			return time.Time{}
		}
		d := ft - epochDiff
		return time.Unix(int64(d/10_000_000), int64(d%10_000_000)*100).UTC()
	}
	si.Title = str(pidTitle)
	si.Subject = str(pidSubject)
	si.Author = str(pidAuthor)
	si.Keywords = str(pidKeywords)
	si.Comments = str(pidComments)
	si.Template = str(pidTemplate)
	si.Platform, si.Languages, _ = strings.Cut(si.Template, ";")
	si.PackageCode = str(pidRevision)
	si.AppName = str(pidAppName)
	si.MinInstallerVersion = num(pidPageCount)
	si.SourceFlags = num(pidWordCount)
	si.Security = num(pidSecurity)
	si.Created = tm(pidCreated)
	si.LastSaved = tm(pidLastSaved)
	return si, nil
}
