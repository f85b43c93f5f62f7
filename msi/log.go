package msi

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that keep a Parser's memory bounded whatever it is fed.
const (
	maxLineBytes    = 64 << 10 // a longer "line" is cut into pieces
	maxStoredLine   = 2000     // characters kept of any line remembered
	contextLines    = 12       // lines kept before a "Return value 3."
	tailLines       = 40       // last lines kept for the excerpt
	maxErrorEntries = 100      // Error and Note lines kept
)

// Log encodings reported in LogSummary.Encoding.
const (
	EncodingUTF16LE = "utf-16le"
	EncodingUTF8BOM = "utf-8-bom"
	EncodingUTF8    = "utf-8"
	// EncodingANSI is Windows-1252; in a log that mixes valid UTF-8 lines and
	// 8-bit lines, each line is decoded on its own and this is reported as
	// soon as one line needed Windows-1252.
	EncodingANSI = "windows-1252"
)

// LogLine is one remembered line of a log, with its 1-based line number.
type LogLine struct {
	// Number is the line's 1-based position in the log.
	Number int
	// Text is the decoded line without its line ending, cut to 2000
	// characters.
	Text string
}

// LogError is an "Error NNNN." message found in a log.
type LogError struct {
	LogLine
	// Code is NNNN, the Windows Installer error message number (1722,
	// 1603, ...), not the process exit code.
	Code int
}

// LogSummary is what a verbose msiexec log (/l*v) says about an
// installation. Fields are filled as far as the log goes: a summary of a
// log still being written is valid.
type LogSummary struct {
	// Encoding is the detected text encoding (EncodingUTF16LE, ...).
	Encoding string
	// Lines is the number of lines read.
	Lines int
	// ReturnCode is msiexec's final status ("MainEngineThread is returning
	// N", "Installation success or error status: N."); valid when
	// HasReturnCode. The last such line in the log wins.
	ReturnCode    int
	HasReturnCode bool
	// ProductName, ProductVersion and Manufacturer come from the final
	// "Windows Installer installed the product." line, or else from the
	// Property(S)/Property(C) dump.
	ProductName, ProductVersion, Manufacturer string
	// FailedAction is the first action that ended with "Return value 3."
	// (a fatal error), e.g. "InstallFinalize"; "" when none did.
	FailedAction string
	// FailedActionLine is that "Action ended ... Return value 3." line and
	// FailedActionContext the lines just before it (at most 12), where
	// Windows Installer explains the failure.
	FailedActionLine    LogLine
	FailedActionContext []LogLine
	// Errors are the "Error NNNN." lines (also "-- Error NNNN." and
	// "DEBUG: Error NNNN:"), at most 100, deduplicated by text.
	Errors []LogError
	// Notes are the "Note: 1: ..." lines, at most 100.
	Notes []LogLine
	// StatusLines are the lines that carried the return code or the
	// "Product: X -- Installation failed." / "... completed successfully."
	// outcome.
	StatusLines []LogLine
	// LastAction and LastActionTime come from the last "Action start
	// HH:MM:SS: X." line: a progress hint while the log grows.
	LastAction, LastActionTime string
	// ActionsStarted counts "Action start" lines.
	ActionsStarted int
	// Tail holds the last 40 lines.
	Tail []LogLine
}

var (
	reActionStart = regexp.MustCompile(`^Action start (\d{1,2}:\d{2}:\d{2}): ([A-Za-z_][A-Za-z0-9_.]*?)\.(?:\s|$)`)
	reActionEnded = regexp.MustCompile(`^Action ended (\d{1,2}:\d{2}:\d{2}): (.+?)\. Return value (\d+)\.`)
	reEngine      = regexp.MustCompile(`MainEngineThread is returning (\d+)`)
	reInstalled   = regexp.MustCompile(`Windows Installer (?:installed|removed|reconfigured|updated) the product\. Product Name: (.*?)\. Product Version: (.*?)\. Product Language: .*?\. Manufacturer: (.*?)\. (?:Installation|Removal|Reconfiguration|Update) (?:success or error|completed with) status: (-?\d+)\.`)
	reError       = regexp.MustCompile(`(?:^|-- |DEBUG: )Error (\d{1,5})[.:]`)
	reNote        = regexp.MustCompile(`\bNote: 1: `)
	reOutcome     = regexp.MustCompile(`Product: .* -- (?:Installation|Removal|Configuration) (?:failed|completed successfully|operation failed|operation completed successfully)\.`)
	reProperty    = regexp.MustCompile(`^Property\([SC]\): (ProductName|ProductVersion|Manufacturer) = (.*)$`)
)

