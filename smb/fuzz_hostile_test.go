package smb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// mutatingConn rewrites the frames a server sends as its plan says: the
// plan is the fuzzer's input, read a few bytes per frame. Each frame may be
// passed as is, have bytes flipped, be truncated, have its Direct TCP length
// changed, have a 32-bit field (status, credits, NextCommand, an offset or
// a length) overwritten, get garbage appended, be repeated, or be delivered
// in pieces. When the plan runs out, frames pass unchanged.
type mutatingConn struct {
	net.Conn
	// unsign clears the signed flag of every reply, as a hostile host may
	// when the client does not require signing: mutated bodies then reach
	// go-smb2's decoders instead of failing its signature check.
	unsign bool
	mu     sync.Mutex
	plan   []byte
	out    []byte // mutated bytes not yet read
	hdr    [4]byte
}

func (c *mutatingConn) take() int {
	if len(c.plan) == 0 {
		return -1
	}
	b := c.plan[0]
	c.plan = c.plan[1:]
	return int(b)
}

func (c *mutatingConn) take16() int {
	a, b := c.take(), c.take()
	if a < 0 || b < 0 {
		return 0
	}
	return a | b<<8
}

// statuses a mutation may put into a reply: the ones go-smb2 treats
// specially.
var statuses = []uint32{0, 0x103, 0xC0000016, 0x80000005, 0xC000008D, 0xC0000022, 0xC0000034, 0x8000002D, 0xC00000BB, 0x10C}

func (c *mutatingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out) == 0 {
		if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
			return 0, err
		}
		body := make([]byte, binary.BigEndian.Uint32(c.hdr[:])&0xFFFFFF)
		if _, err := io.ReadFull(c.Conn, body); err != nil {
			return 0, err
		}
		if c.unsign && len(body) >= 64 && string(body[:4]) == "\xfeSMB" {
			binary.LittleEndian.PutUint32(body[16:], binary.LittleEndian.Uint32(body[16:])&^0x8)
		}
		c.out = c.mutate(body)
	}
	n := copy(p, c.out)
	if op := c.take(); op >= 0 && op%7 == 0 && n > 1 {
		n = 1 + op%(n-1) // deliver in pieces
	}
	c.out = c.out[n:]
	return n, nil
}

// mutate returns the frame (with its 4-byte header) to deliver for body.
func (c *mutatingConn) mutate(body []byte) []byte {
	frame := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	op := c.take()
	if op < 0 || len(body) == 0 {
		return frame(body)
	}
	at := c.take16()
	switch op % 10 {
	case 1: // flip a byte
		body[at%len(body)] ^= byte(c.take() | 1)
	case 2: // truncate
		body = body[:at%len(body)]
	case 3: // a Direct TCP length that disagrees with the frame
		f := frame(body)
		binary.BigEndian.PutUint32(f, uint32(at)|uint32(c.take())<<16)
		return f
	case 4: // overwrite a 32-bit field: status, credits, NextCommand, or one in the body
		fields := []int{8, 12, 14, 20, 24, 40}
		pos := at % max(len(body)-3, 1)
		if k := c.take(); k >= 0 && k%2 == 0 {
			pos = fields[k/2%len(fields)]
		}
		if pos+4 <= len(body) {
			binary.LittleEndian.PutUint32(body[pos:], uint32(c.take16())|uint32(c.take16())<<16)
		}
	case 5: // a status go-smb2 handles specially
		if len(body) >= 12 {
			binary.LittleEndian.PutUint32(body[8:], statuses[at%len(statuses)])
		}
	case 6: // garbage appended
		body = append(body, bytes.Repeat([]byte{byte(at)}, at%300)...)
	case 7: // the frame twice
		return append(frame(body), frame(body)...)
	case 8: // a 16-bit field: a structure size, an offset, a length
		pos := at % max(len(body)-1, 1)
		if pos+2 <= len(body) {
			binary.LittleEndian.PutUint16(body[pos:], uint16(c.take16()))
		}
	}
	return frame(body)
}

