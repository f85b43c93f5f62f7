package smb

import (
	"context"
	"fmt"

	"golang.org/x/sync/semaphore"
)

// UploadBudget bounds the memory the uploads sharing it use for their
// buffers: every chunk in flight holds its bytes about three times (the
// chunk read from the source, go-smb2's encoded request and, when
// encrypting, its sealed copy), and waits for its place in the budget
// before it is read. One budget shared by every session of an Engine
// (Config.UploadBudget) keeps a thousand hosts uploading a large package
// from needing a thousand times the memory of one. Its methods are safe for
// concurrent use.
type UploadBudget struct {
	size int64
	sem  *semaphore.Weighted
}

// NewUploadBudget returns a budget of the given bytes (at least 1 MiB).
func NewUploadBudget(bytes int64) *UploadBudget {
	bytes = max(bytes, 1<<20)
	return &UploadBudget{size: bytes, sem: semaphore.NewWeighted(bytes)}
}

// Size returns the budget's bytes.
func (b *UploadBudget) Size() int64 { return b.size }

// String describes the budget.
func (b *UploadBudget) String() string { return fmt.Sprintf("upload budget of %d MiB", b.size>>20) }

// chunkCost is what one chunk in flight holds of the budget.
func (b *UploadBudget) chunkCost(chunk int) int64 { return min(3*int64(chunk), b.size) }

// acquire waits for n bytes of the budget.
func (b *UploadBudget) acquire(ctx context.Context, n int64) error { return b.sem.Acquire(ctx, n) }

// release gives n bytes back.
func (b *UploadBudget) release(n int64) { b.sem.Release(n) }
