package deployer

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/tsch"
)

func TestParseVia(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Via
		ok   bool
	}{
		{"auto", ViaAuto, true}, {"Service", ViaService, true}, {"TASK", ViaTask, true},
		{"", ViaAuto, false}, {"scm", ViaAuto, false},
	} {
		got, err := ParseVia(tc.in)
		if !tc.ok {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
		assert.Equal(t, strings.ToLower(tc.in), got.String())
	}
	assert.Equal(t, "deployer.Via(9)", Via(9).String())
}

// The task definitions tsch writes are read back to their program, and a
// definition of anyone else's program never passes for ours.
func TestTaskOwnership(t *testing.T) {
	c := &Conn{cfg: ConnectConfig{}, root: `C:\Windows`}
	def := func(cmd string) string {
		x, err := tsch.Task{Name: "nxdeploy-0a1b2c3d4e5f", Command: cmd, Arguments: `"C:\Windows\nxdeploy\0a1b2c3d4e5f"`}.XML()
		require.NoError(t, err)
		return x
	}
	for _, tc := range []struct {
		def  string
		ours bool
	}{
		{def(`C:\Windows\nxdeploy-0a1b2c3d4e5f\nxsvc.exe`), true},
		{def(`c:\windows\NXDEPLOY-0a1b2c3d4e5f\nxsvc.exe`), true},
		{def(`%SystemRoot%\nxdeploy-0a1b2c3d4e5f\nxsvc.exe`), true},
		{def(`C:\Windows\nxdeploy-0a1b2c3d4e5f\other.exe`), false},
		{def(`C:\Windows\nxdeploy-ffffffffffff\nxsvc.exe`), false},
		{def(`C:\Windows\nxdeploy-0a1b2c3d4e5f\x\nxsvc.exe`), false},
		{def(`D:\Tools\nxdeploy-0a1b2c3d4e5f\nxsvc.exe`), false},
		// Where versions before 2026-12 put it.
		{def(`C:\Windows\nxdeploy\0a1b2c3d4e5f\nxsvc.exe`), true},
		{def(`c:\windows\NXDEPLOY\0a1b2c3d4e5f\nxsvc.exe`), true},
		{def(`%SystemRoot%\nxdeploy\0a1b2c3d4e5f\nxsvc.exe`), true},
		{def(`C:\Windows\nxdeploy\0a1b2c3d4e5f\other.exe`), false},
		{def(`C:\Windows\nxdeploy\ffffffffffff\nxsvc.exe`), false},
		{def(`D:\Tools\nxdeploy\0a1b2c3d4e5f\nxsvc.exe`), false},
		{`<Task><Actions><Exec><Command>"C:\Windows\nxdeploy\0a1b2c3d4e5f\nxsvc.exe"</Command></Exec></Actions></Task>`, true},
		{`<Task><Actions/></Task>`, false},
		{`not xml`, false},
	} {
		cmd, ok := taskCommand(tc.def)
		assert.Equal(t, tc.ours, ok && c.ownsBinaryPath(context.Background(), quoteForOwnership(cmd), "0a1b2c3d4e5f"), "%s", tc.def)
	}
}

func quoteForOwnership(cmd string) string { return `"` + cmd + `"` }

// FuzzTaskCommand: any definition a host returns is read without a panic,
// and a command found is non-empty, trimmed of quotes and valid text.
func FuzzTaskCommand(f *testing.F) {
	x, _ := tsch.Task{Name: "nxdeploy-0a1b2c3d4e5f", Command: `C:\Windows\nxdeploy\0a1b2c3d4e5f\nxsvc.exe`}.XML()
	f.Add(x)
	f.Add(`<Task><Actions><Exec><Command>"x"</Command></Exec><Exec><Command>y</Command></Exec></Actions></Task>`)
	f.Add(`<?xml version="1.0" encoding="UTF-16"?><Task><Actions><Exec/></Actions></Task>`)
	f.Fuzz(func(t *testing.T, def string) {
		cmd, ok := taskCommand(def)
		if !ok {
			return
		}
		if cmd == "" {
			t.Fatalf("empty command reported for %q", def)
		}
		if strings.HasPrefix(cmd, `"`) || strings.HasSuffix(cmd, `"`) {
			t.Fatalf("command %q keeps its quotes", cmd)
		}
		if !utf8.ValidString(cmd) {
			t.Fatalf("command %q is not valid text", cmd)
		}
	})
}
