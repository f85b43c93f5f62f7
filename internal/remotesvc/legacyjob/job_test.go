package legacyjob

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validJob() Job {
	return Job{
		ID:         "dep-20261124.1",
		Command:    []string{`C:\Windows\System32\msiexec.exe`, "/i", `C:\Windows\nxdeploy\dep-1\pkg.msi`, "/qn", "/norestart", "/l*v", `C:\Windows\nxdeploy\dep-1\install.log`},
		LogPath:    `C:\Windows\nxdeploy\dep-1\install.log`,
		ResultPath: `C:\Windows\nxdeploy\dep-1\result.json`,
		Timeout:    90 * time.Minute,
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Job)
		wantErr string
	}{
		{"valid", func(*Job) {}, ""},
		{"bare exe name", func(j *Job) { j.Command[0] = "msiexec.exe" }, ""},
		{"cmdline and dir", func(j *Job) { j.CmdLine = `msiexec /i x.msi PROP="a b"`; j.Dir = `C:\Windows\Temp` }, ""},
		{"empty id", func(j *Job) { j.ID = "" }, "id must have"},
		{"id with slash", func(j *Job) { j.ID = "a/b" }, "has character"},
		{"id dotdot", func(j *Job) { j.ID = ".." }, `id ".."`},
		{"id too long", func(j *Job) { j.ID = strings.Repeat("a", 65) }, "id must have"},
		{"no command", func(j *Job) { j.Command = nil }, "empty command"},
		{"empty exe", func(j *Job) { j.Command[0] = "" }, "command[0] is empty"},
		{"relative exe path", func(j *Job) { j.Command[0] = `bin\msiexec.exe` }, "not an absolute Windows path"},
		{"unix exe path", func(j *Job) { j.Command[0] = "/usr/bin/msiexec" }, "not an absolute Windows path"},
		{"bad exe char", func(j *Job) { j.Command[0] = "msi*exec" }, "forbids"},
		{"NUL in arg", func(j *Job) { j.Command[2] = "a\x00b" }, "NUL or newline"},
		{"newline in arg", func(j *Job) { j.Command[2] = "a\nb" }, "NUL or newline"},
		{"CR in cmdline", func(j *Job) { j.CmdLine = "a\rb" }, "NUL or newline"},
		{"relative log", func(j *Job) { j.LogPath = `install.log` }, "not an absolute Windows path"},
		{"UNC result", func(j *Job) { j.ResultPath = `\\srv\share\r.json` }, "not an absolute Windows path"},
		{"dotdot result", func(j *Job) { j.ResultPath = `C:\Windows\..\r.json` }, `".." component`},
		{"double backslash", func(j *Job) { j.LogPath = `C:\Windows\\x.log` }, "empty component"},
		{"trailing backslash", func(j *Job) { j.LogPath = `C:\Windows\` }, "empty component"},
		{"colon in component", func(j *Job) { j.LogPath = `C:\a:b\x.log` }, "forbids"},
		{"trailing dot", func(j *Job) { j.LogPath = `C:\a.\x.log` }, "ending in a space or dot"},
		{"control char", func(j *Job) { j.LogPath = "C:\\a\tb\\x.log" }, "control character"},
		{"long path", func(j *Job) { j.LogPath = `C:\` + strings.Repeat("a", 300) }, "longer than"},
		{"relative dir", func(j *Job) { j.Dir = `tmp` }, "not an absolute"},
		{"same log and result", func(j *Job) { j.ResultPath = strings.ToUpper(j.LogPath) }, "same file"},
		{"zero timeout", func(j *Job) { j.Timeout = 0 }, "timeout"},
		{"huge timeout", func(j *Job) { j.Timeout = 8 * 24 * time.Hour }, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(&j)
			err := j.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	j := validJob()
	j.CmdLine = `"C:\Windows\System32\msiexec.exe" /i x.msi PROP="a b"`
	b, err := j.Encode()
	require.NoError(t, err)
	var wire map[string]any
	require.NoError(t, json.Unmarshal(b, &wire))
	assert.Equal(t, float64(5400), wire["timeout_seconds"])
	assert.Equal(t, j.ResultPath, wire["result_path"])

	got, err := Decode(b)
	require.NoError(t, err)
	assert.Equal(t, j, got)

	s, err := j.EncodeBase64()
	require.NoError(t, err)
	got, err = DecodeBase64(s)
	require.NoError(t, err)
	assert.Equal(t, j, got)

	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err = DecodeBase64(enc.EncodeToString(b))
		require.NoError(t, err)
		assert.Equal(t, j, got)
	}
	got, err = Decode(append([]byte("\xef\xbb\xbf"), b...))
	require.NoError(t, err, "BOM accepted")
	assert.Equal(t, j, got)
}

func TestTimeoutRoundsUp(t *testing.T) {
	j := validJob()
	j.Timeout = 1500 * time.Millisecond
	b, err := j.Encode()
	require.NoError(t, err)
	got, err := Decode(b)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, got.Timeout)
}

func TestDecodeRejects(t *testing.T) {
	good, err := validJob().Encode()
	require.NoError(t, err)
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"not json", "hello"},
		{"array", "[]"},
		{"unknown field", strings.Replace(string(good), `{"id"`, `{"evil":1,"id"`, 1)},
		{"trailing object", string(good) + "{}"},
		{"negative timeout", strings.Replace(string(good), `"timeout_seconds":5400`, `"timeout_seconds":-1`, 1)},
		{"overflow timeout", strings.Replace(string(good), `"timeout_seconds":5400`, `"timeout_seconds":9223372036854775807`, 1)},
		{"fractional timeout", strings.Replace(string(good), `"timeout_seconds":5400`, `"timeout_seconds":1.5`, 1)},
		{"too large", `{"id":"` + strings.Repeat("a", MaxEncodedSize) + `"}`},
		{"invalid job", `{"id":"x","command":["msiexec"],"log_path":"x","result_path":"y","timeout_seconds":5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
	_, err = DecodeBase64("!!!not base64")
	require.ErrorIs(t, err, ErrInvalid)
	_, err = DecodeBase64(strings.Repeat("A", base64.StdEncoding.EncodedLen(MaxEncodedSize)+1))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestEncodeRejectsInvalid(t *testing.T) {
	j := validJob()
	j.ID = ""
	_, err := j.Encode()
	require.ErrorIs(t, err, ErrInvalid)
	_, err = j.Args()
	require.ErrorIs(t, err, ErrInvalid)
	j = validJob()
	j.CmdLine = strings.Repeat("x", 32000)
	j.Command = append(j.Command, strings.Repeat("y", 40000))
	_, err = j.Encode()
	require.ErrorIs(t, err, ErrInvalid)
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Source
		wantErr string
	}{
		{"none", nil, Source{}, ""},
		{"path", []string{"--job", `C:\Windows\nxdeploy\d\job.json`}, Source{Path: `C:\Windows\nxdeploy\d\job.json`}, ""},
		{"path equals", []string{`--job=C:\Windows\j.json`}, Source{Path: `C:\Windows\j.json`}, ""},
		{"b64", []string{"--job-b64", "eyJ9"}, Source{B64: "eyJ9"}, ""},
		{"b64 equals keeps padding", []string{"--job-b64=eyJ9=="}, Source{B64: "eyJ9=="}, ""},
		{"unknown", []string{"--evil"}, Source{}, "unknown argument"},
		{"missing value", []string{"--job"}, Source{}, "needs a value"},
		{"empty value", []string{"--job-b64="}, Source{}, "empty value"},
		{"two jobs", []string{"--job", `C:\a\j.json`, "--job-b64", "eyJ9"}, Source{}, "more than one"},
		{"relative path", []string{"--job", `job.json`}, Source{}, "not an absolute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.args)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalid)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestSourceLoad(t *testing.T) {
	j := validJob()
	b, err := j.Encode()
	require.NoError(t, err)
	args, err := j.Args()
	require.NoError(t, err)
	files := map[string][]byte{`C:\x\job.json`: b, `C:\exe\job.json`: b}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	}
	for _, tc := range []struct {
		name    string
		args    []string
		def     string
		wantErr bool
	}{
		{"b64", args, `C:\none\job.json`, false},
		{"path", []string{"--job", `C:\x\job.json`}, `C:\none\job.json`, false},
		{"default", nil, `C:\exe\job.json`, false},
		{"missing default", nil, `C:\none\job.json`, true},
		{"missing path", []string{"--job", `C:\y\job.json`}, `C:\exe\job.json`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := ParseArgs(tc.args)
			require.NoError(t, err)
			got, err := src.Load(tc.def, read)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, j, got)
		})
	}
}

func TestWriteResultAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "result.json")
	start := time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)
	r := Result{ID: "d1", ExitCode: 1603, Outcome: OutcomeExited, Started: start, Ended: start.Add(3 * time.Second)}
	require.NoError(t, WriteResult(p, r))
	require.NoError(t, os.WriteFile(p+".other", nil, 0o600))
	r2 := Result{ID: "d1", ExitCode: CodeTimeout, Outcome: OutcomeTimeout, Started: start, Ended: start.Add(time.Hour), Error: "killed"}
	require.NoError(t, WriteResult(p, r2), "replaces an existing result")

	b, err := os.ReadFile(p)
	require.NoError(t, err)
	got, err := DecodeResult(b)
	require.NoError(t, err)
	assert.Equal(t, r2, got)
	assert.Equal(t, time.Hour, got.Duration())

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"result.json", "result.json.other"}, names, "no temporary file left")

	require.Error(t, WriteResult(filepath.Join(dir, "missing", "r.json"), r))
}

