package job

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validJob() Job {
	return Job{
		ID:        "dep-20261124.1",
		Operation: Install,
		Package:   "package.msi",
		Properties: []Property{
			{Name: "SERVER", Value: "collector.example.test"},
			{Name: "TENANT_KEY", Value: "s3cr3t \"quoted\" ünï", Secret: true},
			{Name: "EMPTY", Value: ""},
		},
		Timeout: 90 * time.Minute,
		Grace:   2 * time.Minute,
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, j := range []Job{
		validJob(),
		{ID: "x", Operation: Install, Package: `\\engine\nxshare\Collector.msi`, Timeout: time.Second},
		{ID: "u1", Operation: Uninstall, ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", Timeout: 7 * 24 * time.Hour},
		{ID: "h", Operation: Install, Package: "p.msi", PackageSHA256: make([]byte, 32), Timeout: time.Minute},
		{ID: "k", Operation: Install, Package: "p.msi", Timeout: time.Minute, KeepLog: true},
		{ID: "ku", Operation: Uninstall, ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", Timeout: time.Minute, Grace: time.Second, KeepLog: true},
	} {
		b, err := j.Encode()
		require.NoError(t, err)
		assert.Equal(t, "NXJB", string(b[:4]))
		assert.Equal(t, uint32(2), binary.LittleEndian.Uint32(b[4:]), "version 2")
		assert.Equal(t, uint32(len(b)), binary.LittleEndian.Uint32(b[8:]))
		// KEEPLOG is the last record, empty, and only there when asked.
		last := b[len(b)-recordHeaderSize:]
		keep := binary.LittleEndian.Uint16(last) == tagKeepLog && binary.LittleEndian.Uint32(last[4:]) == 0
		assert.Equal(t, j.KeepLog, keep)
		got, err := Decode(b)
		require.NoError(t, err)
		assert.Equal(t, j, got)
	}
}

func TestTimeoutRoundsUp(t *testing.T) {
	j := validJob()
	j.Timeout, j.Grace = 1500*time.Millisecond, 100*time.Millisecond
	b, err := j.Encode()
	require.NoError(t, err)
	got, err := Decode(b)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, got.Timeout)
	assert.Equal(t, time.Second, got.Grace)
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Job)
		wantErr string
	}{
		{"empty id", func(j *Job) { j.ID = "" }, "id: invalid deployment id"},
		{"dotdot id", func(j *Job) { j.ID = ".." }, "id: invalid deployment id"},
		{"slash id", func(j *Job) { j.ID = "a/b" }, "invalid deployment id"},
		{"long id", func(j *Job) { j.ID = strings.Repeat("a", 65) }, "invalid deployment id"},
		{"no operation", func(j *Job) { j.Operation = 0 }, "operation: unknown operation"},
		{"no package", func(j *Job) { j.Package = "" }, "required record missing"},
		{"package path", func(j *Job) { j.Package = `sub\package.msi` }, "package: invalid package"},
		{"package dotdot", func(j *Job) { j.Package = ".." }, "invalid package"},
		{"package trailing dot", func(j *Job) { j.Package = "a.msi." }, "invalid package"},
		{"unc too short", func(j *Job) { j.Package = `\\server\share` }, "invalid package"},
		{"unc dotdot", func(j *Job) { j.Package = `\\server\share\..\x.msi` }, "invalid package"},
		{"unc empty component", func(j *Job) { j.Package = `\\server\share\\x.msi` }, "invalid package"},
		{"install with product", func(j *Job) { j.ProductCode = "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}" }, "do not fit"},
		{"uninstall without product", func(j *Job) { j.Operation, j.Package = Uninstall, "" }, "required record missing"},
		{"bad product", func(j *Job) { j.Operation, j.Package, j.ProductCode = Uninstall, "", "{6F0B5C1E}" }, "product code: invalid product code"},
		{"property name", func(j *Job) { j.Properties[0].Name = "1ABC" }, `property 1 ("1ABC"): invalid property name`},
		{"property name space", func(j *Job) { j.Properties[0].Name = "A B" }, "invalid property name"},
		{"long property name", func(j *Job) { j.Properties[0].Name = strings.Repeat("A", 73) }, "invalid property name"},
		{"reserved REBOOT", func(j *Job) { j.Properties[0].Name = "Reboot" }, "set by the service itself"},
		{"reserved hidden", func(j *Job) { j.Properties[0].Name = "MSIHIDDENPROPERTIES" }, "set by the service itself"},
		{"duplicate property", func(j *Job) { j.Properties[1].Name = "SERVER" }, `property 2 ("SERVER"): property given twice`},
		{"NUL in value", func(j *Job) { j.Properties[0].Value = "a\x00b" }, "NUL"},
		{"invalid utf-8", func(j *Job) { j.Properties[0].Value = "\xff" }, "not valid UTF-8"},
		{"too many properties", func(j *Job) {
			for i := 0; i < MaxProperties; i++ {
				j.Properties = append(j.Properties, Property{Name: "P" + strings.Repeat("X", i%50) + string(rune('A'+i%26)) + strings.Repeat("Y", i/26)})
			}
		}, "too many properties"},
		{"too large", func(j *Job) { j.Properties[0].Value = strings.Repeat("v", MaxFileSize) }, "larger than 65536"},
		{"zero timeout", func(j *Job) { j.Timeout = 0 }, "timeout"},
		{"long timeout", func(j *Job) { j.Timeout = 8 * 24 * time.Hour }, "timeout"},
		{"long grace", func(j *Job) { j.Grace = 2 * time.Hour }, "grace"},
		{"short sha256", func(j *Job) { j.PackageSHA256 = make([]byte, 31) }, "package SHA-256: record payload has the wrong size"},
		{"uninstall with sha256", func(j *Job) {
			j.Operation, j.Package, j.ProductCode, j.PackageSHA256 = Uninstall, "", "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", make([]byte, 32)
		}, "do not fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(&j)
			_, err := j.Encode()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			for _, p := range validJob().Properties {
				if p.Value != "" {
					assert.NotContains(t, err.Error(), p.Value, "an error never carries a property value")
				}
			}
		})
	}
}

