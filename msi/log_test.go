package msi

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readLog(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/logs/" + name)
	require.NoError(t, err)
	return b
}

// TestParseWindowsLog checks the hand-written Windows 10 style log (a
// deferred custom action fails with Error 1722 inside InstallFinalize) in
// its four encodings.
func TestParseWindowsLog(t *testing.T) {
	tests := []struct {
		file     string
		encoding string
	}{
		{"windows_1603_utf16le.log", EncodingUTF16LE},
		{"windows_1603_utf8.log", EncodingUTF8},
		{"windows_1603_utf8bom.log", EncodingUTF8BOM},
		{"windows_1603_cp1252.log", EncodingANSI},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s := ParseLog(readLog(t, tc.file))
			assert.Equal(t, tc.encoding, s.Encoding)
			assert.True(t, s.HasReturnCode)
			assert.Equal(t, 1603, s.ReturnCode)
			assert.Equal(t, "Nexthink Test Collector", s.ProductName)
			assert.Equal(t, "1.2.3", s.ProductVersion)
			assert.Equal(t, "Nexthink Société", s.Manufacturer)
			assert.Equal(t, "InstallFinalize", s.FailedAction)
			assert.Equal(t, "Action ended 10:15:05: InstallFinalize. Return value 3.", s.FailedActionLine.Text)
			require.NotEmpty(t, s.FailedActionContext)
			ctx := make([]string, 0, len(s.FailedActionContext))
			for _, l := range s.FailedActionContext {
				ctx = append(ctx, l.Text)
			}
			assert.Contains(t, strings.Join(ctx, "\n"), "CustomAction ConfigureCollectorDeferred returned actual error code 1603")
			assert.Equal(t, s.FailedActionLine.Number-1, s.FailedActionContext[len(s.FailedActionContext)-1].Number)
			require.Len(t, s.Errors, 1, "the plain and the Product: -- copies of Error 1722 count once")
			assert.Equal(t, 1722, s.Errors[0].Code)
			assert.Len(t, s.Notes, 7)
			assert.Equal(t, "InstallFinalize", s.LastAction)
			assert.Equal(t, "10:15:03", s.LastActionTime)
			assert.Equal(t, 14, s.ActionsStarted)
			assert.Equal(t, 133, s.Lines)

			ex := s.Excerpt(12)
			lines := strings.Split(ex, "\n")
			assert.LessOrEqual(t, len(lines), 12)
			assert.Contains(t, ex, "InstallFinalize. Return value 3.")
			assert.Contains(t, ex, "Error 1722.")
			assert.Contains(t, ex, "MainEngineThread is returning 1603")
			assert.Regexp(t, `^\d+: `, lines[0])
			assert.Len(t, strings.Split(s.Excerpt(3), "\n"), 3)
		})
	}
}

// TestParseWineLogs checks logs written by Wine's msiexec: Wine logs no
// final status line and no "Return value 3.", so only progress and product
// come out.
func TestParseWineLogs(t *testing.T) {
	s := ParseLog(readLog(t, "wine_fails_1603.log"))
	assert.Equal(t, EncodingUTF8, s.Encoding)
	assert.False(t, s.HasReturnCode)
	assert.Empty(t, s.FailedAction)
	assert.Equal(t, "Nexthink Failing Test", s.ProductName)
	assert.Equal(t, "0.9.1", s.ProductVersion)
	assert.Equal(t, "LaunchConditions", s.LastAction)
	assert.NotEmpty(t, s.Excerpt(5))
	assert.Len(t, strings.Split(s.Excerpt(5), "\n"), 5)

	s = ParseLog(readLog(t, "wine_ok.log"))
	assert.Equal(t, "Nexthink Test Collector", s.ProductName)
	assert.Equal(t, "PublishProduct", s.LastAction, "Wine logs the script actions again inside InstallFinalize")
	assert.Empty(t, s.FailedAction)
}

