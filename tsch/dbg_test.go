package tsch_test

import (
	"encoding/binary"
	"github.com/nxdeploy/deployer/tsch"
	"github.com/stretchr/testify/require"
	"os"
	"testing"
	"unicode/utf16"
)

func TestDbgXML(t *testing.T) {
	w, ctx := startScheduler(t)
	x, err := (tsch.Task{Name: "nx-x", Command: `C:\Windows\system32\cmd.exe`, Arguments: `/c exit 3`, Description: "d"}).XML()
	require.NoError(t, err)
	b := []byte{0xff, 0xfe}
	for _, c := range utf16.Encode([]rune(x)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	p, _ := w.Path(`C:\task.xml`)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	out, err := w.Run(ctx, "schtasks", "/create", "/xml", `C:\task.xml`, "/tn", "nxtest")
	t.Logf("%s %v", out, err)
	c, err := tsch.Open(ctx, "wine", tsch.PipeOpener(w.OpenPipe), tsch.Config{Unsealed: true})
	require.NoError(t, err)
	defer c.Close()
	d, err := c.Definition(ctx, "nxtest")
	t.Logf("%s %v", d, err)
}