// hostileRun runs the client stack once against h through a connection that
// mutates the server's frames with plan, and checks that every call returns
// within its bound and every error is typed. It returns the steps that
// failed (any may fail: only a panic, a hang, an untyped error or a leak is
// a defect) and the session's Info.
func hostileRun(t testing.TB, h *deployertest.Host, plan []byte) (failed []string, info smb.Info) {
	// A run that hangs becomes a crash, so the fuzzer saves its input.
	watchdog := time.AfterFunc(runBound, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("hostileRun did not end within %v:\n%s", runBound, buf[:runtime.Stack(buf, true)]))
	})
	defer watchdog.Stop()
	mode := byte(0)
	if len(plan) > 0 {
		mode, plan = plan[0], plan[1:]
	}
	const timeout = 500 * time.Millisecond
	cfg := smb.Config{
		Credentials:    smb.Credentials{User: h.User, Password: h.Password},
		Port:           h.Port,
		ConnectTimeout: time.Second,
		RequestTimeout: timeout,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &mutatingConn{Conn: c, plan: plan, unsign: mode%2 == 1}, nil
		},
	}
	if mode%2 == 1 {
		// Unsigned and unencrypted: the mutated bodies reach go-smb2's
		// decoders instead of failing signature checks.
		cfg.SigningOptional, cfg.Encryption = true, smb.EncryptNever
	}
	bound := func(what string, start time.Time, limit time.Duration) {
		if took := time.Since(start); took > limit {
			t.Fatalf("%s took %v, more than %v", what, took, limit)
		}
	}
	ctx := context.Background()
	start := time.Now()
	s, err := smb.Dial(ctx, h.IP, cfg, nil)
	bound("Dial", start, 2*time.Second+timeout+time.Second)
	if err != nil {
		requireTyped(t, err)
		return []string{"Dial: " + err.Error()}, info
	}
	info = s.Info()
	defer func() {
		start := time.Now()
		_ = s.Close()
		bound("Close", start, 5*time.Second)
	}()
	step := func(what string, f func() error) bool {
		start := time.Now()
		err := f()
		// A step makes up to a dozen requests (an upload: create, writes,
		// close, stat, read back, rename, and its cleanup), each bounded
		// by the request timeout.
		bound(what, start, 20*timeout)
		if err != nil {
			requireTyped(t, err)
			failed = append(failed, what+": "+err.Error())
			return false
		}
		return true
	}
	var admin *smb.Share
	if step("Mount", func() (err error) { admin, err = s.Mount(ctx, "ADMIN$"); return err }) {
		data := bytes.Repeat([]byte("nxdeploy"), 2048)
		step("Upload", func() error {
			_, err := admin.Upload(ctx, "hostile.bin", bytes.NewReader(data), int64(len(data)), smb.UploadOptions{VerifySHA256: true, Overwrite: true})
			return err
		})
		step("ReadDir", func() error {
			// Raw hands out go-smb2's errors; callers classify them as the
			// root package does.
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			_, err := smb.RawShare(rctx, admin).ReadDir(".")
			if e := derrors.Wrap(h.IP, derrors.StepCleanup, err); e != nil {
				return e
			}
			return nil
		})
		step("Stat", func() error { _, err := admin.Stat(ctx, "hostile.bin"); return err })
		step("Remove", func() error { return admin.Remove(ctx, "hostile.bin") })
		step("Umount", func() error { return admin.Close() })
	}
	step("SharePath", func() error { _, err := s.SharePath(ctx, "ADMIN$"); return err })
	step("ListShares", func() error { _, err := s.ListShares(ctx); return err })
	step("svcctl", func() error {
		c, err := svcctl.Dial(ctx, h.IP, svcctl.Config{
			Credentials: cfg.Credentials, RequestTimeout: timeout, ConnectTimeout: time.Second,
			Pipe: func(ctx context.Context) (net.Conn, error) { return s.OpenPipe(ctx, "svcctl") },
		})
		if err != nil {
			return err
		}
		defer c.Close()
		m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
		if err != nil {
			return err
		}
		defer m.Close()
		svc, err := m.OpenService(ctx, "Spooler", svcctl.ServiceQueryStatus|svcctl.ServiceQueryConfig)
		if err != nil {
			return err
		}
		defer svc.Close()
		if _, err := svc.QueryStatus(ctx); err != nil {
			return err
		}
		_, err = svc.QueryConfig(ctx)
		return err
	})
	return failed, info
}

// runBound bounds one whole run: Dial, eight steps of up to four requests
// each, and Close.
const runBound = 60 * time.Second

// requireTyped fails unless err is a *derrors.Error naming the host.
func requireTyped(t testing.TB, err error) {
	var e *derrors.Error
	if !errors.As(err, &e) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
}

