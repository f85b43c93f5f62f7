package smbguard

import (
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/geoffgarside/ber"
)

// SMB2 wire constants ([MS-SMB2] 2.2).
const (
	headerLen    = 64
	transformLen = 52

	cmdNegotiate      = 0x0000
	cmdSessionSetup   = 0x0001
	cmdTreeConnect    = 0x0003
	cmdCreate         = 0x0005
	cmdRead           = 0x0008
	cmdWrite          = 0x0009
	cmdIoctl          = 0x000B
	cmdQueryDirectory = 0x000E
	cmdQueryInfo      = 0x0010
	cmdMax            = 0x0012

	flagServerToRedir = 0x00000001
	flagSigned        = 0x00000008

	statusSuccess          = 0x00000000
	statusPending          = 0x00000103
	statusMoreProcessing   = 0xC0000016
	statusBufferOverflow   = 0x80000005
	statusNotifyEnumDir    = 0x0000010C
	statusNameCollision    = 0xC0000035
	statusNameNotFound     = 0xC0000034
	statusPathNotFound     = 0xC000003A
	statusAccessDenied     = 0xC0000022
	statusCannotDelete     = 0xC0000121
	capEncryption          = 0x00000040
	sessionFlagGuest       = 0x0001
	sessionFlagNull        = 0x0002
	sessionFlagEncryptData = 0x0004
	shareFlagEncryptData   = 0x00008000

	dialect202      = 0x0202
	dialect210      = 0x0210
	dialect300      = 0x0300
	dialect302      = 0x0302
	dialect311      = 0x0311
	dialectWildcard = 0x02FF

	ctxPreauth    = 0x0001
	ctxEncryption = 0x0002
	hashSHA512    = 0x0001
	cipherCCM     = 0x0001
	cipherGCM     = 0x0002

	fsctlSrvRequestResumeKey = 0x00140078

	// minServerSize is the least MaxTransactSize, MaxReadSize or
	// MaxWriteSize accepted: go-smb2 loops on a zero size until the
	// request's deadline.
	minServerSize = 4096

	unsolicited = 0xFFFFFFFFFFFFFFFF
)

var le = binary.LittleEndian

var commandNames = [...]string{"NEGOTIATE", "SESSION_SETUP", "LOGOFF", "TREE_CONNECT", "TREE_DISCONNECT",
	"CREATE", "CLOSE", "FLUSH", "READ", "WRITE", "LOCK", "IOCTL", "CANCEL", "ECHO", "QUERY_DIRECTORY",
	"CHANGE_NOTIFY", "QUERY_INFO", "SET_INFO", "OPLOCK_BREAK"}

func commandName(cmd uint16) string {
	if int(cmd) < len(commandNames) {
		return commandNames[cmd]
	}
	return fmt.Sprintf("command 0x%04X", cmd)
}

func bad(cmd uint16, format string, args ...any) error {
	return &MalformedError{Command: commandName(cmd), Problem: fmt.Sprintf(format, args...)}
}

func badFrame(format string, args ...any) error {
	return &MalformedError{Command: "frame", Problem: fmt.Sprintf(format, args...)}
}

// checkFrame checks one Direct TCP frame's payload. A panic in a check (in
// the BER decoder, say) is a malformed frame too: go-smb2 would meet it.
func (s *state) checkFrame(f []byte, o Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = badFrame("checking it failed: %v", r)
		}
	}()
	switch {
	case len(f) >= 4 && string(f[:4]) == "\xffSMB":
		return fmt.Errorf("%w (a %d-byte SMB1 message)", ErrSMB1, len(f))
	case len(f) >= 4 && string(f[:4]) == "\xfdSMB":
		return s.checkTransform(f, o)
	}
	return s.checkChain(f, false, o)
}

