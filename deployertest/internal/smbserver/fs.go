package smbserver

import (
	"errors"
	"github.com/nxdeploy/deployer/deployertest/internal/utf16le"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Access mask bits ([MS-SMB2] 2.2.13.1.1).
const (
	accReadData     uint32 = 0x00000001
	accWriteData    uint32 = 0x00000002
	accAppendData   uint32 = 0x00000004
	accReadAttrs    uint32 = 0x00000080
	accDelete       uint32 = 0x00010000
	accSynchronize  uint32 = 0x00100000
	accMaxAllowed   uint32 = 0x02000000
	accGenericAll   uint32 = 0x10000000
	accGenericExec  uint32 = 0x20000000
	accGenericWrite uint32 = 0x40000000
	accGenericRead  uint32 = 0x80000000
	accAllFile      uint32 = 0x001F01FF
	// The generic rights map to these file rights (FILE_GENERIC_READ, _WRITE, _EXECUTE in winnt.h; [MS-SMB2]
	// 3.3.5.9 leaves the mapping to the object store, which maps them as Windows' IoCreateFile does).
	accFileGenericRead  uint32 = 0x00120089
	accFileGenericWrite uint32 = 0x00120116
	accFileGenericExec  uint32 = 0x001200A0
)

// Create dispositions, options and actions ([MS-SMB2] 2.2.13, 2.2.14).
const (
	dispSupersede   = 0
	dispOpen        = 1
	dispCreate      = 2
	dispOpenIf      = 3
	dispOverwrite   = 4
	dispOverwriteIf = 5

	optDirectory     uint32 = 0x00000001
	optNonDirectory  uint32 = 0x00000040
	optDeleteOnClose uint32 = 0x00001000
	optReparsePoint  uint32 = 0x00200000

	actionSuperseded  = 0
	actionOpened      = 1
	actionCreated     = 2
	actionOverwritten = 3
)

// File attributes.
const (
	attrReadOnly  uint32 = 0x01
	attrDirectory uint32 = 0x10
	attrArchive   uint32 = 0x20
	// attrReparsePoint marks a symbolic link, which Windows reports for a
	// junction or a symbolic link in listings and in opens with
	// FILE_OPEN_REPARSE_POINT.
	attrReparsePoint uint32 = 0x400
)

// isLink reports whether rel is a symbolic link in root.
func isLink(root *os.Root, rel string) bool {
	fi, err := root.Lstat(rel)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// open is an open file, directory or pipe ([MS-SMB2] 3.3.1.10).
type open struct {
	id     uint64
	sess   *session
	tree   *tree
	access uint32
	share  uint32
	isDir  bool
	f      *os.File
	pipe   *pipeOpen
	// key identifies the file in the server's file table (share modes, pending delete, running images).
	key    fileKey
	hasKey bool
	// closed is closed when the open is closed, ending its pending CHANGE_NOTIFY requests.
	closed chan struct{}

	written atomic.Bool
	// position is the current byte offset ([MS-FSCC] FilePositionInformation), moved by READ and WRITE.
	position atomic.Int64

	mu            sync.Mutex
	name          string // share-relative, backslash separated
	rel           string // slash separated for os.Root, "." for the root
	deleteOnClose bool
	dir           *dirScan
}

func (o *open) paths() (string, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.name, o.rel
}

// fileInfo is the metadata SMB2 reports for a file.
type fileInfo struct {
	name   string
	attrs  uint32
	size   int64
	alloc  int64
	mtime  time.Time
	atime  time.Time
	ctime  time.Time
	ino    uint64
	isDir  bool
	nlinks uint32
}

func infoOf(fi fs.FileInfo) fileInfo {
	inf := fileInfo{name: fi.Name(), mtime: fi.ModTime(), atime: fi.ModTime(), ctime: fi.ModTime(), nlinks: 1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		inf.ino = st.Ino
		inf.atime = time.Unix(st.Atim.Unix())
		inf.ctime = time.Unix(st.Ctim.Unix())
		inf.alloc = st.Blocks * 512
		inf.nlinks = uint32(st.Nlink)
	}
	if fi.IsDir() {
		inf.isDir = true
		inf.attrs = attrDirectory
		inf.alloc = 0
	} else {
		inf.size = fi.Size()
		inf.attrs = attrArchive
		if inf.alloc < inf.size {
			inf.alloc = (inf.size + 4095) &^ 4095
		}
	}
	if fi.Mode().Perm()&0o200 == 0 {
		inf.attrs |= attrReadOnly
	}
	return inf
}

// statusOf maps an OS error to an NTSTATUS.
func statusOf(err error) uint32 {
	var errno syscall.Errno
	switch {
	case err == nil:
		return StatusSuccess
	case errors.Is(err, fs.ErrNotExist):
		return StatusObjectNameNotFound
	case errors.Is(err, fs.ErrExist):
		return StatusObjectNameCollision
	case errors.As(err, &errno) && errno == syscall.ENOTEMPTY:
		return StatusDirectoryNotEmpty
	case errors.As(err, &errno) && errno == syscall.ENOTDIR:
		return StatusObjectPathNotFound
	case errors.As(err, &errno) && errno == syscall.EISDIR:
		return StatusFileIsADirectory
	case errors.As(err, &errno) && errno == syscall.ENOSPC:
		return StatusDiskFull
	case errors.Is(err, fs.ErrPermission):
		return StatusAccessDenied
	}
	// os.Root reports escapes ("path escapes from parent") as plain errors.
	return StatusAccessDenied
}

// validName checks one path component as NTFS does.
func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || strings.ContainsRune(`<>:"/|?*`, r) {
			return false
		}
	}
	return true
}