// Parser reads a verbose msiexec log incrementally: Feed it the bytes as the
// log grows (in chunks of any size, split anywhere, even inside a UTF-16
// character), and read Summary at any time. The zero value is ready to use.
// A Parser is not safe for concurrent use.
type Parser struct {
	started  bool
	encoding string
	utf16    bool
	head     []byte // bytes held until the encoding is known
	odd      []byte // a trailing byte of an incomplete UTF-16 code unit
	partial  []byte // bytes of the current, unterminated line (UTF-8 or 8-bit)
	highSur  uint16 // a pending UTF-16 high surrogate
	sum      LogSummary
	ctx      []LogLine // ring of the last contextLines lines
	seenErr  map[string]bool
	gotFinal bool // ProductName etc. from the final line, not the dump
}

// ParseLog parses a complete log.
func ParseLog(b []byte) *LogSummary {
	var p Parser
	p.Feed(b)
	return p.Close()
}

// ParseLogReader parses a complete log from r. It returns the summary of
// what it read and the first read error other than io.EOF.
func ParseLogReader(r io.Reader) (*LogSummary, error) {
	var p Parser
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		p.Feed(buf[:n])
		if errors.Is(err, io.EOF) {
			return p.Close(), nil
		}
		if err != nil {
			return p.Close(), err
		}
	}
}

// Write feeds b to the parser; it never fails. It makes *Parser an
// io.Writer, e.g. for io.Copy from a file being tailed.
func (p *Parser) Write(b []byte) (int, error) {
	p.Feed(b)
	return len(b), nil
}

// Feed adds the next bytes of the log. Complete lines are parsed at once;
// an unterminated last line waits for more bytes or Close.
func (p *Parser) Feed(b []byte) {
	if len(b) == 0 {
		return
	}
	if !p.started {
		p.head = append(p.head, b...)
		if len(p.head) < 4 {
			return
		}
		p.detect()
		b, p.head = p.head, nil
	}
	p.feed(b)
}

// detect picks the encoding from the first bytes and strips the BOM.
func (p *Parser) detect() {
	p.started = true
	h := p.head
	switch {
	case len(h) >= 2 && h[0] == 0xFF && h[1] == 0xFE:
		p.encoding, p.utf16, p.head = EncodingUTF16LE, true, h[2:]
	case len(h) >= 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF:
		p.encoding, p.head = EncodingUTF8BOM, h[3:]
	case len(h) >= 4 && h[0] != 0 && h[1] == 0 && h[2] != 0 && h[3] == 0:
		// UTF-16LE without a BOM: ASCII text with zero high bytes.
		p.encoding, p.utf16 = EncodingUTF16LE, true
	default:
		p.encoding = EncodingUTF8
	}
	p.sum.Encoding = p.encoding
}

func (p *Parser) feed(b []byte) {
	if !p.utf16 {
		p.splitLines(b)
		return
	}
	if len(p.odd) > 0 {
		b = append(p.odd, b...)
		p.odd = nil
	}
	if len(b)%2 == 1 {
		p.odd = []byte{b[len(b)-1]}
		b = b[:len(b)-1]
	}
	// Transcode to UTF-8, carrying a high surrogate across chunks.
	out := make([]byte, 0, len(b))
	for i := 0; i+1 < len(b); i += 2 {
		u := uint16(b[i]) | uint16(b[i+1])<<8
		switch {
		case p.highSur != 0 && u >= 0xDC00 && u < 0xE000:
			r := (rune(p.highSur)-0xD800)<<10 + (rune(u) - 0xDC00) + 0x10000
			out = utf8.AppendRune(out, r)
			p.highSur = 0
			continue
		case p.highSur != 0:
			out = utf8.AppendRune(out, utf8.RuneError)
			p.highSur = 0
		}
		switch {
		case u >= 0xD800 && u < 0xDC00:
			p.highSur = u
		case u >= 0xDC00 && u < 0xE000:
			out = utf8.AppendRune(out, utf8.RuneError)
		default:
			out = utf8.AppendRune(out, rune(u))
		}
	}
	p.splitLines(out)
}

