package smbserver

import (
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
)

// Share access bits of CREATE ([MS-SMB2] 2.2.13).
const (
	shareRead   uint32 = 0x1
	shareWrite  uint32 = 0x2
	shareDelete uint32 = 0x4
)

// accExecute is FILE_EXECUTE; FILE_READ_DATA or FILE_EXECUTE count as read access for share modes and READ.
const accExecute uint32 = 0x00000020

// fileKey identifies a file on this machine whatever its name: renames keep it.
type fileKey struct{ dev, ino uint64 }

func keyOf(fi os.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: st.Ino}, true
}

// fileEntry is what the server knows of one file while it is open, as NTFS keeps it in the file's control block:
// the opens (for share modes), whether a delete is pending, and whether a running program's image is mapped from it.
type fileEntry struct {
	opens         map[*open]struct{}
	deletePending bool
	images        int
	// sharePath and rel locate the file for the delete of the last close: the share directory and the path under
	// it (both follow renames).
	sharePath, rel string
}

// fileTable holds the entries of every open file of a Server, across connections, sessions and shares, and the
// images of running programs (Server.MapImage).
type fileTable struct {
	mu    sync.Mutex
	files map[fileKey]*fileEntry
}

func newFileTable() *fileTable { return &fileTable{files: map[fileKey]*fileEntry{}} }

// shareConflict reports whether an open with access and share may not coexist with other, as Windows'
// IoCheckShareAccess decides ([MS-FSA] 2.1.5.1.2.1): read (FILE_READ_DATA, FILE_EXECUTE), write (FILE_WRITE_DATA,
// FILE_APPEND_DATA) and DELETE must be shared by the other open, and the other open's access by this one.
func shareConflict(access, share uint32, other *open) bool {
	conflict := func(acc, shr uint32) bool {
		return (acc&(accReadData|accExecute) != 0 && shr&shareRead == 0) ||
			(acc&(accWriteData|accAppendData) != 0 && shr&shareWrite == 0) ||
			(acc&accDelete != 0 && shr&shareDelete == 0)
	}
	if !other.sharesCount() {
		return false
	}
	return conflict(access, other.share) || conflict(other.access, share)
}

// sharesCount reports whether an open takes part in share checks: one with only attribute or security access
// (no read, write or delete) does not.
func (o *open) sharesCount() bool {
	return o.access&(accReadData|accExecute|accWriteData|accAppendData|accDelete) != 0
}

