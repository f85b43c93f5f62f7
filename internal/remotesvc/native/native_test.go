//go:build cgo

package native

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/internal/remotesvc/job"
)

func seedJobs() []job.Job {
	return []job.Job{
		{ID: "dep-1", Operation: job.Install, Package: "package.msi", Timeout: time.Hour,
			Properties: []job.Property{
				{Name: "SERVER", Value: "collector.example.test"},
				{Name: "TENANT_KEY", Value: `s3cr3t "quoted" ünï 😀`, Secret: true},
				{Name: "EMPTY", Value: ""},
				{Name: "Other.Key_2", Value: `""`, Secret: true},
			}},
		{ID: "x", Operation: job.Install, Package: `\\engine\nxshare\Collector.msi`, Timeout: time.Second, Grace: time.Hour},
		{ID: "s", Operation: job.Install, Package: "package.msi", PackageSHA256: bytes.Repeat([]byte{0xab}, 32), Timeout: time.Minute},
		{ID: "k", Operation: job.Install, Package: "package.msi", ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}",
			SkipIfInstalled: "2.10.300", PackageSHA256: bytes.Repeat([]byte{0xcd}, 32), Timeout: time.Minute},
		{ID: "u.1", Operation: job.Uninstall, ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", Timeout: 7 * 24 * time.Hour},
		{ID: "keep", Operation: job.Install, Package: "package.msi", ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}",
			SkipIfInstalled: "1.0.0", Timeout: time.Minute, KeepLog: true,
			Properties: []job.Property{{Name: "TENANT_KEY", Value: "k", Secret: true}}},
		{ID: "keep-u", Operation: job.Uninstall, ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", Timeout: time.Minute, KeepLog: true},
	}
}

// endCodes are exit codes a run may end with: Windows Installer's
// successes and failures, nxsvc's own codes, and a crash.
var endCodes = []uint32{0, 1602, 1603, 1605, 1618, 1619, 1638, 1641, 3010, 0xC0000005,
	job.CodeBadJob, job.CodeSetupFailed, job.CodeTimeout, job.CodeStopped, job.CodeBadPackage, job.CodeAlreadyInstalled, job.CodeLast}

// expectedLine is the Windows Installer command line nxsvc must build for
// j: REBOOT=ReallySuppress, NAME="value" with quotes doubled, and
// MsiHiddenProperties naming the secret properties.
func expectedLine(j job.Job) string { return expectedLineUpgrade(j, false) }

// expectedLineUpgrade is expectedLine with REINSTALL=ALL
// REINSTALLMODE=vomus after the properties when upgrade.
func expectedLineUpgrade(j job.Job, upgrade bool) string {
	parts := []string{"REBOOT=ReallySuppress"}
	var hidden []string
	for _, p := range j.Properties {
		parts = append(parts, p.Name+`="`+strings.ReplaceAll(p.Value, `"`, `""`)+`"`)
		if p.Secret {
			hidden = append(hidden, p.Name)
		}
	}
	if upgrade {
		parts = append(parts, "REINSTALL=ALL", "REINSTALLMODE=vomus")
	}
	if len(hidden) > 0 {
		parts = append(parts, `MsiHiddenProperties="`+strings.Join(hidden, ";")+`"`)
	}
	return strings.Join(parts, " ")
}

func str(u []uint16) string { return string(utf16.Decode(u)) }

