package deployer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Store keeps host records across runs, so a restarted Engine resumes: hosts
// already With Collector (with the same package) are not reinstalled, and
// deployments that were in flight are settled and cleaned up first.
// Implementations must be safe for concurrent use.
type Store interface {
	// Load returns every record.
	Load(ctx context.Context) ([]HostRecord, error)
	// Put records r, replacing any record with the same Key. When Put
	// returns, the record survives a crash of the process.
	Put(ctx context.Context, r HostRecord) error
}

// BatchStore is a Store that records many records at once, with one commit
// (one sync of a file, one transaction of a database). The Deployer uses
// PutBatch when its Store has it: with many hosts changing state at once,
// that is what keeps a durable store as fast as one in memory.
type BatchStore interface {
	Store
	// PutBatch records every record of recs, as Put does for one: when it
	// returns, they all survive a crash. Later records replace earlier
	// ones with the same Key.
	PutBatch(ctx context.Context, recs []HostRecord) error
}

// MemoryStore is a Store in memory: the default, for a Deployer that need
// not survive a restart.
type MemoryStore struct {
	mu   sync.Mutex
	recs map[string]HostRecord
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{recs: map[string]HostRecord{}} }

// Load returns every record, sorted by key.
func (s *MemoryStore) Load(ctx context.Context) ([]HostRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedRecords(s.recs), nil
}

// Put records r.
func (s *MemoryStore) Put(ctx context.Context, r HostRecord) error {
	return s.PutBatch(ctx, []HostRecord{r})
}

