package smb_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// reconfigure sets "key = value" lines in the [global] section of s's
// smb.conf (replacing lines with the same keys) and makes smbd reload it
// (SIGHUP); connections made afterwards follow it. ready reports, from a
// fresh dial, that the new settings are in force.
func reconfigure(t *testing.T, s *lab.Samba, ready func() bool, lines ...string) {
	t.Helper()
	conf, err := os.ReadFile(s.Conf)
	require.NoError(t, err)
	key := func(l string) string { k, _, _ := strings.Cut(l, "="); return strings.TrimSpace(k) }
	drop := map[string]bool{}
	for _, l := range lines {
		drop[key(l)] = true
	}
	var kept []string
	for _, l := range strings.Split(string(conf), "\n") {
		if !drop[key(l)] {
			kept = append(kept, l)
		}
	}
	text := strings.Replace(strings.Join(kept, "\n"), "[global]\n", "[global]\n  "+strings.Join(lines, "\n  ")+"\n", 1)
	require.NoError(t, os.WriteFile(s.Conf, []byte(text), 0o644))
	require.NoError(t, syscall.Kill(s.SmbdPID, syscall.SIGHUP))
	deadline := time.Now().Add(15 * time.Second)
	for !ready() {
		require.True(t, time.Now().Before(deadline), "smbd did not apply %v", lines)
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLabSigningAndEncryptionAsTheyHappen: against Samba with signing
// disabled and SMB 2.1 at most, the session says what really happened:
// signing not required, yet given (Samba signs the replies to requests that
// are signed, as [MS-SMB2] 3.3.4.1.1 asks, and this client signs all of
// them), and encryption asked for but not offered; encryption required
// fails with its reason.
func TestLabSigningAndEncryptionAsTheyHappen(t *testing.T) {
	_, _, s, cfg := labTarget(t, lab.SambaOptions{})
	ctx := context.Background()
	unsigned := cfg
	unsigned.SigningOptional = true
	reconfigure(t, s, func() bool {
		sess, err := smb.Dial(ctx, s.Addr.String(), unsigned, nil)
		if err != nil {
			return false
		}
		defer sess.Close()
		return sess.Info().Dialect == smb.SMB210
	}, "server signing = disabled", "server max protocol = SMB2_10")

	for _, c := range []smb.Config{unsigned, cfg} {
		sess, err := smb.Dial(ctx, s.Addr.String(), c, nil)
		require.NoError(t, err, "allow unsigned %v", c.SigningOptional)
		info := sess.Info()
		assert.Equal(t, smb.SMB210, info.Dialect)
		assert.False(t, info.SigningRequired, "server signing = disabled")
		assert.True(t, info.Signed, "Samba signs the replies to signed requests")
		assert.False(t, info.Encrypted)
		assert.True(t, info.EncryptionNotOffered, "encryption asked for (the default) and not offered by SMB 2.1")
		admin, err := sess.Mount(ctx, "ADMIN$")
		require.NoError(t, err)
		_, err = admin.Upload(ctx, "unsigned.bin", strings.NewReader("hello"), 5, smb.UploadOptions{VerifySHA256: true})
		require.NoError(t, err)
		require.NoError(t, admin.Remove(ctx, "unsigned.bin"))
		require.NoError(t, admin.Close())
		shares, err := sess.ListShares(ctx)
		require.NoError(t, err)
		assert.Contains(t, shares, "ADMIN$")
		require.NoError(t, sess.Close())
	}

	// Encryption required against SMB 2.1: a typed refusal at logon.
	enc := unsigned
	enc.Encryption = smb.EncryptRequired
	_, err := smb.Dial(ctx, s.Addr.String(), enc, nil)
	var e *derrors.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, derrors.StepLogon, e.Step)
	assert.Equal(t, derrors.SharedAccessFailure, e.Kind)
	assert.Equal(t, derrors.ReasonProtocolMismatch, e.Reason, "%v", err)
	assert.ErrorContains(t, err, "encryption is required but the server does not offer it (dialect 2.1)")
}

// TestLabSMB1OnlyHostIsNamed: Samba that speaks only NT1 (SMB1) resets our
// SMB2 negotiate; the SMB1 negotiate Windows clients send names it.
func TestLabSMB1OnlyHostIsNamed(t *testing.T) {
	_, _, s, cfg := labTarget(t, lab.SambaOptions{})
	ctx := context.Background()
	cfg.RequestTimeout = 3 * time.Second
	var last error
	reconfigure(t, s, func() bool {
		_, last = smb.Dial(ctx, s.Addr.String(), cfg, nil)
		return last != nil
	}, "server min protocol = NT1", "server max protocol = NT1")
	start := time.Now()
	_, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
	var e *derrors.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, derrors.StepNegotiate, e.Step, "%v", err)
	assert.Equal(t, derrors.SharedAccessFailure, e.Kind, "%v", err)
	assert.Equal(t, derrors.ReasonSMB1Only, e.Reason, "%v", err)
	assert.Contains(t, e.Cause(), "speaks only SMB1")
	assert.Less(t, time.Since(start), 3*time.Second)
	t.Logf("%v", err)

	// A host that speaks SMB2 is not named SMB1-only when its negotiate
	// fails for another reason: back to SMB2, the same client logs on.
	reconfigure(t, s, func() bool {
		sess, err := smb.Dial(ctx, s.Addr.String(), cfg, nil)
		if err == nil {
			_ = sess.Close()
		}
		return err == nil
	}, "server min protocol = SMB2_02", "server max protocol = SMB3")
}
