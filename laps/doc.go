// Package laps reads a computer's local administrator password that LAPS
// keeps in Active Directory, so the deployer can log on to each computer with
// its own unique password.
//
// Three forms exist, all attributes of the computer object:
//
//   - Microsoft LAPS (legacy): ms-Mcs-AdmPwd holds the password in clear,
//     ms-Mcs-AdmPwdExpirationTime when it changes. The managed account is
//     not recorded (the built-in Administrator unless a policy names another).
//   - Windows LAPS in clear: msLAPS-Password holds JSON
//     {"n": account, "t": update time, "p": password}.
//   - Windows LAPS encrypted: msLAPS-EncryptedPassword holds the same JSON
//     protected with DPAPI-NG for a group (Domain Admins by default). Its key
//     comes from a domain controller's Group Key Distribution service
//     ([MS-GKDI] GetKey over sealed RPC): DialGKDI. A domain admin who holds
//     the domain's KDS root key can decrypt offline instead: ParseRootKey.
//
// Ask the directory for AttributeNames when searching computers (the
// discovery's LDAP search), then hand the values to Read:
//
//	keys, err := laps.DialGKDI(ctx, "dc1.corp.example.com", laps.GKDIConfig{Credentials: admin})
//	...
//	defer keys.Close()
//	cred, err := laps.Read(ctx, "PC-0001", laps.Attributes{
//		laps.AttrEncryptedPassword: entry.GetRawAttributeValues(laps.AttrEncryptedPassword),
//		...
//	}, keys)
//	// cred.Account, cred.Password.Reveal() for the logon.
//
// The attributes are confidential: an account without the right to read
// them gets the computer without them, and Read reports ErrNoPassword.
//
// # UAC remote restrictions
//
// Windows filters the administrator token of every local account but the
// built-in Administrator (RID 500) on network logons, unless
// LocalAccountTokenFilterPolicy is 1: the logon succeeds, then ADMIN$ and the
// service manager refuse. Windows LAPS can manage another account (its
// AdministratorAccountName policy, or the account Windows 11 24H2 creates
// itself). Credential.FilteredByUAC and CheckRemoteAdmin tell whether an
// account is filtered; the account's RID makes the answer certain. The
// deployer learns it after the logon from the computer itself (an LSA name
// lookup over \pipe\lsarpc on the same session), so a renamed built-in
// Administrator is not mistaken for another account; when the computer does
// not answer, the name decides.
//
// # Secrets
//
// A Password never shows itself in fmt, encoding/json, encoding/xml or
// log/slog output; only Reveal returns it. Nothing here stores or logs a
// password or a key.
//
// # What is proven, and against what
//
// The decryption (CMS parsing, the target security descriptor, the MS-GKDI
// key derivation, symmetric and DH/ECDH P-256/P-384 key agreement, AES key
// unwrap, AES-GCM) opens 16 blobs Windows produced with NCryptProtectSecret
// under known root keys, and a Windows LAPS blob with the group key envelope
// a Windows domain controller returned for it; the vectors come from the
// dpapi-ng Python library's tests (testdata/dpapi-ng). Reading the attributes
// over LDAP is tested against a Samba AD domain controller with the LAPS
// schema added, here and through discovery.LDAPSource.LAPS (the encrypted
// form with the Windows vector's key material as Keys). Samba 4.17 has no MS-GKDI service: DialGKDI is tested up to
// the endpoint mapper's answer there, and GetKey's marshalling against the
// NDR layout of [MS-GKDI] 3.1.4.1.
package laps