// PutBatch records every record of recs.
func (s *MemoryStore) PutBatch(ctx context.Context, recs []HostRecord) error {
	for _, r := range recs {
		if r.Key == "" {
			return errNoKey
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.recs[r.Key] = r.clone()
	}
	return nil
}

var errNoKey = errors.New("deployer: store: record without a key")

func sortedRecords(m map[string]HostRecord) []HostRecord {
	out := make([]HostRecord, 0, len(m))
	for _, r := range m {
		out = append(out, r.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// FileStore is a Store in one file: a journal of records, one JSON line each
// with its CRC-32. Concurrent writers share one sync of the file (a group
// commit): a Put returns once a sync that covers its line has completed, so
// a thousand hosts changing state at once cost a few syncs, not a thousand.
// A crash can leave at most a torn last line, which OpenFileStore detects
// by its checksum and drops; it then compacts the journal into a fresh file
// written beside it and renamed over it, so the file on disk is always
// either the old journal or the new one. The journal is compacted again
// when it has grown to many times the records it holds.
//
// One process at a time may use a journal: OpenFileStore locks the file
// "<path>.lock" (an advisory lock of the operating system, released when
// the process ends, however it ends) and fails with ErrStoreInUse while
// another FileStore holds it, in this process or another.
type FileStore struct {
	path string
	lock *os.File

	mu       sync.Mutex // the file's writes, recs, the counters
	f        *os.File
	size     int64 // bytes of whole lines written
	lines    int   // lines in the journal
	recs     map[string]HostRecord
	written  uint64 // batches written
	rejected []error

	syncMu sync.Mutex // one sync at a time; a sync covers every batch written before it
	synced uint64     // batches covered by a completed sync
	syncs  uint64     // syncs done
}

// ErrStoreInUse is the cause of OpenFileStore's error when another FileStore
// (of this process or another) has the journal open.
var ErrStoreInUse = errors.New("the store is in use by another Deployer")

// JournalError is a line of a FileStore's journal that OpenFileStore could
// not use: torn by a crash, corrupt, or naming something the deployer never
// creates. The line is left out; every other line is kept.
type JournalError struct {
	// Path is the journal; Line the line's number, from 1.
	Path string
	Line int
	// Err says what is wrong with it.
	Err error
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("deployer: store %s: line %d: %v", e.Path, e.Line, e.Err)
}

func (e *JournalError) Unwrap() error { return e.Err }

type journalLine struct {
	CRC uint32          `json:"crc"`
	Rec json.RawMessage `json:"rec"`
}

// OpenFileStore opens (or creates) the journal at path, recovering from a
// torn last write, leaving out lines it cannot use (see Rejected) and
// compacting it. When lines other than a torn last one were left out, the
// journal as it was is kept beside it as "<path>.corrupt" for inspection.
func OpenFileStore(path string) (*FileStore, error) {
	lock, err := lockStore(path)
	if err != nil {
		return nil, err
	}
	s := &FileStore{path: path, lock: lock, recs: map[string]HostRecord{}}
	fail := func(err error) (*FileStore, error) {
		lock.Close()
		return nil, err
	}
	corrupt, err := s.replay()
	if err != nil {
		return fail(err)
	}
	if corrupt {
		if err := keepCorrupt(path); err != nil {
			return fail(fmt.Errorf("deployer: store %s: keeping the corrupt journal: %w", path, err))
		}
	}
	if err := s.compact(); err != nil {
		return fail(err)
	}
	if err := s.openAppend(); err != nil {
		return fail(err)
	}
	return s, nil
}

// lockStore takes the journal's lock file, or says who holds it.
func lockStore(path string) (*os.File, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("deployer: store %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := io.ReadAll(io.LimitReader(f, 64)); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (process %d", pid)
				if pid == os.Getpid() {
					holder += ", this one"
				}
				holder += ")"
			}
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("deployer: store %s: %w%s: one store serves one Deployer at a time, or a host could be installed twice", path, ErrStoreInUse, holder)
		}
		return nil, fmt.Errorf("deployer: store %s: locking %s: %w", path, name, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// keepCorrupt keeps the journal at path as path.corrupt.
func keepCorrupt(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path+".corrupt", b, 0o600)
}

// Dropped returns how many journal lines OpenFileStore left out.
func (s *FileStore) Dropped() int { return len(s.rejected) }

// Rejected returns a *JournalError for every journal line OpenFileStore left
// out, in file order.
func (s *FileStore) Rejected() []error { return append([]error(nil), s.rejected...) }

// replay reads the journal; corrupt reports lines left out other than a
// torn last one.
func (s *FileStore) replay() (corrupt bool, err error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(bytes.TrimSpace(b)) > 0 {
				s.rejected = append(s.rejected, &JournalError{s.path, line, errors.New("torn last write (no end of line): left out")})
			}
			return corrupt, nil
		}
		if err != nil {
			return false, fmt.Errorf("deployer: store %s: line %d: %w", s.path, line, err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		rec, err := decodeJournalLine(b)
		if err != nil {
			s.rejected = append(s.rejected, &JournalError{s.path, line, err})
			corrupt = true
			continue
		}
		s.recs[rec.Key] = rec
	}
}

func decodeJournalLine(b []byte) (HostRecord, error) {
	var jl journalLine
	if err := json.Unmarshal(b, &jl); err != nil {
		return HostRecord{}, fmt.Errorf("not a journal line: %w", err)
	}
	if crc32.ChecksumIEEE(jl.Rec) != jl.CRC {
		return HostRecord{}, errors.New("checksum mismatch")
	}
	var rec HostRecord
	if err := json.Unmarshal(jl.Rec, &rec); err != nil {
		return HostRecord{}, fmt.Errorf("bad record: %w", err)
	}
	if err := validRecord(rec); err != nil {
		return HostRecord{}, err
	}
	rec.Error.complete()
	rec.CleanupError.complete()
	return rec, nil
}

// validRecord checks what a record read from outside the process names: a
// deployment id becomes a service name and a directory to delete on the
// host, so only ids the deployer itself creates are accepted.
func validRecord(r HostRecord) error {
	if r.Key == "" {
		return errors.New("record without a key")
	}
	if r.DeploymentID != "" {
		if err := ValidateDeploymentID(r.DeploymentID); err != nil {
			return fmt.Errorf("host %q: refused: %w", r.Key, err)
		}
	}
	for _, id := range r.Leftovers {
		if err := ValidateDeploymentID(id); err != nil {
			return fmt.Errorf("host %q: leftover refused: %w", r.Key, err)
		}
	}
	return nil
}

// appendJournalLine appends {"crc":N,"rec":RECORD} and a newline to dst:
// the journalLine shape, framed by hand, so the record is encoded once (in
// scratch, returned for reuse).
func appendJournalLine(dst, scratch []byte, r HostRecord) (line, rec []byte, err error) {
	// The error table's texts are not kept: they come back from the
	// error's values when the record is read (decodeJournalLine).
	r.Error, r.CleanupError = r.Error.compact(), r.CleanupError.compact()
	if _, ok := stateNames[r.State]; !ok {
		return dst, scratch, fmt.Errorf("deployer: invalid state %d", int(r.State))
	}
	rec = appendRecord(scratch[:0], &r)
	dst = append(dst, `{"crc":`...)
	dst = strconv.AppendUint(dst, uint64(crc32.ChecksumIEEE(rec)), 10)
	dst = append(dst, `,"rec":`...)
	dst = append(dst, rec...)
	return append(dst, "}\n"...), rec, nil
}

// compact writes every record to a temporary file, syncs it, renames it over
// the journal and syncs the directory.
func (s *FileStore) compact() error {
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	w := bufio.NewWriter(tmp)
	var size int64
	var line, scratch []byte
	for _, r := range sortedRecords(s.recs) {
		line, scratch, err = appendJournalLine(line[:0], scratch, r)
		if err != nil {
			tmp.Close()
			return fmt.Errorf("deployer: store %s: %w", s.path, err)
		}
		w.Write(line)
		size += int64(len(line))
	}
	err = w.Flush()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("deployer: store %s: compact: %w", s.path, err)
	}
	s.size, s.lines = size, len(s.recs)
	return nil
}

func (s *FileStore) openAppend() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	s.f = f
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Load returns every record, sorted by key.
func (s *FileStore) Load(ctx context.Context) ([]HostRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedRecords(s.recs), nil
}

// Put appends r to the journal and returns once it is synced.
func (s *FileStore) Put(ctx context.Context, r HostRecord) error {
	return s.PutBatch(ctx, []HostRecord{r})
}

// compactFactor and compactMin decide when the journal is compacted while
// open: once it has compactFactor lines per record, and compactMin lines.
const (
	compactFactor = 8
	compactMin    = 4096
)

// PutBatch appends recs to the journal and returns once they are synced.
// Concurrent calls share syncs.
func (s *FileStore) PutBatch(ctx context.Context, recs []HostRecord) error {
	buf := make([]byte, 0, 512*len(recs))
	var scratch []byte
	for _, r := range recs {
		if r.Key == "" {
			return errNoKey
		}
		var err error
		if buf, scratch, err = appendJournalLine(buf, scratch, r); err != nil {
			return fmt.Errorf("deployer: store %s: %w", s.path, err)
		}
	}
	s.mu.Lock()
	if s.f == nil {
		s.mu.Unlock()
		return fmt.Errorf("deployer: store %s: closed", s.path)
	}
	if _, err := s.f.Write(buf); err != nil {
		// Cut a partial line off, so the next batch starts on a line of
		// its own.
		if terr := s.f.Truncate(s.size); terr != nil {
			err = errors.Join(err, terr)
		}
		s.mu.Unlock()
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	s.size += int64(len(buf))
	s.lines += len(recs)
	for _, r := range recs {
		s.recs[r.Key] = r.clone()
	}
	s.written++
	gen := s.written
	compact := s.lines >= compactMin && s.lines >= compactFactor*len(s.recs)
	s.mu.Unlock()
	if compact {
		return s.recompact()
	}
	return s.syncTo(gen)
}

// recompact compacts the open journal. The new journal is synced, so every
// batch written before is durable. Locks are taken in the order syncMu, mu.
func (s *FileStore) recompact() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return fmt.Errorf("deployer: store %s: closed", s.path)
	}
	if s.synced == s.written {
		return nil // another caller compacted, or synced, after this batch
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	s.f = nil
	cerr := s.compact() // on failure the journal is the old one, unsynced
	if err := s.openAppend(); err != nil {
		return errors.Join(cerr, err)
	}
	if cerr != nil {
		if err := s.f.Sync(); err != nil {
			return errors.Join(cerr, err)
		}
	}
	s.synced = s.written
	return nil
}

// syncTo returns once the batches up to gen are synced: by a sync that
// started after they were written (this caller's, or another's).
func (s *FileStore) syncTo(gen uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced >= gen {
		return nil
	}
	s.mu.Lock()
	f, upto := s.f, s.written
	s.mu.Unlock()
	if f == nil {
		return fmt.Errorf("deployer: store %s: closed", s.path)
	}
	s.syncs++
	if err := f.Sync(); err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	s.synced = upto
	return nil
}

// Close compacts the journal, closes the file and releases the lock.
func (s *FileStore) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if cerr := s.compact(); err == nil {
		err = cerr
	}
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	return err
}
