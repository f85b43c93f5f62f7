package smb

import "github.com/nxdeploy/deployer/internal/smbguard"

// SMB2 values ([MS-SMB2] 2.2) read from the negotiate and session setup
// facts the connection guard keeps.
const (
	negSigningRequired     = 0x0002
	capEncryption          = 0x00000040
	sessionFlagGuest       = 0x0001
	sessionFlagNull        = 0x0002
	sessionFlagEncryptData = 0x0004
)

// Cipher IDs of the SMB2_ENCRYPTION_CAPABILITIES context.
const (
	cipherAES128CCM = 0x0001
	cipherAES128GCM = 0x0002
	cipherAES256CCM = 0x0003
	cipherAES256GCM = 0x0004
)

func cipherName(id uint16) string {
	switch id {
	case cipherAES128CCM:
		return "AES-128-CCM"
	case cipherAES128GCM:
		return "AES-128-GCM"
	case cipherAES256CCM:
		return "AES-256-CCM"
	case cipherAES256GCM:
		return "AES-256-GCM"
	}
	return ""
}

// wireFacts is what the server said in clear during negotiate and session
// setup, read by the connection guard (go-smb2 keeps these in unexported
// fields).
type wireFacts = smbguard.Facts
