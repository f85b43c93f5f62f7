package smb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/smb"
)

// slowSource is a source whose reads take a while and are counted while
// they overlap: a chunk is read only once it holds its place in the budget.
type slowSource struct {
	*bytes.Reader
	now, peak atomic.Int32
}

func (s *slowSource) ReadAt(p []byte, off int64) (int, error) {
	if len(p) < 1<<20 {
		return s.Reader.ReadAt(p, off) // the read-back's hashing, not a chunk
	}
	n := s.now.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	defer s.now.Add(-1)
	return s.Reader.ReadAt(p, off)
}

// TestUploadBudgetBoundsChunksInFlight: uploads sharing a budget never hold
// more chunks than it allows, together, and still write every byte.
func TestUploadBudgetBoundsChunksInFlight(t *testing.T) {
	h := deployertest.Start(t)
	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	for _, tc := range []struct {
		name   string
		budget *smb.UploadBudget
		max    int32
	}{
		{"one chunk", smb.NewUploadBudget(3 << 20), 1},
		{"two chunks", smb.NewUploadBudget(6 << 20), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			src := &slowSource{Reader: bytes.NewReader(data)}
			var wg sync.WaitGroup
			for i := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sess, err := smb.Dial(ctx, h.IP, smb.Config{Credentials: smb.Credentials{User: h.User, Password: h.Password},
						Port: h.Port, UploadBudget: tc.budget}, nil)
					require.NoError(t, err)
					defer sess.Close()
					admin, err := sess.Mount(ctx, "ADMIN$")
					require.NoError(t, err)
					name := tc.name[:3] + string(rune('a'+i)) + ".bin"
					_, err = admin.Upload(ctx, name, src, int64(len(data)), smb.UploadOptions{VerifySHA256: true})
					require.NoError(t, err)
					got, err := os.ReadFile(filepath.Join(h.AdminDir, name))
					require.NoError(t, err)
					assert.True(t, bytes.Equal(data, got))
				}()
			}
			wg.Wait()
			assert.Equal(t, tc.max, src.peak.Load(), "chunks read at once, over every upload")
		})
	}
}
