package smbserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

func TestConcurrentWriteAt64MiB(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireSigning = true })
	s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{RequireMessageSigning: true})
	require.NoError(t, err)
	fs, err := s.Mount("ADMIN$")
	require.NoError(t, err)
	defer fs.Umount()

	const size, chunk = 64 << 20, 1 << 20
	data := make([]byte, size)
	_, _ = rand.Read(data)
	f, err := fs.Create("big.bin")
	require.NoError(t, err)
	var g errgroup.Group
	g.SetLimit(8)
	for off := 0; off < size; off += chunk {
		g.Go(func() error {
			n, err := f.WriteAt(data[off:off+chunk], int64(off))
			if err == nil && n != chunk {
				err = fmt.Errorf("short write %d at %d", n, off)
			}
			return err
		})
	}
	require.NoError(t, g.Wait())
	require.NoError(t, f.Close())
	got, err := os.ReadFile(filepath.Join(ts.admin, "big.bin"))
	require.NoError(t, err)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got))

	// Read it back with 8 concurrent ReadAt calls.
	r, err := fs.Open("big.bin")
	require.NoError(t, err)
	defer r.Close()
	back := make([]byte, size)
	for off := 0; off < size; off += chunk {
		g.Go(func() error {
			n, err := r.ReadAt(back[off:off+chunk], int64(off))
			if err == nil && n != chunk {
				err = fmt.Errorf("short read %d at %d", n, off)
			}
			return err
		})
	}
	require.NoError(t, g.Wait())
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(back))
}

// BenchmarkConcurrentWriteAt measures 8 concurrent 1 MiB WriteAt calls of
// go-smb2.fork against the server over loopback, signing required.
func BenchmarkConcurrentWriteAt(b *testing.B) {
	ts := startServer(b, func(c *Config) { c.RequireSigning = true })
	s, err := dialGo(b, ts.addr, testUser, testPass, smb2.Negotiator{RequireMessageSigning: true})
	require.NoError(b, err)
	fs, err := s.Mount("ADMIN$")
	require.NoError(b, err)
	defer fs.Umount()
	const size, chunk = 32 << 20, 1 << 20
	data := make([]byte, size)
	_, _ = rand.Read(data)
	b.SetBytes(size)
	for b.Loop() {
		f, err := fs.Create("bench.bin")
		require.NoError(b, err)
		var g errgroup.Group
		g.SetLimit(8)
		for off := 0; off < size; off += chunk {
			g.Go(func() error {
				_, err := f.WriteAt(data[off:off+chunk], int64(off))
				return err
			})
		}
		require.NoError(b, g.Wait())
		require.NoError(b, f.Close())
	}
}

func TestManyConnections(t *testing.T) {
	ts := startServer(t, nil)
	var g errgroup.Group
	for i := range 24 {
		g.Go(func() error {
			nc, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
			if err != nil {
				return err
			}
			d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: testUser, Password: testPass}}
			s, err := d.DialContext(context.Background(), nc)
			if err != nil {
				_ = nc.Close()
				return err
			}
			defer s.Logoff()
			fs, err := s.Mount("C$")
			if err != nil {
				return err
			}
			defer fs.Umount()
			name := fmt.Sprintf("f%02d.txt", i)
			if err := fs.WriteFile(name, []byte(name), 0o644); err != nil {
				return err
			}
			got, err := fs.ReadFile(name)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, []byte(name)) {
				return fmt.Errorf("%s: got %q", name, got)
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	assert.GreaterOrEqual(t, ts.srv.Stats().Connections, uint64(24))
}

func TestPathSafety(t *testing.T) {
	ts := startServer(t, nil)
	outside := filepath.Join(filepath.Dir(ts.cdir), "secret.txt")
	require.NoError(t, os.WriteFile(outside, []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(ts.admin, "link.txt")))
	require.NoError(t, os.Symlink(filepath.Dir(ts.cdir), filepath.Join(ts.admin, "linkdir")))
	s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{})
	require.NoError(t, err)
	fs, err := s.Mount("ADMIN$")
	require.NoError(t, err)
	defer fs.Umount()
	for _, name := range []string{`..\secret.txt`, `..\..\secret.txt`, `sub\..\..\secret.txt`, `link.txt`, `linkdir\secret.txt`} {
		t.Run(name, func(t *testing.T) {
			_, err := fs.ReadFile(name)
			require.Error(t, err)
			err = fs.WriteFile(name, []byte("pwned"), 0o644)
			require.Error(t, err)
			got, err := os.ReadFile(outside)
			require.NoError(t, err)
			assert.Equal(t, "secret", string(got))
		})
	}
	// C$ sees ADMIN$'s files under Windows\, within its own root.
	c, err := s.Mount("C$")
	require.NoError(t, err)
	require.NoError(t, fs.WriteFile("in.txt", []byte("x"), 0o644))
	_, err = c.Stat(`Windows\in.txt`)
	require.NoError(t, err)
}

