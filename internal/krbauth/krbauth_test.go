package krbauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kconfig "github.com/oiweiwei/gokrb5.fork/v9/config"
	"github.com/oiweiwei/gokrb5.fork/v9/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	derrors "github.com/nxdeploy/deployer/errors"
)

func TestRealm(t *testing.T) {
	for _, tc := range []struct{ explicit, user, domain, want string }{
		{"corp.example.com", "u", "CORP", "CORP.EXAMPLE.COM"},
		{"", "u@corp.example.com", "CORP", "CORP.EXAMPLE.COM"},
		{"", "u", "lab.test", "LAB.TEST"},
		{"", "u", ".", ""},
		{"", "u", "", ""},
	} {
		assert.Equal(t, tc.want, Realm(tc.explicit, tc.user, tc.domain), "%+v", tc)
	}
}

func TestServerName(t *testing.T) {
	for _, tc := range []struct{ host, label, realm, want, err string }{
		{"pc1.corp.example.com", "", "CORP.EXAMPLE.COM", "pc1.corp.example.com", ""},
		{"PC1.Corp.Example.com.", "", "", "pc1.corp.example.com", ""},
		{"10.0.0.5", "PC1", "CORP.EXAMPLE.COM", "pc1.corp.example.com", ""},
		{"10.0.0.5", "pc1.other.example", "CORP.EXAMPLE.COM", "pc1.other.example", ""},
		{"[fd00::5]", "PC2", "LAB.TEST", "pc2.lab.test", ""},
		{"PC3", "", "", "pc3", ""},
		{"10.0.0.5", "", "LAB.TEST", "", "only the address"},
		{"10.0.0.5", "10.0.0.5", "LAB.TEST", "", "only the address"},
		{"", " ", "LAB.TEST", "", "only the address"},
	} {
		got, err := ServerName(tc.host, tc.label, tc.realm)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%+v", tc)
			continue
		}
		require.NoError(t, err, "%+v", tc)
		assert.Equal(t, tc.want, got, "%+v", tc)
	}
}

func FuzzServerName(f *testing.F) {
	f.Add("pc1.corp.example.com", "", "CORP")
	f.Add("10.0.0.5", "PC1", "LAB.TEST")
	f.Add("[::1]", "", "")
	f.Fuzz(func(t *testing.T, host, label, realm string) {
		name, err := ServerName(host, label, realm)
		if err != nil {
			return
		}
		if name == "" || name != strings.ToLower(name) {
			t.Fatalf("ServerName(%q, %q, %q) = %q", host, label, realm, name)
		}
	})
}

func TestKDCAddrsGiven(t *testing.T) {
	got, err := kdcAddrs(context.Background(), net.DefaultResolver, "LAB.TEST",
		[]string{"dc1.lab.test", " 10.0.0.1:750 ", "", "fd00::1", "[fd00::2]:88"})
	require.NoError(t, err)
	assert.Equal(t, []string{"dc1.lab.test:88", "10.0.0.1:750", "[fd00::1]:88", "[fd00::2]:88"}, got)

	_, err = kdcAddrs(context.Background(), net.DefaultResolver, "LAB.TEST", []string{"dc1 }\nkdc = evil"})
	assert.ErrorContains(t, err, "invalid KDC address")
}

func TestConfigTextParses(t *testing.T) {
	c, err := kconfig.NewFromString(configText("LAB.TEST", []string{"10.0.0.1:88", "dc2.lab.test:88"}))
	require.NoError(t, err)
	assert.Equal(t, "LAB.TEST", c.LibDefaults.DefaultRealm)
	assert.Equal(t, 1, c.LibDefaults.UDPPreferenceLimit, "TCP only")
	assert.False(t, c.LibDefaults.DNSLookupKDC)
	_, kdcs, err := c.GetKDCs("LAB.TEST", true)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"10.0.0.1:88", "dc2.lab.test:88"}, []string{kdcs[1], kdcs[2]})
}

func TestNewRefusesIncompleteAccounts(t *testing.T) {
	_, err := New(context.Background(), Setup{Account: Account{User: "u", Password: "p"}, KDCs: []string{"127.0.0.1"}}, "cifs/pc1.lab.test")
	assert.ErrorIs(t, err, ErrNoRealm)
	_, err = New(context.Background(), Setup{Account: Account{User: "u@LAB.TEST"}, KDCs: []string{"127.0.0.1"}}, "cifs/pc1.lab.test")
	assert.ErrorIs(t, err, ErrNoSecret)
}

