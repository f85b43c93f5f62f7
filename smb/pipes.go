package smb

import (
	"context"
	"net"
)

// PipeOpener opens a named pipe of a host by name, without \pipe\ ("svcctl",
// "winreg", "atsvc"): Session.Pipes does it on the session's IPC$. The RPC
// clients that take one (winreg, tsch) open the pipes they need through it,
// so a host costs one connection and one logon.
type PipeOpener func(ctx context.Context, name string) (net.Conn, error)

// Pipes returns a PipeOpener for the session: each call is OpenPipe.
func (s *Session) Pipes() PipeOpener {
	return func(ctx context.Context, name string) (net.Conn, error) {
		p, err := s.OpenPipe(ctx, name)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}