// TestHostileRunWithoutMutationsSucceeds proves the harness drives the
// whole client stack, through the guard, on every kind of session the
// emulated host offers: SMB 3.1.1 encrypted (AES-128-GCM), SMB 3.0.2
// encrypted (AES-128-CCM, decrypted by the guard's own CCM), signed only,
// SMB 2.1, and unsigned.
func TestHostileRunWithoutMutationsSucceeds(t *testing.T) {
	tests := []struct {
		name      string
		opts      []deployertest.Option
		mode      byte
		dialect   smb.Dialect
		encrypted bool
		cipher    string
	}{
		{"3.1.1", nil, 0, smb.SMB311, true, "AES-128-GCM"},
		{"3.0.2 CCM", []deployertest.Option{deployertest.WithMaxDialect(0x0302)}, 0, smb.SMB302, true, "AES-128-CCM"},
		{"encryption required", []deployertest.Option{deployertest.WithEncryptionRequired()}, 0, smb.SMB311, true, "AES-128-GCM"},
		{"2.1 signed", []deployertest.Option{deployertest.WithMaxDialect(0x0210), deployertest.WithSigningRequired()}, 0, smb.SMB210, false, ""},
		{"unsigned, unencrypted", nil, 1, smb.SMB311, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := deployertest.Start(t, tt.opts...)
			failed, info := hostileRun(t, h, []byte{tt.mode})
			require.Empty(t, failed)
			require.Equal(t, tt.dialect, info.Dialect)
			require.Equal(t, tt.encrypted, info.Encrypted)
			require.Equal(t, tt.cipher, info.Cipher)
		})
	}
}

// heapLimit bounds what one run may leave allocated.
const heapLimit = 256 << 20

func checkHeap(t testing.TB) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > heapLimit {
		t.Fatalf("heap %d MiB after a run, more than %d MiB", ms.HeapAlloc>>20, heapLimit>>20)
	}
}

// FuzzHostileServer runs the real client stack (Dial with NTLM, ADMIN$,
// upload with read-back, directory listing, srvsvc over a pipe, svcctl
// OpenSCManager/OpenService/QueryStatus over a pipe, Close) against an
// emulated host whose replies are mutated by the fuzzer's input. A panic
// anywhere, go-smb2's receiver included, kills the fuzz worker; a call
// that overruns its bound or a heap past heapLimit fails the input.
// testdata/fuzz/FuzzHostileServer holds the known crashers.
func FuzzHostileServer(f *testing.F) {
	h, err := deployertest.New()
	require.NoError(f, err)
	f.Cleanup(func() { _ = h.Close() })
	for _, seed := range hostileSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, plan []byte) {
		hostileRun(t, h, plan)
		checkHeap(t)
	})
}

// hostileSeeds are plans that reach the known crash sites on the emulated
// host: an unsigned session (mode 1), then mutations of the first frames.
func hostileSeeds() [][]byte {
	return [][]byte{
		{0},
		{1},
		{1, 2, 8, 0},                         // negotiate truncated to 8 bytes
		{1, 4, 0, 0, 6, 0x00, 0x10, 0, 0},    // negotiate NextCommand 4096
		{1, 0, 0, 0, 1, 0, 0, 0, 4, 0x30, 0}, // a field of the session setup reply
		{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0x10, 0, 1}, // a length past the frame, later
		[]byte(fmt.Sprintf("\x01%s", bytes.Repeat([]byte{8, 0x42, 0, 0xF0, 0xFF}, 12))),
		bytes.Repeat([]byte{5, 3}, 40),
	}
}

// TestHostilePlansLeakNothing runs the seeds and 300 random plans (a fixed
// PRNG seed, so the run is the same every time) and checks that nothing is
// left running afterwards: every goroutine the client stack started for a
// mutated session ended with it.
func TestHostilePlansLeakNothing(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	h, err := deployertest.New()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(12, 34))
	plans := hostileSeeds()
	for range 300 {
		p := make([]byte, 1+rng.IntN(48))
		for i := range p {
			p[i] = byte(rng.UintN(256))
		}
		plans = append(plans, p)
	}
	failedRuns := 0
	for _, p := range plans {
		if failed, _ := hostileRun(t, h, p); len(failed) > 0 {
			failedRuns++
		}
	}
	checkHeap(t)
	require.NoError(t, h.Close())
	goleak.VerifyNone(t, leaks)
	t.Logf("%d of %d mutated runs failed somewhere, each with a typed error", failedRuns, len(plans))
	require.Positive(t, failedRuns, "the mutations reach the client")
}
