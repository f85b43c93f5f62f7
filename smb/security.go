package smb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"

	derrors "github.com/nxdeploy/deployer/errors"
)

// A file's security descriptor, set and read over this session.
//
// go-smb2.fork v1.0.2 sends no SMB2 CREATE security-descriptor context and
// no SET_INFO/QUERY_INFO of security information, and its request types are
// internal to it; so the descriptor goes through srvsvc's
// NetrpSetFileSecurity and NetrpGetFileSecurity ([MS-SRVS] 3.1.4.40 and
// 3.1.4.27) over \pipe\srvsvc on the same session, which Windows and Samba
// both implement for administrators. Set right after the directory is
// created and before anything is written into it, the descriptor's
// inheritable entries protect every file created inside from its creation.

// Security information flags ([MS-DTYP] 2.4.7).
const (
	OwnerSecurityInformation         uint32 = 0x00000001
	GroupSecurityInformation         uint32 = 0x00000002
	DACLSecurityInformation          uint32 = 0x00000004
	ProtectedDACLSecurityInformation uint32 = 0x80000000
)

// Security descriptor control flags ([MS-DTYP] 2.4.6).
const (
	SEDACLPresent   uint16 = 0x0004
	SEDACLProtected uint16 = 0x1000
	SESelfRelative  uint16 = 0x8000
)

// ACE types and flags ([MS-DTYP] 2.4.4.1).
const (
	AccessAllowedACEType uint8 = 0x00
	AccessDeniedACEType  uint8 = 0x01
	ObjectInheritACE     uint8 = 0x01
	ContainerInheritACE  uint8 = 0x02
	InheritedACE         uint8 = 0x10
)

// FileAllAccess is FILE_ALL_ACCESS, every right on a file or directory.
const FileAllAccess uint32 = 0x001F01FF

// Well-known SIDs.
const (
	SIDLocalSystem    = "S-1-5-18"
	SIDAdministrators = "S-1-5-32-544"
)

// ACE is one access control entry.
type ACE struct {
	// Type is AccessAllowedACEType or AccessDeniedACEType (others are kept
	// by ParseSecurityDescriptor with their SID empty).
	Type uint8
	// Flags are inheritance flags (ObjectInheritACE, ...).
	Flags uint8
	// Mask is the access mask.
	Mask uint32
	// SID is the trustee, as "S-1-5-18".
	SID string
}

// SecurityDescriptor is the part of a security descriptor the deployer
// reads and writes: its control flags, owner, group and DACL.
type SecurityDescriptor struct {
	// Control holds the SE_* flags.
	Control uint16
	// Owner and Group are SIDs, or "" when absent.
	Owner, Group string
	// DACL is the discretionary ACL; it is present when Control has
	// SEDACLPresent.
	DACL []ACE
}

// AdminOnly is the descriptor of a deployment directory: a protected DACL
// (nothing inherited from ADMIN$) that gives full control to SYSTEM and
// Administrators, inherited by every file and directory created inside,
// and nothing to anyone else.
func AdminOnly() SecurityDescriptor {
	inherit := ObjectInheritACE | ContainerInheritACE
	return SecurityDescriptor{
		Control: SEDACLPresent | SEDACLProtected | SESelfRelative,
		DACL: []ACE{
			{Type: AccessAllowedACEType, Flags: inherit, Mask: FileAllAccess, SID: SIDLocalSystem},
			{Type: AccessAllowedACEType, Flags: inherit, Mask: FileAllAccess, SID: SIDAdministrators},
		},
	}
}

// Marshal encodes the descriptor in self-relative form.
func (sd SecurityDescriptor) Marshal() ([]byte, error) {
	out := make([]byte, 20)
	out[0] = 1 // revision
	binary.LittleEndian.PutUint16(out[2:], sd.Control|SESelfRelative)
	for i, sid := range []string{sd.Owner, sd.Group} {
		if sid == "" {
			continue
		}
		b, err := marshalSID(sid)
		if err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint32(out[4+4*i:], uint32(len(out)))
		out = append(out, b...)
	}
	if sd.Control&SEDACLPresent != 0 {
		binary.LittleEndian.PutUint32(out[16:], uint32(len(out)))
		acl := make([]byte, 8)
		acl[0] = 2 // ACL revision
		for _, a := range sd.DACL {
			sid, err := marshalSID(a.SID)
			if err != nil {
				return nil, err
			}
			ace := make([]byte, 8, 8+len(sid))
			ace[0], ace[1] = a.Type, a.Flags
			binary.LittleEndian.PutUint16(ace[2:], uint16(8+len(sid)))
			binary.LittleEndian.PutUint32(ace[4:], a.Mask)
			acl = append(acl, append(ace, sid...)...)
		}
		if len(acl) > 0xFFFF || len(sd.DACL) > 0xFFFF {
			return nil, errors.New("smb: DACL too large")
		}
		binary.LittleEndian.PutUint16(acl[2:], uint16(len(acl)))
		binary.LittleEndian.PutUint16(acl[4:], uint16(len(sd.DACL)))
		out = append(out, acl...)
	}
	return out, nil
}