// checkTransform checks an encrypted frame: its transform header, then,
// decrypted, the messages inside.
func (s *state) checkTransform(f []byte, o Options) error {
	if len(f) < transformLen+headerLen {
		return badFrame("encrypted frame of %d bytes, too short to hold a message", len(f))
	}
	if !s.active || !s.canEncrypt() {
		return badFrame("encrypted frame on a session without encryption keys")
	}
	if flags := le.Uint16(f[42:44]); flags != 1 {
		return badFrame("transform header flags 0x%04X, not encrypted", flags)
	}
	if id := le.Uint64(f[44:52]); id != s.sessionID {
		return badFrame("encrypted frame for session 0x%X, not ours", id)
	}
	if size := le.Uint32(f[36:40]); int64(size) != int64(len(f)-transformLen) {
		return badFrame("transform header says %d bytes, the frame holds %d", size, len(f)-transformLen)
	}
	k, err := s.sessionKeys(o)
	if err != nil {
		return err
	}
	plain, err := k.open(f)
	if err != nil {
		return badFrame("encrypted frame fails authentication: %v", err)
	}
	return s.checkChain(plain, true, o)
}

// checkChain checks a message and the compounded messages after it.
func (s *state) checkChain(pkt []byte, encrypted bool, o Options) error {
	for {
		if len(pkt) < headerLen {
			return badFrame("%d bytes, shorter than an SMB2 header", len(pkt))
		}
		if string(pkt[:4]) != "\xfeSMB" {
			return badFrame("protocol id % X is not SMB2's", pkt[:4])
		}
		cmd := le.Uint16(pkt[12:14])
		if size := le.Uint16(pkt[4:6]); size != headerLen {
			return bad(cmd, "header structure size %d, not 64", size)
		}
		next := int64(le.Uint32(pkt[20:24]))
		msg := pkt
		if next != 0 {
			if next%8 != 0 || next < headerLen || next+headerLen > int64(len(pkt)) {
				return bad(cmd, "NextCommand %d in a %d-byte compound (8-byte aligned, inside it, room for a header)", next, len(pkt))
			}
			msg = pkt[:next]
		}
		if err := s.checkMessage(msg, encrypted, o); err != nil {
			return err
		}
		if next == 0 {
			return nil
		}
		pkt = pkt[next:]
	}
}

// checkMessage checks one reply: its header, then the body go-smb2 will
// decode for it.
func (s *state) checkMessage(m []byte, encrypted bool, o Options) error {
	cmd := le.Uint16(m[12:14])
	status := le.Uint32(m[8:12])
	flags := le.Uint32(m[16:20])
	msgID := le.Uint64(m[24:32])
	if flags&flagServerToRedir == 0 {
		return bad(cmd, "the server-to-client flag is not set")
	}
	if cmd > cmdMax {
		return bad(cmd, "unknown command")
	}
	if s.active && msgID != unsolicited {
		signed := flags&flagSigned != 0
		if signed && s.noKeys() {
			// go-smb2 would verify with a nil verifier.
			return bad(cmd, "signed reply on a guest or anonymous session, which has no signing key")
		}
		if signed || encrypted {
			s.facts.RepliesSigned++
		} else if status != statusPending {
			s.facts.RepliesUnsigned++
		}
	}
	if status == statusPending {
		return nil // interim: go-smb2 reads only the async id
	}
	body := m[headerLen:]
	switch cmd {
	case cmdNegotiate:
		return s.negotiateReply(m, status)
	case cmdSessionSetup:
		return s.sessionSetupReply(m, status, o)
	}
	switch status {
	case statusSuccess:
	case statusNameCollision, statusNameNotFound, statusPathNotFound, statusAccessDenied, statusCannotDelete:
		return nil // go-smb2 maps them to os errors without reading the body
	case statusBufferOverflow:
		switch cmd {
		case cmdQueryInfo, cmdRead:
			return nil
		case cmdIoctl:
			if ioctlWeaklyValid(body) {
				return checkIoctl(body)
			}
		}
		return checkError(cmd, body)
	case statusNotifyEnumDir:
		return nil
	default:
		return checkError(cmd, body)
	}
	switch cmd {
	case cmdTreeConnect:
		if len(body) >= 8 && le.Uint32(body[4:8])&shareFlagEncryptData != 0 && !s.canEncrypt() {
			return bad(cmd, "the share asks for encryption on a session that has no encryption keys")
		}
	case cmdCreate:
		return checkCreate(body)
	case cmdRead:
		return checkRead(body)
	case cmdWrite:
		return s.checkWrite(msgID, body)
	case cmdIoctl:
		return checkIoctl(body)
	case cmdQueryDirectory:
		return checkQueryDirectory(body)
	case cmdQueryInfo:
		if len(body) >= 8 {
			return checkBuffer(cmd, body, 8, int64(le.Uint16(body[2:4])), int64(le.Uint32(body[4:8])), "output buffer")
		}
	}
	return nil
}

