// Package pipe is the contract between the emulated host's SMB2 server and the
// RPC services behind its named pipes (svcctl, srvsvc).
//
// The SMB2 server opens a pipe when a client creates a file on IPC$, passes it
// each message the client writes (an SMB2 WRITE, or the input of
// FSCTL_PIPE_TRANSCEIVE), and reads the next outbound message for each SMB2
// READ or transceive output. Pipes are in message mode: the server keeps the
// unread tail of a message for the next read and answers the short read with
// STATUS_BUFFER_OVERFLOW, as Windows does.
package pipe

import "context"

// Caller identifies the authenticated SMB2 session that opened a pipe.
type Caller struct {
	// User and Domain are the names the session authenticated with.
	User   string
	Domain string
	// Admin reports whether the account holds an administrator token on the
	// host (not filtered by UAC remote restrictions).
	Admin bool
	// Guest reports whether the session was mapped to the Guest account.
	Guest bool
	// SessionKey is the SMB2 session key (MS-SMB2 3.3.5.5.3), used by RPC
	// services that encrypt with it.
	SessionKey []byte
	// RemoteAddr is the client's address, host:port.
	RemoteAddr string
}

// Conn is one open instance of a named pipe in message mode.
type Conn interface {
	// Write delivers one message written by the client.
	Write(p []byte) (int, error)
	// ReadMessage returns the next whole message for the client, blocking
	// until one is available, the pipe is closed, or ctx is done.
	ReadMessage(ctx context.Context) ([]byte, error)
	// Close releases the pipe instance and every handle opened through it.
	Close() error
}

// Opener opens named pipes by name.
type Opener interface {
	// OpenPipe opens the pipe called name (without a \pipe\ prefix, matched
	// case-insensitively) for caller. It returns an error wrapping
	// os.ErrNotExist for a pipe that does not exist, which the SMB2 server
	// reports as STATUS_OBJECT_NAME_NOT_FOUND.
	OpenPipe(name string, caller Caller) (Conn, error)
}

// OpenerFunc adapts a function to the Opener interface.
type OpenerFunc func(name string, caller Caller) (Conn, error)

// OpenPipe calls f(name, caller).
func (f OpenerFunc) OpenPipe(name string, caller Caller) (Conn, error) { return f(name, caller) }