// agree checks that nxsvc's C parser and the Go decoder give the same
// verdict on b, and the same job when it parses.
func agree(t *testing.T, b []byte) {
	t.Helper()
	c := Parse(b)
	g, err := job.Decode(b)
	if err != nil {
		var pe *job.ParseError
		require.True(t, errors.As(err, &pe))
		require.Equal(t, int(pe.Code), c.Code, "C says %q, Go says %v", StrError(c.Code), err)
		require.Equal(t, pe.Record, c.Record, "record")
		require.Equal(t, pe.Offset, c.Offset, "offset")
		require.Equal(t, pe.Code.String(), StrError(c.Code), "both sides describe the code alike")
		return
	}
	require.Equal(t, 0, c.Code, "Go accepts, C refuses with %q", StrError(c.Code))
	require.Equal(t, g.ID, str(c.ID))
	require.Equal(t, uint32(g.Operation), c.Operation)
	require.Equal(t, g.Package, str(c.Package))
	require.Equal(t, strings.HasPrefix(g.Package, `\\`), c.PackageUNC)
	require.Equal(t, g.ProductCode, str(c.Product))
	require.Equal(t, uint32(g.Timeout/time.Second), c.Timeout)
	grace := g.Grace
	if grace == 0 {
		grace = job.DefaultGrace
	}
	require.Equal(t, uint32(grace/time.Second), c.Grace)
	require.Equal(t, g.PackageSHA256, c.SHA256)
	require.Equal(t, g.KeepLog, c.KeepLog)
	require.Equal(t, g.SkipIfInstalled != "", c.HasSkip)
	if c.HasSkip {
		require.Equal(t, g.SkipIfInstalled, job.UnpackVersion(c.SkipVersion))
	}
	require.Len(t, c.Properties, len(g.Properties))
	for i, p := range g.Properties {
		require.Equal(t, p.Name, str(c.Properties[i].Name))
		require.Equal(t, p.Value, str(c.Properties[i].Value))
		require.Equal(t, p.Secret, c.Properties[i].Secret)
	}
	require.Equal(t, expectedLine(g), str(c.CommandLine))
	// What a run of the job leaves, for every way it may end.
	for _, code := range endCodes {
		for _, before := range []bool{false, true} {
			log, result := Leaves(b, code, before)
			require.Equal(t, g.KeepsLog(code), log, "log after %#x", code)
			require.Equal(t, g.LeavesResult(code, before), result, "result after %#x (installed before: %v)", code, before)
		}
	}
	// nxjob_minor_upgrade against the rule it implements, for versions
	// below, at and above the job's.
	for _, installed := range []string{"0.0.0", "2.10.299", "2.10.300", "255.255.65535", "x"} {
		have, hok := job.PackVersion(installed)
		want, _ := job.PackVersion(g.SkipIfInstalled)
		upgrade := g.Operation == job.Install && g.SkipIfInstalled != "" && hok && have < want &&
			!slices.ContainsFunc(g.Properties, func(p job.Property) bool { return p.Name == "REINSTALL" || p.Name == "REINSTALLMODE" })
		got, line := MinorUpgrade(b, utf16.Encode([]rune(installed)))
		require.Equal(t, upgrade, got, "installed %s", installed)
		require.Equal(t, expectedLineUpgrade(g, upgrade), str(line))
	}
}

func TestParseAgreesWithDecode(t *testing.T) {
	for _, j := range seedJobs() {
		b, err := j.Encode()
		require.NoError(t, err)
		agree(t, b)
		// Every truncation, and every single-byte change of the header and
		// of the first records.
		for n := 0; n < len(b); n++ {
			agree(t, b[:n])
		}
		for i := 0; i < len(b) && i < 96; i++ {
			for _, v := range []byte{0, 1, 2, 0x7f, 0x80, 0xff} {
				m := append([]byte(nil), b...)
				m[i] = v
				agree(t, m)
			}
		}
		// And of the last record (KEEPLOG, where the job has it).
		for i := max(96, len(b)-16); i < len(b); i++ {
			for _, v := range []byte{0, 1, 2, 9, 10, 11, 0x7f, 0x80, 0xff} {
				m := append([]byte(nil), b...)
				m[i] = v
				agree(t, m)
			}
		}
	}
}

// TestKeepLogRecord: the C parser reads the keep-log record as the Go
// decoder does, and refuses a malformed one with a code, as the Go side.
func TestKeepLogRecord(t *testing.T) {
	j := job.Job{ID: "k", Operation: job.Install, Package: "package.msi", Timeout: time.Minute, KeepLog: true}
	b, err := j.Encode()
	require.NoError(t, err)
	c := Parse(b)
	require.Zero(t, c.Code)
	assert.True(t, c.KeepLog)
	j.KeepLog = false
	plain, err := j.Encode()
	require.NoError(t, err)
	assert.False(t, Parse(plain).KeepLog)
	assert.Len(t, b, len(plain)+8, "an empty record of 8 bytes")

	// with replaces the last record (KEEPLOG) by one of tag, flags and
	// payload, and appends extra records.
	with := func(tag, flags uint16, payload []byte, extra ...[]byte) []byte {
		m := append([]byte(nil), b[:len(b)-8]...)
		m = binary.LittleEndian.AppendUint16(m, tag)
		m = binary.LittleEndian.AppendUint16(m, flags)
		m = binary.LittleEndian.AppendUint32(m, uint32(len(payload)))
		m = append(m, payload...)
		for _, e := range extra {
			m = append(m, e...)
		}
		binary.LittleEndian.PutUint32(m[8:], uint32(len(m)))
		binary.LittleEndian.PutUint32(m[12:], binary.LittleEndian.Uint32(b[12:])+uint32(len(extra)))
		return m
	}
	again := b[len(b)-8:]
	for _, tc := range []struct {
		name string
		in   []byte
		code job.ErrorCode
	}{
		{"a u32 payload", with(10, 0, []byte{1, 0, 0, 0}), job.ErrSize},
		{"one byte", with(10, 0, []byte{1}), job.ErrSize},
		{"the secret flag", with(10, 1, nil), job.ErrFlags},
		{"given twice", with(10, 0, nil, again), job.ErrDuplicate},
		{"the next tag", with(11, 0, nil), job.ErrTag},
		{"version 1, as a service before KEEPLOG read it", func() []byte {
			m := append([]byte(nil), b...)
			m[4] = 1
			return m
		}(), job.ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agree(t, tc.in)
			c := Parse(tc.in)
			assert.Equal(t, int(tc.code), c.Code, "C says %q", StrError(c.Code))
		})
	}
}

