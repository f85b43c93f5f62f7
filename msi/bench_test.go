package msi

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func BenchmarkInspect(b *testing.B) {
	raw, err := os.ReadFile("testdata/ok.msi")
	require.NoError(b, err)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := InspectReader(bytes.NewReader(raw), int64(len(raw))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLogUTF16(b *testing.B) {
	raw := readLog(b, "windows_1603_utf16le.log")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		ParseLog(raw)
	}
}

func BenchmarkInstallCommandLine(b *testing.B) {
	cmd := InstallCommand{
		Package: `C:\Windows\nx\pkg.msi`, LogPath: `C:\Windows\nx\install.log`,
		Properties: []Property{{"SERVER", "a b"}, {"PORT", "443"}, {"MSG", `say "hi"`}},
	}
	for b.Loop() {
		if _, err := cmd.Line(); err != nil {
			b.Fatal(err)
		}
	}
}
