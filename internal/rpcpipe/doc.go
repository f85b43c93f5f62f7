// Package rpcpipe binds a go-msrpc interface over a named pipe that the caller
// opens, such as \pipe\atsvc or \pipe\winreg on a host's SMB session
// (smb.Session.OpenPipe): DCE/RPC PDUs are the same bytes on a pipe as on a
// TCP connection, so go-msrpc speaks over the pipe as over an ncacn_ip_tcp
// connection, and the host costs no second TCP connection or logon.
//
// The bind carries no RPC-level authentication (the SMB session carries the
// identity), or seals every PDU (RPC_C_AUTHN_LEVEL_PKT_PRIVACY, which also
// signs) with a fresh NTLM or Kerberos exchange inside the bind: interfaces
// such as the Task Scheduler's refuse calls below packet integrity, and
// go-msrpc's sign-only level fails over named pipes (go-msrpc issue #51), so
// privacy is what integrity means here.
//
// A Conn serialises its calls (go-msrpc corrupts concurrent calls on one
// connection), bounds each call, and tears a transport down after an I/O
// failure or a fault PDU (go-msrpc closes it then); the next call opens a
// new pipe and binds again, at most MaxRedials times in a row. Errors are
// *derrors.Error values naming the host and the caller's step; a fault PDU
// keeps its Win32 equivalent and wraps ErrFault.
package rpcpipe
