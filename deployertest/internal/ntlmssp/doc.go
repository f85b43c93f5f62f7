// Package ntlmssp is the server side of NTLMSSP ([MS-NLMP]) and of its
// SPNEGO wrapping ([RFC 4178]) for the emulated Windows host: the SMB2
// server's session setup and the DCE/RPC server's authenticated binds share
// it.
//
//	ch, msg, err := ntlmssp.BuildChallenge(id, negotiate, nonce, now)
//	a, err := ntlmssp.ParseAuthenticate(authenticate)
//	key, ok := ntlmssp.VerifyNTLMv2(a, ch, ntHash)     // the exported session key
//	sec := ntlmssp.NewServerSecurity(key, ch.Flags&a.Flags) // sign and seal
//
// Only NTLMv2 with extended session security is accepted, as on current
// Windows.
package ntlmssp