// ParseSecurityDescriptor decodes a self-relative security descriptor.
func ParseSecurityDescriptor(b []byte) (SecurityDescriptor, error) {
	var sd SecurityDescriptor
	if len(b) < 20 || b[0] != 1 {
		return sd, fmt.Errorf("smb: security descriptor of %d bytes is not self-relative revision 1", len(b))
	}
	sd.Control = binary.LittleEndian.Uint16(b[2:])
	if sd.Control&SESelfRelative == 0 {
		return sd, errors.New("smb: security descriptor is not self-relative")
	}
	var err error
	for i, dst := range []*string{&sd.Owner, &sd.Group} {
		if off := binary.LittleEndian.Uint32(b[4+4*i:]); off != 0 {
			if *dst, _, err = parseSID(b, off); err != nil {
				return sd, err
			}
		}
	}
	off := binary.LittleEndian.Uint32(b[16:])
	if sd.Control&SEDACLPresent == 0 || off == 0 {
		return sd, nil
	}
	if uint64(off)+8 > uint64(len(b)) {
		return sd, errors.New("smb: DACL past the end of the descriptor")
	}
	acl := b[off:]
	size := int(binary.LittleEndian.Uint16(acl[2:]))
	count := int(binary.LittleEndian.Uint16(acl[4:]))
	if size < 8 || size > len(acl) {
		return sd, fmt.Errorf("smb: DACL size %d out of range", size)
	}
	acl = acl[:size]
	pos := 8
	for i := 0; i < count; i++ {
		if pos+8 > len(acl) {
			return sd, fmt.Errorf("smb: ACE %d past the end of the DACL", i)
		}
		aceSize := int(binary.LittleEndian.Uint16(acl[pos+2:]))
		if aceSize < 8 || pos+aceSize > len(acl) {
			return sd, fmt.Errorf("smb: ACE %d size %d out of range", i, aceSize)
		}
		a := ACE{Type: acl[pos], Flags: acl[pos+1], Mask: binary.LittleEndian.Uint32(acl[pos+4:])}
		if a.Type == AccessAllowedACEType || a.Type == AccessDeniedACEType {
			sid, n, err := parseSID(acl[pos+8:pos+aceSize], 0)
			if err != nil {
				return sd, fmt.Errorf("smb: ACE %d: %w", i, err)
			}
			if n > aceSize-8 {
				return sd, fmt.Errorf("smb: ACE %d SID past the entry", i)
			}
			a.SID = sid
		}
		sd.DACL = append(sd.DACL, a)
		pos += aceSize
	}
	return sd, nil
}

// marshalSID encodes "S-1-5-32-544".
func marshalSID(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || parts[0] != "S" || parts[1] != "1" || len(parts)-3 > 15 {
		return nil, fmt.Errorf("smb: invalid SID %q", s)
	}
	auth, err := strconv.ParseUint(parts[2], 10, 48)
	if err != nil {
		return nil, fmt.Errorf("smb: invalid SID %q", s)
	}
	b := make([]byte, 8, 8+4*(len(parts)-3))
	b[0], b[1] = 1, byte(len(parts)-3)
	for i := 0; i < 6; i++ {
		b[2+i] = byte(auth >> (8 * (5 - i)))
	}
	for _, p := range parts[3:] {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("smb: invalid SID %q", s)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b, nil
}

// parseSID decodes the SID at off in b and returns it with its length.
func parseSID(b []byte, off uint32) (string, int, error) {
	if uint64(off)+8 > uint64(len(b)) {
		return "", 0, errors.New("smb: SID past the end")
	}
	p := b[off:]
	n := int(p[1])
	if p[0] != 1 || n > 15 || 8+4*n > len(p) {
		return "", 0, errors.New("smb: malformed SID")
	}
	var auth uint64
	for i := 0; i < 6; i++ {
		auth = auth<<8 | uint64(p[2+i])
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "S-1-%d", auth)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(p[8+4*i:]))
	}
	return sb.String(), 8 + 4*n, nil
}

