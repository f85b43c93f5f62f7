package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	deployer "github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return strconv.Itoa(port)
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func runProbe(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		objs = append(objs, m)
	}
	return objs
}

func TestUsageErrors(t *testing.T) {
	e := env(map[string]string{"PW": "secret"})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no user", []string{"-password-env", "PW", "h"}, "-user is required"},
		{"no password env", []string{"-user", "u", "h"}, "-password-env is required"},
		{"empty password env", []string{"-user", "u", "-password-env", "NOPE", "h"}, "NOPE is empty"},
		{"password flag refused", []string{"-user", "u", "-password", "x", "h"}, "flag provided but not defined"},
		{"no hosts", []string{"-user", "u", "-password-env", "PW"}, "no hosts"},
		{"missing csv", []string{"-user", "u", "-password-env", "PW", "-csv", "/nonexistent.csv"}, "no such file"},
		{"kerberos options without -kerberos", []string{"-user", "u", "-password-env", "PW", "-kdc", "dc1", "h"}, "need -kerberos"},
		{"ccache without -kerberos", []string{"-user", "u", "-ccache", "/tmp/cc", "h"}, "-password-env is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runProbe(t, e, tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tt.want)
			assert.NotContains(t, errOut, "secret")
		})
	}
}

func TestJSONForUnreachableHosts(t *testing.T) {
	port := closedPort(t)
	csv := filepath.Join(t.TempDir(), "hosts.csv")
	require.NoError(t, os.WriteFile(csv, []byte("BIOS_NAME,IP_ADDRESS\nPC1,127.0.0.1\nbad name!,x\n"), 0o644))
	code, out, errOut := runProbe(t, env(map[string]string{"PW": "secret"}),
		"-user", "Administrator", "-password-env", "PW", "-port", port, "-timeout", "1s", "-json", "-csv", csv, "127.0.0.1")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "probing the 2 valid hosts")
	objs := decodeLines(t, out)
	require.Len(t, objs, 2)
	hosts := []string{}
	for _, o := range objs {
		hosts = append(hosts, o["host"].(string))
		assert.Equal(t, false, o["ok"])
		assert.Equal(t, false, o["admin"])
		steps := o["steps"].([]any)
		require.Len(t, steps, 2)
		assert.Equal(t, "resolve", steps[0].(map[string]any)["name"])
		connect := steps[1].(map[string]any)
		assert.Equal(t, "connect", connect["name"])
		assert.Equal(t, "connection refused", connect["error"])
		assert.Contains(t, connect, "duration_ms")
		e := o["error"].(map[string]any)
		assert.Equal(t, "Network error", e["type"])
		assert.Equal(t, "connection refused", e["message"])
		assert.Equal(t, "connect", e["step"])
		assert.NotEmpty(t, e["cause"])
		assert.NotEmpty(t, e["solution"])
	}
	assert.ElementsMatch(t, []string{"PC1", "127.0.0.1"}, hosts)
	assert.NotContains(t, out, "secret")
}

// TestFailureAfterConnect: a host that accepts the TCP connection and then
// closes it fails at negotiate; the JSON keeps the address connected to, and
// its error has the shape of deploy's events' error (deployer.ErrorInfo).
func TestFailureAfterConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	code, out, errOut := runProbe(t, env(map[string]string{"PW": "secret"}),
		"-user", "u", "-password-env", "PW", "-port", strconv.Itoa(int(ap.Port())), "-timeout", "2s", "-json", "127.0.0.1")
	assert.Equal(t, exitFailed, code, errOut)
	o := decodeLines(t, out)[0]
	assert.Equal(t, ap.String(), o["addr"])
	errObj := o["error"].(map[string]any)
	assert.Equal(t, "negotiate", errObj["step"])
	want, err := json.Marshal(deployer.NewErrorInfo("127.0.0.1", derrors.New("127.0.0.1", derrors.StepNegotiate, derrors.ConnectionRefused, errors.New("x"))))
	require.NoError(t, err)
	var wantObj map[string]any
	require.NoError(t, json.Unmarshal(want, &wantObj))
	for k := range wantObj {
		if k != "reason" {
			assert.Contains(t, errObj, k, "the ErrorInfo's %q", k)
		}
	}

	code, out, _ = runProbe(t, env(map[string]string{"PW": "secret"}),
		"-user", "u", "-password-env", "PW", "-port", strconv.Itoa(int(ap.Port())), "-timeout", "2s", "127.0.0.1")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, ap.String())
}