func TestTGTCacheFetchesOncePerAccount(t *testing.T) {
	var c tgtCache
	c.forget()
	var fetches atomic.Int32
	cc := &credentials.CCache{Version: 4}
	fetch := func() (*credentials.CCache, time.Time, error) {
		fetches.Add(1)
		time.Sleep(10 * time.Millisecond)
		return cc, time.Now().Add(time.Hour), nil
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := c.get(context.Background(), "k", fetch)
			assert.NoError(t, err)
			assert.Same(t, cc, got)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), fetches.Load(), "16 concurrent logons, one AS exchange")

	// A failure is not cached; a TGT near its end is replaced.
	boom := errors.New("KDC said no")
	_, _, err := c.get(context.Background(), "k2", func() (*credentials.CCache, time.Time, error) { return nil, time.Time{}, boom })
	assert.ErrorIs(t, err, boom)
	got, fresh, err := c.get(context.Background(), "k2", func() (*credentials.CCache, time.Time, error) {
		return cc, time.Now().Add(tgtMargin / 2), nil
	})
	require.NoError(t, err)
	assert.Same(t, cc, got)
	assert.True(t, fresh)
	renewed := &credentials.CCache{Version: 4}
	got, fresh, err = c.get(context.Background(), "k2", func() (*credentials.CCache, time.Time, error) {
		return renewed, time.Now().Add(time.Hour), nil
	})
	require.NoError(t, err)
	assert.Same(t, renewed, got, "a TGT within the margin of its end is fetched again")
	assert.True(t, fresh)
	got, fresh, err = c.get(context.Background(), "k2", fetch)
	require.NoError(t, err)
	assert.Same(t, renewed, got)
	assert.False(t, fresh, "served from the cache")

	// A TGT the KDC refused is dropped, unless another logon replaced it.
	c.drop("k2", cc)
	got, _, _ = c.get(context.Background(), "k2", fetch)
	assert.Same(t, renewed, got, "dropping an older TGT keeps the newer one")
	c.drop("k2", renewed)
	got, fresh, _ = c.get(context.Background(), "k2", fetch)
	assert.Same(t, cc, got)
	assert.True(t, fresh)
	c.drop("missing", cc)

	// A logon waiting for another's fetch gives up with its context.
	hold := make(chan struct{})
	go func() {
		_, _, _ = c.get(context.Background(), "k3", func() (*credentials.CCache, time.Time, error) {
			<-hold
			return cc, time.Now().Add(time.Hour), nil
		})
	}()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = c.get(ctx, "k3", fetch)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	close(hold)
}

func TestTGTCacheSweepsDeadEntries(t *testing.T) {
	var c tgtCache
	c.forget()
	live := &credentials.CCache{Version: 4}
	fail := errors.New("no")
	for i := range tgtSweepAt {
		key := fmt.Sprintf("k%d", i)
		if i == 0 {
			_, _, err := c.get(context.Background(), key, func() (*credentials.CCache, time.Time, error) {
				return live, time.Now().Add(time.Hour), nil
			})
			require.NoError(t, err)
			continue
		}
		_, _, err := c.get(context.Background(), key, func() (*credentials.CCache, time.Time, error) { return nil, time.Time{}, fail })
		require.ErrorIs(t, err, fail)
	}
	require.Len(t, c.m, tgtSweepAt)
	_, _, err := c.get(context.Background(), "new", func() (*credentials.CCache, time.Time, error) {
		return live, time.Now().Add(time.Hour), nil
	})
	require.NoError(t, err)
	assert.Len(t, c.m, 2, "only the live TGT and the new one remain")
	assert.Same(t, live, c.m["k0"].cc)
}

func TestTGTKeyNeverHoldsTheSecret(t *testing.T) {
	k := tgtKey("alice", "LAB.TEST", Account{Password: "Sup3r-Secret"})
	assert.NotContains(t, k, "Sup3r")
	assert.NotEqual(t, k, tgtKey("alice", "LAB.TEST", Account{Password: "other"}))
	assert.NotEqual(t, k, tgtKey("bob", "LAB.TEST", Account{Password: "Sup3r-Secret"}))
}

func TestKDCDialerEndsWithItsContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // a KDC that never answers
				buf := make([]byte, 64)
				for {
					if _, err := c.Read(buf); err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	var d net.Dialer
	kd := &kdcDialer{ctx: ctx, dial: d.DialContext, resolver: net.DefaultResolver, timeout: time.Second}
	kd.stop = context.AfterFunc(ctx, kd.closeAll)

	_, err = kd.Dial("udp", ln.Addr().String())
	assert.ErrorContains(t, err, "only TCP")

	conn, err := kd.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	read := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 1))
		read <- err
	}()
	cancel()
	select {
	case err := <-read:
		assert.Error(t, err, "the cancelled logon's KDC read ends")
	case <-time.After(5 * time.Second):
		t.Fatal("a KDC read outlived the logon's context")
	}
	_, err = kd.Dial("tcp", ln.Addr().String())
	assert.ErrorContains(t, err, errKDCDial)
	_ = conn.Close() // already closed by the context; it only forgets itself
	kd.mu.Lock()
	assert.Empty(t, kd.conns)
	kd.mu.Unlock()
}

func TestLogonError(t *testing.T) {
	_, nameErr := ServerName("10.0.0.5", "", "LAB.TEST")
	for _, tc := range []struct {
		err    error
		reason derrors.Reason
	}{
		{nameErr, derrors.ReasonUnknownServicePrincipal},
		{ErrNoSecret, derrors.NoReason},
		{fmt.Errorf("krbauth: no KDC for realm X: %w", errors.New("no such host")), derrors.ReasonKDCUnreachable},
	} {
		e := LogonError("pc1", tc.err)
		assert.Equal(t, derrors.LogonFailure, e.Kind, "%v", tc.err)
		assert.Equal(t, derrors.StepLogon, e.Step)
		assert.Equal(t, "pc1", e.Host)
		assert.Equal(t, tc.reason, e.Reason, "%v", tc.err)
		assert.ErrorIs(t, e, tc.err)
	}
}
