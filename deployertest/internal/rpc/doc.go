// Package rpc is the DCE/RPC server side of the emulated Windows host: the
// connection-oriented runtime (C706 chapter 12 with the [MS-RPCE]
// extensions) around go-msrpc's generated svcctl, srvsvc and lsarpc server
// stubs.
//
// Public API:
//
//	mgr := scm.New(scm.Options{AdminDir: adminDir})
//	rpc.NewOpener(rpc.Config{SCM: mgr, Shares: shares, ServerName: "HOST1"}) pipe.Opener
//	rpc.ServeTCP(ctx, ln, cfg) error // ncacn_ip_tcp, all interfaces on one endpoint
//
// NewOpener serves the named pipes "svcctl" (alias "ntsvcs"), "srvsvc",
// "atsvc" (when Config.Tasks is set) and "lsarpc" (alias "lsass") for the SMB2 server (package pipe is the
// contract). Each pipe instance is one association, processed in order by
// one goroutine until Close; its svcctl context handles are an scm.Session,
// closed with the pipe. The pipe's caller (pipe.Caller.Admin) decides the SCM
// access checks. Over TCP there is no SMB session: Config.TCPCaller gives
// the identity (an administrator by default).
//
// The runtime handles bind/bind_ack/bind_nak, alter_context, request and
// response with fragmentation both ways (max_xmit_frag/max_recv_frag are
// negotiated from the client's values, capped at Config.MaxFrag), fault
// PDUs (nca_op_rng_error for unknown or unimplemented opnums,
// nca_s_fault_ndr for undecodable stub data, RPC_X_INVALID_BOUND for
// out-of-range buffer sizes) and cancel/orphaned PDUs. Presentation
// contexts are decided one by one as 64-bit Windows does: NDR64 is chosen
// when offered, else NDR 2.0 (the go-msrpc stubs run in either); a context
// offering neither is rejected with proposed_transfer_syntaxes_not_supported,
// an unknown interface with abstract_syntax_not_supported; a bind-time
// feature negotiation context gets negotiate_ack. NDR counts larger than
// the stub are refused before go-msrpc allocates them.
//
// Security: a bind without an auth verifier is taken as before (on
// ncacn_np the SMB session carries the caller, and impacket and goexec bind
// svcctl without RPC-level auth). A bind with one logs on with NTLMv2
// against Config.RPCAccounts, bare (auth type 10: bind, bind_ack, auth3) or
// in SPNEGO (auth type 9: bind, bind_ack, alter_context with the
// mechListMIC, alter_context_resp), at the connect, integrity (sign) or
// privacy (seal) level, as Windows does: each request fragment's verifier
// is checked (and its stub decrypted) and each response fragment signed
// (and sealed), with a sequence number and RC4 handle per direction (the
// handles renewed after the mechListMIC). Other auth types, or none
// configured, get bind_nak authentication_type_not_recognized; a failed
// logon leaves the association without a security context, whose calls
// fault with ERROR_ACCESS_DENIED. ITaskSchedulerService (\pipe\atsvc, over
// Config.Tasks) takes calls only at packet privacy.
//
// srvsvc implements NetrShareEnum (NetShareEnumAll, levels 0, 1, 2),
// NetrShareGetInfo (levels 0, 1, 2; level 2 needs an administrator) and
// NetrServerGetInfo (levels 100, 101), enough for smbclient -L and
// impacket's listShares. lsarpc answers the LsarOpenPolicy(2),
// LsarQueryInformationPolicy(2) (account and primary domain) and LsarClose
// calls Samba's `net rpc` makes before opening svcctl, so `net rpc service
// list|status|start|stop|create|delete` work. Every other method of the
// three interfaces answers with nca_op_rng_error.
package rpc