func (p *Parser) splitLines(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			for len(p.partial) > maxLineBytes {
				// Do not split a UTF-8 sequence.
				cut := maxLineBytes
				for cut > maxLineBytes-4 && !utf8.RuneStart(p.partial[cut]) {
					cut--
				}
				p.line(p.partial[:cut])
				p.partial = append([]byte(nil), p.partial[cut:]...)
			}
			return
		}
		if len(p.partial) > 0 {
			p.partial = append(p.partial, b[:i]...)
			p.line(p.partial)
			p.partial = p.partial[:0]
		} else {
			p.line(b[:i])
		}
		b = b[i+1:]
	}
}

// Close parses a final unterminated line and returns the summary. The
// parser must not be fed afterwards.
func (p *Parser) Close() *LogSummary {
	if !p.started && len(p.head) > 0 {
		p.detect()
		h := p.head
		p.head = nil
		p.feed(h)
	}
	if p.highSur != 0 || len(p.odd) > 0 {
		p.partial = utf8.AppendRune(p.partial, utf8.RuneError)
		p.highSur, p.odd = 0, nil
	}
	if len(p.partial) > 0 {
		p.line(p.partial)
		p.partial = nil
	}
	return p.Summary()
}

// Summary returns a copy of what has been parsed so far.
func (p *Parser) Summary() *LogSummary {
	s := p.sum
	s.FailedActionContext = slices.Clone(s.FailedActionContext)
	s.Errors = slices.Clone(s.Errors)
	s.Notes = slices.Clone(s.Notes)
	s.StatusLines = slices.Clone(s.StatusLines)
	s.Tail = slices.Clone(p.sum.Tail)
	if s.Encoding == "" && p.started {
		s.Encoding = p.encoding
	}
	return &s
}

// Progress returns the last action started so far ("InstallFiles") and its
// time as logged ("10:15:03"), and false when no action has started yet.
func (p *Parser) Progress() (action, at string, ok bool) {
	return p.sum.LastAction, p.sum.LastActionTime, p.sum.LastAction != ""
}

