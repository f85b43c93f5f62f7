package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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
		{"-ldap", "ldap://127.0.0.1", "-password-env", "DEPLOYER_TEST_UNSET_VARIABLE"},
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