// raw builds a job file by hand: records of (tag, flags, payload).
func raw(records ...[]byte) []byte {
	b := make([]byte, 16)
	copy(b, "NXJB")
	binary.LittleEndian.PutUint32(b[4:], version)
	for _, r := range records {
		b = append(b, r...)
	}
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[12:], uint32(len(records)))
	return b
}

func rec(tag, flags uint16, payload []byte) []byte {
	h := make([]byte, 8)
	binary.LittleEndian.PutUint16(h, tag)
	binary.LittleEndian.PutUint16(h[2:], flags)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload)))
	return append(h, payload...)
}

func u16(s string) []byte {
	var b []byte
	for _, r := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestDecodeRejects(t *testing.T) {
	good := [][]byte{rec(tagID, 0, u16("d1")), rec(tagOperation, 0, u32(1)), rec(tagPackage, 0, u16("p.msi")), rec(tagTimeout, 0, u32(60))}
	with := func(extra ...[]byte) []byte { return raw(append(append([][]byte{}, good...), extra...)...) }
	truncated := with()
	truncated = truncated[:len(truncated)-1]
	binary.LittleEndian.PutUint32(truncated[8:], uint32(len(truncated)))
	hugeCount := with()
	binary.LittleEndian.PutUint32(hugeCount[12:], MaxRecords+1)
	fewer := with()
	binary.LittleEndian.PutUint32(fewer[12:], 3)
	overlong := with()
	binary.LittleEndian.PutUint32(overlong[16+4:], 0xFFFFFFFF)
	tests := []struct {
		name string
		in   []byte
		code ErrorCode
	}{
		{"empty", nil, ErrShort},
		{"magic", append([]byte("NXJA"), with()[4:]...), ErrMagic},
		{"version 1 (a service that keeps every file)", func() []byte { b := with(); b[4] = 1; return b }(), ErrVersion},
		{"version 3", func() []byte { b := with(); b[4] = 3; return b }(), ErrVersion},
		{"length", append(with(), 0), ErrLength},
		{"too large", make([]byte, MaxFileSize+1), ErrTooLarge},
		{"count", hugeCount, ErrCount},
		{"truncated record", truncated, ErrTruncated},
		{"payload length overflow", overlong, ErrTruncated},
		{"trailing", fewer, ErrTrailing},
		{"unknown tag", with(rec(99, 0, nil)), ErrTag},
		{"tag after keep log", with(rec(tagKeepLog+1, 0, nil)), ErrTag},
		{"tag 0", with(rec(0, 0, nil)), ErrTag},
		{"keep log with a payload", with(rec(tagKeepLog, 0, u32(1))), ErrSize},
		{"keep log with one byte", with(rec(tagKeepLog, 0, []byte{1})), ErrSize},
		{"keep log with flags", with(rec(tagKeepLog, 1, nil)), ErrFlags},
		{"keep log twice", with(rec(tagKeepLog, 0, nil), rec(tagKeepLog, 0, nil)), ErrDuplicate},
		{"flags", with(rec(tagGrace, 1, u32(5))), ErrFlags},
		{"secret flag on id", raw(rec(tagID, 1, u16("d1"))), ErrFlags},
		{"duplicate", with(rec(tagTimeout, 0, u32(5))), ErrDuplicate},
		{"odd string", raw(rec(tagID, 0, []byte{'a'})), ErrSize},
		{"u32 size", raw(rec(tagID, 0, u16("d")), rec(tagOperation, 0, []byte{1, 0})), ErrSize},
		{"NUL in id", raw(rec(tagID, 0, u16("a\x00"))), ErrNUL},
		{"operation", raw(rec(tagID, 0, u16("d")), rec(tagOperation, 0, u32(3))), ErrOperation},
		{"property short", with(rec(tagProperty, 0, []byte{1})), ErrSize},
		{"property name past end", with(rec(tagProperty, 0, []byte{5, 0, 'A', 0})), ErrSize},
		{"property odd value", with(rec(tagProperty, 0, append(append([]byte{1, 0}, u16("A")...), 'x'))), ErrSize},
		{"property NUL value", with(rec(tagProperty, 0, append(append([]byte{1, 0}, u16("A")...), u16("\x00")...))), ErrNUL},
		{"grace zero", with(rec(tagGrace, 0, u32(0))), ErrGrace},
		{"timeout too long", raw(rec(tagTimeout, 0, u32(604801))), ErrTimeout},
		{"missing id", raw(good[1:]...), ErrMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "%v", err)
			assert.Equal(t, tc.code, pe.Code, "%v", err)
			assert.NotEmpty(t, pe.Error())
		})
	}
	j, err := Decode(with())
	require.NoError(t, err)
	assert.False(t, j.KeepLog)
	// KEEPLOG may come anywhere, for either operation.
	j, err = Decode(raw(rec(tagKeepLog, 0, nil), good[0], good[1], good[2], good[3]))
	require.NoError(t, err)
	assert.True(t, j.KeepLog)
	j, err = Decode(raw(good[0], rec(tagOperation, 0, u32(2)), rec(tagKeepLog, 0, nil),
		rec(tagProduct, 0, u16("{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}")), good[3]))
	require.NoError(t, err)
	assert.True(t, j.KeepLog)
	assert.Equal(t, Uninstall, j.Operation)
}