func TestCreateDispositions(t *testing.T) {
	ts := startServer(t, nil)
	s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{})
	require.NoError(t, err)
	fs, err := s.Mount("ADMIN$")
	require.NoError(t, err)
	defer fs.Umount()
	require.NoError(t, fs.WriteFile("a.txt", []byte("hello world"), 0o644))

	_, err = fs.OpenFile("a.txt", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	assert.Equal(t, StatusObjectNameCollision, ntStatus(err), "%v", err)

	f, err := fs.OpenFile("a.txt", os.O_RDWR|os.O_TRUNC, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	st, err := os.Stat(filepath.Join(ts.admin, "a.txt"))
	require.NoError(t, err)
	assert.Zero(t, st.Size())

	_, err = fs.OpenFile(`nodir\b.txt`, os.O_RDWR|os.O_CREATE, 0o644)
	require.Error(t, err)

	require.NoError(t, fs.Mkdir("d", 0o755))
	require.NoError(t, fs.WriteFile(`d\x`, nil, 0o644))
	err = fs.Remove("d")
	require.Error(t, err, "non-empty directory removed")
	require.NoError(t, fs.Truncate("a.txt", 1000))
	st, err = os.Stat(filepath.Join(ts.admin, "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, int64(1000), st.Size())
	mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	require.NoError(t, fs.Chtimes("a.txt", mt, mt))
	st, err = os.Stat(filepath.Join(ts.admin, "a.txt"))
	require.NoError(t, err)
	assert.True(t, st.ModTime().Equal(mt), "mtime %v", st.ModTime())
}

func TestPipeAsyncReadAndCancel(t *testing.T) {
	ts := startServer(t, nil)
	s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{RequireMessageSigning: true})
	require.NoError(t, err)
	fs, err := s.Mount("IPC$")
	require.NoError(t, err)
	defer fs.Umount()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	f, err := fs.WithContext(ctx).OpenFile("echo", os.O_RDWR, 0)
	require.NoError(t, err)
	buf := make([]byte, 64)
	// Nothing was written: the read goes async (STATUS_PENDING) and the
	// client gives up (go-smb2 sends no CANCEL; CLOSE ends the pending read).
	// The server ends the pending read when the session logs off.
	_, err = f.Read(buf)
	require.Error(t, err)

	g, err := fs.OpenFile("echo", os.O_RDWR, 0)
	require.NoError(t, err)
	defer g.Close()
	msg := bytes.Repeat([]byte("0123456789"), 50)
	_, err = g.Write(msg)
	require.NoError(t, err)
	head := make([]byte, 100)
	_, err = g.Read(head)
	assert.Equal(t, StatusBufferOverflow, ntStatus(err))
	rest := make([]byte, 1000)
	n, err := g.Read(rest)
	require.NoError(t, err)
	assert.Equal(t, msg[100:], rest[:n], "the tail of the message is kept for the next read")
}

func TestGuestOnly(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.GuestOnly = true })
	s, err := dialGo(t, ts.addr, "anyone", "anything", smb2.Negotiator{})
	require.NoError(t, err)
	_, err = s.Mount("ADMIN$")
	assert.Equal(t, StatusAccessDenied, ntStatus(err))
	fs, err := s.Mount("IPC$")
	require.NoError(t, err)
	require.NoError(t, fs.Umount())
}