func TestCommandLine(t *testing.T) {
	j := seedJobs()[0]
	b, err := j.Encode()
	require.NoError(t, err)
	c := Parse(b)
	require.Zero(t, c.Code)
	assert.Equal(t, `REBOOT=ReallySuppress SERVER="collector.example.test" TENANT_KEY="s3cr3t ""quoted"" ünï 😀" EMPTY="" `+
		`Other.Key_2="""""" MsiHiddenProperties="TENANT_KEY;Other.Key_2"`, str(c.CommandLine))

	// A buffer too small gets no partial line and no write past its end.
	full := len(c.CommandLine)
	for _, capUnits := range []int{0, 1, 10, full - 1, full, full + 1} {
		out, n := CommandLineCap(b, capUnits)
		assert.Equal(t, full, n, "the length needed, whatever the buffer")
		assert.Zero(t, out[capUnits], "nothing written at or past cap (%d)", capUnits)
		if capUnits > full {
			assert.Equal(t, c.CommandLine, out[:full])
		} else if capUnits > 0 {
			assert.Zero(t, out[0], "a line that does not fit is left empty")
		}
	}
}

func TestProgress(t *testing.T) {
	type msg struct{ f [4]int32 }
	tests := []struct {
		name    string
		steps   []msg
		data    int
		percent int
		phase   string
	}{
		{"nothing yet", nil, 0, -1, "execute"},
		{"script", []msg{{[4]int32{0, 100, 0, 1}}, {[4]int32{2, 50, 0, 0}}}, 0, 0, "script"},
		{"execute", []msg{{[4]int32{0, 200, 0, 0}}, {[4]int32{2, 50, 0, 0}}}, 0, 25, "execute"},
		{"add to total", []msg{{[4]int32{0, 100, 0, 0}}, {[4]int32{3, 100, 0, 0}}, {[4]int32{2, 100, 0, 0}}}, 0, 50, "execute"},
		{"action data ticks", []msg{{[4]int32{0, 100, 0, 0}}, {[4]int32{1, 10, 1, 0}}}, 3, 30, "execute"},
		{"action data ignored", []msg{{[4]int32{0, 100, 0, 0}}, {[4]int32{1, 10, 0, 0}}}, 3, 0, "execute"},
		{"clamped", []msg{{[4]int32{0, 100, 0, 0}}, {[4]int32{2, 500, 0, 0}}}, 0, 100, "execute"},
		{"rollback", []msg{{[4]int32{0, 100, 1, 0}}, {[4]int32{2, 30, 0, 0}}}, 0, 70, "rollback"},
		{"hostile", []msg{{[4]int32{0, -5, 0, 0}}, {[4]int32{2, 1 << 30, 0, 0}}, {[4]int32{3, -1, 0, 0}}, {[4]int32{9, 1, 1, 1}}}, 0, -1, "execute"},
		{"null fields", []msg{{[4]int32{-2147483648, -2147483648, 0, 0}}}, 0, -1, "execute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProgress()
			for _, m := range tc.steps {
				p.Message(m.f[0], m.f[1], m.f[2], m.f[3])
			}
			for i := 0; i < tc.data; i++ {
				p.ActionData()
			}
			assert.Equal(t, tc.percent, p.Percent())
			assert.Equal(t, tc.phase, p.Phase())
		})
	}
	// A total grown past int32 stays bounded.
	p := NewProgress()
	p.Message(0, 1<<31-1, 0, 0)
	for i := 0; i < 1000; i++ {
		p.Message(3, 1<<31-1, 0, 0)
	}
	p.Message(2, 1<<31-1, 0, 0)
	assert.Equal(t, 0, p.Percent())
}