// resolve maps a share-relative SMB2 name to a slash path inside the share
// root, matching existing components case-insensitively.
func resolve(root *os.Root, name string) (rel string, status uint32) {
	name = strings.TrimSuffix(name, "::$DATA")
	if name == "" {
		return ".", StatusSuccess
	}
	if strings.HasPrefix(name, `\`) || strings.HasPrefix(name, "/") {
		return "", StatusObjectNameInvalid
	}
	parts := strings.Split(strings.TrimSuffix(name, `\`), `\`)
	cur := ""
	for i, p := range parts {
		if !validName(p) {
			if i < len(parts)-1 && (p == "." || p == "..") {
				return "", StatusObjectPathSyntaxBad
			}
			return "", StatusObjectNameInvalid
		}
		next := path.Join(cur, p)
		if _, err := root.Lstat(next); err != nil {
			if m := findFold(root, cur, p); m != "" {
				next = path.Join(cur, m)
			}
		}
		cur = next
	}
	return cur, StatusSuccess
}

func findFold(root *os.Root, dir, name string) string {
	d := dir
	if d == "" {
		d = "."
	}
	f, err := root.Open(d)
	if err != nil {
		return ""
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return ""
	}
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return ""
}

func (c *conn) lookupOpen(r *request, fid []byte) (*open, uint32) {
	if len(fid) < 16 {
		return nil, StatusInvalidParameter
	}
	vol := le.Uint64(fid[8:])
	pers := le.Uint64(fid)
	if vol == ^uint64(0) && pers == ^uint64(0) {
		if r.relFID == nil {
			return nil, StatusFileClosed
		}
		vol, pers = le.Uint64(r.relFID[8:]), le.Uint64(r.relFID[:])
	}
	c.mu.Lock()
	o := c.opens[vol]
	c.mu.Unlock()
	if o == nil || o.id != pers || o.sess != r.sess || o.tree != r.tree {
		return nil, StatusFileClosed
	}
	var used [16]byte
	le.PutUint64(used[:], pers)
	le.PutUint64(used[8:], vol)
	r.usedFID = &used
	return o, StatusSuccess
}

// create handles CREATE ([MS-SMB2] 3.3.5.9).
func (c *conn) create(r *request) response {
	b := r.body
	if len(b) < 56 {
		return errResp(StatusInvalidParameter)
	}
	impersonation := le.Uint32(b[4:])
	access := le.Uint32(b[24:])
	share := le.Uint32(b[32:])
	disp := le.Uint32(b[36:])
	opts := le.Uint32(b[40:])
	nb, ok := bodyBuf(b, uint32(le.Uint16(b[44:])), uint32(le.Uint16(b[46:])))
	if !ok || disp > dispOverwriteIf || share&^(shareRead|shareWrite|shareDelete) != 0 {
		return errResp(StatusInvalidParameter)
	}
	if impersonation > 3 {
		// Anonymous, Identification, Impersonation, Delegation ([MS-SMB2] 2.2.13).
		return errResp(StatusBadImpersonationLevel)
	}
	name := utf16le.Decode(nb)
	if strings.HasPrefix(name, `\`) && r.tree.share.Type == ShareDisk {
		// [MS-SMB2] 3.3.5.9: a name starting with a path separator is invalid.
		return errResp(StatusInvalidParameter)
	}
	if r.tree.share.Type == SharePipe {
		return c.createPipe(r, name, access)
	}
	if access&accMaxAllowed != 0 || access&accGenericAll != 0 {
		access |= accAllFile
	}
	if access&accGenericWrite != 0 {
		access |= accFileGenericWrite
	}
	if access&accGenericRead != 0 {
		access |= accFileGenericRead
	}
	if access&accGenericExec != 0 {
		access |= accFileGenericExec
	}
	if opts&optDeleteOnClose != 0 && access&accDelete == 0 {
		return errResp(StatusAccessDenied)
	}
	t := r.tree
	t.mu.Lock()
	root := t.root
	t.mu.Unlock()
	if root == nil {
		return errResp(StatusNetworkNameDeleted)
	}
	rel, st := resolve(root, name)
	if st != StatusSuccess {
		return errResp(st)
	}
	// A blocked file cannot be opened for its content, but an open that
	// only deletes it (or reads its attributes) is let through, as an
	// antivirus filter lets the owner remove a detected file.
	if access&^(accDelete|accReadAttrs|accSynchronize) != 0 && c.srv.isInfected(t.share.Path, rel) {
		return errResp(StatusVirusInfected)
	}
	fi, err := root.Stat(rel)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errResp(statusOf(err))
	}
	if !exists {
		if dir := path.Dir(rel); dir != "." {
			if di, err := root.Stat(dir); err != nil || !di.IsDir() {
				return errResp(StatusObjectPathNotFound)
			}
		}
	}
	action := uint32(actionOpened)
	wantDir := opts&optDirectory != 0
	switch {
	case exists && disp == dispCreate:
		return errResp(StatusObjectNameCollision)
	case !exists && (disp == dispOpen || disp == dispOverwrite):
		return errResp(StatusObjectNameNotFound)
	case exists && fi.IsDir() && opts&optNonDirectory != 0:
		return errResp(StatusFileIsADirectory)
	case exists && !fi.IsDir() && wantDir:
		return errResp(StatusNotADirectory)
	case exists && fi.IsDir() && (disp == dispOverwrite || disp == dispOverwriteIf || disp == dispSupersede):
		return errResp(StatusInvalidParameter)
	case rel == "." && opts&optDeleteOnClose != 0:
		return errResp(StatusAccessDenied)
	}
	o := &open{sess: r.sess, tree: t, access: access, share: share, name: name, rel: rel,
		deleteOnClose: opts&optDeleteOnClose != 0, closed: make(chan struct{})}
	overwrite := disp == dispOverwrite || disp == dispOverwriteIf || disp == dispSupersede
	if exists {
		if o.deleteOnClose && fi.Mode().Perm()&0o200 == 0 {
			// A read-only file cannot be deleted ([MS-FSA] 2.1.5.1.2.1).
			return errResp(StatusCannotDelete)
		}
		if !fi.IsDir() && fi.Mode().Perm()&0o200 == 0 && (access&(accWriteData|accAppendData) != 0 || overwrite) {
			return errResp(StatusAccessDenied)
		}
		if st := c.srv.files.admit(o, fi, t.share.Path, rel, overwrite && !fi.IsDir()); st != StatusSuccess {
			return errResp(st)
		}
	}
	admitted := exists
	fail := func(st uint32) response {
		if o.f != nil {
			_ = o.f.Close()
		}
		if admitted {
			c.srv.files.release(o, false)
		}
		return errResp(st)
	}
	if !exists {
		action = actionCreated
		if o.deleteOnClose && le.Uint32(b[28:])&attrReadOnly != 0 {
			return errResp(StatusCannotDelete)
		}
		if wantDir {
			if err := root.Mkdir(rel, 0o755); err != nil {
				return errResp(statusOf(err))
			}
		} else {
			f, err := root.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return errResp(statusOf(err))
			}
			o.f = f
			o.written.Store(true)
			if le.Uint32(b[28:])&attrReadOnly != 0 {
				_ = f.Chmod(0o444)
			}
		}
		if nfi, err := root.Stat(rel); err == nil {
			if st := c.srv.files.admit(o, nfi, t.share.Path, rel, false); st != StatusSuccess {
				return fail(st)
			}
			admitted = true
		}
	}
	if exists && !fi.IsDir() {
		flag := os.O_RDWR
		if overwrite {
			flag |= os.O_TRUNC
			action = actionOverwritten
			if disp == dispSupersede {
				action = actionSuperseded
			}
			o.written.Store(true)
		}
		f, err := root.OpenFile(rel, flag, 0)
		if err != nil && errors.Is(err, fs.ErrPermission) && flag == os.O_RDWR && access&(accWriteData|accAppendData) == 0 {
			f, err = root.OpenFile(rel, os.O_RDONLY, 0)
		}
		if err != nil {
			return fail(statusOf(err))
		}
		o.f = f
	}
	if o.f == nil {
		o.isDir = true
		f, err := root.Open(rel)
		if err != nil {
			return fail(statusOf(err))
		}
		o.f = f
	}
	if o.deleteOnClose && o.isDir && dirNotEmpty(o.f) {
		return fail(StatusDirectoryNotEmpty)
	}
	st2, err := o.f.Stat()
	if err != nil {
		return fail(statusOf(err))
	}
	c.register(o)
	inf := infoOf(st2)
	if opts&optReparsePoint != 0 && isLink(root, rel) {
		inf.attrs |= attrReparsePoint
	}
	body := make([]byte, 88, 96)
	le.PutUint16(body, 89)
	le.PutUint32(body[4:], action)
	putTimes(body[8:], inf)
	le.PutUint64(body[40:], uint64(inf.alloc))
	le.PutUint64(body[48:], uint64(inf.size))
	le.PutUint32(body[56:], inf.attrs)
	le.PutUint64(body[64:], o.id)
	le.PutUint64(body[72:], o.id)
	return response{body: body}
}

func dirNotEmpty(f *os.File) bool {
	names, _ := f.Readdirnames(1)
	_, _ = f.Seek(0, io.SeekStart)
	return len(names) > 0
}

func (c *conn) register(o *open) {
	c.mu.Lock()
	c.nextFID++
	o.id = c.nextFID
	c.opens[o.id] = o
	c.mu.Unlock()
}

// putTimes writes creation, last access, last write and change times.
func putTimes(b []byte, inf fileInfo) {
	le.PutUint64(b, filetime(inf.mtime))
	le.PutUint64(b[8:], filetime(inf.atime))
	le.PutUint64(b[16:], filetime(inf.mtime))
	le.PutUint64(b[24:], filetime(inf.ctime))
}

// closeOpen releases an open, applying delete-on-close and the antivirus.
func (c *conn) closeOpen(o *open) {
	if o.pipe != nil {
		o.pipe.close()
		return
	}
	if o.closed != nil {
		close(o.closed)
	}
	if o.f != nil {
		_ = o.f.Close()
	}
	name, rel := o.paths()
	o.mu.Lock()
	del := o.deleteOnClose
	o.mu.Unlock()
	// The last close of a file whose delete is pending deletes it, whichever open asked for the delete.
	if sharePath, frel, remove := c.srv.files.release(o, del); remove {
		if root, err := os.OpenRoot(sharePath); err == nil {
			_ = root.Remove(frel)
			_ = root.Close()
		}
		return
	}
	if del {
		return
	}
	if !o.isDir && o.written.Load() {
		c.srv.scan(o.tree.share.Path, name, rel)
	}
}

// closeFile handles CLOSE ([MS-SMB2] 3.3.5.10).
func (c *conn) closeFile(r *request) response {
	if len(r.body) < 24 {
		return errResp(StatusInvalidParameter)
	}
	o, st := c.lookupOpen(r, r.body[8:24])
	if st != StatusSuccess {
		return errResp(st)
	}
	c.mu.Lock()
	delete(c.opens, o.id)
	c.mu.Unlock()
	body := make([]byte, 60)
	le.PutUint16(body, 60)
	if le.Uint16(r.body[2:])&1 != 0 && o.f != nil {
		if fi, err := o.f.Stat(); err == nil {
			inf := infoOf(fi)
			le.PutUint16(body[2:], 1)
			putTimes(body[8:], inf)
			le.PutUint64(body[40:], uint64(inf.alloc))
			le.PutUint64(body[48:], uint64(inf.size))
			le.PutUint32(body[56:], inf.attrs)
		}
	}
	c.closeOpen(o)
	return response{body: body}
}

// flush handles FLUSH.
func (c *conn) flush(r *request) response {
	if len(r.body) < 24 {
		return errResp(StatusInvalidParameter)
	}
	o, st := c.lookupOpen(r, r.body[8:24])
	if st != StatusSuccess {
		return errResp(st)
	}
	if o.f != nil && !o.isDir {
		if err := o.f.Sync(); err != nil {
			return errResp(statusOf(err))
		}
	}
	return response{body: fixed(4, 4)}
}

// lock handles LOCK: byte-range locks are granted without being enforced.
func (c *conn) lock(r *request) response {
	if len(r.body) < 24 {
		return errResp(StatusInvalidParameter)
	}
	if _, st := c.lookupOpen(r, r.body[8:24]); st != StatusSuccess {
		return errResp(st)
	}
	return response{body: fixed(4, 4)}
}

func readBody(data []byte) []byte {
	body := make([]byte, 16, 16+len(data)+1)
	le.PutUint16(body, 17)
	body[2] = headerSize + 16
	le.PutUint32(body[4:], uint32(len(data)))
	if len(data) == 0 {
		body[2] = 0
		return append(body, 0)
	}
	return append(body, data...)
}

// read handles READ ([MS-SMB2] 3.3.5.12).
func (c *conn) read(r *request) response {
	b := r.body
	if len(b) < 48 {
		return errResp(StatusInvalidParameter)
	}
	length := le.Uint32(b[4:])
	off := le.Uint64(b[8:])
	minCount := le.Uint32(b[32:])
	o, st := c.lookupOpen(r, b[16:32])
	if st != StatusSuccess {
		return errResp(st)
	}
	if length > c.maxIO() {
		return errResp(StatusInvalidParameter)
	}
	if o.pipe != nil {
		data, st := o.pipe.next(r, int(length))
		if st != StatusSuccess && st != StatusBufferOverflow {
			return errResp(st)
		}
		return response{status: st, body: readBody(data)}
	}
	if o.isDir {
		return errResp(StatusInvalidDeviceRequest)
	}
	if o.access&(accReadData|accExecute) == 0 {
		// [MS-SMB2] 3.3.5.12: READ needs FILE_READ_DATA (or FILE_EXECUTE) on the handle.
		return errResp(StatusAccessDenied)
	}
	if off > 1<<62 {
		return errResp(StatusInvalidParameter)
	}
	buf := make([]byte, length)
	n, err := o.f.ReadAt(buf, int64(off))
	if err != nil && !errors.Is(err, io.EOF) {
		return errResp(statusOf(err))
	}
	if n == 0 && length > 0 || uint32(n) < minCount {
		return errResp(StatusEndOfFile)
	}
	o.position.Store(int64(off) + int64(n))
	return response{body: readBody(buf[:n])}
}

// write handles WRITE ([MS-SMB2] 3.3.5.13).
func (c *conn) write(r *request) response {
	b := r.body
	if len(b) < 48 {
		return errResp(StatusInvalidParameter)
	}
	length := le.Uint32(b[4:])
	off := le.Uint64(b[8:])
	data, ok := bodyBuf(b, uint32(le.Uint16(b[2:])), length)
	if !ok {
		return errResp(StatusInvalidParameter)
	}
	o, st := c.lookupOpen(r, b[16:32])
	if st != StatusSuccess {
		return errResp(st)
	}
	if o.pipe != nil {
		if st := o.pipe.write(data); st != StatusSuccess {
			return errResp(st)
		}
		return response{body: writeBody(len(data))}
	}
	if o.isDir {
		return errResp(StatusInvalidDeviceRequest)
	}
	if o.access&(accWriteData|accAppendData) == 0 {
		return errResp(StatusAccessDenied)
	}
	if off == ^uint64(0) {
		fi, err := o.f.Stat()
		if err != nil {
			return errResp(statusOf(err))
		}
		off = uint64(fi.Size())
	}
	if off > 1<<62 {
		return errResp(StatusInvalidParameter)
	}
	n, err := o.f.WriteAt(data, int64(off))
	if err != nil {
		return errResp(statusOf(err))
	}
	o.position.Store(int64(off) + int64(n))
	o.written.Store(true)
	return response{body: writeBody(n)}
}

func writeBody(n int) []byte {
	body := make([]byte, 16)
	le.PutUint16(body, 17)
	le.PutUint32(body[4:], uint32(n))
	return body
}

// Blocked reports whether the antivirus blocks the file at hostPath (a
// path under a share's directory), for the service manager's CreateProcess.
func (s *Server) Blocked(hostPath string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.infected[hostPath]
}

// renameInfected keeps the antivirus's verdict with a renamed file.
func (s *Server) renameInfected(sharePath, oldRel, newRel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := path.Join(sharePath, oldRel)
	if s.infected[from] {
		delete(s.infected, from)
		s.infected[path.Join(sharePath, newRel)] = true
	}
}

// isInfected reports whether the antivirus blocks the file.
func (s *Server) isInfected(sharePath, rel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.infected[path.Join(sharePath, rel)]
}

// scan applies the antivirus to a file closed after being written.
func (s *Server) scan(sharePath, name, rel string) {
	av := s.cfg.Antivirus
	if av == nil {
		return
	}
	match := av.Match
	if match == nil {
		match = func(n string) bool { return strings.HasSuffix(strings.ToLower(n), ".exe") }
	}
	if !match(name) {
		return
	}
	full := path.Join(sharePath, rel)
	act := func() {
		if av.Mode == AVBlock {
			s.mu.Lock()
			s.infected[full] = true
			s.mu.Unlock()
			return
		}
		if root, err := os.OpenRoot(sharePath); err == nil {
			_ = root.Remove(rel)
			_ = root.Close()
		}
	}
	if av.Delay <= 0 {
		act()
		return
	}
	s.afterFunc(av.Delay, act)
}

// dirScan is the state of a QUERY_DIRECTORY enumeration.
type dirScan struct {
	entries []fileInfo
	pos     int
	pattern string
}

// matchPattern matches a Windows wildcard pattern (* and ?) case-insensitively.
func matchPattern(pat, name string) bool {
	p := []rune(strings.ToUpper(pat))
	n := []rune(strings.ToUpper(name))
	var rec func(i, j int) bool
	memo := map[[2]int]bool{}
	rec = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var res bool
		switch {
		case i == len(p):
			res = j == len(n)
		case p[i] == '*' || p[i] == '<':
			res = rec(i+1, j) || (j < len(n) && rec(i, j+1))
		case j < len(n) && (p[i] == '?' || p[i] == '>' || p[i] == n[j]):
			res = rec(i+1, j+1)
		case p[i] == '"' && j < len(n) && n[j] == '.':
			res = rec(i+1, j+1)
		}
		memo[k] = res
		return res
	}
	return rec(0, 0)
}

func (o *open) listDir(pattern string) ([]fileInfo, error) {
	o.tree.mu.Lock()
	root := o.tree.root
	o.tree.mu.Unlock()
	if root == nil {
		return nil, fs.ErrClosed
	}
	_, rel := o.paths()
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []fileInfo
	if self, err := f.Stat(); err == nil {
		for _, dot := range []string{".", ".."} {
			if matchPattern(pattern, dot) {
				inf := infoOf(self)
				inf.name = dot
				out = append(out, inf)
			}
		}
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int {
		return strings.Compare(strings.ToUpper(a.Name()), strings.ToUpper(b.Name()))
	})
	for _, e := range ents {
		if !matchPattern(pattern, e.Name()) {
			continue
		}
		fi, err := root.Stat(path.Join(rel, e.Name()))
		if err != nil {
			continue
		}
		inf := infoOf(fi)
		inf.name = e.Name()
		if e.Type()&fs.ModeSymlink != 0 {
			inf.attrs |= attrReparsePoint
		}
		out = append(out, inf)
	}
	return out, nil
}

// Directory information classes ([MS-FSCC] 2.4).
const (
	fileDirectoryInformation       = 1
	fileFullDirectoryInformation   = 2
	fileBothDirectoryInformation   = 3
	fileNamesInformation           = 12
	fileIDBothDirectoryInformation = 37
	fileIDFullDirectoryInformation = 38
)

func dirEntry(class byte, inf fileInfo) []byte {
	name := utf16le.Encode(inf.name)
	var fixedLen int
	switch class {
	case fileDirectoryInformation:
		fixedLen = 64
	case fileFullDirectoryInformation:
		fixedLen = 68
	case fileBothDirectoryInformation:
		fixedLen = 94
	case fileIDBothDirectoryInformation:
		fixedLen = 104
	case fileIDFullDirectoryInformation:
		fixedLen = 80
	case fileNamesInformation:
		e := make([]byte, 12+len(name))
		le.PutUint32(e[8:], uint32(len(name)))
		copy(e[12:], name)
		return e
	}
	e := make([]byte, fixedLen+len(name))
	putTimes(e[8:], inf)
	le.PutUint64(e[40:], uint64(inf.size))
	le.PutUint64(e[48:], uint64(inf.alloc))
	le.PutUint32(e[56:], inf.attrs)
	le.PutUint32(e[60:], uint32(len(name)))
	switch class {
	case fileIDBothDirectoryInformation:
		le.PutUint64(e[96:], inf.ino)
	case fileIDFullDirectoryInformation:
		le.PutUint64(e[72:], inf.ino)
	}
	copy(e[fixedLen:], name)
	return e
}

// queryDirectory handles QUERY_DIRECTORY ([MS-SMB2] 3.3.5.18).
func (c *conn) queryDirectory(r *request) response {
	b := r.body
	if len(b) < 32 {
		return errResp(StatusInvalidParameter)
	}
	class := b[2]
	flags := b[3]
	outLen := le.Uint32(b[28:])
	switch class {
	case fileDirectoryInformation, fileFullDirectoryInformation, fileBothDirectoryInformation,
		fileNamesInformation, fileIDBothDirectoryInformation, fileIDFullDirectoryInformation:
	default:
		return errResp(StatusInvalidInfoClass)
	}
	pb, ok := bodyBuf(b, uint32(le.Uint16(b[24:])), uint32(le.Uint16(b[26:])))
	if !ok {
		return errResp(StatusInvalidParameter)
	}
	o, st := c.lookupOpen(r, b[8:24])
	if st != StatusSuccess {
		return errResp(st)
	}
	if !o.isDir {
		return errResp(StatusInvalidParameter)
	}
	if o.access&accReadData == 0 {
		// FILE_LIST_DIRECTORY is FILE_READ_DATA on a directory ([MS-SMB2] 3.3.5.18).
		return errResp(StatusAccessDenied)
	}
	pattern := utf16le.Decode(pb)
	if pattern == "" {
		pattern = "*"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	first := false
	if o.dir == nil || flags&(0x01|0x10) != 0 {
		o.mu.Unlock()
		ents, err := o.listDir(pattern)
		o.mu.Lock()
		if err != nil {
			return errResp(statusOf(err))
		}
		o.dir = &dirScan{entries: ents, pattern: pattern}
		first = true
	}
	d := o.dir
	if d.pos >= len(d.entries) {
		if first {
			return errResp(StatusNoSuchFile)
		}
		return errResp(StatusNoMoreFiles)
	}
	var out []byte
	lastOff := -1
	dirRel := o.rel // o.mu is held
	o.tree.mu.Lock()
	root := o.tree.root
	o.tree.mu.Unlock()
	for d.pos < len(d.entries) {
		ent := d.entries[d.pos]
		if ent.name != "." && ent.name != ".." && root != nil {
			// As NTFS and Samba do, a continued enumeration shows the directory as it is now: a name deleted since
			// the enumeration began is not returned, and an entry's metadata is current.
			fi, err := root.Lstat(path.Join(dirRel, ent.name))
			if err != nil {
				d.pos++
				continue
			}
			fresh := infoOf(fi)
			fresh.name = ent.name
			ent = fresh
		}
		e := dirEntry(class, ent)
		start := pad8(len(out))
		if start+len(e) > int(outLen) {
			break
		}
		out = append(out, make([]byte, start-len(out))...)
		if lastOff >= 0 {
			le.PutUint32(out[lastOff:], uint32(start-lastOff))
		}
		lastOff = start
		out = append(out, e...)
		d.pos++
		if flags&0x02 != 0 {
			break
		}
	}
	if lastOff < 0 {
		if d.pos >= len(d.entries) {
			if first {
				return errResp(StatusNoSuchFile)
			}
			return errResp(StatusNoMoreFiles)
		}
		return errResp(StatusBufferTooSmall)
	}
	body := make([]byte, 8, 8+len(out))
	le.PutUint16(body, 9)
	le.PutUint16(body[2:], headerSize+8)
	le.PutUint32(body[4:], uint32(len(out)))
	return response{body: append(body, out...)}
}
