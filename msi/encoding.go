package msi

import (
	"strings"
	"unicode/utf8"
)

// cp1252High maps bytes 0x80..0x9F of Windows-1252; the other bytes map to
// the same Unicode code point (as in ISO 8859-1). The five bytes Windows
// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to the C1 controls of
// the same value, as Windows' MultiByteToWideChar does.
var cp1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// decodeCP1252 decodes Windows-1252 text.
func decodeCP1252(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xA0:
			sb.WriteRune(cp1252High[c-0x80])
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
}

// decodeUTF8 returns b as a string with invalid sequences replaced by U+FFFD.
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// decoderFor returns the decoder for a database code page. UTF-8 (65001)
// and Windows-1252 are exact; 0 (neutral: ASCII by contract), 1252 and every
// other single-byte code page are decoded as Windows-1252, so the ASCII text
// that product names, versions and GUIDs use is always right.
func decoderFor(codepage int) func([]byte) string {
	if codepage == 65001 {
		return decodeUTF8
	}
	return decodeCP1252
}