func TestFilesParseInGo(t *testing.T) {
	hostile := utf16.Encode([]rune("Install\nFiles\r=x\x00é😀"))
	hostile = append(hostile, 0xD800, 'z') // an unpaired surrogate
	for _, action := range [][]uint16{nil, utf16.Encode([]rune("InstallFiles")), hostile, utf16.Encode([]rune(strings.Repeat("ä", 500)))} {
		b := FormatProgress(512, 42, 37, "execute", action)
		p, err := job.DecodeProgress(b)
		require.NoError(t, err, "%q", b)
		assert.Equal(t, job.Progress{Seq: 42, Percent: 37, Phase: "execute", Action: p.Action}, p)
		assert.NotContains(t, p.Action, "\n")
		assert.LessOrEqual(t, len(b), 511)
	}
	b := FormatProgress(512, 1, -1, "script", nil)
	p, err := job.DecodeProgress(b)
	require.NoError(t, err)
	assert.Equal(t, -1, p.Percent)
	assert.Equal(t, "", p.Action)

	for _, tc := range []struct {
		id      []uint16
		code    uint32
		outcome string
		hasMSI  bool
		msi     uint32
		message string
	}{
		{utf16.Encode([]rune("dep-1")), 1603, "done", true, 1603, ""},
		{nil, job.CodeBadJob, "bad-job", false, 0, "job file: bad magic\nsecond line"},
		{utf16.Encode([]rune("d")), job.CodeTimeout, "timeout", true, 1602, "cancelled at the job's timeout"},
	} {
		b := FormatResult(1024, tc.id, tc.code, tc.outcome, tc.hasMSI, tc.msi, tc.message, nil)
		r, err := job.DecodeResult(b)
		require.NoError(t, err, "%q", b)
		assert.Equal(t, str(tc.id), r.ID)
		assert.Equal(t, tc.code, r.Code)
		assert.Equal(t, job.Outcome(tc.outcome), r.Outcome)
		assert.Equal(t, tc.hasMSI, r.HasMSI)
		assert.Equal(t, tc.msi, r.MSI)
		assert.Equal(t, strings.ReplaceAll(tc.message, "\n", " "), r.Error)
	}
	// The Go encoders write what nxsvc writes.
	r := job.Result{ID: "dep-1", Code: 1602, Outcome: job.OutcomeCancelled, MSI: 1602, HasMSI: true, Error: "cancelled by a stop request"}
	assert.Equal(t, string(FormatResult(1024, utf16.Encode([]rune(r.ID)), r.Code, string(r.Outcome), true, r.MSI, r.Error, nil)), string(r.Encode()))
	ai := job.Result{ID: "dep-2", Code: job.CodeAlreadyInstalled, Outcome: job.OutcomeAlreadyInstalled, Error: "already installed", Installed: "2.1.0"}
	assert.Equal(t, string(FormatResult(1024, utf16.Encode([]rune(ai.ID)), ai.Code, string(ai.Outcome), false, 0, ai.Error, utf16.Encode([]rune(ai.Installed)))), string(ai.Encode()))
	got, err := job.DecodeResult(ai.Encode())
	require.NoError(t, err)
	assert.Equal(t, ai, got)
	pr := job.Progress{Seq: 9, Percent: -1, Phase: "script", Action: "InstallFiles"}
	assert.Equal(t, string(FormatProgress(512, pr.Seq, pr.Percent, pr.Phase, utf16.Encode([]rune(pr.Action)))), string(pr.Encode()))

	// A buffer too small truncates, but never overflows.
	short := FormatResult(8, nil, 1, "done", false, 0, "", nil)
	assert.Len(t, short, 7)
}

