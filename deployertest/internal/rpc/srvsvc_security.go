package rpc

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"

	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"
	"golang.org/x/sys/unix"
)

// File security through srvsvc: NetrpGetFileSecurity and
// NetrpSetFileSecurity ([MS-SRVS] 3.1.4.27 and 3.1.4.40), for
// administrators, on files under the system root (ADMIN$). A descriptor
// set on a file is kept, as given, in the host file's extended attribute
// user.nxdeploy.ntsd; a file without one reads as inheriting from its
// nearest ancestor that has one (its inheritable entries, marked
// inherited), or else as C:\Windows's children do (SYSTEM and
// Administrators full control, Users read and execute).

// Win32 results of the file security methods.
const (
	errorFileNotFound         uint32 = 2
	errorPathNotFound         uint32 = 3
	errorNotSupported         uint32 = 50
	errorInvalidName          uint32 = 123
	errorInvalidSecurityDescr uint32 = 1338
	securityXattr                    = "user.nxdeploy.ntsd"
	seDACLPresent             uint16 = 0x0004
	seDACLAutoInherited       uint16 = 0x0400
	seDACLProtected           uint16 = 0x1000
	seSelfRelative            uint16 = 0x8000
	aceObjectInherit          uint8  = 0x01
	aceContainerInherit       uint8  = 0x02
	aceNoPropagate            uint8  = 0x04
	aceInheritOnly            uint8  = 0x08
	aceInherited              uint8  = 0x10
	protectedDACLSecurityInfo uint32 = 0x80000000
)

// windowsChildSD is the descriptor of a file C:\Windows's entries reach:
// owner Administrators; SYSTEM and Administrators full control, Users read
// and execute, all inherited.
var windowsChildSD = func() []byte {
	sid := func(auth byte, subs ...uint32) []byte {
		b := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, auth}
		for _, s := range subs {
			b = binary.LittleEndian.AppendUint32(b, s)
		}
		return b
	}
	admins := sid(5, 32, 544)
	ace := func(mask uint32, s []byte) []byte {
		b := []byte{0, aceInherited, 0, 0}
		binary.LittleEndian.PutUint16(b[2:], uint16(8+len(s)))
		return append(binary.LittleEndian.AppendUint32(b, mask), s...)
	}
	aces := append(append(ace(0x001F01FF, sid(5, 18)), ace(0x001F01FF, admins)...), ace(0x001200A9, sid(5, 32, 545))...)
	acl := []byte{2, 0, 0, 0, 3, 0, 0, 0}
	binary.LittleEndian.PutUint16(acl[2:], uint16(8+len(aces)))
	acl = append(acl, aces...)
	sd := make([]byte, 20)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[2:], seSelfRelative|seDACLPresent|seDACLAutoInherited)
	binary.LittleEndian.PutUint32(sd[4:], 20)
	sd = append(sd, admins...)
	binary.LittleEndian.PutUint32(sd[16:], uint32(len(sd)))
	return append(sd, acl...)
}()

