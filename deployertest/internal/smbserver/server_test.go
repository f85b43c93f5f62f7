package smbserver

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ntStatus(err error) uint32 {
	var re *smb2.ResponseError
	switch {
	case errors.As(err, &re):
		return re.Code
	case errors.Is(err, os.ErrNotExist):
		// go-smb2 maps STATUS_OBJECT_NAME_NOT_FOUND and friends to os errors.
		return StatusObjectNameNotFound
	case errors.Is(err, os.ErrPermission):
		return StatusAccessDenied
	case errors.Is(err, os.ErrExist):
		return StatusObjectNameCollision
	}
	return 0
}

func TestGoSMB2FileOperations(t *testing.T) {
	cases := []struct {
		name    string
		dialect uint16
		sign    bool
		encrypt bool
		server  func(*Config)
	}{
		{name: "2.0.2", dialect: Dialect202},
		{name: "2.1 signed", dialect: Dialect210, sign: true},
		{name: "3.0 signed", dialect: Dialect300, sign: true},
		{name: "3.0.2 encrypted", dialect: Dialect302, encrypt: true},
		{name: "3.1.1 signed", dialect: Dialect311, sign: true},
		{name: "3.1.1 encrypted", dialect: Dialect311, encrypt: true},
		{name: "3.1.1 server requires signing", server: func(c *Config) { c.RequireSigning = true }},
		{name: "3.1.1 server requires encryption", server: func(c *Config) { c.RequireEncryption = true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.server)
			s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{
				SpecifiedDialect: tc.dialect, RequireMessageSigning: tc.sign, UseMessageEncryption: tc.encrypt})
			require.NoError(t, err)
			if tc.dialect != 0 {
				assert.Equal(t, tc.dialect, s.NegotiatedDialect())
			}
			fs, err := s.Mount(`ADMIN$`)
			require.NoError(t, err)
			defer fs.Umount()

			payload := make([]byte, 3<<20+17)
			_, _ = rand.Read(payload)
			require.NoError(t, fs.WriteFile("up.bin", payload, 0o644))
			got, err := os.ReadFile(filepath.Join(ts.admin, "up.bin"))
			require.NoError(t, err)
			require.True(t, bytes.Equal(payload, got), "server copy differs")
			back, err := fs.ReadFile("UP.BIN")
			require.NoError(t, err)
			require.True(t, bytes.Equal(payload, back), "download differs")

			st, err := fs.Stat("up.bin")
			require.NoError(t, err)
			assert.Equal(t, int64(len(payload)), st.Size())
			assert.False(t, st.IsDir())

			require.NoError(t, fs.Mkdir("sub", 0o755))
			require.NoError(t, fs.Rename("up.bin", `sub\moved.bin`))
			_, err = os.Stat(filepath.Join(ts.admin, "sub", "moved.bin"))
			require.NoError(t, err)
			ents, err := fs.ReadDir("sub")
			require.NoError(t, err)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			assert.Equal(t, []string{"moved.bin"}, names)

			require.NoError(t, fs.Remove(`sub\moved.bin`))
			require.NoError(t, fs.Remove("sub"))
			_, err = os.Stat(filepath.Join(ts.admin, "sub"))
			assert.True(t, os.IsNotExist(err))

			_, err = fs.Stat("missing.txt")
			assert.Equal(t, StatusObjectNameNotFound, ntStatus(err))

			info, err := fs.Statfs(".")
			require.NoError(t, err)
			assert.NotZero(t, info.TotalBlockCount())
		})
	}
}

func TestLogonStatuses(t *testing.T) {
	cases := []struct {
		name   string
		user   string
		pass   string
		status uint32
	}{
		{name: "wrong password", user: testUser, pass: "nope", status: StatusLogonFailure},
		{name: "unknown user", user: "nobody", pass: testPass, status: StatusLogonFailure},
		{name: "locked out", user: "locked", pass: "pw", status: StatusAccountLockedOut},
		{name: "locked out, wrong password", user: "locked", pass: "bad", status: StatusAccountLockedOut},
		{name: "disabled, wrong password", user: "disabled", pass: "bad", status: StatusLogonFailure},
		{name: "disabled", user: "disabled", pass: "pw", status: StatusAccountDisabled},
		{name: "expired", user: "expired", pass: "pw", status: StatusPasswordExpired},
	}
	ts := startServer(t, func(c *Config) {
		c.Accounts = append(c.Accounts,
			Account{User: "locked", Password: "pw", LogonStatus: StatusAccountLockedOut},
			Account{User: "disabled", Password: "pw", LogonStatus: StatusAccountDisabled},
			Account{User: "expired", Password: "pw", LogonStatus: StatusPasswordExpired})
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dialGo(t, ts.addr, tc.user, tc.pass, smb2.Negotiator{})
			require.Error(t, err)
			assert.Equal(t, tc.status, ntStatus(err), "%v", err)
		})
	}
}

