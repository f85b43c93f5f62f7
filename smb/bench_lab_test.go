package smb_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/smb"
)

// benchEnv reads an integer knob of BenchmarkLabUpload.
func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// heapPeak samples the live heap every 2 ms until stopped and returns the
// peak above the level when it started.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
			}
		}
	}()
	var once sync.Once
	return func() uint64 {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
		return peak - base
	}
}

// BenchmarkLabUpload uploads SMB_BENCH_MIB MiB (default 256) to a Samba
// ADMIN$ (signing mandatory) through the lab's delay proxy with
// SMB_BENCH_DELAY_MS one-way delay (default 10), in the same run: smb.Upload
// (concurrent WriteAt of SMB_BENCH_CHUNK_KIB chunks, default 1024, with
// SMB_BENCH_CONCURRENCY in flight, default 16; signed only, and encrypted as
// the default configuration does),
// go-smb2's io.Copy (one write in flight), and `smbclient put`. It reports MiB/s and peak memory (Go: live
// heap above the baseline; smbclient: max RSS). Run it with -benchtime=1x.
func BenchmarkLabUpload(b *testing.B) {
	lab.Require(b, "root", "netns", "smbd", "smbclient")
	size := int64(benchEnv("SMB_BENCH_MIB", 256)) << 20
	delay := time.Duration(benchEnv("SMB_BENCH_DELAY_MS", 10)) * time.Millisecond
	n := lab.NewNet(b)
	h := n.AddHost(b, "bench")
	s := h.StartSamba(b, lab.SambaOptions{SigningMandatory: true})
	proxy := lab.StartDelayProxy(b, netip.AddrPortFrom(s.Addr, 445).String(), delay, n.DialContext)
	ap := netip.MustParseAddrPort(proxy.Addr())

	dir := b.TempDir()
	srcPath := filepath.Join(dir, "src.bin")
	src, err := os.Create(srcPath)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(src, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = src.Close() })

	ctx := context.Background()
	cfg := smb.Config{
		Credentials: smb.Credentials{User: s.AdminUser, Password: s.AdminPassword, Domain: s.Workgroup},
		Port:        int(ap.Port()),
		Encryption:  smb.EncryptNever, // smbclient does not encrypt by default either
	}
	sess, err := smb.Dial(ctx, ap.Addr().String(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sess.Close() })
	admin, err := sess.Mount(ctx, "ADMIN$")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d MiB through a %v one-way delay proxy, dialect %s, signing required %v, encrypted %v",
		size>>20, delay, sess.Info().Dialect, sess.Info().SigningRequired, sess.Info().Encrypted)

	measure := func(b *testing.B, name string, upload func() (peak uint64, err error)) {
		b.SetBytes(size)
		var total time.Duration
		var peak uint64
		for i := 0; i < b.N; i++ {
			_ = os.Remove(filepath.Join(s.AdminShareDir, name))
			t0 := time.Now()
			p, err := upload()
			total += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			peak = max(peak, p)
			fi, err := os.Stat(filepath.Join(s.AdminShareDir, name))
			if err != nil || fi.Size() != size {
				b.Fatalf("uploaded file: %v, %v", fi, err)
			}
		}
		mibs := float64(size) * float64(b.N) / (1 << 20) / total.Seconds()
		b.ReportMetric(mibs, "MiB/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		b.Logf("%-20s %8.1f MiB/s  peak memory %6.1f MiB", b.Name(), mibs, float64(peak)/(1<<20))
	}

	uopts := smb.UploadOptions{
		ChunkSize:   benchEnv("SMB_BENCH_CHUNK_KIB", 1024) << 10,
		Concurrency: benchEnv("SMB_BENCH_CONCURRENCY", smb.DefaultConcurrency),
	}
	b.Run("writeat-signed", func(b *testing.B) {
		measure(b, "w.bin", func() (uint64, error) {
			stop := heapPeak()
			_, err := admin.Upload(ctx, "w.bin", src, size, uopts)
			return stop(), err
		})
	})
	// The default configuration (EncryptIfOffered) encrypts with AES-128-GCM
	// on SMB 3.1.1; with go-smb2 it is faster than CMAC signing.
	b.Run("writeat-encrypted", func(b *testing.B) {
		ecfg := cfg
		ecfg.Encryption = smb.EncryptRequired
		esess, err := smb.Dial(ctx, ap.Addr().String(), ecfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = esess.Close() }()
		eadmin, err := esess.Mount(ctx, "ADMIN$")
		if err != nil {
			b.Fatal(err)
		}
		measure(b, "e.bin", func() (uint64, error) {
			stop := heapPeak()
			_, err := eadmin.Upload(ctx, "e.bin", src, size, uopts)
			return stop(), err
		})
	})
	b.Run("io-copy", func(b *testing.B) {
		measure(b, "c.bin", func() (uint64, error) {
			stop := heapPeak()
			defer stop()
			f, err := smb.RawShare(ctx, admin).Create("c.bin")
			if err != nil {
				return 0, err
			}
			if _, err := io.Copy(f, io.NewSectionReader(src, 0, size)); err != nil {
				_ = f.Close()
				return 0, err
			}
			return stop(), f.Close()
		})
	})
	b.Run("smbclient-put", func(b *testing.B) {
		auth := filepath.Join(dir, "auth")
		creds := fmt.Sprintf("username = %s\npassword = %s\ndomain = %s\n", s.AdminUser, s.AdminPassword, s.Workgroup)
		if err := os.WriteFile(auth, []byte(creds), 0o600); err != nil {
			b.Fatal(err)
		}
		measure(b, "s.bin", func() (uint64, error) {
			cmd := exec.Command("smbclient", "//"+ap.Addr().String()+"/ADMIN$", "-p", strconv.Itoa(int(ap.Port())),
				"-A", auth, "-c", "put "+srcPath+" s.bin")
			out, err := cmd.CombinedOutput()
			if err != nil || strings.Contains(string(out), "NT_STATUS_") {
				return 0, fmt.Errorf("smbclient: %v: %s", err, out)
			}
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			return uint64(ru.Maxrss) << 10, nil
		})
	})
}