// checkBuffer checks an (offset, length) pair whose offset counts from the
// start of the SMB2 header, as go-smb2's decoders slice it: an offset
// before the end of the fixed part yields no buffer, anything else must lie
// inside the body.
func checkBuffer(cmd uint16, body []byte, fixed int, off, n int64, what string) error {
	if len(body) < fixed {
		return nil // go-smb2's size check refuses it
	}
	if off < int64(headerLen+fixed) {
		return nil
	}
	if off-headerLen+n > int64(len(body)) {
		return bad(cmd, "%s at offset %d, %d bytes, past the end of a %d-byte reply", what, off, n, headerLen+len(body))
	}
	return nil
}

// negotiateReply checks a NEGOTIATE response and keeps its facts.
func (s *state) negotiateReply(m []byte, status uint32) error {
	msgID := le.Uint64(m[24:32])
	if !s.negPending || msgID != s.negMsgID {
		return bad(cmdNegotiate, "a reply to no negotiate request (message id %d)", msgID)
	}
	s.negPending = false
	body := m[headerLen:]
	if status != statusSuccess {
		return checkError(cmdNegotiate, body)
	}
	if len(body) < 64 || le.Uint16(body[0:2]) != 65 {
		return bad(cmdNegotiate, "%d-byte body, not a 65-byte structure", len(body))
	}
	dialect := le.Uint16(body[4:6])
	switch dialect {
	case dialect202, dialect210, dialect300, dialect302, dialect311:
	case dialectWildcard:
		if s.negotiations > 1 {
			return bad(cmdNegotiate, "the SMB2 wildcard dialect answers a second negotiate")
		}
	default:
		return bad(cmdNegotiate, "dialect 0x%04X, which was not offered", dialect)
	}
	caps := le.Uint32(body[24:28])
	maxTransact, maxRead, maxWrite := le.Uint32(body[28:32]), le.Uint32(body[32:36]), le.Uint32(body[36:40])
	if dialect != dialectWildcard && (maxTransact < minServerSize || maxRead < minServerSize || maxWrite < minServerSize) {
		return bad(cmdNegotiate, "size limits %d/%d/%d (transact/read/write), below %d", maxTransact, maxRead, maxWrite, minServerSize)
	}
	if err := checkBuffer(cmdNegotiate, body, 64, int64(le.Uint16(body[56:58])), int64(le.Uint16(body[58:60])), "security buffer"); err != nil {
		return err
	}
	var cipher uint16
	if dialect == dialect311 {
		c, err := s.negotiateContexts(m, body)
		if err != nil {
			return err
		}
		cipher = c
		if caps&capEncryption != 0 && cipher == 0 {
			// go-smb2 would encrypt with no cipher.
			return bad(cmdNegotiate, "the encryption capability without an encryption context")
		}
	} else if dialect < dialect300 && caps&capEncryption != 0 {
		return bad(cmdNegotiate, "the encryption capability on dialect 0x%04X, which has no encryption", dialect)
	}
	s.dialect, s.cipher = dialect, cipher
	f := &s.facts
	f.Negotiated, f.NegotiatedAt = true, now()
	f.Dialect, f.SecurityMode, f.Capabilities, f.Cipher = dialect, le.Uint16(body[2:4]), caps, cipher
	f.MaxTransactSize, f.MaxReadSize, f.MaxWriteSize = maxTransact, maxRead, maxWrite
	return nil
}

