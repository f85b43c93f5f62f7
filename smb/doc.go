// Package smb is the deployer's SMB2/3 client: it dials a host with the
// steps an operator can reason about (resolve, connect, negotiate, logon,
// tree connect), reports what it learned (dialect, signing, encryption,
// guest mapping, the server's names and Windows version from NTLM), and
// moves files into ADMIN$ quickly and safely.
//
// It is built on github.com/oiweiwei/go-smb2.fork. Signing is required by
// default and encryption is used whenever the server offers it. The logon
// is NTLM, or Kerberos when Credentials.Kerberos is set (through
// github.com/oiweiwei/go-msrpc's gssapi): tickets for the host's cifs/
// service principal, KDCs from a list or the realm's SRV records reached
// through the same dial hook, and one TGT per account cached for the
// process, so a fleet costs the KDC one password check per account and one
// service ticket per host. Every
// failure is a *derrors.Error (package github.com/nxdeploy/deployer/errors)
// that names the host and the step.
//
// No reply can crash the process: go-smb2 parses replies in a goroutine of
// its own and trusts the lengths and offsets servers send, so every frame
// passes a guard on the connection first (framing, compound chains, the
// SMB2 header, every body offset go-smb2 dereferences, the NTLM challenge;
// encrypted frames are decrypted and checked too). A reply that fails
// closes the connection with a *derrors.Error whose reason is
// derrors.ReasonMalformedReply; one in SMB1 names the host
// derrors.ReasonSMB1Only. The srvsvc calls (SharePath, ListShares) go
// through a second guard that bounds what an RPC reply can make go-msrpc
// allocate. docs/upstream/go-smb2-fork.md lists what the guards prevent.
//
// Upload keeps many 1 MiB writes in flight, because a single sequential
// write stream waits one network round trip per chunk. It writes under a
// temporary name, verifies size (and optionally SHA-256 by reading back),
// and renames on success; a failed or cancelled upload deletes what it
// wrote.
//
//	s, err := smb.Dial(ctx, "pc1.corp.example", smb.Config{
//		Credentials: smb.Credentials{User: "admin", Domain: "CORP", Password: pw},
//		// or Kerberos: Domain: "corp.example", Kerberos: &smb.Kerberos{}
//	}, nil)
//	if err != nil {
//		return err // *derrors.Error: logon failure, host unreachable, ...
//	}
//	defer s.Close()
//	admin, err := s.Mount(ctx, "ADMIN$")
//	...
//	_, err = admin.Upload(ctx, `nxdeploy\setup.msi`, f, size, smb.UploadOptions{})
package smb