// TestWhatARunLeavesAgrees holds nxsvc's rule for the files a run leaves
// (nxjob_succeeded) to job.Succeeded, and its own exit codes to the Go
// package's.
func TestWhatARunLeavesAgrees(t *testing.T) {
	assert.Equal(t, []uint32{job.CodeBadJob, job.CodeSetupFailed, job.CodeTimeout, job.CodeStopped, job.CodeBadPackage,
		job.CodeAlreadyInstalled}, Codes())
	for _, op := range []uint32{0, uint32(job.Install), uint32(job.Uninstall), 3} {
		for _, code := range endCodes {
			assert.Equal(t, job.Succeeded(job.Operation(op), code), Succeeded(op, code), "operation %d, code %#x", op, code)
		}
	}
	quiet, err := seedJobs()[0].Encode()
	require.NoError(t, err)
	for _, tc := range []struct {
		code        uint32
		before      bool
		log, result bool
	}{
		{0, false, false, false},
		{3010, false, false, false},
		{0, true, false, true},
		{job.CodeAlreadyInstalled, true, false, false},
		{1603, false, true, true},
		{1602, false, true, true},
		{job.CodeTimeout, false, true, true},
	} {
		log, result := Leaves(quiet, tc.code, tc.before)
		assert.Equal(t, tc.log, log, "log after %d", tc.code)
		assert.Equal(t, tc.result, result, "result after %d", tc.code)
	}
}

// TestVersionAgrees holds nxsvc's version parser (nxjob_version, which reads
// MsiGetProductInfo's VersionString) to job.PackVersion, which encodes the
// job's SkipIfInstalled.
func TestVersionAgrees(t *testing.T) {
	for _, s := range []string{"1.2.3", "1.2.3.4", "255.255.65535", "256.0.0", "0.256.0", "0.0.65536", "1.2", "1.2.3.4.5",
		"", ".1.2", "1..2", "1.2.3.", "01.002.0003", "1.2.3.4294967295", "1.2.3.4294967296", "12345678901.0.0", "1.2.x", "1.2.3 "} {
		v, ok := job.PackVersion(s)
		cv, cok := Version(utf16.Encode([]rune(s)))
		require.Equal(t, ok, cok, "%q", s)
		if ok {
			require.Equal(t, v, cv, "%q", s)
		}
	}
	v, ok := job.PackVersion("2.10.300")
	require.True(t, ok)
	assert.Equal(t, "2.10.300", job.UnpackVersion(v))
}

// FuzzVersion holds nxjob_version to job.PackVersion on any text.
func FuzzVersion(f *testing.F) {
	f.Add("1.2.3")
	f.Add("255.255.65535.7")
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := job.PackVersion(s)
		cv, cok := Version(utf16.Encode([]rune(s)))
		require.Equal(t, ok, cok, "%q", s)
		if ok {
			require.Equal(t, v, cv, "%q", s)
		}
	})
}

// refScrub is the reference for nxscrub: leftmost non-overlapping matches
// of needle, compared unit by unit, overwritten with '*'.
func refScrub(buf, needle []byte, unit int) ([]byte, int) {
	out := append([]byte(nil), buf...)
	units := len(needle) / unit
	if units == 0 {
		return out, 0
	}
	n := len(buf) / unit
	count := 0
	for i := 0; i+units <= n; {
		if bytes.Equal(buf[i*unit:(i+units)*unit], needle[:units*unit]) {
			for j := i; j < i+units; j++ {
				out[j*unit] = '*'
				if unit == 2 {
					out[j*unit+1] = 0
				}
			}
			count++
			i += units
			continue
		}
		i++
	}
	return out, count
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func TestScrub(t *testing.T) {
	log := "Property(S): TENANTKEY = s3cr3t ünï\r\nPROPERTY CHANGE: Its value is 's3cr3t ünï'. s3cr3t s3cr3t ünï"
	tests := []struct {
		name         string
		buf, needle  []byte
		unit, counts int
	}{
		{"utf-8", []byte(log), []byte("s3cr3t ünï"), 1, 3},
		{"utf-16le", utf16le(log), utf16le("s3cr3t ünï"), 2, 3},
		{"utf-16 needle at odd offset", append([]byte{'x'}, utf16le("abab")...), utf16le("ab"), 2, 0},
		{"overlapping", []byte("aaaaa"), []byte("aa"), 1, 2},
		{"kmp restart", []byte("aabaabaaab"), []byte("aaab"), 1, 1},
		{"absent", []byte("nothing here"), []byte("secret"), 1, 0},
		{"needle longer", []byte("ab"), []byte("abc"), 1, 0},
		{"empty needle", []byte("ab"), nil, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, n := Scrub(tc.buf, tc.needle, tc.unit)
			want, wn := refScrub(tc.buf, tc.needle, tc.unit)
			assert.Equal(t, tc.counts, n)
			assert.Equal(t, wn, n)
			assert.Equal(t, want, got)
			if tc.counts > 0 {
				assert.NotContains(t, string(got), string(tc.needle))
			}
		})
	}
	for _, s := range []string{"", "abc", "ünï 😀", string([]rune{0xFFFD})} {
		assert.Equal(t, s, string(UTF8(utf16.Encode([]rune(s)))))
	}
	assert.Equal(t, "\uFFFDz", string(UTF8([]uint16{0xD800, 'z'})))
}