// negotiateContexts checks the SMB 3.1.1 negotiate context list ([MS-SMB2]
// 2.2.4): exactly one preauth context with SHA-512, at most one encryption
// context with one cipher go-smb2 knows, every context inside the body.
// It hashes the negotiate exchange as go-smb2 does and returns the cipher.
func (s *state) negotiateContexts(m, body []byte) (uint16, error) {
	count := int(le.Uint16(body[6:8]))
	off := int64(le.Uint32(body[60:64]))
	if off%8 != 0 || off < headerLen+64 || off > int64(len(m)) {
		return 0, bad(cmdNegotiate, "negotiate context offset %d in a %d-byte reply", off, len(m))
	}
	list := m[off:]
	var preauth, encryption int
	var cipher uint16
	for i := 0; i < count; i++ {
		if len(list) < 8 {
			return 0, bad(cmdNegotiate, "negotiate context %d of %d past the end of the reply", i+1, count)
		}
		typ, n := le.Uint16(list[0:2]), int(le.Uint16(list[2:4]))
		if 8+n > len(list) {
			return 0, bad(cmdNegotiate, "negotiate context %d: %d data bytes past the end of the reply", i+1, n)
		}
		data := list[8 : 8+n]
		switch typ {
		case ctxPreauth:
			preauth++
			if len(data) < 4 || le.Uint16(data[0:2]) != 1 || 4+2+int(le.Uint16(data[2:4])) > len(data) || le.Uint16(data[4:6]) != hashSHA512 {
				return 0, bad(cmdNegotiate, "preauth integrity context is not one SHA-512 hash with its salt")
			}
		case ctxEncryption:
			encryption++
			if len(data) < 4 || le.Uint16(data[0:2]) != 1 {
				return 0, bad(cmdNegotiate, "encryption context does not name exactly one cipher")
			}
			cipher = le.Uint16(data[2:4])
			if cipher != cipherCCM && cipher != cipherGCM {
				return 0, bad(cmdNegotiate, "cipher 0x%04X, which was not offered", cipher)
			}
		}
		step := (8 + n + 7) &^ 7
		if i < count-1 && step > len(list) {
			return 0, bad(cmdNegotiate, "negotiate context %d: the next one starts past the end of the reply", i+1)
		}
		list = list[min(step, len(list)):]
	}
	if preauth != 1 || encryption > 1 {
		return 0, bad(cmdNegotiate, "%d preauth integrity and %d encryption contexts (1 and at most 1 expected)", preauth, encryption)
	}
	s.preauth = [64]byte{}
	s.hashPreauth(s.negReq)
	s.hashPreauth(m)
	return cipher, nil
}

// sessionSetupReply checks a SESSION_SETUP response: the first one's
// security token, the final one's flags.
func (s *state) sessionSetupReply(m []byte, status uint32, o Options) error {
	msgID := le.Uint64(m[24:32])
	body := m[headerLen:]
	first := s.ssReqs >= 1 && msgID == s.ss1ID && !s.ss1Answered
	final := s.ssReqs >= 2 && msgID == s.ss2ID && s.ss1Answered && !s.sessionDone
	if !first && !final {
		return bad(cmdSessionSetup, "a reply to no session setup request (message id %d)", msgID)
	}
	if status != statusSuccess && status != statusMoreProcessing {
		if final {
			s.facts.SessionStatus = status
		}
		return checkError(cmdSessionSetup, body)
	}
	if len(body) < 8 || le.Uint16(body[0:2]) != 9 {
		return bad(cmdSessionSetup, "%d-byte body, not a 9-byte structure", len(body))
	}
	off, n := int64(le.Uint16(body[4:6])), int64(le.Uint16(body[6:8]))
	if err := checkBuffer(cmdSessionSetup, body, 8, off, n, "security buffer"); err != nil {
		return err
	}
	flags := le.Uint16(body[2:4])
	if first {
		s.ss1Answered = true
		if status != statusMoreProcessing {
			return nil // go-smb2 stops here with an error
		}
		if off >= headerLen+8 && o.SPNEGOWrapsNTLM {
			if err := checkSPNEGOChallenge(body[off-headerLen : off-headerLen+n]); err != nil {
				return err
			}
		}
		s.sessionID = le.Uint64(m[40:48])
		s.firstFlags = flags
		if s.dialect == dialect311 {
			s.hashPreauth(s.ss1)
			s.hashPreauth(m)
		}
		return nil
	}
	if status != statusSuccess {
		return nil // go-smb2 stops here with an error
	}
	if s.noKeys() && flags&(sessionFlagGuest|sessionFlagNull) == 0 {
		// go-smb2 set up no keys after the first reply and would sign with
		// a nil signer.
		return bad(cmdSessionSetup, "a guest or anonymous session became a user session")
	}
	if flags&sessionFlagEncryptData != 0 && !s.canEncrypt() {
		return bad(cmdSessionSetup, "the session asks for encryption but has no encryption keys")
	}
	s.sessionDone = true
	f := &s.facts
	f.SessionDone, f.SessionStatus, f.SessionFlags = true, status, flags
	f.SessionSigned = le.Uint32(m[16:20])&flagSigned != 0
	return nil
}

