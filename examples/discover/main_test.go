package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCSVToJSONLines(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "hosts.csv")
	require.NoError(t, os.WriteFile(csv, []byte("\ufeffBIOS_NAME,IP_ADDRESS\r\nPC-01,10.0.0.1\r\nPC-02,\r\nPC-03,300.1.1.1\r\n"), 0o600))
	var out, errOut bytes.Buffer
	code := run([]string{"-csv", csv}, &out, &errOut)
	assert.Equal(t, 0, code, "bad lines are reported, good ones printed: %s", errOut.String())
	assert.Contains(t, errOut.String(), "3", "the bad line number is reported")

	var got []hostJSON
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var h hostJSON
		require.NoError(t, json.Unmarshal(sc.Bytes(), &h), sc.Text())
		got = append(got, h)
	}
	require.Len(t, got, 2)
	assert.Equal(t, "PC-01", got[0].Name)
	assert.Equal(t, "10.0.0.1", got[0].Addr)
	assert.Contains(t, got[0].Source, "hosts.csv")
	assert.Equal(t, "PC-02", got[1].Name)
	assert.Empty(t, got[1].Addr, "an empty address means resolve later")
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"-csv", "a.csv", "-range", "10.0.0.0/30"},
		{"-ldap", "ldap://127.0.0.1", "-ldap-password-env", "DEPLOYER_TEST_UNSET_VARIABLE"},
		{"-ldap", "ldap://127.0.0.1", "-password-env", "X"}, // the LDAP password is -ldap-password-env, as in deploy
	}
	for _, args := range cases {
		var out, errOut bytes.Buffer
		assert.Equal(t, 2, run(args, &out, &errOut), "%v", args)
		assert.Empty(t, out.String())
		assert.NotEmpty(t, errOut.String())
	}
	var out, errOut bytes.Buffer
	assert.Equal(t, 1, run([]string{"-csv", filepath.Join(t.TempDir(), "missing.csv")}, &out, &errOut))
}

// TestHelp: -h prints the usage on standard error and exits 0, as every
// example command does.
func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, run([]string{"-h"}, &out, &errOut))
	assert.Empty(t, out.String())
	assert.Contains(t, errOut.String(), "-ldap-password-env")
	assert.Contains(t, errOut.String(), "-port")
}

// TestRangeWithPort scans 127.0.0.1-127.0.0.3 on the port of a real
// listener on 127.0.0.1 (the others refuse: nothing listens there), and says
// how many hosts it found.
func TestRangeWithPort(t *testing.T) {
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
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	var out, errOut bytes.Buffer
	code := run([]string{"-range", "127.0.0.1-127.0.0.3", "-port", port, "-timeout", "1s"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	var h hostJSON
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(out.Bytes()), &h), out.String())
	assert.Equal(t, "127.0.0.1", h.Addr)
	assert.Contains(t, errOut.String(), "1 hosts found: 1 of 3 addresses answered on TCP port "+port)
}