// FuzzScrub holds nxscrub to the reference on any text and needle.
func FuzzScrub(f *testing.F) {
	f.Add([]byte("Property(S): KEY = s3cr3t s3cr3t"), []byte("s3cr3t"), true)
	f.Add(utf16le("aabaabaaab"), utf16le("aaab"), false)
	f.Fuzz(func(t *testing.T, buf, needle []byte, bytewise bool) {
		unit := 2
		if bytewise {
			unit = 1
		}
		got, n := Scrub(buf, needle, unit)
		want, wn := refScrub(buf, needle, unit)
		require.Equal(t, wn, n)
		require.True(t, bytes.Equal(want, got), "nxscrub %q, reference %q", got, want)
	})
}

// FuzzParse runs nxsvc's C parser and the Go decoder on the same input:
// they must agree on every verdict (code, record, offset) and every field.
// The Go side's coverage guides the fuzzer through the format; the C side
// is held to it.
func FuzzParse(f *testing.F) {
	for _, j := range seedJobs() {
		b, err := j.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("NXJB"))
	f.Add(binary.LittleEndian.AppendUint32([]byte("NXJB\x01\x00\x00\x00"), 16))
	f.Add(binary.LittleEndian.AppendUint32([]byte("NXJB\x02\x00\x00\x00"), 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		agree(t, b)
	})
}

func TestMinorUpgrade(t *testing.T) {
	const product = "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}"
	skip := func(props ...job.Property) job.Job {
		return job.Job{ID: "m", Operation: job.Install, Package: "package.msi", ProductCode: product,
			SkipIfInstalled: "1.2.4", Timeout: time.Minute, Properties: props}
	}
	secret := job.Property{Name: "TENANT_KEY", Value: "k", Secret: true}
	for _, tc := range []struct {
		name      string
		job       job.Job
		installed string
		upgrade   bool
		line      string
	}{
		{"older build", skip(), "1.2.3", true, `REBOOT=ReallySuppress REINSTALL=ALL REINSTALLMODE=vomus`},
		{"older minor, revision ignored", skip(secret), "1.1.9.7", true,
			`REBOOT=ReallySuppress TENANT_KEY="k" REINSTALL=ALL REINSTALLMODE=vomus MsiHiddenProperties="TENANT_KEY"`},
		{"same version", skip(), "1.2.4", false, `REBOOT=ReallySuppress`},
		{"same version, other revision", skip(), "1.2.4.9", false, `REBOOT=ReallySuppress`},
		{"newer: a downgrade Windows Installer refuses", skip(), "1.3.0", false, `REBOOT=ReallySuppress`},
		{"unreadable version", skip(), "1.2", false, `REBOOT=ReallySuppress`},
		{"none installed", skip(), "", false, `REBOOT=ReallySuppress`},
		{"caller sets REINSTALL", skip(job.Property{Name: "REINSTALL", Value: "Core"}), "1.2.3", false,
			`REBOOT=ReallySuppress REINSTALL="Core"`},
		{"caller sets REINSTALLMODE", skip(job.Property{Name: "REINSTALLMODE", Value: "amus"}), "1.2.3", false,
			`REBOOT=ReallySuppress REINSTALLMODE="amus"`},
		{"a private property of another case is not REINSTALL", skip(job.Property{Name: "Reinstall", Value: "x"}), "1.2.3", true,
			`REBOOT=ReallySuppress Reinstall="x" REINSTALL=ALL REINSTALLMODE=vomus`},
		{"no skip record", job.Job{ID: "n", Operation: job.Install, Package: "package.msi", Timeout: time.Minute}, "1.2.3", false,
			`REBOOT=ReallySuppress`},
		{"uninstall", job.Job{ID: "u", Operation: job.Uninstall, ProductCode: product, Timeout: time.Minute}, "1.2.3", false,
			`REBOOT=ReallySuppress`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.job.Encode()
			require.NoError(t, err)
			got, line := MinorUpgrade(b, utf16.Encode([]rune(tc.installed)))
			assert.Equal(t, tc.upgrade, got)
			assert.Equal(t, tc.line, str(line))
		})
	}
}