func TestParseLogSuccessAndReboot(t *testing.T) {
	log := "=== Verbose logging started ===\r\n" +
		"Action start 9:01:02: INSTALL.\r\n" +
		"Action ended 9:01:09: INSTALL. Return value 1.\r\n" +
		"MSI (s) (10:20) [09:01:09:500]: Product: X -- Installation completed successfully.\r\n" +
		"MSI (s) (10:20) [09:01:09:500]: Windows Installer installed the product. Product Name: X. Product Version: 2.0. Product Language: 1033. Manufacturer: Y. Installation success or error status: 0.\r\n" +
		"MSI (s) (10:20) [09:01:09:510]: Windows Installer requires a system restart. Product Name: X.\r\n" +
		"MSI (c) (30:40) [09:01:09:600]: MainEngineThread is returning 3010\r\n" +
		"=== Verbose logging stopped ===" // no final newline
	s := ParseLog([]byte(log))
	assert.True(t, s.HasReturnCode)
	assert.Equal(t, 3010, s.ReturnCode, "the last status line wins")
	assert.Equal(t, "X", s.ProductName)
	assert.Equal(t, "2.0", s.ProductVersion)
	assert.Equal(t, "Y", s.Manufacturer)
	assert.Empty(t, s.FailedAction)
	assert.Empty(t, s.Errors)
	assert.Len(t, s.StatusLines, 3)
	assert.Equal(t, 8, s.Lines)
	assert.Contains(t, s.Excerpt(2), "MainEngineThread is returning 3010")

	uninstall := "MSI (s) (1:2) [1]: Windows Installer removed the product. Product Name: Z. Product Version: 1. Product Language: 1033. Manufacturer: W. Removal success or error status: 1605.\n"
	s = ParseLog([]byte(uninstall))
	assert.Equal(t, 1605, s.ReturnCode)
	assert.Equal(t, "Z", s.ProductName)

	empty := ParseLog(nil)
	assert.False(t, empty.HasReturnCode)
	assert.Empty(t, empty.Excerpt(10))
}