func TestTreeConnectAccess(t *testing.T) {
	ts := startServer(t, nil)
	cases := []struct {
		name   string
		user   string
		pass   string
		share  string
		status uint32
	}{
		{name: "admin ADMIN$", user: testUser, pass: testPass, share: "ADMIN$"},
		{name: "admin C$", user: testUser, pass: testPass, share: "c$"},
		{name: "admin IPC$", user: testUser, pass: testPass, share: "IPC$"},
		{name: "unknown share", user: testUser, pass: testPass, share: "NOPE", status: StatusBadNetworkName},
		{name: "non-admin ADMIN$", user: "plain", pass: "plainpw", share: "ADMIN$", status: StatusAccessDenied},
		{name: "non-admin IPC$", user: "plain", pass: "plainpw", share: "IPC$"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := dialGo(t, ts.addr, tc.user, tc.pass, smb2.Negotiator{})
			require.NoError(t, err)
			fs, err := s.Mount(tc.share)
			if tc.status != 0 {
				require.Error(t, err)
				assert.Equal(t, tc.status, ntStatus(err), "%#v", err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, fs.Umount())
		})
	}
}

func TestPipeTransceive(t *testing.T) {
	ts := startServer(t, nil)
	s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{RequireMessageSigning: true})
	require.NoError(t, err)
	fs, err := s.Mount("IPC$")
	require.NoError(t, err)
	defer fs.Umount()

	_, err = fs.OpenFile("nosuchpipe", os.O_RDWR, 0)
	assert.Equal(t, StatusObjectNameNotFound, ntStatus(err))

	f, err := fs.OpenFile("svcctl", os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	msg := bytes.Repeat([]byte("abcdefgh"), 100)
	out := make([]byte, 4096)
	n, err := f.Transcieve(msg, out)
	require.NoError(t, err)
	assert.Equal(t, msg, out[:n])

	// A short read of a longer message: STATUS_BUFFER_OVERFLOW, the rest kept.
	_, err = f.Write(msg)
	require.NoError(t, err)
	small := make([]byte, 300)
	n, err = f.Read(small)
	assert.Equal(t, StatusBufferOverflow, ntStatus(err))
	_ = n
}

// TestGenericAccessMapping opens files with the generic rights go-smb2 asks
// for (GENERIC_READ for Open, GENERIC_WRITE for a write-only OpenFile) and
// checks that they grant what FILE_GENERIC_READ and FILE_GENERIC_WRITE grant
// on Windows: a read handle reads its attributes (FileAllInformation), a
// write-only handle writes but reads neither data nor attributes.
func TestGenericAccessMapping(t *testing.T) {
	ts := startServer(t, nil)
	s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{})
	require.NoError(t, err)
	fs, err := s.Mount(`ADMIN$`)
	require.NoError(t, err)
	defer fs.Umount()
	require.NoError(t, fs.WriteFile("a.txt", []byte("abc"), 0o644))

	r, err := fs.Open("a.txt")
	require.NoError(t, err)
	st, err := r.Stat()
	require.NoError(t, err, "GENERIC_READ includes FILE_READ_ATTRIBUTES")
	assert.Equal(t, int64(3), st.Size())
	require.NoError(t, r.Close())

	w, err := fs.OpenFile("a.txt", os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = w.Stat()
	assert.Equal(t, StatusAccessDenied, ntStatus(err), "FILE_GENERIC_WRITE has no FILE_READ_ATTRIBUTES: %v", err)
	_, err = w.Write([]byte("x"))
	require.NoError(t, err)
	_, err = w.ReadAt(make([]byte, 3), 0)
	assert.Equal(t, StatusAccessDenied, ntStatus(err), "%v", err)
	require.NoError(t, w.Close())
}

// TestRunningImageThroughGoSMB2 walks what an upload over a running
// service's image meets with go-smb2: Remove (which retries after a chmod)
// fails, overwriting fails, renaming the image away succeeds as on Windows,
// and the connection keeps answering. A second Logoff of a go-smb2 session
// blocks forever inside go-smb2 (its writer has stopped after the first): a
// test that both defers Logoff and registers it as a cleanup hangs there,
// not in this server.
func TestRunningImageThroughGoSMB2(t *testing.T) {
	ts := startServer(t, nil)
	image := filepath.Join(ts.admin, "svc.exe")
	require.NoError(t, os.WriteFile(image, []byte("MZ"), 0o644))
	release := ts.srv.MapImage(image)
	defer release()
	s, err := dialGo(t, ts.addr, testUser, testPass, smb2.Negotiator{})
	require.NoError(t, err)
	fs, err := s.Mount(`ADMIN$`)
	require.NoError(t, err)
	defer fs.Umount()

	err = fs.Remove("svc.exe")
	assert.ErrorIs(t, err, os.ErrPermission, "STATUS_CANNOT_DELETE: %v", err)
	_, err = fs.OpenFile("svc.exe", os.O_WRONLY|os.O_TRUNC, 0o644)
	assert.Equal(t, StatusSharingViolation, ntStatus(err), "%v", err)
	require.NoError(t, fs.Rename("svc.exe", "svc.old"))
	require.NoError(t, fs.WriteFile("svc.exe", []byte("MZ new"), 0o644))
	got, err := fs.ReadFile("svc.exe")
	require.NoError(t, err)
	assert.Equal(t, "MZ new", string(got))
	err = fs.Remove("svc.old")
	assert.ErrorIs(t, err, os.ErrPermission, "the renamed image is still mapped: %v", err)
	release()
	require.NoError(t, fs.Remove("svc.old"))
}
