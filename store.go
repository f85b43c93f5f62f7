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
	"sync"
)

// Store keeps host records across runs, so a restarted Engine resumes: hosts
// already With Collector are not reinstalled, and hosts that were in flight
// are checked and cleaned up first. Implementations must be safe for
// concurrent use.
type Store interface {
	// Load returns every record.
	Load(ctx context.Context) ([]HostRecord, error)
	// Put records r, replacing any record with the same Key. When Put
	// returns, the record survives a crash of the process.
	Put(ctx context.Context, r HostRecord) error
}

// MemoryStore is a Store in memory: the default, for a run that need not
// survive a restart.
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
	if r.Key == "" {
		return errors.New("deployer: store: record without a key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[r.Key] = r.clone()
	return nil
}

func sortedRecords(m map[string]HostRecord) []HostRecord {
	out := make([]HostRecord, 0, len(m))
	for _, r := range m {
		out = append(out, r.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// FileStore is a Store in one file: a journal of records, one JSON line each
// with its CRC-32, appended and synced on every Put. A crash can leave at most
// a torn last line, which Open detects by its checksum and drops; Open then
// compacts the journal into a fresh file written beside it and renamed over
// it, so the file on disk is always either the old journal or the new one.
type FileStore struct {
	mu   sync.Mutex
	path string
	f    *os.File
	recs map[string]HostRecord
	// Dropped counts journal lines Open found torn or corrupt and ignored.
	dropped int
}

type journalLine struct {
	CRC uint32          `json:"crc"`
	Rec json.RawMessage `json:"rec"`
}

// OpenFileStore opens (or creates) the journal at path, recovering from a torn
// last write and compacting it.
func OpenFileStore(path string) (*FileStore, error) {
	s := &FileStore{path: path, recs: map[string]HostRecord{}}
	if err := s.replay(); err != nil {
		return nil, err
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("deployer: store %s: %w", path, err)
	}
	s.f = f
	return s, nil
}

// Dropped returns how many journal lines Open ignored as torn or corrupt.
func (s *FileStore) Dropped() int { return s.dropped }

func (s *FileStore) replay() error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(bytes.TrimSpace(b)) > 0 {
				s.dropped++ // a torn last write: no newline
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("deployer: store %s: line %d: %w", s.path, line, err)
		}
		rec, ok := decodeJournalLine(b)
		if !ok {
			s.dropped++
			continue
		}
		s.recs[rec.Key] = rec
	}
}

func decodeJournalLine(b []byte) (HostRecord, bool) {
	var jl journalLine
	if err := json.Unmarshal(b, &jl); err != nil || crc32.ChecksumIEEE(jl.Rec) != jl.CRC {
		return HostRecord{}, false
	}
	var rec HostRecord
	if err := json.Unmarshal(jl.Rec, &rec); err != nil || rec.Key == "" {
		return HostRecord{}, false
	}
	return rec, true
}

func encodeJournalLine(r HostRecord) ([]byte, error) {
	rec, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(journalLine{CRC: crc32.ChecksumIEEE(rec), Rec: rec})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
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
	for _, r := range sortedRecords(s.recs) {
		b, err := encodeJournalLine(r)
		if err != nil {
			tmp.Close()
			return fmt.Errorf("deployer: store %s: %w", s.path, err)
		}
		w.Write(b)
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

// Put appends r to the journal and syncs it.
func (s *FileStore) Put(ctx context.Context, r HostRecord) error {
	if r.Key == "" {
		return errors.New("deployer: store: record without a key")
	}
	b, err := encodeJournalLine(r)
	if err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return fmt.Errorf("deployer: store %s: closed", s.path)
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("deployer: store %s: %w", s.path, err)
	}
	s.recs[r.Key] = r.clone()
	return nil
}

// Close compacts the journal and closes the file.
func (s *FileStore) Close() error {
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
	return err
}
