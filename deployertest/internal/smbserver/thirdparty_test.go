package smbserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
)

// runTool runs a third-party client with a deadline and returns its output.
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return h, p
}

func TestSmbclientPutGet(t *testing.T) {
	lab.Require(t, "smbclient")
	cases := []struct {
		name    string
		args    []string
		server  func(*Config)
		dialect uint16
		signed  bool
		sealed  bool
	}{
		{name: "default", dialect: Dialect311},
		{name: "SMB2_02", args: []string{"-m", "SMB2_02"}, dialect: Dialect202},
		{name: "SMB2_10", args: []string{"-m", "SMB2_10"}, dialect: Dialect210},
		{name: "SMB3_00", args: []string{"-m", "SMB3_00"}, dialect: Dialect300},
		{name: "SMB3_02", args: []string{"-m", "SMB3_02"}, dialect: Dialect302},
		{name: "SMB3_11", args: []string{"-m", "SMB3_11"}, dialect: Dialect311},
		{name: "client signs 2.1", args: []string{"--client-protection=sign", "-m", "SMB2_10"}, dialect: Dialect210, signed: true},
		{name: "client signs", args: []string{"--client-protection=sign"}, dialect: Dialect311, signed: true},
		{name: "client encrypts", args: []string{"--client-protection=encrypt"}, dialect: Dialect311, sealed: true},
		{name: "client encrypts 3.0", args: []string{"--client-protection=encrypt", "-m", "SMB3_00"}, dialect: Dialect300, sealed: true},
		{name: "server requires signing", server: func(c *Config) { c.RequireSigning = true }, dialect: Dialect311, signed: true},
		{name: "server requires encryption", server: func(c *Config) { c.RequireEncryption = true }, dialect: Dialect311, sealed: true},
		{name: "ADMIN$ encrypted share", server: func(c *Config) {
			for i := range c.Shares {
				c.Shares[i].EncryptData = c.Shares[i].Name == "ADMIN$"
			}
		}, dialect: Dialect311, sealed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.server)
			ip, port := hostPort(t, ts.addr)
			local := t.TempDir()
			src := filepath.Join(local, "f.bin")
			data := make([]byte, 5<<20+123)
			_, _ = rand.Read(data)
			require.NoError(t, os.WriteFile(src, data, 0o644))
			dst := filepath.Join(local, "back.bin")
			args := append([]string{"//" + ip + "/ADMIN$", "-p", port, "-U", testUser + "%" + testPass,
				"-c", "put " + src + " x.bin; ls; get x.bin " + dst}, tc.args...)
			out, err := runTool(t, "smbclient", args...)
			require.NoError(t, err, out)
			assert.Contains(t, out, "x.bin")
			assert.NotContains(t, out, "NT_STATUS_")
			onServer, err := os.ReadFile(filepath.Join(ts.admin, "x.bin"))
			require.NoError(t, err, out)
			assert.True(t, bytes.Equal(data, onServer), "uploaded bytes differ")
			back, err := os.ReadFile(dst)
			require.NoError(t, err, out)
			assert.True(t, bytes.Equal(data, back), "downloaded bytes differ")
			st := ts.srv.Stats()
			assert.Equal(t, tc.dialect, st.LastDialect)
			if tc.signed {
				assert.NotZero(t, st.SignedRequests, "no signed request seen")
			}
			if tc.sealed {
				assert.NotZero(t, st.EncryptedRequests, "no encrypted request seen")
			}
		})
	}
}

func TestSmbclientErrors(t *testing.T) {
	lab.Require(t, "smbclient")
	ts := startServer(t, nil)
	ip, port := hostPort(t, ts.addr)
	cases := []struct {
		name  string
		share string
		cred  string
		want  string
	}{
		{name: "wrong password", share: "ADMIN$", cred: testUser + "%wrong", want: "NT_STATUS_LOGON_FAILURE"},
		{name: "unknown user", share: "ADMIN$", cred: "ghost%" + testPass, want: "NT_STATUS_LOGON_FAILURE"},
		{name: "unknown share", share: "NOSUCH", cred: testUser + "%" + testPass, want: "NT_STATUS_BAD_NETWORK_NAME"},
		{name: "non-admin on ADMIN$", share: "ADMIN$", cred: "plain%plainpw", want: "NT_STATUS_ACCESS_DENIED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTool(t, "smbclient", "//"+ip+"/"+tc.share, "-p", port, "-U", tc.cred, "-c", "ls")
			require.Error(t, err, out)
			assert.True(t, strings.Contains(out, tc.want), out)
		})
	}
}