// negTokenResp is go-smb2's SPNEGO NegTokenResp, decoded with the same BER
// library and tags so that the check sees what go-smb2 will.
type negTokenResp struct {
	NegState      asn1.Enumerated       `asn1:"optional,explicit,tag:0"`
	SupportedMech asn1.ObjectIdentifier `asn1:"optional,explicit,tag:1"`
	ResponseToken []byte                `asn1:"optional,explicit,tag:2"`
	MechListMIC   []byte                `asn1:"optional,explicit,tag:3"`
}

var ntlmOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}

// checkSPNEGOChallenge checks the first session setup token for go-smb2's
// NTLM-in-SPNEGO client: the server must select NTLM (go-smb2 dereferences a
// nil mechanism otherwise), and the NTLM challenge must pass
// CheckChallenge.
func checkSPNEGOChallenge(tok []byte) error {
	var resp negTokenResp
	if _, err := ber.UnmarshalWithParams(tok, &resp, "explicit,tag:1"); err != nil {
		return nil // go-smb2 fails on the same bytes with an error
	}
	if !resp.SupportedMech.Equal(ntlmOID) {
		return bad(cmdSessionSetup, "SPNEGO selects mechanism %v, not the NTLM that was offered", resp.SupportedMech)
	}
	if err := CheckChallenge(resp.ResponseToken); err != nil {
		return bad(cmdSessionSetup, "%v", err)
	}
	return nil
}

// CheckChallenge checks the fields of an NTLM CHALLENGE_MESSAGE ([MS-NLMP]
// 2.2.1.2) that go-smb2's NTLM client slices without bounds: TargetName and
// TargetInfo (whose offset + length it adds in uint32, so a large offset
// wraps), and the MsvAvFlags AV pair it writes 4 bytes into. A message that
// is not a challenge passes: go-smb2 refuses it with an error.
func CheckChallenge(m []byte) error {
	if len(m) < 48 || string(m[:8]) != "NTLMSSP\x00" || le.Uint32(m[8:12]) != 2 {
		return nil
	}
	fields := []struct {
		name string
		at   int
	}{{"TargetName", 12}, {"TargetInfo", 40}}
	for _, fl := range fields {
		n := int64(le.Uint16(m[fl.at : fl.at+2]))
		off := int64(le.Uint32(m[fl.at+4 : fl.at+8]))
		if off+n > int64(len(m)) {
			return fmt.Errorf("NTLM challenge %s at offset %d, %d bytes, past the end of a %d-byte message", fl.name, off, n, len(m))
		}
	}
	n := int64(le.Uint16(m[40:42]))
	off := int64(le.Uint32(m[44:48]))
	info := m[off : off+n]
	for len(info) >= 4 {
		id, l := le.Uint16(info[0:2]), int(le.Uint16(info[2:4]))
		if 4+l > len(info) {
			return nil // go-smb2's AV pair parser refuses it
		}
		if id == 6 && l < 4 { // MsvAvFlags
			return fmt.Errorf("NTLM challenge MsvAvFlags AV pair of %d bytes, not 4", l)
		}
		info = info[4+l:]
	}
	return nil
}

// checkError checks an error response ([MS-SMB2] 2.2.2) as go-smb2's
// acceptError reads it: ByteCount and each error context's length are added
// to 8 in uint32, so they must lie inside the body.
func checkError(cmd uint16, body []byte) error {
	if len(body) < 8 || le.Uint16(body[0:2]) != 9 {
		return nil // go-smb2 refuses it with an error
	}
	bc := int64(le.Uint32(body[4:8]))
	if 8+bc > int64(len(body)) {
		return bad(cmd, "error data of %d bytes past the end of a %d-byte body", bc, len(body))
	}
	data := body[8 : 8+bc]
	for i := 0; i < int(body[2]); i++ {
		if len(data) < 8 {
			return nil
		}
		n := int64(le.Uint32(data[0:4]))
		if 8+n > int64(len(data)) {
			return bad(cmd, "error context %d of %d bytes past the end of the error data", i+1, n)
		}
		next := 8 + (n+7)&^7
		if next > int64(len(data)) {
			return nil
		}
		data = data[next:]
	}
	return nil
}

