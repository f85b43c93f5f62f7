package deployer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

func sampleRecord(i int, st State) HostRecord {
	code := uint32(1603)
	r := HostRecord{Key: fmt.Sprintf("pc-%04d", i), Addr: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), State: st,
		Attempts: i % 3, DeploymentID: "d" + strconv.Itoa(i), Updated: time.Unix(1700000000+int64(i), 0).UTC()}
	if st == Failed {
		r.ExitCode = &code
		r.Error = NewErrorInfo(r.Key, derrors.FromMSIExit(r.Key, code, "Return value 3"))
	}
	return r
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	open := map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemoryStore() },
		"file": func(t *testing.T) Store {
			s, err := OpenFileStore(filepath.Join(t.TempDir(), "hosts.journal"))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, mk := range open {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			require.Error(t, s.Put(ctx, HostRecord{}), "a record needs a key")
			for i, st := range States() {
				require.NoError(t, s.Put(ctx, sampleRecord(i, st)))
			}
			// Replacing a record keeps one per key.
			updated := sampleRecord(0, WithCollector)
			require.NoError(t, s.Put(ctx, updated))
			recs, err := s.Load(ctx)
			require.NoError(t, err)
			require.Len(t, recs, len(States()))
			assert.Equal(t, WithCollector, recs[0].State)
			assert.Equal(t, "pc-0000", recs[0].Key)
			// Records are copies: changing one does not change the store.
			recs[4].Error.Message = "changed"
			again, _ := s.Load(ctx)
			assert.Equal(t, "MSI error (1603)", again[4].Error.Message)
		})
	}
}

func TestFileStoreSurvivesReopenAndTornWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hosts.journal")
	s, err := OpenFileStore(path)
	require.NoError(t, err)
	for i := 0; i < 50; i++ {
		require.NoError(t, s.Put(ctx, sampleRecord(i, Installing)))
	}
	require.NoError(t, s.Put(ctx, sampleRecord(7, WithCollector)))
	require.NoError(t, s.Close())

	// A torn last write and a corrupted line, as a crash or a bad disk leaves them.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"crc":1,"rec":{"key":"pc-9999","state":"With Collector"}}` + "\n" + `{"crc":12345,"rec":{"key":"pc-0`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s2, err := OpenFileStore(path)
	require.NoError(t, err)
	assert.Equal(t, 2, s2.Dropped())
	recs, err := s2.Load(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 50)
	assert.Equal(t, WithCollector, recs[7].State)
	assert.Equal(t, Installing, recs[8].State)
	assert.Equal(t, sampleRecord(3, Installing).Updated, recs[3].Updated)

	require.NoError(t, s2.Close())

	// Open compacted the journal: the bad lines are gone from the file.
	s3, err := OpenFileStore(path)
	require.NoError(t, err)
	assert.Equal(t, 0, s3.Dropped())
	require.NoError(t, s3.Close())
}

// TestFileStoreCrash kills a writer process at a random moment, many times,
// and checks the journal always opens with every acknowledged record.
func TestFileStoreCrash(t *testing.T) {
	if os.Getenv("DEPLOYER_STORE_CRASH_CHILD") != "" {
		crashChild(os.Getenv("DEPLOYER_STORE_CRASH_CHILD"))
		return
	}
	path := filepath.Join(t.TempDir(), "hosts.journal")
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreCrash$")
		cmd.Env = append(os.Environ(), "DEPLOYER_STORE_CRASH_CHILD="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		// Wait until the child acknowledged some writes, then kill it mid-stream.
		buf := make([]byte, 64)
		acked := 0
		for acked < 20+round*10 {
			n, err := out.Read(buf)
			require.NoError(t, err)
			acked += n
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		s, err := OpenFileStore(path)
		require.NoError(t, err, "round %d", round)
		recs, err := s.Load(context.Background())
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(recs), acked, "every acknowledged Put survives (round %d)", round)
		for _, r := range recs {
			assert.NotEmpty(t, r.Key)
			assert.NotZero(t, r.State)
		}
		require.NoError(t, s.Close())
	}
}

// crashChild appends records forever, printing one byte per acknowledged Put.
func crashChild(path string) {
	s, err := OpenFileStore(path)
	if err != nil {
		os.Exit(3)
	}
	base, _ := s.Load(context.Background())
	for i := len(base); ; i++ {
		if err := s.Put(context.Background(), sampleRecord(i, Scheduled)); err != nil {
			os.Exit(4)
		}
		os.Stdout.Write([]byte{'.'})
	}
}

