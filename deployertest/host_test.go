package deployertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/internal/smbserver"
)

// logon dials addr and authenticates with go-smb2.fork.
func logon(t *testing.T, addr, user, pass string, neg smb2.Negotiator) (*smb2.Session, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	d := &smb2.Dialer{Negotiator: neg, Initiator: &smb2.NTLMInitiator{User: user, Password: pass}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := d.DialContext(ctx, nc)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = s.Logoff() })
	return s, nil
}

func status(err error) uint32 {
	var re *smb2.ResponseError
	switch {
	case errors.As(err, &re):
		return re.Code
	case errors.Is(err, os.ErrNotExist):
		return smbserver.StatusObjectNameNotFound
	case errors.Is(err, os.ErrPermission):
		return smbserver.StatusAccessDenied
	}
	return 0
}

func TestHostUpload(t *testing.T) {
	h := Start(t, WithListenAddress("127.10.200.1:0"), WithCredentials("admin", "pw1"))
	assert.Equal(t, "127.10.200.1", h.IP)
	s, err := logon(t, h.Addr, h.User, h.Password, smb2.Negotiator{RequireMessageSigning: true})
	require.NoError(t, err)
	fs, err := s.Mount("ADMIN$")
	require.NoError(t, err)
	data := []byte("MZ payload")
	require.NoError(t, fs.WriteFile(`Temp\svc.exe`, data, 0o644))
	got, err := os.ReadFile(filepath.Join(h.AdminDir, "Temp", "svc.exe"))
	require.NoError(t, err)
	assert.Equal(t, data, got)
	c, err := s.Mount("C$")
	require.NoError(t, err)
	st, err := c.Stat(`Windows\Temp\svc.exe`)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), st.Size())
}

func TestHostKnobs(t *testing.T) {
	cases := []struct {
		name       string
		opts       []Option
		neg        smb2.Negotiator
		logon      uint32
		share      string
		treeStatus uint32
	}{
		{name: "default", share: "ADMIN$"},
		{name: "locked out", opts: []Option{WithAccountLockedOut()}, logon: smbserver.StatusAccountLockedOut},
		{name: "disabled", opts: []Option{WithAccountDisabled()}, logon: smbserver.StatusAccountDisabled},
		{name: "password expired", opts: []Option{WithPasswordExpired()}, logon: smbserver.StatusPasswordExpired},
		{name: "ADMIN$ missing", opts: []Option{WithoutAdminShare()}, share: "ADMIN$", treeStatus: smbserver.StatusBadNetworkName},
		{name: "UAC remote restrictions", opts: []Option{WithUACRemoteRestrictions()}, share: "ADMIN$", treeStatus: smbserver.StatusAccessDenied},
		{name: "UAC keeps IPC$", opts: []Option{WithUACRemoteRestrictions()}, share: "IPC$"},
		{name: "guest only", opts: []Option{WithGuestOnly()}, share: "ADMIN$", treeStatus: smbserver.StatusAccessDenied},
		{name: "signing required", opts: []Option{WithSigningRequired()}, share: "ADMIN$"},
		{name: "encryption required", opts: []Option{WithEncryptionRequired()}, share: "ADMIN$"},
		{name: "encryption required refuses 2.1", opts: []Option{WithEncryptionRequired()},
			neg: smb2.Negotiator{SpecifiedDialect: smbserver.Dialect210}, logon: smbserver.StatusAccessDenied},
		{name: "max dialect 2.0.2", opts: []Option{WithMaxDialect(smbserver.Dialect202)}, share: "ADMIN$"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := Start(t, tc.opts...)
			s, err := logon(t, h.Addr, h.User, h.Password, tc.neg)
			if tc.logon != 0 {
				require.Error(t, err)
				assert.Equal(t, tc.logon, status(err), "%v", err)
				return
			}
			require.NoError(t, err)
			fs, err := s.Mount(tc.share)
			if tc.treeStatus != 0 {
				require.Error(t, err)
				assert.Equal(t, tc.treeStatus, status(err), "%v", err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, fs.Umount())
		})
	}
}

func TestHostNTHashAndUsers(t *testing.T) {
	h := Start(t, WithNTHash("hashed", smbserver.NTHash("from-hash")), WithUsers(User{Name: "op", Password: "oppw"}))
	_, err := logon(t, h.Addr, "hashed", "from-hash", smb2.Negotiator{})
	require.NoError(t, err)
	s, err := logon(t, h.Addr, "op", "oppw", smb2.Negotiator{})
	require.NoError(t, err)
	_, err = s.Mount("C$")
	assert.Equal(t, smbserver.StatusAccessDenied, status(err))
}