// checkCreate checks a CREATE response's create contexts.
func checkCreate(body []byte) error {
	if len(body) < 88 {
		return nil
	}
	return checkBuffer(cmdCreate, body, 88, int64(le.Uint32(body[80:84])), int64(le.Uint32(body[84:88])), "create contexts")
}

// checkRead checks a READ response's data.
func checkRead(body []byte) error {
	if len(body) < 16 {
		return nil
	}
	return checkBuffer(cmdRead, body, 16, int64(body[2]), int64(le.Uint32(body[4:8])), "data")
}

// checkWrite checks that a WRITE response counts no more bytes than the
// request carried: go-smb2's write loop slices past the caller's buffer
// otherwise.
func (s *state) checkWrite(msgID uint64, body []byte) error {
	want, ok := s.writes[msgID]
	if !ok {
		return nil // answers no write: go-smb2 drops it, or refuses the command
	}
	delete(s.writes, msgID)
	if len(body) < 16 {
		return nil
	}
	if n := le.Uint32(body[4:8]); n > want {
		return bad(cmdWrite, "%d bytes written, the request carried %d", n, want)
	}
	return nil
}

// ioctlWeaklyValid is go-smb2's IoctlResponseDecoder.IsInvalid, negated:
// it decides whether go-smb2 decodes a BUFFER_OVERFLOW reply as an ioctl.
func ioctlWeaklyValid(r []byte) bool {
	if len(r) < 48 || le.Uint16(r[0:2]) != 49 {
		return false
	}
	if len(r) < int(le.Uint32(r[24:28])+le.Uint32(r[28:32]))-64 {
		return false
	}
	return len(r) >= int(le.Uint32(r[32:36])+le.Uint32(r[36:40]))-64
}

// checkIoctl checks an IOCTL response's input and output buffers, and the
// output of the FSCTLs go-smb2 decodes.
func checkIoctl(body []byte) error {
	if len(body) < 48 {
		return nil
	}
	inOff, inN := int64(le.Uint32(body[24:28])), int64(le.Uint32(body[28:32]))
	outOff, outN := int64(le.Uint32(body[32:36])), int64(le.Uint32(body[36:40]))
	if err := checkBuffer(cmdIoctl, body, 48, inOff, inN, "input"); err != nil {
		return err
	}
	if err := checkBuffer(cmdIoctl, body, 48, outOff, outN, "output"); err != nil {
		return err
	}
	if le.Uint32(body[4:8]) == fsctlSrvRequestResumeKey && outOff >= headerLen+48 {
		out := body[outOff-headerLen : outOff-headerLen+outN]
		if len(out) < 28 || 28+int64(le.Uint32(out[24:28])) > int64(len(out)) {
			return bad(cmdIoctl, "resume key reply of %d bytes does not hold its context", len(out))
		}
	}
	return nil
}

// checkQueryDirectory checks a QUERY_DIRECTORY response and its chain of
// FILE_DIRECTORY_INFORMATION entries (the only class go-smb2 asks for):
// each entry holds its name, and each NextEntryOffset is 8-byte aligned,
// at least an entry long and inside the buffer.
func checkQueryDirectory(body []byte) error {
	if len(body) < 8 {
		return nil
	}
	off, n := int64(le.Uint16(body[2:4])), int64(le.Uint32(body[4:8]))
	if err := checkBuffer(cmdQueryDirectory, body, 8, off, n, "output buffer"); err != nil {
		return err
	}
	if off < headerLen+8 {
		return bad(cmdQueryDirectory, "no output buffer (offset %d)", off)
	}
	out := body[off-headerLen : off-headerLen+n]
	for i := 1; ; i++ {
		if len(out) < 64 {
			return bad(cmdQueryDirectory, "entry %d of %d bytes, shorter than 64", i, len(out))
		}
		if 64+int64(le.Uint32(out[60:64])) > int64(len(out)) {
			return bad(cmdQueryDirectory, "entry %d's name runs past the buffer", i)
		}
		next := int64(le.Uint32(out[0:4]))
		if next == 0 {
			return nil
		}
		if next%8 != 0 || next < 64 || next > int64(len(out)) {
			return bad(cmdQueryDirectory, "entry %d's NextEntryOffset %d (8-byte aligned, at least 64, inside the buffer)", i, next)
		}
		out = out[next:]
	}
}

var errNoSessionKey = errors.New("smbguard: the session key is not known, so encrypted frames cannot be checked")
