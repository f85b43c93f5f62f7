package interrupt

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestContextEndsOnEitherSignal: SIGINT and SIGTERM each cancel the
// context (the process keeps running, so the command can clean up).
func TestContextEndsOnEitherSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, stop := Context(context.Background())
			defer stop()
			require.NoError(t, syscall.Kill(syscall.Getpid(), sig))
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("%v did not cancel the context", sig)
			}
		})
	}
}
