// Package smbguard stands between an SMB2/3 connection and
// github.com/oiweiwei/go-smb2.fork, and makes sure every frame the server
// sends is one that go-smb2 can parse without reading outside it.
//
// go-smb2 v1.0.2 parses every reply in a goroutine of its own (the
// connection's receiver) and trusts the lengths and offsets the server
// sends: an 8-byte frame, a NextCommand past the frame, a uint32 offset that
// wraps, an NTLM challenge with an out-of-range TargetName... each panics,
// and no recover() in the caller can catch a panic in that goroutine: the
// whole process dies. Conn reads each Direct TCP frame whole from the
// network, checks it, and only then lets go-smb2 read it; a frame that fails
// a check closes the connection and go-smb2 sees the read error instead.
//
// What is checked, for every frame of the session:
//   - Direct TCP framing: a zero first byte and a size between 64 bytes and
//     MaxFrame;
//   - the SMB2 header of each message of a compound chain (protocol id,
//     structure size, the server-to-client flag, a known command) and the
//     chain itself (NextCommand 8-byte aligned, inside the frame, leaving a
//     whole header);
//   - for encrypted frames, the transform header (flags, session, original
//     size), then the frame is decrypted with the session's keys (derived as
//     go-smb2 derives them) and the plain message is checked as above;
//   - the bodies go-smb2 dereferences: negotiate (dialect, size limits,
//     security buffer, negotiate contexts), session setup (security buffer,
//     the SPNEGO token and the NTLM challenge in it: TargetName, TargetInfo
//     and its AV pairs), error responses and their error contexts, create
//     contexts, read data, write counts (against the request's length),
//     ioctl input and output, query directory entries and query info
//     output;
//   - state go-smb2 would dereference as nil: encryption asked for by the
//     server on a dialect or session that has no keys, signatures on a
//     session that has none.
//
// The checks are written against go-smb2.fork v1.0.2's receiver and
// response decoders (conn.go runReciever, tryDecrypt, tryVerify, tryHandle,
// accept, acceptError; internal/smb2 response.go and fscc.go; session.go;
// internal/ntlm client.go; spnego.go). docs/upstream/go-smb2-fork.md lists
// each crash with its reproducer.
//
// Conn also reads the negotiate and session setup facts (dialect, signing,
// cipher, session flags) that go-smb2 keeps unexported, as Facts.
package smbguard