func TestStateNames(t *testing.T) {
	want := []string{"Discovered", "Scheduled for installation", "Installing Collector", "With Collector", "Failed", "Retrying"}
	for i, st := range States() {
		assert.Equal(t, want[i], st.String())
		b, err := st.MarshalText()
		require.NoError(t, err)
		var back State
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, st, back)
	}
	var s State
	assert.Error(t, s.UnmarshalText([]byte("Installed")))
	_, err := State(42).MarshalText()
	assert.Error(t, err)
	assert.True(t, WithCollector.Terminal())
	assert.True(t, Failed.Terminal())
	assert.False(t, Retrying.Terminal())
}

// TestFileStoreIsLocked: one FileStore per journal. A second one, in this
// process or another, is refused with a clear error naming the holder; the
// lock goes with its holder, however it ends.
func TestFileStoreIsLocked(t *testing.T) {
	if path := os.Getenv("DEPLOYER_STORE_LOCK_CHILD"); path != "" {
		s, err := OpenFileStore(path)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.Write([]byte("open\n"))
		time.Sleep(time.Minute)
		s.Close()
		return
	}
	path := filepath.Join(t.TempDir(), "hosts.journal")
	s, err := OpenFileStore(path)
	require.NoError(t, err)
	_, err = OpenFileStore(path)
	require.ErrorIs(t, err, ErrStoreInUse)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), fmt.Sprintf("process %d, this one", os.Getpid()))
	require.NoError(t, s.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreIsLocked$")
	cmd.Env = append(os.Environ(), "DEPLOYER_STORE_LOCK_CHILD="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 5)
	_, err = io.ReadFull(out, buf)
	require.NoError(t, err)
	_, err = OpenFileStore(path)
	require.ErrorIs(t, err, ErrStoreInUse, "another process holds it")
	assert.Contains(t, err.Error(), fmt.Sprintf("process %d", cmd.Process.Pid))
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	s, err = OpenFileStore(path)
	require.NoError(t, err, "the lock died with its holder")
	require.NoError(t, s.Close())
}

// TestFileStoreGroupCommit: concurrent writers share syncs, and every record
// acknowledged is in the journal after a reopen.
func TestFileStoreGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.journal")
	s, err := OpenFileStore(path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				assert.NoError(t, s.Put(context.Background(), sampleRecord(w*50+i, Failed)))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, s.PutBatch(context.Background(), []HostRecord{sampleRecord(0, WithCollector), sampleRecord(1, WithCollector)}))
	s.syncMu.Lock()
	syncs := s.syncs
	s.syncMu.Unlock()
	assert.Less(t, syncs, uint64(1600), "writers shared syncs")
	t.Logf("1,601 batches, %d syncs", syncs)
	require.NoError(t, s.Close())
	s, err = OpenFileStore(path)
	require.NoError(t, err)
	defer s.Close()
	recs, err := s.Load(context.Background())
	require.NoError(t, err)
	assert.Len(t, recs, 1600)
	assert.Equal(t, WithCollector, recs[0].State)
}

// TestFileStoreCompactsWhileOpen: a journal grown to many lines per record
// is compacted by the writes themselves, and stays whole.
func TestFileStoreCompactsWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.journal")
	s, err := OpenFileStore(path)
	require.NoError(t, err)
	for i := 0; i < compactMin+10; i++ {
		require.NoError(t, s.Put(context.Background(), sampleRecord(i%4, Scheduled)))
	}
	s.mu.Lock()
	lines := s.lines
	s.mu.Unlock()
	assert.Less(t, lines, compactMin, "compacted")
	require.NoError(t, s.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, 4, bytes.Count(b, []byte("\n")))
}

// TestJournalOfAnEarlierVersion: records written before the states and
// errors had machine names still load, with their values.
func TestJournalOfAnEarlierVersion(t *testing.T) {
	rec := `{"key":"PC-0007","state":"Failed","attempts":1,"exit_code":1603,"error":{"type":"MSI error","kind":"MSI error",` +
		`"message":"MSI error (1603)","cause":"c","solution":"s","code":"MSI 1603 ERROR_INSTALL_FAILURE","step":"msiexec",` +
		`"reason":"another installation in progress","error":"PC-0007: msiexec: MSI error (1603)"},"updated":"2026-01-01T00:00:00Z"}`
	line := fmt.Sprintf(`{"crc":%d,"rec":%s}`+"\n", crc32.ChecksumIEEE([]byte(rec)), rec)
	path := filepath.Join(t.TempDir(), "hosts.journal")
	require.NoError(t, os.WriteFile(path, []byte(line), 0o600))
	s, err := OpenFileStore(path)
	require.NoError(t, err)
	defer s.Close()
	require.Empty(t, s.Rejected())
	recs, err := s.Load(context.Background())
	require.NoError(t, err)
	require.Len(t, recs, 1)
	r := recs[0]
	assert.Equal(t, Failed, r.State)
	require.NotNil(t, r.Error)
	assert.Equal(t, derrors.MSIError, r.Error.Kind)
	assert.Equal(t, derrors.ReasonInstallInProgress, r.Error.Reason)
	assert.Equal(t, derrors.MSIExit, r.Error.CodeSpace)
	assert.EqualValues(t, 1603, r.Error.Code)
	assert.Equal(t, "ERROR_INSTALL_FAILURE", r.Error.CodeName)
	assert.Equal(t, derrors.RetryBackoff, r.Error.Retry, "derived from the kind and reason")
}

