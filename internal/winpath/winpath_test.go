package winpath

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatchName(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "Windows"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Windows", "nxsvc.exe"), nil, 0o644))
	cases := []struct{ dir, name, want string }{
		{dir, "Windows", "Windows"},
		{dir, "WINDOWS", "Windows"},
		{dir, "windows", "Windows"},
		{filepath.Join(dir, "Windows"), "NXSVC.EXE", "nxsvc.exe"},
		{dir, "Program Files", "Program Files"},
		{filepath.Join(dir, "missing"), "x", "x"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, MatchName(c.dir, c.name), "%s in %s", c.name, c.dir)
	}
}
