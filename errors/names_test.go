package errors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

// TestMachineNames: every kind, reason, retry class and code space has a
// distinct, stable machine name that marshals and reads back.
func TestMachineNames(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range derrors.Kinds() {
		n := k.Name()
		assert.Regexp(t, `^[a-z0-9_]+$`, n)
		assert.False(t, seen[n], "%s twice", n)
		seen[n] = true
		b, err := json.Marshal(k)
		require.NoError(t, err)
		var back derrors.Kind
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, k, back)
	}
	assert.Equal(t, "logon_failure", derrors.LogonFailure.Name())
	for _, r := range derrors.Reasons() {
		b, _ := r.MarshalText()
		assert.NotEmpty(t, b, "%v has a machine name", r)
	}
	for _, r := range derrors.Reasons() {
		n := r.Name()
		assert.Regexp(t, `^[a-z0-9_]+$`, n, "%v", r)
		assert.False(t, seen[n], "%s twice", n)
		seen[n] = true
		var back derrors.Reason
		b, err := r.MarshalText()
		require.NoError(t, err)
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, r, back)
	}
	for _, c := range []derrors.RetryClass{derrors.NoRetry, derrors.RetryLater, derrors.RetryBackoff} {
		b, err := c.MarshalText()
		require.NoError(t, err)
		var back derrors.RetryClass
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, c, back)
	}
	for _, s := range []derrors.CodeSpace{derrors.NTStatus, derrors.Win32, derrors.MSIExit, derrors.LDAPResult, derrors.Kerberos} {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back derrors.CodeSpace
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
	}
	var k derrors.Kind
	assert.Error(t, k.UnmarshalText([]byte("no such kind")))
	_, err := derrors.Kind(99).MarshalText()
	assert.Error(t, err)
}

// TestCancelledAndInstallTimeout: a cancelled context is "cancelled", and a
// deadline met while msiexec runs is an installation that ran too long, not
// a silent TCP port.
func TestCancelledAndInstallTimeout(t *testing.T) {
	for _, tc := range []struct {
		step   derrors.Step
		err    error
		kind   derrors.Kind
		reason derrors.Reason
	}{
		{derrors.StepMSIExec, context.Canceled, derrors.Cancelled, derrors.NoReason},
		{derrors.StepUpload, fmt.Errorf("write: %w", context.Canceled), derrors.Cancelled, derrors.NoReason},
		{derrors.StepMSIExec, context.DeadlineExceeded, derrors.InstallationError, derrors.ReasonInstallTimeout},
		{derrors.StepConnect, context.DeadlineExceeded, derrors.ConnectionTimeout, derrors.NoReason},
	} {
		e := derrors.Wrap("pc1", tc.step, tc.err)
		assert.Equal(t, tc.kind, e.Kind, "%s %v", tc.step, tc.err)
		assert.Equal(t, tc.reason, e.Reason, "%s %v", tc.step, tc.err)
	}
	e := derrors.Wrap("pc1", derrors.StepMSIExec, context.Canceled)
	assert.Equal(t, "cancelled", e.Message())
	assert.Equal(t, derrors.TypeEngine, e.Type())
	assert.Equal(t, derrors.NoRetry, derrors.Retry(e))
}