// richRecord fills every field of a record, with strings that need
// escaping.
func richRecord(i int) HostRecord {
	code := uint32(1603)
	pct := 42
	r := sampleRecord(i, Failed)
	r.Addr = "10.0.0.1"
	r.NextAttempt = time.Unix(1700000100, 123456789).UTC()
	r.DeploymentID = "abc.def-12"
	r.DeploymentPackage = &PackageIdentity{ProductCode: "{X}", ProductVersion: "1.2", SHA256: "ff"}
	r.Leftovers = []string{"a1", "b2"}
	r.Package = &PackageIdentity{UNC: `\\srv\share\x.msi`}
	r.Account = `CORP\deploy`
	r.LogonFailedAt = time.Unix(1700000200, 0).In(time.FixedZone("X", 3600))
	r.RebootNeeded = true
	r.ExitCode = &code
	r.Error.Detail = "line 1\r\n\"quoted\" <b>&amp;</b>\t\x01\x7f é \u2028 \xff end"
	r.CleanupError = NewErrorInfo(r.Key, derrors.New(r.Key, derrors.StepCleanup, derrors.ConnectionRefused, errors.New("refused")))
	r.Skipped = SkipNotRetryable
	r.Steps = []StepTiming{{Step: derrors.StepConnect, Start: time.Unix(1700000000, 5).UTC(), Duration: 1500}}
	r.Progress = &Progress{Phase: "upload", Percent: &pct, Action: "InstallFiles", Uploaded: 10, Total: 20}
	return r
}

// TestJournalEncodingIsEncodingJSON: the hand-written encoder writes what
// encoding/json reads back as the same record, for records of every shape.
func TestJournalEncodingIsEncodingJSON(t *testing.T) {
	recs := []HostRecord{{Key: "k", State: Discovered, Updated: time.Unix(0, 0).UTC()}, richRecord(1)}
	for i, st := range States() {
		recs = append(recs, sampleRecord(i, st))
	}
	for _, r := range recs {
		r.Error, r.CleanupError = r.Error.compact(), r.CleanupError.compact()
		want, err := json.Marshal(r)
		require.NoError(t, err)
		got := appendRecord(nil, &r)
		require.True(t, json.Valid(got), "%s", got)
		var a, b HostRecord
		require.NoError(t, json.Unmarshal(want, &a))
		require.NoError(t, json.Unmarshal(got, &b))
		assert.Equal(t, a, b, "%s", got)
		assert.Equal(t, string(want), string(got), "byte for byte")
	}
}

// TestJournalLinesShareABuffer: lines appended one after another to one
// batch, with one scratch buffer for the records, are each the journalLine
// encoding/json writes, and each decodes to its record.
func TestJournalLinesShareABuffer(t *testing.T) {
	recs := []HostRecord{richRecord(1), sampleRecord(2, Failed), {Key: "k", State: Discovered, Updated: time.Unix(0, 0).UTC()}}
	var batch, scratch []byte
	for _, r := range recs {
		var err error
		batch, scratch, err = appendJournalLine(batch, scratch, r)
		require.NoError(t, err)
	}
	lines := bytes.SplitAfter(batch, []byte("\n"))
	require.Len(t, lines, len(recs)+1)
	assert.Empty(t, lines[len(recs)])
	for i, r := range recs {
		r.Error, r.CleanupError = r.Error.compact(), r.CleanupError.compact()
		rec, err := json.Marshal(r)
		require.NoError(t, err)
		want, err := json.Marshal(journalLine{CRC: crc32.ChecksumIEEE(rec), Rec: rec})
		require.NoError(t, err)
		assert.Equal(t, string(want)+"\n", string(lines[i]), "line %d", i)
		got, err := decodeJournalLine(lines[i])
		require.NoError(t, err)
		assert.Equal(t, recs[i].Key, got.Key)
	}
	_, _, err := appendJournalLine(nil, nil, HostRecord{Key: "k", State: State(42)})
	assert.ErrorContains(t, err, "invalid state")
}

// FuzzJournalString: any string survives the hand-written encoder as JSON.
func FuzzJournalString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\b\f", "<>&", "\u2028\u2029", "\xff\xfe", "é漢字", "\x00\x1f\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendString(nil, s)))
	})
}
