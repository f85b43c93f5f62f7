package smbserver

import (
	"errors"
	"github.com/nxdeploy/deployer/deployertest/internal/utf16le"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// Info types and classes ([MS-SMB2] 2.2.37, [MS-FSCC] 2.4, 2.5).
const (
	infoFile       = 1
	infoFilesystem = 2
	infoSecurity   = 3

	fileBasicInformation          = 4
	fileStandardInformation       = 5
	fileInternalInformation       = 6
	fileEaInformation             = 7
	fileAccessInformation         = 8
	fileNameInformation           = 9
	fileRenameInformation         = 10
	fileDispositionInformation    = 13
	filePositionInformation       = 14
	fileModeInformation           = 16
	fileAlignmentInformation      = 17
	fileAllInformation            = 18
	fileAllocationInformation     = 19
	fileEndOfFileInformation      = 20
	fileStreamInformation         = 22
	fileAlternateNameInformation  = 21
	fileCompressionInformation    = 28
	fileNormalizedNameInformation = 48
	fileFullEaInformation         = 15
	fileNetworkOpenInformation    = 34
	fileAttributeTagInformation   = 35
	fileDispositionInformationEx  = 64

	fileFsVolumeInformation     = 1
	fileFsSizeInformation       = 3
	fileFsDeviceInformation     = 4
	fileFsAttributeInformation  = 5
	fileFsFullSizeInformation   = 7
	fileFsControlInformation    = 6
	fileFsObjectIDInformation   = 8
	fileFsSectorSizeInformation = 11
)

// minInfoSize is the fixed part of a variable-length information class: a buffer smaller than it gets
// STATUS_INFO_LENGTH_MISMATCH, a larger one that cannot hold the whole answer STATUS_BUFFER_OVERFLOW.
func minInfoSize(typ, class byte) int {
	if typ == infoFilesystem {
		switch class {
		case fileFsVolumeInformation:
			return 24
		case fileFsAttributeInformation:
			return 16
		}
		return 0
	}
	// The sizes Windows answers with (smbtorture smb2.getinfo.qfile_buffercheck).
	switch class {
	case fileAllInformation:
		return 104
	case fileNameInformation, fileNormalizedNameInformation:
		return 4
	case fileAlternateNameInformation:
		return 8
	case fileStreamInformation:
		return 32
	}
	return 0
}

func (o *open) stat() (fileInfo, error) {
	if o.pipe != nil {
		return fileInfo{name: o.name, attrs: 0x80, alloc: 4096, nlinks: 1}, nil
	}
	fi, err := o.f.Stat()
	if err != nil {
		return fileInfo{}, err
	}
	return infoOf(fi), nil
}

func basicInfo(inf fileInfo) []byte {
	b := make([]byte, 40)
	putTimes(b, inf)
	le.PutUint32(b[32:], inf.attrs)
	return b
}

func standardInfo(inf fileInfo, deletePending bool) []byte {
	b := make([]byte, 24)
	le.PutUint64(b, uint64(inf.alloc))
	le.PutUint64(b[8:], uint64(inf.size))
	le.PutUint32(b[16:], inf.nlinks)
	if deletePending {
		b[20] = 1
	}
	if inf.isDir {
		b[21] = 1
	}
	return b
}

func queryInfoBody(data []byte) []byte {
	body := make([]byte, 8, 8+len(data)+1)
	le.PutUint16(body, 9)
	le.PutUint16(body[2:], headerSize+8)
	le.PutUint32(body[4:], uint32(len(data)))
	if len(data) == 0 {
		return append(body, 0)
	}
	return append(body, data...)
}

// queryInfo handles QUERY_INFO ([MS-SMB2] 3.3.5.20).
func (c *conn) queryInfo(r *request) response {
	b := r.body
	if len(b) < 40 {
		return errResp(StatusInvalidParameter)
	}
	typ, class := b[2], b[3]
	outLen := le.Uint32(b[4:])
	o, st := c.lookupOpen(r, b[24:40])
	if st != StatusSuccess {
		return errResp(st)
	}
	inf, err := o.stat()
	if err != nil {
		return errResp(statusOf(err))
	}
	name, _ := o.paths()
	delPending := c.srv.files.deletePending(o)
	if typ == infoFile {
		if need := queryAccess(class); need != 0 && o.access&need == 0 && o.pipe == nil {
			return errResp(StatusAccessDenied)
		}
	}
	if typ == infoSecurity && o.access&(accReadControl|accAccessSystemSecurity) == 0 {
		return errResp(StatusAccessDenied)
	}
	var data []byte
	variable := false
	switch typ {
	case infoFile:
		switch class {
		case fileBasicInformation:
			data = basicInfo(inf)
		case fileStandardInformation:
			data = standardInfo(inf, delPending)
		case fileInternalInformation:
			data = make([]byte, 8)
			le.PutUint64(data, inf.ino)
		case fileEaInformation, fileModeInformation, fileAlignmentInformation:
			data = make([]byte, 4)
		case fileAccessInformation:
			data = make([]byte, 4)
			le.PutUint32(data, o.access)
		case filePositionInformation:
			data = make([]byte, 8)
			le.PutUint64(data, uint64(o.position.Load()))
		case fileNetworkOpenInformation:
			data = make([]byte, 56)
			putTimes(data, inf)
			le.PutUint64(data[32:], uint64(inf.alloc))
			le.PutUint64(data[40:], uint64(inf.size))
			le.PutUint32(data[48:], inf.attrs)
		case fileAttributeTagInformation:
			data = make([]byte, 8)
			le.PutUint32(data, inf.attrs)
		case fileAllInformation, fileNameInformation:
			n := utf16le.Encode(`\` + name)
			nameInfo := make([]byte, 4, 4+len(n))
			le.PutUint32(nameInfo, uint32(len(n)))
			nameInfo = append(nameInfo, n...)
			if class == fileNameInformation {
				data = nameInfo
			} else {
				data = append(basicInfo(inf), standardInfo(inf, delPending)...)
				tail := make([]byte, 32)
				le.PutUint64(tail, inf.ino)
				le.PutUint32(tail[12:], o.access)
				le.PutUint64(tail[16:], uint64(o.position.Load()))
				data = append(data, tail...)
				data = append(data, nameInfo...)
			}
			variable = true
		case fileFullEaInformation:
			// Files carry no extended attributes: Windows (NTFS) and Samba answer STATUS_NO_EAS_ON_FILE.
			if o.access&0x8 == 0 { // FILE_READ_EA
				return errResp(StatusAccessDenied)
			}
			return errResp(StatusNoEasOnFile)
		case fileNormalizedNameInformation:
			// The share-relative name without a leading backslash ([MS-FSCC] 2.4.30); the share's root has none.
			n := utf16le.Encode(name)
			data = make([]byte, 4, 4+len(n))
			le.PutUint32(data, uint32(len(n)))
			data = append(data, n...)
			variable = true
		case fileCompressionInformation:
			// FILE_COMPRESSION_INFORMATION: not compressed.
			data = make([]byte, 16)
			le.PutUint64(data, uint64(inf.size))
		case fileAlternateNameInformation:
			n := utf16le.Encode(shortName(path.Base(strings.ReplaceAll(name, `\`, "/"))))
			data = make([]byte, 4, 4+len(n))
			le.PutUint32(data, uint32(len(n)))
			data = append(data, n...)
			variable = true
		case fileStreamInformation:
			if !inf.isDir {
				n := utf16le.Encode("::$DATA")
				data = make([]byte, 24, 24+len(n))
				le.PutUint32(data[4:], uint32(len(n)))
				le.PutUint64(data[8:], uint64(inf.size))
				le.PutUint64(data[16:], uint64(inf.alloc))
				data = append(data, n...)
			}
			variable = true
		default:
			return errResp(StatusInvalidInfoClass)
		}
	case infoFilesystem:
		d, st := c.fsInfo(o, class)
		if st != StatusSuccess {
			return errResp(st)
		}
		data = d
		variable = class == fileFsVolumeInformation || class == fileFsAttributeInformation
	case infoSecurity:
		data = securityDescriptor()
		if uint32(len(data)) > outLen {
			eb := make([]byte, 12)
			le.PutUint16(eb, 9)
			le.PutUint32(eb[4:], 4)
			le.PutUint32(eb[8:], uint32(len(data)))
			return response{status: StatusBufferTooSmall, body: eb}
		}
	default:
		return errResp(StatusInvalidParameter)
	}
	if uint32(len(data)) > outLen {
		if !variable || int(outLen) < minInfoSize(typ, class) {
			return errResp(StatusInfoLengthMismatch)
		}
		return response{status: StatusBufferOverflow, body: queryInfoBody(data[:outLen])}
	}
	return response{body: queryInfoBody(data)}
}

func (c *conn) fsInfo(o *open, class byte) ([]byte, uint32) {
	var sfs syscall.Statfs_t
	if o.tree.share.Type == ShareDisk {
		if err := syscall.Statfs(o.tree.share.Path, &sfs); err != nil {
			return nil, statusOf(err)
		}
	}
	bsize := uint64(sfs.Bsize)
	if bsize < 512 {
		bsize = 4096
	}
	spu := uint32(bsize / 512)
	switch class {
	case fileFsVolumeInformation:
		label := utf16le.Encode("")
		b := make([]byte, 18, 24+len(label))
		le.PutUint64(b, filetime(c.srv.start))
		le.PutUint32(b[8:], 0x5A17C0DE)
		le.PutUint32(b[12:], uint32(len(label)))
		b = append(b, label...)
		// Windows pads the structure to 24 bytes, its minimum size.
		for len(b) < 24 {
			b = append(b, 0)
		}
		return b, StatusSuccess
	case fileFsSizeInformation:
		b := make([]byte, 24)
		le.PutUint64(b, sfs.Blocks)
		le.PutUint64(b[8:], sfs.Bavail)
		le.PutUint32(b[16:], spu)
		le.PutUint32(b[20:], 512)
		return b, StatusSuccess
	case fileFsFullSizeInformation:
		b := make([]byte, 32)
		le.PutUint64(b, sfs.Blocks)
		le.PutUint64(b[8:], sfs.Bavail)
		le.PutUint64(b[16:], sfs.Bfree)
		le.PutUint32(b[24:], spu)
		le.PutUint32(b[28:], 512)
		return b, StatusSuccess
	case fileFsDeviceInformation:
		b := make([]byte, 8)
		le.PutUint32(b, 7)
		if o.tree.share.Type == SharePipe {
			le.PutUint32(b, 0x11)
		}
		le.PutUint32(b[4:], 0x20)
		return b, StatusSuccess
	case fileFsAttributeInformation:
		n := utf16le.Encode("NTFS")
		b := make([]byte, 12, 12+len(n))
		le.PutUint32(b, 0x00000001|0x00000002|0x00000004|0x00000008|0x00000040)
		le.PutUint32(b[4:], 255)
		le.PutUint32(b[8:], uint32(len(n)))
		return append(b, n...), StatusSuccess
	case fileFsControlInformation:
		// FILE_FS_CONTROL_INFORMATION ([MS-FSCC] 2.5.2): quotas off, no thresholds.
		b := make([]byte, 48)
		for i := 0; i < 40; i += 8 {
			le.PutUint64(b[i:], ^uint64(0))
		}
		le.PutUint64(b, 0)
		return b, StatusSuccess
	case fileFsObjectIDInformation:
		b := make([]byte, 64)
		copy(b, c.srv.guid[:])
		return b, StatusSuccess
	case fileFsSectorSizeInformation:
		b := make([]byte, 28)
		for i := 0; i < 16; i += 4 {
			le.PutUint32(b[i:], 512)
		}
		return b, StatusSuccess
	}
	return nil, StatusInvalidInfoClass
}

// securityDescriptor is a self-relative descriptor: owner Administrators,
// group SYSTEM, a DACL granting full control to Administrators and SYSTEM.
func securityDescriptor() []byte {
	sid := func(sub ...uint32) []byte {
		b := make([]byte, 8+4*len(sub))
		b[0], b[1], b[7] = 1, byte(len(sub)), 5
		for i, s := range sub {
			le.PutUint32(b[8+4*i:], s)
		}
		return b
	}
	admins, system := sid(32, 544), sid(18)
	ace := func(s []byte) []byte {
		a := make([]byte, 8, 8+len(s))
		a[1] = 0x03
		le.PutUint16(a[2:], uint16(8+len(s)))
		le.PutUint32(a[4:], accAllFile)
		return append(a, s...)
	}
	aces := append(ace(admins), ace(system)...)
	acl := make([]byte, 8, 8+len(aces))
	acl[0] = 2
	le.PutUint16(acl[2:], uint16(8+len(aces)))
	le.PutUint16(acl[4:], 2)
	acl = append(acl, aces...)
	sd := make([]byte, 20)
	sd[0] = 1
	le.PutUint16(sd[2:], 0x8004)
	le.PutUint32(sd[4:], 20)
	le.PutUint32(sd[8:], uint32(20+len(admins)))
	le.PutUint32(sd[16:], uint32(20+len(admins)+len(system)))
	sd = append(sd, admins...)
	sd = append(sd, system...)
	return append(sd, acl...)
}

// setInfo handles SET_INFO ([MS-SMB2] 3.3.5.21).
func (c *conn) setInfo(r *request) response {
	b := r.body
	if len(b) < 32 {
		return errResp(StatusInvalidParameter)
	}
	typ, class := b[2], b[3]
	data, ok := bodyBuf(b, uint32(le.Uint16(b[8:])), le.Uint32(b[4:]))
	if !ok {
		return errResp(StatusInvalidParameter)
	}
	o, st := c.lookupOpen(r, b[16:32])
	if st != StatusSuccess {
		return errResp(st)
	}
	ok2 := response{body: fixed(2, 2)}
	if typ == infoSecurity {
		if o.access&(accWriteDAC|accWriteOwner|accAccessSystemSecurity) == 0 {
			return errResp(StatusAccessDenied)
		}
		return ok2
	}
	if typ == infoFile && o.pipe == nil {
		if need := setAccess(class); need != 0 && o.access&need == 0 {
			return errResp(StatusAccessDenied)
		}
	}
	if typ != infoFile || o.pipe != nil {
		return errResp(StatusInvalidParameter)
	}
	o.tree.mu.Lock()
	root := o.tree.root
	o.tree.mu.Unlock()
	if root == nil {
		return errResp(StatusNetworkNameDeleted)
	}
	_, rel := o.paths()
	switch class {
	case fileBasicInformation:
		if len(data) < 36 {
			return errResp(StatusInfoLengthMismatch)
		}
		at, wt := le.Uint64(data[8:]), le.Uint64(data[16:])
		if (at != 0 && at != ^uint64(0)) || (wt != 0 && wt != ^uint64(0)) {
			fi, err := o.f.Stat()
			if err != nil {
				return errResp(statusOf(err))
			}
			inf := infoOf(fi)
			atime, mtime := inf.atime, inf.mtime
			if at != 0 && at != ^uint64(0) {
				atime = fromFiletime(at)
			}
			if wt != 0 && wt != ^uint64(0) {
				mtime = fromFiletime(wt)
			}
			if err := root.Chtimes(rel, atime, mtime); err != nil {
				return errResp(statusOf(err))
			}
		}
		if attrs := le.Uint32(data[32:]); attrs&attrTemporary != 0 && o.isDir {
			// A directory cannot be temporary ([MS-FSA] 2.1.5.14.2).
			return errResp(StatusInvalidParameter)
		}
		if attrs := le.Uint32(data[32:]); attrs != 0 && !o.isDir {
			fi, err := o.f.Stat()
			if err != nil {
				return errResp(statusOf(err))
			}
			mode := fi.Mode().Perm() | 0o200
			if attrs&attrReadOnly != 0 {
				mode &^= 0o222
			}
			if err := o.f.Chmod(mode); err != nil {
				return errResp(statusOf(err))
			}
		}
		return ok2
	case fileDispositionInformation, fileDispositionInformationEx:
		if len(data) < 1 {
			return errResp(StatusInfoLengthMismatch)
		}
		del := data[0]&1 != 0
		if rel == "." {
			return errResp(StatusAccessDenied)
		}
		if del && !o.isDir {
			if fi, err := o.f.Stat(); err == nil && fi.Mode().Perm()&0o200 == 0 {
				return errResp(StatusCannotDelete)
			}
		}
		if del && o.isDir && !isLink(root, rel) {
			if f, err := root.Open(rel); err == nil {
				ne := dirNotEmpty(f)
				_ = f.Close()
				if ne {
					return errResp(StatusDirectoryNotEmpty)
				}
			}
		}
		if st := c.srv.files.setDeletePending(o, del); st != StatusSuccess {
			return errResp(st)
		}
		if !del {
			o.mu.Lock()
			o.deleteOnClose = false
			o.mu.Unlock()
		}
		return ok2
	case fileRenameInformation:
		if len(data) < 20 {
			return errResp(StatusInfoLengthMismatch)
		}
		replace := data[0] != 0
		nl := le.Uint32(data[16:])
		if uint64(20)+uint64(nl) > uint64(len(data)) {
			return errResp(StatusInvalidParameter)
		}
		target := utf16le.Decode(data[20 : 20+nl])
		for len(target) > 0 && target[0] == '\\' {
			target = target[1:]
		}
		newRel, st := resolve(root, target)
		if st != StatusSuccess {
			return errResp(st)
		}
		if newRel == "." || rel == "." {
			return errResp(StatusAccessDenied)
		}
		if dir := path.Dir(newRel); dir != "." {
			if di, err := root.Stat(dir); err != nil || !di.IsDir() {
				return errResp(StatusObjectPathNotFound)
			}
		}
		var targetKey *fileKey
		if fi, err := root.Lstat(newRel); err == nil && newRel != rel {
			if !replace {
				return errResp(StatusObjectNameCollision)
			}
			if fi.IsDir() {
				return errResp(StatusAccessDenied)
			}
			if k, ok := keyOf(fi); ok {
				targetKey = &k
			}
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return errResp(statusOf(err))
		}
		var parents []fileKey
		for _, d := range []string{path.Dir(rel), path.Dir(newRel)} {
			if fi, err := root.Stat(d); err == nil {
				if k, ok := keyOf(fi); ok {
					parents = append(parents, k)
				}
			}
		}
		if st := c.srv.files.renameCheck(o, o.tree.share.Path, rel, newRel, targetKey, parents); st != StatusSuccess {
			return errResp(st)
		}
		if err := root.Rename(rel, newRel); err != nil {
			return errResp(statusOf(err))
		}
		c.srv.files.renamed(o, o.tree.share.Path, rel, newRel)
		c.srv.renameInfected(o.tree.share.Path, rel, newRel)
		o.mu.Lock()
		o.rel, o.name = newRel, target
		o.mu.Unlock()
		return ok2
	case fileEndOfFileInformation:
		if len(data) < 8 {
			return errResp(StatusInfoLengthMismatch)
		}
		if o.isDir {
			return errResp(StatusInvalidParameter)
		}
		size := le.Uint64(data)
		if size > 1<<62 {
			return errResp(StatusInvalidParameter)
		}
		if err := o.f.Truncate(int64(size)); err != nil {
			return errResp(statusOf(err))
		}
		o.written.Store(true)
		return ok2
	case filePositionInformation:
		if len(data) < 8 {
			return errResp(StatusInfoLengthMismatch)
		}
		o.position.Store(int64(le.Uint64(data) & (1<<62 - 1)))
		return ok2
	case fileAllocationInformation, fileModeInformation:
		return ok2
	}
	return errResp(StatusInvalidInfoClass)
}

// Access rights checked by QUERY_INFO and SET_INFO ([MS-FSA] 2.1.5.12, 2.1.5.15).
const (
	accWriteAttrs           uint32 = 0x00000100
	accReadControl          uint32 = 0x00020000
	accWriteDAC             uint32 = 0x00040000
	accWriteOwner           uint32 = 0x00080000
	accAccessSystemSecurity uint32 = 0x01000000
)

// queryAccess is the access a file information class needs for QUERY_INFO (0: none).
func queryAccess(class byte) uint32 {
	switch class {
	case fileBasicInformation, fileAllInformation, fileNetworkOpenInformation, fileAttributeTagInformation:
		return accReadAttrs
	}
	return 0
}

// setAccess is the access a file information class needs for SET_INFO (0: none).
func setAccess(class byte) uint32 {
	switch class {
	case fileBasicInformation:
		return accWriteAttrs
	case fileEndOfFileInformation, fileAllocationInformation:
		return accWriteData
	case fileDispositionInformation, fileDispositionInformationEx, fileRenameInformation:
		return accDelete
	}
	return 0
}

// attrTemporary is FILE_ATTRIBUTE_TEMPORARY.
const attrTemporary uint32 = 0x100

// shortName returns the 8.3 name of a file as NTFS would generate it: the name itself, upper-cased, when it is a
// valid 8.3 name, else the first six letters of its base, "~1" and the first three of its extension.
func shortName(long string) string {
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if b.Len() == n {
				break
			}
			if r > ' ' && r < 0x7F && !strings.ContainsRune(`."/\[]:;=,+*?<>|`, r) {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	base, ext := long, ""
	if i := strings.LastIndex(long, "."); i > 0 {
		base, ext = long[:i], long[i+1:]
	}
	if len(base) <= 8 && len(ext) <= 3 && clean(base, 8) == strings.ToUpper(base) && clean(ext, 3) == strings.ToUpper(ext) {
		return strings.ToUpper(long)
	}
	short := clean(base, 6) + "~1"
	if e := clean(ext, 3); e != "" {
		short += "." + e
	}
	return short
}