// TestCauseNamesThePort: a host that refuses the connection on the port
// given with -port is explained with that port, not the table's 445.
func TestCauseNamesThePort(t *testing.T) {
	port := closedPort(t)
	code, out, errOut := runProbe(t, env(map[string]string{"PW": "secret"}),
		"-user", "u", "-password-env", "PW", "-port", port, "-timeout", "2s", "-json", "127.0.0.1")
	assert.Equal(t, exitFailed, code, errOut)
	errObj := decodeLines(t, out)[0]["error"].(map[string]any)
	assert.Contains(t, errObj["cause"], "TCP port "+port)
	assert.Contains(t, errObj["solution"], "(TCP "+port+")")
	assert.NotContains(t, out, "(TCP 445)")
	assert.NotContains(t, out, "TCP port 445 ")
}

func TestTableOutput(t *testing.T) {
	code, out, _ := runProbe(t, env(map[string]string{"PW": "secret"}),
		"-user", "u", "-password-env", "PW", "-port", closedPort(t), "127.0.0.1")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, "FAIL  127.0.0.1")
	assert.Contains(t, out, "connection refused at connect")
	assert.Contains(t, out, "solution: ")
}

// TestKerberosNeedsAName runs -kerberos end to end for a host known only by
// its address: no ticket can be asked for it, and the JSON says so before
// any packet is sent.
func TestKerberosNeedsAName(t *testing.T) {
	code, out, errOut := runProbe(t, env(map[string]string{"PW": "secret"}),
		"-kerberos", "-user", "u", "-domain", "corp.example.com", "-password-env", "PW", "-json", "192.0.2.7")
	assert.Equal(t, exitFailed, code, errOut)
	o := decodeLines(t, out)[0]
	errObj := o["error"].(map[string]any)
	assert.Equal(t, "logon failure", errObj["message"])
	assert.Equal(t, "logon", errObj["step"])
	assert.Contains(t, errObj["cause"], "KDC_ERR_S_PRINCIPAL_UNKNOWN")
	assert.Contains(t, errObj["solution"], "fully qualified DNS name")
	assert.NotContains(t, out+errOut, "secret")
}

func TestAgainstSamba(t *testing.T) {
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	h := n.AddHost(t, "pc")
	s := h.StartSamba(t, lab.SambaOptions{SigningMandatory: true, EncryptionRequired: true, MinSMB311: true})
	// The command dials from the test's namespace: reach smbd through a
	// loopback proxy into the lab's client namespace.
	proxy := lab.StartDelayProxy(t, netip.AddrPortFrom(s.Addr, 445).String(), 0, n.DialContext)
	ap := netip.MustParseAddrPort(proxy.Addr())
	e := env(map[string]string{"NXPASS": s.AdminPassword, "BADPASS": "wrong"})
	args := []string{"-user", s.AdminUser, "-domain", s.Workgroup, "-port", strconv.Itoa(int(ap.Port())),
		"-timeout", "2s", "-request-timeout", "20s", "-json", "-write-test"}

	code, out, errOut := runProbe(t, e, append(append([]string{}, args...), "-password-env", "NXPASS", ap.Addr().String())...)
	require.Equal(t, exitOK, code, "%s\n%s", out, errOut)
	o := decodeLines(t, out)[0]
	assert.Equal(t, true, o["ok"])
	assert.Equal(t, true, o["admin"])
	assert.Equal(t, "3.1.1", o["dialect"])
	assert.Equal(t, true, o["signing"])
	assert.Equal(t, true, o["encryption"])
	assert.True(t, strings.HasPrefix(o["os"].(string), "Windows "))
	assert.NotContains(t, o, "error")
	assert.Len(t, o["steps"], 8, "only the verdict's steps")
	assert.NotContains(t, o, "shares")
	assert.NotContains(t, out, s.AdminPassword)

	code, out, errOut = runProbe(t, e, append(append([]string{"-inventory"}, args...), "-password-env", "NXPASS", ap.Addr().String())...)
	require.Equal(t, exitOK, code, "%s\n%s", out, errOut)
	o = decodeLines(t, out)[0]
	assert.Len(t, o["steps"], 10, "with the shares and the free space")
	assert.Contains(t, o["shares"], "ADMIN$")

	start := time.Now()
	code, out, _ = runProbe(t, e, append(append([]string{}, args...), "-password-env", "BADPASS", ap.Addr().String())...)
	assert.Equal(t, exitFailed, code)
	o = decodeLines(t, out)[0]
	errObj := o["error"].(map[string]any)
	assert.Equal(t, "logon failure", errObj["message"])
	assert.Equal(t, "STATUS_LOGON_FAILURE", errObj["code_name"])
	assert.EqualValues(t, 0xC000006D, errObj["code"])
	assert.Equal(t, "logon", errObj["step"])
	assert.Equal(t, "logon_failure", errObj["kind"])
	assert.Equal(t, ap.String(), o["addr"], "a failure after connect keeps the address")
	assert.Less(t, time.Since(start), 10*time.Second)
}

// TestHelp: -h prints the usage on standard error and exits 0, as every
// example command does.
func TestHelp(t *testing.T) {
	code, out, errOut := runProbe(t, env(nil), "-h")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "-password-env")
}
