package winelab

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

//go:embed pipebridge/pipebridge.c
var bridgeSource []byte

// bridgePath is where OpenPipe installs the bridge in the prefix.
const bridgePath = `C:\windows\pipebridge.exe`

// OpenPipe connects to the named pipe \\.\pipe\name of the prefix (such as
// "svcctl", served by Wine's services.exe, or "atsvc", served by its Task
// Scheduler) and returns a connection that carries DCE/RPC PDUs to and from
// it: a small Windows program (pipebridge.c, built with mingw-w64 on first
// use) relays between its standard input and output and the pipe. Wine
// serves these interfaces only on its own named pipes, not over SMB, so this
// is how a client on Linux reaches Wine's real RPC servers. The bridge
// changes one thing: Wine 8 answers every call with its bind's call_id, and
// the bridge gives each answer the call_id of the call it answers (see
// pipebridge.c). Close ends the bridge. ctx bounds the connect.
func (w *Wine) OpenPipe(ctx context.Context, name string) (net.Conn, error) {
	if err := w.installBridge(ctx); err != nil {
		return nil, err
	}
	cmd := w.Command("wine", bridgePath, `\\.\pipe\`+name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("winelab: start pipe bridge: %w", err)
	}
	c := &bridgeConn{cmd: cmd, in: stdin, out: stdout, name: name, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := io.ReadFull(stdout, b[:])
		if err == nil && b[0] != '+' {
			err = fmt.Errorf("unexpected first byte %q", b[0])
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("winelab: pipe bridge to %s: %w: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return c, nil
}

// installBridge builds pipebridge.exe and copies it into the prefix once.
func (w *Wine) installBridge(ctx context.Context) error {
	w.bridgeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "winelab-bridge-")
		if err != nil {
			w.bridgeErr = err
			return
		}
		defer os.RemoveAll(dir)
		src, exe := filepath.Join(dir, "pipebridge.c"), filepath.Join(dir, "pipebridge.exe")
		if err := os.WriteFile(src, bridgeSource, 0o644); err != nil {
			w.bridgeErr = err
			return
		}
		out, err := exec.CommandContext(ctx, "x86_64-w64-mingw32-gcc", "-O2", "-s", "-Wall", "-Werror",
			"-o", exe, src).CombinedOutput()
		if err != nil {
			w.bridgeErr = fmt.Errorf("winelab: build pipe bridge: %w: %s", err, bytes.TrimSpace(out))
			return
		}
		b, err := os.ReadFile(exe)
		if err != nil {
			w.bridgeErr = err
			return
		}
		dst, err := w.Path(bridgePath)
		if err != nil {
			w.bridgeErr = err
			return
		}
		w.bridgeErr = os.WriteFile(dst, b, 0o755)
	})
	return w.bridgeErr
}

// bridgeConn is a running bridge as a net.Conn without deadlines.
type bridgeConn struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.ReadCloser
	name string
	done chan struct{}
	once sync.Once
}

func (c *bridgeConn) Read(b []byte) (int, error)  { return c.out.Read(b) }
func (c *bridgeConn) Write(b []byte) (int, error) { return c.in.Write(b) }

// Close ends the bridge: its input closes (it closes the pipe and exits);
// it is killed if it has not exited within two seconds.
func (c *bridgeConn) Close() error {
	c.once.Do(func() {
		_ = c.in.Close()
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return nil
}

// errNoDeadline is returned by the deadline methods.
var errNoDeadline = errors.New("winelab: a pipe bridge has no deadlines")

func (c *bridgeConn) LocalAddr() net.Addr              { return bridgeAddr("winelab") }
func (c *bridgeConn) RemoteAddr() net.Addr             { return bridgeAddr(`\\.\pipe\` + c.name) }
func (c *bridgeConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (c *bridgeConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (c *bridgeConn) SetWriteDeadline(time.Time) error { return errNoDeadline }

var _ net.Conn = (*bridgeConn)(nil)

type bridgeAddr string

func (a bridgeAddr) Network() string { return "wine-pipe" }
func (a bridgeAddr) String() string  { return string(a) }
