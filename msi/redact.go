package msi

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinRedactEverywhere is the length (in characters) from which a property
// value is redacted wherever it appears. Shorter values ("1", "yes") would
// otherwise blank out every such word of a log: they are redacted only as
// whole words on lines that name their property (as "NAME=1" on the
// "Command Line:" line, or "PROPERTY CHANGE: Adding NAME property. Its
// value is '1'.").
const MinRedactEverywhere = 4

// minRedactPartial is the shortest piece of a value redacted at the start
// or end of a log line, where the parser cut an over-long line.
const minRedactPartial = 4

// Redactor hides the values of MSI properties in text: the msiexec log
// lines and the messages an installation returns. A value is replaced by
// "<NAME redacted>" in every form msiexec writes it (as given, with each
// double quote doubled as on a command line, and with its double quotes
// dropped), whatever its case. See
// MinRedactEverywhere for short values. The zero Redactor and a nil one
// change nothing. A Redactor is safe for concurrent use.
type Redactor struct {
	long      *regexp.Regexp    // every long value and variant, longest first
	names     map[string]string // lower-cased long variant -> property name
	longVals  []redactValue     // for pieces at the edges of a cut line
	short     []shortValue
	shortMark []*regexp.Regexp // per short value: its property's name as a word
}

type redactValue struct{ name, value string }

type shortValue struct {
	name  string
	value *regexp.Regexp
}

// NewRedactor returns a Redactor for the values of props. Empty and
// all-blank values are not secrets and are left alone.
func NewRedactor(props []Property) *Redactor {
	r := &Redactor{names: map[string]string{}}
	var alts []string
	for _, p := range props {
		if strings.TrimSpace(p.Value) == "" {
			continue
		}
		// As given; with each double quote doubled (the command line's
		// form); and without its double quotes (how Wine's msiexec reads
		// the doubled form back).
		variants := []string{p.Value}
		if strings.Contains(p.Value, `"`) {
			variants = append(variants, strings.ReplaceAll(p.Value, `"`, `""`), strings.ReplaceAll(p.Value, `"`, ""))
		}
		if utf8.RuneCountInString(p.Value) < MinRedactEverywhere {
			r.short = append(r.short, shortValue{name: p.Name, value: regexp.MustCompile(`(?i)` + regexp.QuoteMeta(p.Value))})
			r.shortMark = append(r.shortMark, regexp.MustCompile(`(?i)(?:^|[^A-Za-z0-9_.])`+regexp.QuoteMeta(p.Name)+`(?:$|[^A-Za-z0-9_.])`))
			continue
		}
		for _, v := range variants {
			alts = append(alts, v)
			r.names[strings.ToLower(v)] = p.Name
			r.longVals = append(r.longVals, redactValue{name: p.Name, value: v})
		}
	}
	if len(alts) > 0 {
		slices.SortStableFunc(alts, func(a, b string) int { return len(b) - len(a) })
		quoted := make([]string, len(alts))
		for i, a := range alts {
			quoted[i] = regexp.QuoteMeta(a)
		}
		r.long = regexp.MustCompile(`(?i)(?:` + strings.Join(quoted, "|") + `)`)
	}
	return r
}

func mark(name string) string { return "<" + name + " redacted>" }

// String returns s with every value redacted; a short value (see
// MinRedactEverywhere) only on the lines of s that name its property.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	if r.long != nil {
		s = r.long.ReplaceAllStringFunc(s, func(m string) string {
			if n, ok := r.names[strings.ToLower(m)]; ok {
				return mark(n)
			}
			return mark("property")
		})
	}
	if len(r.short) == 0 {
		return s
	}
	lines := strings.Split(s, "\n")
	for k, line := range lines {
		for i, sv := range r.short {
			if r.shortMark[i].MatchString(line) {
				line = replaceWords(line, sv.value, mark(sv.name))
			}
		}
		lines[k] = line
	}
	return strings.Join(lines, "\n")
}

// Line returns a log line with every value redacted, also a piece of a
// value at the line's start or end (where a line longer than the parser
// keeps was cut).
func (r *Redactor) Line(s string) string {
	if r == nil || s == "" {
		return s
	}
	for _, v := range r.longVals {
		if k := overlapEnd(s, v.value); k > 0 {
			s = s[:len(s)-k] + mark(v.name)
		}
		if k := overlapStart(s, v.value); k > 0 {
			s = mark(v.name) + s[k:]
		}
	}
	return r.String(s)
}

// overlapEnd returns the length in bytes of the longest end of s that is
// a proper start of value (at least minRedactPartial characters), or 0.
func overlapEnd(s, value string) int {
	for k := min(len(s), len(value)-1); k > 0; k-- {
		tail, head := s[len(s)-k:], value[:k]
		if utf8.RuneCountInString(head) < minRedactPartial {
			return 0
		}
		if strings.EqualFold(tail, head) {
			return k
		}
	}
	return 0
}

// overlapStart returns the length in bytes of the longest start of s that
// is a proper end of value (at least minRedactPartial characters), or 0.
func overlapStart(s, value string) int {
	for k := min(len(s), len(value)-1); k > 0; k-- {
		head, tail := s[:k], value[len(value)-k:]
		if utf8.RuneCountInString(tail) < minRedactPartial {
			return 0
		}
		if strings.EqualFold(head, tail) {
			return k
		}
	}
	return 0
}

// replaceWords replaces the matches of re in s that are whole words (not
// next to a letter or digit) with repl.
func replaceWords(s string, re *regexp.Regexp, repl string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		before, _ := utf8.DecodeLastRuneInString(s[:m[0]])
		after, _ := utf8.DecodeRuneInString(s[m[1]:])
		if isWordRune(before) || isWordRune(after) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(repl)
		last = m[1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// Summary returns a copy of s with every line and name redacted.
func (r *Redactor) Summary(s *LogSummary) *LogSummary {
	if r == nil || s == nil {
		return s
	}
	c := *s
	lines := func(l []LogLine) []LogLine {
		out := slices.Clone(l)
		for i := range out {
			out[i].Text = r.Line(out[i].Text)
		}
		return out
	}
	c.ProductName, c.ProductVersion, c.Manufacturer = r.String(c.ProductName), r.String(c.ProductVersion), r.String(c.Manufacturer)
	c.FailedAction, c.LastAction = r.String(c.FailedAction), r.String(c.LastAction)
	c.FailedActionLine.Text = r.Line(c.FailedActionLine.Text)
	c.FailedActionContext = lines(c.FailedActionContext)
	c.Errors = slices.Clone(c.Errors)
	for i := range c.Errors {
		c.Errors[i].Text = r.Line(c.Errors[i].Text)
	}
	c.Notes = lines(c.Notes)
	c.StatusLines = lines(c.StatusLines)
	c.Tail = lines(c.Tail)
	return &c
}
