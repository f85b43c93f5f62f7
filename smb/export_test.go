package smb

import (
	"context"

	smb2 "github.com/oiweiwei/go-smb2.fork"
)

// RawShare gives the package's tests go-smb2's share bound to ctx, for
// operations the Share does not offer (holding a file open without
// FILE_SHARE_DELETE, creating one). It is not part of the public API: no
// dependency's type is.
func RawShare(ctx context.Context, sh *Share) *smb2.Share { return sh.fs.WithContext(ctx) }
