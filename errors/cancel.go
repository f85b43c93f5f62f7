package errors

import (
	"context"
	stderrors "errors"

	smb2 "github.com/oiweiwei/go-smb2.fork"
)

// isCancelled reports a cancelled context anywhere in err's chain, also
// when go-smb2 carries it in its own error type.
func isCancelled(err error) bool {
	if stderrors.Is(err, context.Canceled) {
		return true
	}
	var ce *smb2.ContextError
	return stderrors.As(err, &ce) && stderrors.Is(ce.Err, context.Canceled)
}

// isDeadline reports an expired context deadline in err's chain (not an
// I/O deadline of one request).
func isDeadline(err error) bool {
	if stderrors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ce *smb2.ContextError
	return stderrors.As(err, &ce) && stderrors.Is(ce.Err, context.DeadlineExceeded)
}