// fileHostPath resolves share and a share-relative file name to the host
// path, or a Win32 error.
func (s *srvsvcServer) fileHostPath(share, file string) (string, uint32) {
	sh, ok := s.find(share)
	if !ok || sh.Type&^ShareTypeSpecial != ShareTypeDisk || sh.Path == "" {
		return "", nerrNetNameNotFound
	}
	if s.cfg.SCM == nil {
		return "", errorNotSupported
	}
	file = strings.Trim(file, `\`)
	if file == "" || strings.ContainsAny(file, `/:*?"<>|`) {
		return "", errorInvalidName
	}
	for _, c := range strings.Split(file, `\`) {
		if c == "" || c == "." || c == ".." {
			return "", errorInvalidName
		}
	}
	p, ok := s.cfg.SCM.HostPath(strings.TrimRight(sh.Path, `\`) + `\` + file)
	if !ok {
		return "", errorPathNotFound
	}
	if _, err := os.Lstat(p); err != nil {
		if _, perr := os.Lstat(filepath.Dir(p)); perr != nil {
			return "", errorPathNotFound
		}
		return "", errorFileNotFound
	}
	return p, 0
}

// GetFileSecurity implements NetrpGetFileSecurity.
func (s *srvsvcServer) GetFileSecurity(_ context.Context, req *srvsvc.GetFileSecurityRequest) (*srvsvc.GetFileSecurityResponse, error) {
	if !s.caller.Admin {
		return &srvsvc.GetFileSecurityResponse{Return: errorAccessDenied}, nil
	}
	p, code := s.fileHostPath(req.ShareName, req.FileName)
	if code != 0 {
		return &srvsvc.GetFileSecurityResponse{Return: code}, nil
	}
	sd := effectiveSD(p)
	return &srvsvc.GetFileSecurityResponse{SecurityDescriptor: &srvsvc.ADTSecurityDescriptor{Length: uint32(len(sd)), Buffer: sd}}, nil
}

// SetFileSecurity implements NetrpSetFileSecurity for the DACL (and the
// other parts, kept as given).
func (s *srvsvcServer) SetFileSecurity(_ context.Context, req *srvsvc.SetFileSecurityRequest) (*srvsvc.SetFileSecurityResponse, error) {
	if !s.caller.Admin {
		return &srvsvc.SetFileSecurityResponse{Return: errorAccessDenied}, nil
	}
	p, code := s.fileHostPath(req.ShareName, req.FileName)
	if code != 0 {
		return &srvsvc.SetFileSecurityResponse{Return: code}, nil
	}
	if req.SecurityDescriptor == nil || !validSD(req.SecurityDescriptor.Buffer) {
		return &srvsvc.SetFileSecurityResponse{Return: errorInvalidSecurityDescr}, nil
	}
	sd := append([]byte(nil), req.SecurityDescriptor.Buffer...)
	if req.SecurityInformation&protectedDACLSecurityInfo != 0 {
		binary.LittleEndian.PutUint16(sd[2:], binary.LittleEndian.Uint16(sd[2:])|seDACLProtected)
	}
	if err := unix.Setxattr(p, securityXattr, sd, 0); err != nil {
		return &srvsvc.SetFileSecurityResponse{Return: errorNotSupported}, nil
	}
	return &srvsvc.SetFileSecurityResponse{}, nil
}

// validSD checks that b is a self-relative descriptor whose DACL, when
// present, lies inside it with its entries.
func validSD(b []byte) bool {
	if len(b) < 20 || len(b) > 64<<10 || b[0] != 1 || binary.LittleEndian.Uint16(b[2:])&seSelfRelative == 0 {
		return false
	}
	off := binary.LittleEndian.Uint32(b[16:])
	if off == 0 {
		return true
	}
	_, ok := aces(b, off)
	return ok
}

// aces returns the offsets of the entries of the ACL at off in sd.
func aces(sd []byte, off uint32) ([]int, bool) {
	if uint64(off)+8 > uint64(len(sd)) {
		return nil, false
	}
	size := int(binary.LittleEndian.Uint16(sd[off+2:]))
	count := int(binary.LittleEndian.Uint16(sd[off+4:]))
	end := int(off) + size
	if size < 8 || end > len(sd) {
		return nil, false
	}
	var out []int
	pos := int(off) + 8
	for i := 0; i < count; i++ {
		if pos+4 > end {
			return nil, false
		}
		n := int(binary.LittleEndian.Uint16(sd[pos+2:]))
		if n < 8 || pos+n > end {
			return nil, false
		}
		out = append(out, pos)
		pos += n
	}
	return out, true
}

// effectiveSD is the descriptor of the file at p: its own, or the one it
// inherits.
func effectiveSD(p string) []byte {
	if sd, ok := readSD(p); ok {
		return sd
	}
	st, err := os.Stat(p)
	dir := err == nil && st.IsDir()
	for parent := filepath.Dir(p); parent != p; p, parent = parent, filepath.Dir(parent) {
		if sd, ok := readSD(parent); ok {
			if child, ok := inherit(sd, dir); ok {
				return child
			}
			break
		}
	}
	return windowsChildSD
}

// readSD reads the descriptor stored on the file at p, if any.
func readSD(p string) ([]byte, bool) {
	buf := make([]byte, 64<<10)
	n, err := unix.Getxattr(p, securityXattr, buf)
	if err != nil || !validSD(buf[:n]) {
		return nil, false
	}
	return buf[:n], true
}

// inherit derives a child's descriptor from its parent's: the parent's
// entries that a file (or, with dir, a directory) inherits, marked
// inherited, the DACL neither protected nor owned.
func inherit(parent []byte, dir bool) ([]byte, bool) {
	off := binary.LittleEndian.Uint32(parent[16:])
	list, ok := aces(parent, off)
	if off == 0 || !ok {
		return nil, false
	}
	var kept [][]byte
	for _, pos := range list {
		n := int(binary.LittleEndian.Uint16(parent[pos+2:]))
		flags := parent[pos+1]
		if (dir && flags&aceContainerInherit == 0) || (!dir && flags&aceObjectInherit == 0) {
			continue
		}
		ace := append([]byte(nil), parent[pos:pos+n]...)
		f := flags&^aceInheritOnly | aceInherited
		if !dir || flags&aceNoPropagate != 0 {
			f &^= aceObjectInherit | aceContainerInherit | aceNoPropagate
		}
		ace[1] = f
		kept = append(kept, ace)
	}
	acl := []byte{2, 0, 0, 0, 0, 0, 0, 0}
	for _, a := range kept {
		acl = append(acl, a...)
	}
	binary.LittleEndian.PutUint16(acl[2:], uint16(len(acl)))
	binary.LittleEndian.PutUint16(acl[4:], uint16(len(kept)))
	sd := make([]byte, 20)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[2:], seSelfRelative|seDACLPresent|seDACLAutoInherited)
	binary.LittleEndian.PutUint32(sd[16:], 20)
	return append(sd, acl...), true
}