// admit checks a new open of the file fi against the file's state and registers it: STATUS_DELETE_PENDING when a
// delete is pending, STATUS_SHARING_VIOLATION against the share modes of the other opens or when a running image
// is opened for writing (or overwritten), STATUS_CANNOT_DELETE when delete-on-close is asked on a running image.
func (ft *fileTable) admit(o *open, fi os.FileInfo, sharePath, rel string, overwrite bool) uint32 {
	key, ok := keyOf(fi)
	if !ok {
		return StatusSuccess
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	e := ft.files[key]
	if e == nil {
		e = &fileEntry{opens: map[*open]struct{}{}}
		ft.files[key] = e
	}
	if e.deletePending {
		ft.dropLocked(key, e)
		return StatusDeletePending
	}
	access := o.access
	if overwrite {
		access |= accWriteData
	}
	for other := range e.opens {
		if o.sharesCount() && shareConflict(access, o.share, other) {
			ft.dropLocked(key, e)
			return StatusSharingViolation
		}
	}
	if e.images > 0 {
		// A mapped image section keeps its file from being written or deleted (MmFlushImageSection fails):
		// opening it for writing gives a sharing violation, deleting it STATUS_CANNOT_DELETE.
		if access&(accWriteData|accAppendData) != 0 {
			ft.dropLocked(key, e)
			return StatusSharingViolation
		}
		if o.deleteOnClose {
			ft.dropLocked(key, e)
			return StatusCannotDelete
		}
	}
	e.opens[o] = struct{}{}
	e.sharePath, e.rel = sharePath, rel
	o.key, o.hasKey = key, true
	return StatusSuccess
}

// dropLocked forgets an entry that has no open and no image.
func (ft *fileTable) dropLocked(key fileKey, e *fileEntry) {
	if len(e.opens) == 0 && e.images == 0 && !e.deletePending {
		delete(ft.files, key)
	}
}

// release removes o from its file's entry. It returns the share path and path of the file when o was its last open
// and a delete is pending (set now when o was opened delete-on-close), so that the caller deletes it.
func (ft *fileTable) release(o *open, deleteOnClose bool) (sharePath, rel string, remove bool) {
	if !o.hasKey {
		return "", "", false
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	e := ft.files[o.key]
	if e == nil {
		return "", "", false
	}
	delete(e.opens, o)
	if deleteOnClose && e.images == 0 {
		e.deletePending = true
	}
	if len(e.opens) == 0 {
		remove = e.deletePending
		e.deletePending = false
		sharePath, rel = e.sharePath, e.rel
		ft.dropLocked(o.key, e)
	}
	return sharePath, rel, remove
}

// setDeletePending sets or clears the file's pending delete (SET_INFO FileDispositionInformation):
// STATUS_CANNOT_DELETE while a running image is mapped from it.
func (ft *fileTable) setDeletePending(o *open, pending bool) uint32 {
	if !o.hasKey {
		return StatusSuccess
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	e := ft.files[o.key]
	if e == nil {
		return StatusSuccess
	}
	if pending && e.images > 0 {
		return StatusCannotDelete
	}
	e.deletePending = pending
	return StatusSuccess
}

// deletePending reports whether the file of o is to be deleted when its last open closes.
func (ft *fileTable) deletePending(o *open) bool {
	if !o.hasKey {
		return false
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	e := ft.files[o.key]
	return e != nil && e.deletePending
}

// renameCheck decides whether the file of o may be renamed: every other open must share delete (Windows checks the
// share access of the other opens of the file being renamed). A directory with an open file below it cannot be
// renamed (STATUS_ACCESS_DENIED), nor can a file replace one that is open.
func (ft *fileTable) renameCheck(o *open, sharePath, rel, target string, targetKey *fileKey, parents []fileKey) uint32 {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	// A rename opens the parent directory for adding an entry, sharing read and write but not delete: an open of
	// the parent with DELETE access, or one that shares nothing, makes it fail with a sharing violation (smbtorture
	// smb2.rename.*_delete_access*, as Windows and Samba answer).
	renameOpen := &open{access: accWriteData, share: shareRead | shareWrite}
	for _, pk := range parents {
		if e := ft.files[pk]; e != nil {
			for other := range e.opens {
				if other != o && shareConflict(renameOpen.access, renameOpen.share, other) {
					return StatusSharingViolation
				}
			}
		}
	}
	if o.hasKey {
		if e := ft.files[o.key]; e != nil {
			for other := range e.opens {
				if other != o && other.sharesCount() && other.share&shareDelete == 0 {
					return StatusSharingViolation
				}
			}
		}
	}
	if targetKey != nil {
		if e := ft.files[*targetKey]; e != nil && (len(e.opens) > 0 || e.images > 0) {
			return StatusAccessDenied
		}
	}
	if o.isDir {
		prefix := rel + "/"
		for _, e := range ft.files {
			if e.sharePath == sharePath && strings.HasPrefix(e.rel, prefix) && len(e.opens) > 0 {
				return StatusAccessDenied
			}
		}
	}
	return StatusSuccess
}

// renamed moves the entry of o (and of every open file below a renamed directory) to its new path.
func (ft *fileTable) renamed(o *open, sharePath, oldRel, newRel string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, e := range ft.files {
		if e.sharePath != sharePath {
			continue
		}
		switch {
		case e.rel == oldRel:
			e.rel = newRel
		case strings.HasPrefix(e.rel, oldRel+"/"):
			e.rel = path.Join(newRel, strings.TrimPrefix(e.rel, oldRel+"/"))
		}
	}
}

// MapImage marks the file at hostPath as the image of a running program until release is called, as Windows maps
// a process's executable: while mapped, opening it for writing fails with STATUS_SHARING_VIOLATION and deleting it
// with STATUS_CANNOT_DELETE (renaming it is allowed). The service manager calls it for every service it runs.
func (s *Server) MapImage(hostPath string) (release func()) {
	fi, err := os.Stat(hostPath)
	if err != nil {
		return func() {}
	}
	key, ok := keyOf(fi)
	if !ok {
		return func() {}
	}
	ft := s.files
	ft.mu.Lock()
	e := ft.files[key]
	if e == nil {
		e = &fileEntry{opens: map[*open]struct{}{}}
		ft.files[key] = e
	}
	e.images++
	ft.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			ft.mu.Lock()
			defer ft.mu.Unlock()
			if e := ft.files[key]; e != nil {
				e.images--
				ft.dropLocked(key, e)
			}
		})
	}
}