func TestResultServiceExit(t *testing.T) {
	for _, tc := range []struct {
		code     uint32
		specific bool
	}{{0, false}, {1603, true}, {3010, true}, {CodeBadJob, true}} {
		s, c := Result{ExitCode: tc.code}.ServiceExit()
		assert.Equal(t, tc.specific, s)
		assert.Equal(t, tc.code, c)
	}
	assert.Zero(t, Result{Ended: time.Now()}.Duration())
}

func TestCodes(t *testing.T) {
	for _, c := range []uint32{CodeBadJob, CodeStartFailed, CodeTimeout, CodeStopped, CodeWaitFailed} {
		assert.True(t, IsServiceCode(c))
		assert.NotEmpty(t, CodeName(c))
	}
	for _, c := range []uint32{0, 1603, 3010, 0xC0000005, CodeLast + 1} {
		assert.False(t, IsServiceCode(c))
		assert.Empty(t, CodeName(c))
	}
}

func TestDecodeResultRejects(t *testing.T) {
	for _, in := range []string{"", "{}", `{"outcome":"exited"} x`, "[", strings.Repeat(" ", MaxResultSize+1)} {
		_, err := DecodeResult([]byte(in))
		require.Error(t, err, "%q", in)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(small, []byte("{}"), 0o600))
	require.NoError(t, os.WriteFile(big, make([]byte, MaxEncodedSize+1), 0o600))
	b, err := ReadFile(small)
	require.NoError(t, err)
	assert.Equal(t, "{}", string(b))
	_, err = ReadFile(big)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = ReadFile(filepath.Join(dir, "none"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzDecode(f *testing.F) {
	good, err := validJob().Encode()
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{"id":"a","command":["msiexec.exe"],"log_path":"C:\\a\\l","result_path":"C:\\a\\r","timeout_seconds":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte("\xef\xbb\xbf{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Decode(b)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		require.NoError(t, j.Validate())
		again, err := j.Encode()
		require.NoError(t, err)
		j2, err := Decode(again)
		require.NoError(t, err)
		require.Equal(t, j, j2)
	})
}

func FuzzDecodeBase64(f *testing.F) {
	s, err := validJob().EncodeBase64()
	require.NoError(f, err)
	f.Add(s)
	f.Add("eyJ9")
	f.Add("-_-_")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := DecodeBase64(s)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		require.NoError(t, j.Validate())
	})
}

func FuzzParseArgs(f *testing.F) {
	f.Add("--job\x00C:\\a\\job.json")
	f.Add("--job-b64=eyJ9")
	f.Add("")
	f.Fuzz(func(t *testing.T, joined string) {
		var args []string
		if joined != "" {
			args = strings.Split(joined, "\x00")
		}
		src, err := ParseArgs(args)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		require.False(t, src.B64 != "" && src.Path != "")
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"id":"x","exit_code":1603,"outcome":"exited","started":"2026-11-24T04:00:00Z","ended":"2026-11-24T04:00:03Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err != nil {
			return
		}
		require.NotEmpty(t, r.Outcome)
		require.GreaterOrEqual(t, r.Duration(), time.Duration(0))
	})
}