// SetSecurity sets the DACL of name (a path inside share) to sd's, marked
// protected when sd.Control has SEDACLProtected (nothing inherited from the
// parent). A failure is a *derrors.Error at the upload step.
func (s *Session) SetSecurity(ctx context.Context, share, name string, sd SecurityDescriptor) error {
	b, err := sd.Marshal()
	if err != nil {
		return s.wrap(derrors.StepUpload, err)
	}
	info := DACLSecurityInformation
	if sd.Control&SEDACLProtected != 0 {
		info |= ProtectedDACLSecurityInformation
	}
	return s.srvsvc(ctx, derrors.StepUpload, func(rctx context.Context, cli srvsvc.SrvsvcClient) error {
		return eachPathForm(name, func(file string) error {
			resp, err := cli.SetFileSecurity(rctx, &srvsvc.SetFileSecurityRequest{
				ServerName: `\\` + s.serverName(), ShareName: share, FileName: file,
				SecurityInformation: info,
				SecurityDescriptor:  &srvsvc.ADTSecurityDescriptor{Length: uint32(len(b)), Buffer: b},
			})
			if err == nil && resp.Return != 0 {
				err = win32.FromCode(resp.Return)
			}
			return err
		})
	})
}

// Security reads the owner, group and DACL of name (a path inside share).
// A failure is a *derrors.Error at the upload step.
func (s *Session) Security(ctx context.Context, share, name string) (SecurityDescriptor, error) {
	var sd SecurityDescriptor
	err := s.srvsvc(ctx, derrors.StepUpload, func(rctx context.Context, cli srvsvc.SrvsvcClient) error {
		var raw []byte
		err := eachPathForm(name, func(file string) error {
			resp, err := cli.GetFileSecurity(rctx, &srvsvc.GetFileSecurityRequest{
				ServerName: `\\` + s.serverName(), ShareName: share, FileName: file,
				RequestedInformation: OwnerSecurityInformation | GroupSecurityInformation | DACLSecurityInformation,
			})
			switch {
			case err != nil:
				return err
			case resp.Return != 0:
				return win32.FromCode(resp.Return)
			case resp.SecurityDescriptor == nil:
				return errors.New("smb: NetrpGetFileSecurity returned no security descriptor")
			}
			raw = resp.SecurityDescriptor.Buffer
			return nil
		})
		if err != nil {
			return err
		}
		sd, err = ParseSecurityDescriptor(raw)
		return err
	})
	return sd, err
}

// Exists reports whether name (a path inside share) exists, file or
// directory, in one srvsvc request (NetrpGetFileSecurity of its owner)
// over the session's srvsvc binding: a stat over SMB takes two (the open
// and its close). A host that refuses (access denied: srvsvc's file
// security is for administrators) is an error, not an answer. A failure is
// a *derrors.Error at the upload step.
func (s *Session) Exists(ctx context.Context, share, name string) (bool, error) {
	found := false
	err := s.srvsvc(ctx, derrors.StepUpload, func(rctx context.Context, cli srvsvc.SrvsvcClient) error {
		err := eachPathForm(name, func(file string) error {
			resp, err := cli.GetFileSecurity(rctx, &srvsvc.GetFileSecurityRequest{
				ServerName: `\\` + s.serverName(), ShareName: share, FileName: file,
				RequestedInformation: OwnerSecurityInformation,
			})
			if err == nil && resp.Return != 0 {
				err = win32.FromCode(resp.Return)
			}
			return err
		})
		switch {
		case err == nil:
			found = true
		case notFound(err):
		default:
			return err
		}
		return nil
	})
	return found, err
}

// eachPathForm calls do with name as Windows takes it (backslashes, no
// leading separator) and, when that names no file and name has more than
// one component, as Samba 4.17 takes it (forward slashes: its srvsvc hands
// the name to its Unix path resolution as it is). When the second form
// names no file either, the first answer stands.
func eachPathForm(name string, do func(file string) error) error {
	name = strings.Trim(strings.ReplaceAll(name, "/", `\`), `\`)
	err := do(name)
	if !notFound(err) || !strings.Contains(name, `\`) {
		return err
	}
	if err2 := do(strings.ReplaceAll(name, `\`, "/")); !notFound(err2) && !win32Is(err2, errInvalidName) {
		return err2
	}
	return err
}

// notFound reports a Win32 "no such file" or "no such path".
func notFound(err error) bool { return win32Is(err, errFileNotFound) || win32Is(err, errPathNotFound) }

func win32Is(err error, code uint32) bool {
	var we *win32.Error
	return errors.As(err, &we) && uint32(we.Code) == code
}

// Win32 results that mean "no such file" from srvsvc.
const (
	errFileNotFound uint32 = 2
	errPathNotFound uint32 = 3
	errInvalidName  uint32 = 123
)