// TestParserFeedSplits feeds every sample in two pieces split every 7th
// byte (97th with -short), and byte by byte, and expects the same summary as in one piece.
func TestParserFeedSplits(t *testing.T) {
	for _, name := range []string{"windows_1603_utf16le.log", "windows_1603_cp1252.log", "wine_fails_1603.log"} {
		t.Run(name, func(t *testing.T) {
			raw := readLog(t, name)
			want := ParseLog(raw)
			step := 7
			if testing.Short() {
				step = 97
			}
			for cut := 0; cut <= len(raw); cut += step {
				var p Parser
				p.Feed(raw[:cut])
				p.Feed(raw[cut:])
				require.Equal(t, want, p.Close(), "split at %d", cut)
			}
			var p Parser
			for i := range raw {
				p.Feed(raw[i : i+1])
			}
			require.Equal(t, want, p.Close())

			got, err := ParseLogReader(iotest.OneByteReader(bytes.NewReader(raw)))
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

// TestParserProgress tails a growing log as the Engine does over SMB.
func TestParserProgress(t *testing.T) {
	raw := readLog(t, "windows_1603_utf16le.log")
	var p Parser
	_, _, ok := p.Progress()
	assert.False(t, ok)
	var seen []string
	for off := 0; off < len(raw); off += 333 {
		end := min(off+333, len(raw))
		n, err := p.Write(raw[off:end])
		require.NoError(t, err)
		require.Equal(t, end-off, n)
		if a, _, ok := p.Progress(); ok && (len(seen) == 0 || seen[len(seen)-1] != a) {
			seen = append(seen, a)
		}
		mid := p.Summary()
		assert.Equal(t, EncodingUTF16LE, mid.Encoding)
	}
	assert.Equal(t, []string{"INSTALL", "FindRelatedProducts", "LaunchConditions", "CostInitialize", "FileCost",
		"CostFinalize", "InstallValidate", "InstallInitialize", "ProcessComponents", "InstallFiles",
		"ConfigureCollector", "RegisterProduct", "PublishProduct", "InstallFinalize"}, seen)
	a, at, ok := p.Progress()
	assert.True(t, ok)
	assert.Equal(t, "InstallFinalize", a)
	assert.Equal(t, "10:15:03", at)
}

func TestParseLogEncodings(t *testing.T) {
	utf16 := func(s string, bom bool) []byte {
		var b []byte
		if bom {
			b = append(b, 0xFF, 0xFE)
		}
		for _, u := range s {
			if u >= 0x10000 {
				u -= 0x10000
				hi, lo := 0xD800+(u>>10), 0xDC00+(u&0x3FF)
				b = append(b, byte(hi), byte(hi>>8), byte(lo), byte(lo>>8))
				continue
			}
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	line := "Property(S): ProductName = Prödukt ✓ 🎉\r\nMainEngineThread is returning 1618\r\n"
	tests := []struct {
		name string
		raw  []byte
		enc  string
		want string
	}{
		{"utf16 bom", utf16(line, true), EncodingUTF16LE, "Prödukt ✓ 🎉"},
		{"utf16 no bom", utf16(line, false), EncodingUTF16LE, "Prödukt ✓ 🎉"},
		{"utf8", []byte(line), EncodingUTF8, "Prödukt ✓ 🎉"},
		{"cp1252", []byte("Property(S): ProductName = Pr\xf6dukt \x80 \x93q\x94\r\nMainEngineThread is returning 1618\r\n"), EncodingANSI, "Prödukt € “q”"},
		{"unpaired surrogate", append(utf16("Property(S): ProductName = a", true), 0x00, 0xD8, 'b', 0, '\n', 0, 'M', 0), EncodingUTF16LE, "a\uFFFDb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ParseLog(tc.raw)
			assert.Equal(t, tc.enc, s.Encoding)
			assert.Equal(t, tc.want, s.ProductName)
			if tc.name != "unpaired surrogate" {
				assert.Equal(t, 1618, s.ReturnCode)
			}
		})
	}
}

func TestParseLogLimits(t *testing.T) {
	var b bytes.Buffer
	for range 500 {
		b.WriteString("Error 1722. again and again\n")
		b.WriteString("MSI (s) (1:2) [3]: Note: 1: 2203 2: x\n")
	}
	b.WriteString(strings.Repeat("x", 200_000)) // one huge unterminated line
	s := ParseLog(b.Bytes())
	assert.Len(t, s.Errors, 1)
	assert.Len(t, s.Notes, maxErrorEntries)
	assert.LessOrEqual(t, len(s.Tail), tailLines)
	for _, l := range s.Tail {
		assert.LessOrEqual(t, len([]rune(l.Text)), maxStoredLine)
	}
	assert.Equal(t, 1000+4, s.Lines, "a 200000-byte line is cut into 64 KiB pieces")
}

func FuzzParseLog(f *testing.F) {
	for _, name := range []string{"windows_1603_utf16le.log", "windows_1603_cp1252.log", "windows_1603_utf8bom.log", "wine_fails_1603.log"} {
		raw := readLog(f, name)
		f.Add(raw, uint16(100))
		f.Add(raw[:len(raw)/3], uint16(7))
	}
	f.Add([]byte("\xff\xfe\x00\xd8"), uint16(1))
	f.Fuzz(func(t *testing.T, raw []byte, cut uint16) {
		whole := ParseLog(raw)
		c := min(int(cut), len(raw))
		var p Parser
		p.Feed(raw[:c])
		p.Feed(raw[c:])
		split := p.Close()
		require.Equal(t, whole, split)
		ex := whole.Excerpt(10)
		if ex != "" {
			require.LessOrEqual(t, len(strings.Split(ex, "\n")), 10)
		}
		require.LessOrEqual(t, len(whole.Errors), maxErrorEntries)
	})
}
