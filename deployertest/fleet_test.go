package deployertest

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// rssBytes reads the process's resident set size from /proc.
func rssBytes(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// TestFleetThousandHosts starts 1,000 hosts in this process, logs on to
// every one, and reports the memory they take.
func TestFleetThousandHosts(t *testing.T) {
	const n = 1000
	heap0, rss0 := heapInUse(), rssBytes(t)
	f, err := NewFleet(n)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	heap1, rss1 := heapInUse(), rssBytes(t)
	perHost := (heap1 - heap0) / n
	t.Logf("%d idle hosts: heap+stacks +%.1f MiB (%.1f KiB/host), RSS +%.1f MiB",
		n, float64(heap1-heap0)/(1<<20), float64(perHost)/1024, float64(rss1-rss0)/(1<<20))
	// A generous bound: idle hosts must stay small (measured ~13 KiB each).
	assert.Less(t, perHost, uint64(256<<10))

	var g errgroup.Group
	g.SetLimit(32)
	for _, h := range f.Hosts {
		g.Go(func() error {
			s, err := logon(t, h.Addr, h.User, h.Password, smb2.Negotiator{})
			if err != nil {
				return err
			}
			fs, err := s.Mount("ADMIN$")
			if err != nil {
				return err
			}
			return fs.Umount()
		})
	}
	require.NoError(t, g.Wait())
	heap2, rss2 := heapInUse(), rssBytes(t)
	t.Logf("after 1,000 logons with sessions held: heap+stacks +%.1f MiB, RSS +%.1f MiB",
		float64(heap2-heap0)/(1<<20), float64(rss2-rss0)/(1<<20))
}