func TestHostQuarantine(t *testing.T) {
	cases := []struct {
		name string
		mode AVMode
	}{
		{name: "deleted", mode: AVDelete},
		{name: "blocked", mode: AVBlock},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := Start(t, WithQuarantine(tc.mode, 50*time.Millisecond))
			s, err := logon(t, h.Addr, h.User, h.Password, smb2.Negotiator{})
			require.NoError(t, err)
			fs, err := s.Mount("ADMIN$")
			require.NoError(t, err)
			require.NoError(t, fs.WriteFile("ok.txt", []byte("text"), 0o644))
			require.NoError(t, fs.WriteFile("bad.exe", []byte("MZ"), 0o644))
			path := filepath.Join(h.AdminDir, "bad.exe")
			require.Eventually(t, func() bool {
				if tc.mode == AVDelete {
					_, err := fs.Stat("bad.exe")
					_, serr := os.Stat(path)
					return os.IsNotExist(serr) && errors.Is(err, os.ErrNotExist)
				}
				_, err := fs.ReadFile("bad.exe")
				return status(err) == smbserver.StatusVirusInfected
			}, 10*time.Second, 20*time.Millisecond)
			_, err = fs.Stat("ok.txt")
			require.NoError(t, err)
			if tc.mode == AVBlock {
				// Its content stays blocked, but the file can be deleted.
				require.NoError(t, fs.Remove("bad.exe"))
				assert.NoFileExists(t, path)
			}
		})
	}
}

func TestHostDropAfterBytes(t *testing.T) {
	h := Start(t, WithDropAfterBytes(256<<10))
	s, err := logon(t, h.Addr, h.User, h.Password, smb2.Negotiator{})
	require.NoError(t, err)
	fs, err := s.Mount("ADMIN$")
	require.NoError(t, err)
	big := make([]byte, 4<<20)
	_, _ = rand.Read(big)
	err = fs.WriteFile("big.bin", big, 0o644)
	require.Error(t, err)
	got, _ := os.ReadFile(filepath.Join(h.AdminDir, "big.bin"))
	assert.Less(t, len(got), len(big))
}

func TestHostLatency(t *testing.T) {
	const d = 40 * time.Millisecond
	h := Start(t, WithLatency(d))
	s, err := logon(t, h.Addr, h.User, h.Password, smb2.Negotiator{})
	require.NoError(t, err)
	fs, err := s.Mount("ADMIN$")
	require.NoError(t, err)
	start := time.Now()
	_, err = fs.Stat(".")
	require.NoError(t, err)
	// A lower bound only: every response waits d before it is sent.
	assert.GreaterOrEqual(t, time.Since(start), d)
}

func TestHostCloseRemovesRoot(t *testing.T) {
	h, err := New()
	require.NoError(t, err)
	require.NoError(t, h.Close())
	require.NoError(t, h.Close())
	_, err = os.Stat(h.CDir)
	assert.True(t, os.IsNotExist(err))
	_, err = net.DialTimeout("tcp", h.Addr, time.Second)
	assert.Error(t, err)
}

func TestFleet(t *testing.T) {
	f, err := NewFleet(40, WithCredentials("fleet", "fleetpw"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	seen := map[string]bool{}
	for _, h := range f.Hosts {
		seen[h.IP] = true
	}
	assert.Len(t, seen, 40)
	for _, i := range []int{0, 17, 39} {
		h := f.Hosts[i]
		assert.Equal(t, FleetAddress(i), h.IP)
		s, err := logon(t, h.Addr, "fleet", "fleetpw", smb2.Negotiator{})
		require.NoError(t, err)
		fs, err := s.Mount("ADMIN$")
		require.NoError(t, err)
		require.NoError(t, fs.WriteFile("x.txt", []byte(h.Name), 0o644))
		got, err := os.ReadFile(filepath.Join(h.AdminDir, "x.txt"))
		require.NoError(t, err)
		assert.True(t, bytes.Equal([]byte(h.Name), got))
	}
}

func TestFleetCommonPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	f, err := NewFleet(3, WithPort(port))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	for i, addr := range f.Addrs() {
		assert.Equal(t, net.JoinHostPort(FleetAddress(i), strconv.Itoa(port)), addr)
		_, err := logon(t, addr, DefaultUser, DefaultPassword, smb2.Negotiator{})
		require.NoError(t, err)
	}
}
