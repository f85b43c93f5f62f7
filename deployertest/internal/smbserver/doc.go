// Package smbserver is an SMB2/SMB3 file server that behaves like the
// server service (srv2.sys) of a Windows host, for tests of the deployer
// against third-party and in-house SMB clients.
//
// # What is modelled
//
// Transport: direct TCP (port 445 framing) on any net.Listener; many
// connections at once; every request but NEGOTIATE and SESSION_SETUP runs
// on its own goroutine, so several requests are in flight per connection;
// compound chains (related and unrelated) are answered as compounds;
// credits are granted as requested up to 8192 outstanding; a pipe read that
// has no data yet goes async (interim STATUS_PENDING with an AsyncId) and
// CANCEL completes it with STATUS_CANCELLED.
//
// Negotiation: dialects 2.0.2, 2.1, 3.0, 3.0.2 and 3.1.1 (capped by
// Config.MaxDialect); an SMB1 multi-protocol NEGOTIATE offering "SMB 2.???"
// is answered with the 0x02FF wildcard, one offering only "SMB 2.002" with
// 2.0.2, and one offering no SMB2 dialect is dropped (SMB1 disabled). 3.1.1
// negotiate contexts: preauth integrity (SHA-512, mandatory), encryption
// (AES-128-GCM, AES-128-CCM, in the client's order) and signing
// capabilities (AES-CMAC, HMAC-SHA256); others are ignored. The NEGOTIATE
// response carries a SPNEGO NegTokenInit offering NTLMSSP with Windows'
// negHints. FSCTL_VALIDATE_NEGOTIATE_INFO is checked and a mismatch drops
// the connection.
//
// Authentication: SPNEGO (or bare NTLMSSP) with NTLMv2 verified against a
// password or NT hash; the CHALLENGE carries the NetBIOS and DNS computer
// and domain names, a timestamp and an OS version (10.0.20348 by default);
// KEY_EXCH is honoured; the server's mechListMIC is sent when the client
// sent one. Unknown user or wrong password → STATUS_LOGON_FAILURE;
// Account.LogonStatus returns STATUS_ACCOUNT_LOCKED_OUT (whatever the
// password), STATUS_ACCOUNT_DISABLED or STATUS_PASSWORD_EXPIRED (after a
// correct password); anonymous logons →
// STATUS_LOGON_FAILURE; Config.GuestOnly maps every logon to Guest
// (SMB2_SESSION_FLAG_IS_GUEST, no signing).
//
// Signing and encryption: HMAC-SHA256 (2.x) and AES-128-CMAC (3.x) with
// the SP800-108 key derivation of each dialect (3.1.1 uses the session's
// preauth hash); signed requests are verified, responses are signed when
// the request was signed or the session requires signing, and the final
// SESSION_SETUP response is signed for 3.1.1. TRANSFORM_HEADER encryption
// with AES-128-CCM (3.0, 3.0.2, 3.1.1) and AES-128-GCM (3.1.1): a request
// that arrived encrypted is answered encrypted; Config.RequireEncryption
// or Share.EncryptData make unencrypted requests fail with
// STATUS_ACCESS_DENIED and refuse sessions that cannot encrypt.
//
// Shares: IPC$ (named pipes through a pipe.Opener) and disk shares backed
// by directories (ADMIN$ standing for C:\Windows, C$ for C:\); unknown
// names → STATUS_BAD_NETWORK_NAME; Share.AdminOnly denies sessions without
// an unfiltered administrator token (UAC remote restrictions).
//
// Files: CREATE with every disposition, directory/non-directory options,
// delete-on-close, case-insensitive name matching; READ, WRITE (including
// append at offset 0xFFFFFFFFFFFFFFFF), FLUSH, CLOSE (with post-query
// attributes), LOCK (granted, not enforced), QUERY_DIRECTORY (Directory,
// Full, Both, IdBoth, IdFull and Names classes, wildcards * ? < > "),
// QUERY_INFO (Basic, Standard, Internal, Ea, Access, Name, Position, Mode,
// Alignment, All, NetworkOpen, AttributeTag, Stream; FileFsVolume, Size,
// FullSize, Device, Attribute (NTFS) and SectorSize from statfs; a fixed
// security descriptor), SET_INFO (Basic times and read-only attribute,
// Rename with ReplaceIfExists, Disposition and DispositionEx, EndOfFile,
// Allocation and Position accepted). Every path is resolved inside an
// os.Root, so "..", absolute names and symlinks cannot leave the share.
//
// Pipes: CREATE on IPC$ calls pipe.Opener.OpenPipe (os.ErrNotExist →
// STATUS_OBJECT_NAME_NOT_FOUND); WRITE and FSCTL_PIPE_TRANSCEIVE deliver
// messages; READ and transceive output return the next message, a short
// read yields STATUS_BUFFER_OVERFLOW and the rest is kept for the next read.
//
// Faults for tests: Account.LogonStatus, Antivirus (a written .exe is
// deleted after a delay, or its opens fail with STATUS_VIRUS_INFECTED),
// Config.ResponseDelay (latency before every response).
//
// # What is not modelled
//
// Kerberos; NTLMv1 and LM responses; the client's NTLM MIC and mechListMIC
// are not verified; SMB1 beyond the negotiate hand-off; multichannel,
// session binding, durable/persistent handles, leases and oplocks (never
// granted), CHANGE_NOTIFY and OPLOCK_BREAK (STATUS_NOT_SUPPORTED), byte-range
// lock enforcement, share modes (no STATUS_SHARING_VIOLATION), ACLs (the
// security descriptor is fixed and SET_INFO of security is ignored),
// alternate data streams, 8.3 short names, compression, QUIC and RDMA
// transports, AES-256 ciphers and AES-GMAC signing, DFS (referrals →
// STATUS_NOT_FOUND), FSCTL_QUERY_NETWORK_INTERFACE_INFO
// (STATUS_NOT_SUPPORTED), credit-charge enforcement and message-sequence
// validation, and session expiry.
package smbserver