// impacketScript logs on, uploads src to ADMIN$\name, downloads it to dst
// and prints the negotiated dialect; argv: host port user pass dialect src dst name.
const impacketScript = `
import sys
from impacket.smbconnection import SMBConnection
from impacket.smb3structs import SMB2_DIALECT_002, SMB2_DIALECT_21, SMB2_DIALECT_30, SMB2_DIALECT_311
host, port, user, pw, dialect, src, dst, name = sys.argv[1:9]
pref = {"": None, "202": SMB2_DIALECT_002, "210": SMB2_DIALECT_21, "300": SMB2_DIALECT_30, "311": SMB2_DIALECT_311}[dialect]
c = SMBConnection(host, host, sess_port=int(port), preferredDialect=pref, timeout=30)
try:
    c.login(user, pw)
except Exception as e:
    print("LOGIN-ERROR", e)
    sys.exit(3)
print("DIALECT %#x" % c.getDialect())
with open(src, "rb") as f:
    c.putFile("ADMIN$", name, f.read)
with open(dst, "wb") as f:
    c.getFile("ADMIN$", name, f.write)
print("FILES", " ".join(sorted(x.get_longname() for x in c.listPath("ADMIN$", "*"))))
c.deleteFile("ADMIN$", name)
c.logoff()
print("OK")
`

func TestImpacketPutGet(t *testing.T) {
	lab.Require(t, "impacket")
	cases := []struct {
		name    string
		dialect string
		want    string
		pass    string
		server  func(*Config)
		fail    string
	}{
		// impacket 0.10 offers at most 3.0 unless a dialect is preferred.
		{name: "default", want: "DIALECT 0x300"},
		{name: "2.0.2", dialect: "202", want: "DIALECT 0x202"},
		{name: "2.1", dialect: "210", want: "DIALECT 0x210"},
		{name: "3.0", dialect: "300", want: "DIALECT 0x300"},
		// impacket 0.10 seeds the 3.1.1 session preauth hash with zeros, so its
		// signatures fail and TREE_CONNECT gets STATUS_ACCESS_DENIED, exactly
		// as against Windows 10 (fortra/impacket#1370).
		{name: "3.1.1 impacket bug as on Windows", dialect: "311", fail: "STATUS_ACCESS_DENIED"},
		{name: "signing required", dialect: "210", want: "DIALECT 0x210", server: func(c *Config) { c.RequireSigning = true }},
		{name: "max dialect 2.1", want: "DIALECT 0x210", server: func(c *Config) { c.MaxDialect = Dialect210 }},
		{name: "wrong password", pass: "bad", fail: "STATUS_LOGON_FAILURE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.server)
			ip, port := hostPort(t, ts.addr)
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.bin")
			data := make([]byte, 2<<20+7)
			_, _ = rand.Read(data)
			require.NoError(t, os.WriteFile(src, data, 0o644))
			pass := testPass
			if tc.pass != "" {
				pass = tc.pass
			}
			out, err := runTool(t, "/usr/bin/python3", "-c", impacketScript, ip, port, testUser, pass, tc.dialect, src, dst, "imp.bin")
			if tc.fail != "" {
				require.Error(t, err, out)
				assert.Contains(t, out, tc.fail)
				return
			}
			require.NoError(t, err, out)
			assert.Contains(t, out, tc.want)
			assert.Contains(t, out, "FILES . .. imp.bin")
			assert.Contains(t, out, "OK")
			back, err := os.ReadFile(dst)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, back), "downloaded bytes differ")
			_, err = os.Stat(filepath.Join(ts.admin, "imp.bin"))
			assert.True(t, os.IsNotExist(err), "deleteFile left the file")
		})
	}
}