// TestWhatARunLeaves is the rule nxsvc follows at its end: which outcomes
// keep the log and write the result file.
func TestWhatARunLeaves(t *testing.T) {
	const product = "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}"
	install := Job{ID: "i", Operation: Install, Package: "p.msi", Timeout: time.Minute}
	skip := Job{ID: "s", Operation: Install, Package: "p.msi", ProductCode: product, SkipIfInstalled: "1.2.3", Timeout: time.Minute}
	uninstall := Job{ID: "u", Operation: Uninstall, ProductCode: product, Timeout: time.Minute}
	tests := []struct {
		name            string
		job             Job
		code            uint32
		installedBefore bool
		succeeded       bool
		log, result     bool
	}{
		{"installed", install, 0, false, true, false, false},
		{"installed, reboot required", install, 3010, false, true, false, false},
		{"installed, reboot started", install, 1641, false, true, false, false},
		{"installed over another version", skip, 0, true, true, false, true},
		{"installed over another version, reboot required", skip, 3010, true, true, false, true},
		{"installed, nothing before", skip, 0, false, true, false, false},
		{"already installed", skip, CodeAlreadyInstalled, true, true, false, false},
		{"install failed", install, 1603, false, false, true, true},
		{"install failed over another version", skip, 1638, true, false, true, true},
		{"install cancelled", install, 1602, false, false, true, true},
		{"install of a product not there: a failure", install, 1605, false, false, true, true},
		{"timeout", install, CodeTimeout, false, false, true, true},
		{"stopped", install, CodeStopped, false, false, true, true},
		{"bad job", install, CodeBadJob, false, false, true, true},
		{"bad package", install, CodeBadPackage, false, false, true, true},
		{"setup failed", install, CodeSetupFailed, false, false, true, true},
		{"a crash", install, 0xC0000005, false, false, true, true},
		{"removed", uninstall, 0, false, true, false, false},
		{"removed, reboot required", uninstall, 3010, false, true, false, false},
		{"removed, reboot started", uninstall, 1641, false, true, false, false},
		{"already absent", uninstall, 1605, false, true, false, false},
		{"uninstall failed", uninstall, 1603, false, false, true, true},
		{"already installed is no uninstall code", uninstall, CodeAlreadyInstalled, false, false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.succeeded, Succeeded(tc.job.Operation, tc.code))
			assert.Equal(t, tc.log, tc.job.KeepsLog(tc.code), "log")
			assert.Equal(t, tc.result, tc.job.LeavesResult(tc.code, tc.installedBefore), "result")
			kept := tc.job
			kept.KeepLog = true
			assert.True(t, kept.KeepsLog(tc.code), "KeepLog keeps the log")
			assert.True(t, kept.LeavesResult(tc.code, tc.installedBefore), "KeepLog writes the result")
		})
	}
	assert.False(t, Succeeded(Operation(3), 0), "no operation succeeds but install and uninstall")
}

func TestErrorCodeText(t *testing.T) {
	for c := ErrTooLarge; c <= ErrConflict; c++ {
		assert.NotContains(t, c.String(), "job error", "code %d has a description", int(c))
	}
	assert.Equal(t, "job error 99", ErrorCode(99).String())
}

func TestOperationString(t *testing.T) {
	assert.Equal(t, "install", Install.String())
	assert.Equal(t, "uninstall", Uninstall.String())
	assert.Equal(t, "operation(7)", Operation(7).String())
}