// line handles one raw line (without '\n').
func (p *Parser) line(raw []byte) {
	raw = bytes.TrimSuffix(raw, []byte{'\r'})
	var text string
	if p.utf16 || utf8.Valid(raw) {
		text = string(raw)
	} else {
		text = decodeCP1252(raw)
		if p.encoding == EncodingUTF8 || p.encoding == EncodingUTF8BOM {
			p.encoding = EncodingANSI
			p.sum.Encoding = EncodingANSI
		}
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	p.sum.Lines++
	ll := LogLine{Number: p.sum.Lines, Text: truncateRunes(text, maxStoredLine)}
	p.analyze(ll)
	p.ctx = appendRing(p.ctx, ll, contextLines)
	p.sum.Tail = appendRing(p.sum.Tail, ll, tailLines)
}

func appendRing(r []LogLine, l LogLine, n int) []LogLine {
	if len(r) >= n {
		copy(r, r[1:])
		r = r[:n-1]
	}
	return append(r, l)
}

func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

func (p *Parser) analyze(ll LogLine) {
	t := ll.Text
	s := &p.sum
	action := strings.HasPrefix(t, "Action ")
	if m := match(action, reActionStart, t); m != nil {
		s.LastActionTime, s.LastAction = m[1], m[2]
		s.ActionsStarted++
		return
	}
	if m := match(action, reActionEnded, t); m != nil {
		if m[3] == "3" && s.FailedAction == "" {
			s.FailedAction = m[2]
			s.FailedActionLine = ll
			s.FailedActionContext = slices.Clone(p.ctx)
		}
		return
	}
	if m := match(strings.Contains(t, "Windows Installer "), reInstalled, t); m != nil {
		s.ProductName, s.ProductVersion, s.Manufacturer = m[1], m[2], m[3]
		p.gotFinal = true
		p.setCode(m[4], ll)
		return
	}
	if m := match(strings.Contains(t, "MainEngineThread"), reEngine, t); m != nil {
		p.setCode(m[1], ll)
		return
	}
	if strings.Contains(t, "Product: ") && reOutcome.MatchString(t) {
		s.StatusLines = appendCapped(s.StatusLines, ll)
	}
	if m := match(strings.Contains(t, "Error "), reError, t); m != nil {
		// The same message is often logged twice (plain and "Product: X --").
		key := t[strings.Index(t, "Error "):]
		if !p.seenErr[key] && len(s.Errors) < maxErrorEntries {
			if p.seenErr == nil {
				p.seenErr = map[string]bool{}
			}
			p.seenErr[key] = true
			code, _ := strconv.Atoi(m[1])
			s.Errors = append(s.Errors, LogError{LogLine: ll, Code: code})
		}
		return
	}
	if strings.Contains(t, "Note: 1: ") && reNote.MatchString(t) {
		if len(s.Notes) < maxErrorEntries {
			s.Notes = append(s.Notes, ll)
		}
		return
	}
	if !p.gotFinal {
		if m := match(strings.HasPrefix(t, "Property("), reProperty, t); m != nil {
			switch m[1] {
			case "ProductName":
				s.ProductName = m[2]
			case "ProductVersion":
				s.ProductVersion = m[2]
			case "Manufacturer":
				s.Manufacturer = m[2]
			}
		}
	}
}

// match runs re only when the cheap pre-check passed.
func match(pre bool, re *regexp.Regexp, t string) []string {
	if !pre {
		return nil
	}
	return re.FindStringSubmatch(t)
}

func (p *Parser) setCode(num string, ll LogLine) {
	code, err := strconv.Atoi(num)
	if err != nil || code < -1<<31 || code > 1<<32-1 {
		return
	}
	p.sum.ReturnCode, p.sum.HasReturnCode = code, true
	p.sum.StatusLines = appendCapped(p.sum.StatusLines, ll)
}

func appendCapped(l []LogLine, ll LogLine) []LogLine {
	if len(l) >= maxErrorEntries {
		return l
	}
	return append(l, ll)
}

// Excerpt returns at most n lines (n < 1 means 20) that explain the
// outcome, in log order, joined by "\n", for attaching to an error. Lines
// are chosen in this order until n are picked: the failed action's "Return
// value 3." line, the last status line, the "Error NNNN." lines, the lines
// just before the failed action (nearest first), the other status lines;
// when none exist, the last lines of the log. Each line is prefixed with its
// line number ("1234: "), which shows where lines were skipped.
func (s *LogSummary) Excerpt(n int) string {
	if n < 1 {
		n = 20
	}
	picked := map[int]string{}
	add := func(l LogLine) bool {
		if _, ok := picked[l.Number]; ok {
			return true
		}
		if len(picked) >= n {
			return false
		}
		picked[l.Number] = l.Text
		return true
	}
	if s.FailedAction != "" {
		add(s.FailedActionLine)
	}
	if k := len(s.StatusLines); k > 0 {
		add(s.StatusLines[k-1])
	}
	for _, e := range s.Errors {
		if !add(e.LogLine) {
			break
		}
	}
	if s.FailedAction != "" {
		ctx := s.FailedActionContext
		for i := len(ctx) - 1; i >= 0; i-- {
			if strings.TrimSpace(ctx[i].Text) == "" {
				continue
			}
			if !add(ctx[i]) {
				break
			}
		}
	}
	for i := len(s.StatusLines) - 1; i >= 0; i-- {
		if !add(s.StatusLines[i]) {
			break
		}
	}
	if len(picked) == 0 {
		tail := s.Tail
		if len(tail) > n {
			tail = tail[len(tail)-n:]
		}
		for _, l := range tail {
			add(l)
		}
	}
	nums := make([]int, 0, len(picked))
	for k := range picked {
		nums = append(nums, k)
	}
	slices.Sort(nums)
	var b strings.Builder
	for i, k := range nums {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strconv.Itoa(k))
		b.WriteString(": ")
		b.WriteString(picked[k])
	}
	return b.String()
}
