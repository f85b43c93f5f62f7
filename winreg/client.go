package winreg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	rrp "github.com/oiweiwei/go-msrpc/msrpc/rrp/winreg/v1"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/rpcpipe"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// Steps of this package in *derrors.Error values.
const (
	// StepOpenRegistry is opening \pipe\winreg and binding the interface.
	StepOpenRegistry derrors.Step = "open registry"
	// StepReadRegistry is reading keys and values.
	StepReadRegistry derrors.Step = "read registry"
	// StepStartRemoteRegistry is checking and starting the Remote Registry
	// service.
	StepStartRemoteRegistry derrors.Step = "start remote registry"
	// StepRestoreRemoteRegistry is putting the service back as it was.
	StepRestoreRemoteRegistry derrors.Step = "restore remote registry"
)

// Defaults of Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultServiceTimeout = 30 * time.Second
)

// Config says how a Client talks to the registry and to the Remote Registry
// service.
type Config struct {
	// Seal seals the winreg bind at the RPC level (NTLM, or Kerberos when
	// Credentials.Kerberos is set) on top of the SMB session. By default the
	// bind relies on the SMB session, as Windows' own reg.exe and impacket's
	// reg.py do.
	Seal bool
	// Credentials is the account of a sealed bind.
	Credentials smb.Credentials
	// RequestTimeout bounds the bind and each call; DefaultRequestTimeout when zero.
	RequestTimeout time.Duration
	// ServiceTimeout bounds starting and stopping the Remote Registry
	// service; DefaultServiceTimeout when zero.
	ServiceTimeout time.Duration
	// LeaveService leaves the Remote Registry service alone: Open goes
	// straight to \pipe\winreg, which fails with ErrRemoteRegistryStopped
	// when the service is not running (Windows 8 and later start it on a
	// connection to the pipe when it is set to start on demand).
	LeaveService bool
	// KeepDisabled refuses to start a disabled Remote Registry service
	// (Open fails with ErrRemoteRegistryDisabled). By default a disabled
	// service is set to start on demand, started, and on Close stopped and
	// disabled again, as impacket's reg.py does.
	KeepDisabled bool
	// Logger receives what the Client does to the service; nil means no
	// logging.
	Logger *slog.Logger
	// ServiceManager, when set, is an open service manager of the same
	// host (opened with at least svcctl.ManagerConnect) through which the
	// Remote Registry service is checked, started and put back, instead of
	// a \pipe\svcctl binding of the Client's own: it saves opening,
	// binding and closing a pipe. It stays open after Close.
	ServiceManager *svcctl.Manager
}

func (c Config) withDefaults() Config {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ServiceTimeout <= 0 {
		c.ServiceTimeout = DefaultServiceTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(discard{})
	}
	return c
}

// discard is a slog.Handler that drops everything.
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }

// Client reads a host's registry over \pipe\winreg ([MS-RRP]). Its methods
// are safe for concurrent use; calls run one at a time.
type Client struct {
	host string
	cfg  Config
	conn *rpcpipe.Conn[rrp.WinregClient]
	rr   *remoteRegistry
	sess *smb.Session // owned, when Dial made it
	// left are the key handles the last call opened. They are closed when
	// the next call begins, or by the host when Close closes the pipe: a
	// Client used once costs no BaseRegCloseKey at all. Only calls (which
	// run one at a time) touch it.
	left []*rrp.Key

	closeOnce sync.Once
	closeErr  error
}

// Open makes sure the Remote Registry service runs (starting it if it is
// stopped, see Config), then opens \pipe\winreg through open and binds the
// interface. host names the host in errors. Close puts the service back as
// it was.
func Open(ctx context.Context, host string, open smb.PipeOpener, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	c := &Client{host: host, cfg: cfg}
	rr, err := ensureRemoteRegistry(ctx, host, open, cfg)
	if err != nil {
		return nil, err
	}
	c.rr = rr
	c.conn, err = rpcpipe.Bind(ctx, rpcpipe.Config{
		Host:           host,
		BindStep:       StepOpenRegistry,
		Open:           func(ctx context.Context) (net.Conn, error) { return open(ctx, "winreg") },
		Seal:           cfg.Seal,
		Credentials:    cfg.Credentials,
		RequestTimeout: cfg.RequestTimeout,
		Mappers:        []rpcerrors.Mapper{win32.Mapper{}},
	}, rrp.NewWinregClient)
	if err != nil {
		if code := ntstatus(err); code == statusObjectNameNotFound || code == statusPipeNotAvailable {
			err = annotate(err, ErrRemoteRegistryStopped)
		}
		return nil, errors.Join(err, rr.restore(context.WithoutCancel(ctx)))
	}
	return c, nil
}

// annotate adds sentinel to the cause of err's *derrors.Error, so the error
// stays a *derrors.Error and matches sentinel.
func annotate(err, sentinel error) error {
	e, ok := derrors.As(err)
	if !ok {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	c := *e
	c.Err = fmt.Errorf("%w: %w", sentinel, e.Err)
	return &c
}

// NTSTATUS codes of a pipe that is not there.
const (
	statusObjectNameNotFound = 0xC0000034
	statusPipeNotAvailable   = 0xC00000AC
)

// ntstatus returns the NTSTATUS an error carries, or 0.
func ntstatus(err error) uint32 {
	if e, ok := derrors.As(err); ok && e.Code.Space == derrors.NTStatus {
		return e.Code.Value
	}
	return 0
}

// Dial logs on to host with scfg (smb.Dial), then works as Open over that
// session's pipes; Close also closes the session.
func Dial(ctx context.Context, host string, scfg smb.Config, cfg Config) (*Client, error) {
	sess, err := smb.Dial(ctx, host, scfg, nil)
	if err != nil {
		return nil, err
	}
	if cfg.Seal && cfg.Credentials.User == "" {
		cfg.Credentials = scfg.Credentials
	}
	c, err := Open(ctx, sess.Host(), sess.Pipes(), cfg)
	if err != nil {
		return nil, errors.Join(err, sess.Close())
	}
	c.sess = sess
	return c, nil
}

// Host returns the host's name as errors give it.
func (c *Client) Host() string { return c.host }

// ServiceAction says what Open did about the Remote Registry service (and
// so what Close undoes).
func (c *Client) ServiceAction() ServiceAction { return c.rr.action() }

// Close closes the registry connection, which releases on the host the key
// handles the last call left open, and puts the Remote Registry service
// back as Open found it (stopped, and disabled again if it was), even when
// ctx is already cancelled (within ServiceTimeout); it closes the SMB
// session Dial made.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		err := c.conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*c.cfg.ServiceTimeout)
		defer cancel()
		err = errors.Join(err, c.rr.restore(ctx))
		if c.sess != nil {
			err = errors.Join(err, c.sess.Close())
		}
		c.closeErr = err
	})
	return c.closeErr
}

// Registry access rights ([MS-RRP] 2.2.3).
const keyRead = 0x20019 // KEY_READ

// Win32 codes acted on.
const (
	errFileNotFound = 2
	errMoreData     = 234
	errNoMoreItems  = 259
)

// Bounds on what the host may make the client allocate.
const (
	maxValueData = 1 << 20
	maxNameBytes = 2 * 16384
	maxSubKeys   = 100000
	maxValues    = 16384
)

// keys is one call's view of the registry: it opens keys under
// HKEY_LOCAL_MACHINE; the handles it opened are closed when the next call
// begins, or with the pipe (Client.left).
type keys struct {
	ctx    context.Context
	cli    rrp.WinregClient
	hklm   *rrp.Key
	opened []*rrp.Key
}

func (c *Client) withKeys(ctx context.Context, f func(k *keys) error) error {
	return c.conn.Call(ctx, StepReadRegistry, true, func(ctx context.Context, cli rrp.WinregClient) error {
		// The last call's handles, on this binding (after a failure that
		// renewed the binding, they are gone with the old one: the closes
		// fail and are ignored, and are not tried again).
		prev := &keys{ctx: ctx, cli: cli, opened: c.left}
		c.left = nil
		prev.close()
		k := &keys{ctx: ctx, cli: cli}
		defer func() { c.left = k.opened }()
		resp, err := rpcpipe.Check(cli.OpenLocalMachine(ctx, &rrp.OpenLocalMachineRequest{DesiredAccess: keyRead}))
		if err != nil {
			return err
		}
		k.hklm = resp.Key
		k.opened = append(k.opened, resp.Key)
		return f(k)
	})
}

func (k *keys) close() {
	for i := len(k.opened) - 1; i >= 0; i-- {
		_, _ = k.cli.BaseRegCloseKey(k.ctx, &rrp.BaseRegCloseKeyRequest{Key: k.opened[i]})
	}
}

// closeLast closes the key opened last.
func (k *keys) closeLast() {
	if n := len(k.opened); n > 1 {
		_, _ = k.cli.BaseRegCloseKey(k.ctx, &rrp.BaseRegCloseKeyRequest{Key: k.opened[n-1]})
		k.opened = k.opened[:n-1]
	}
}

// open opens path under HKEY_LOCAL_MACHINE; a missing key is
// ERROR_FILE_NOT_FOUND.
func (k *keys) open(path string) (*rrp.Key, error) {
	resp, err := rpcpipe.Check(k.cli.BaseRegOpenKey(k.ctx, &rrp.BaseRegOpenKeyRequest{
		Key: k.hklm, SubKey: &rrp.UnicodeString{Buffer: path + "\x00"}, DesiredAccess: keyRead,
	}))
	if err != nil {
		return nil, err
	}
	k.opened = append(k.opened, resp.ResultKey)
	return resp.ResultKey, nil
}

// info returns a key's counts and maximum lengths.
func (k *keys) info(h *rrp.Key) (*rrp.BaseRegQueryInfoKeyResponse, error) {
	return rpcpipe.Check(k.cli.BaseRegQueryInfoKey(k.ctx, &rrp.BaseRegQueryInfoKeyRequest{Key: h, ClassIn: &rrp.UnicodeString{}}))
}

// subkeys lists a key's subkey names.
func (k *keys) subkeys(h *rrp.Key) ([]string, error) {
	info, err := k.info(h)
	if err != nil {
		return nil, err
	}
	if info.SubKeysCount > maxSubKeys {
		return nil, fmt.Errorf("winreg: the host reports %d subkeys", info.SubKeysCount)
	}
	size := min(max(2*info.MaxSubKeyLength+2, 512), maxNameBytes)
	var names []string
	for i := uint32(0); i < info.SubKeysCount; i++ {
		resp, err := rpcpipe.Check(k.cli.BaseRegEnumKey(k.ctx, &rrp.BaseRegEnumKeyRequest{
			Key: h, Index: i, NameIn: &rrp.UnicodeString{MaximumLength: uint16(min(size, 0xFFFE))},
			ClassIn: &rrp.UnicodeString{}, LastWriteTime: info.LastWriteTime,
		}))
		if code(err) == errNoMoreItems {
			break
		}
		if err != nil {
			return nil, err
		}
		if resp.NameOut != nil {
			names = append(names, strings.TrimRight(resp.NameOut.Buffer, "\x00"))
		}
	}
	return names, nil
}

// values reads every value of a key.
func (k *keys) values(h *rrp.Key) ([]Value, error) {
	info, err := k.info(h)
	if err != nil {
		return nil, err
	}
	if info.ValuesCount > maxValues {
		return nil, fmt.Errorf("winreg: the host reports %d values", info.ValuesCount)
	}
	nameSize := min(max(2*info.MaxValueNameLength+2, 256), maxNameBytes)
	dataSize := min(max(info.MaxValueLength, 256), maxValueData)
	var out []Value
	for i := uint32(0); i < info.ValuesCount; i++ {
		var resp *rrp.BaseRegEnumValueResponse
		for size := dataSize; ; {
			resp, err = rpcpipe.Check(k.cli.BaseRegEnumValue(k.ctx, &rrp.BaseRegEnumValueRequest{
				Key: h, Index: i, ValueNameIn: &rrp.UnicodeString{MaximumLength: uint16(min(nameSize, 0xFFFE))},
				Type: 0, DataLength: size, Length: 0,
			}))
			if code(err) == errMoreData && resp.DataLength > size && resp.DataLength <= maxValueData {
				size = resp.DataLength
				continue
			}
			break
		}
		if code(err) == errNoMoreItems {
			break
		}
		if err != nil {
			return nil, err
		}
		v := Value{Type: Type(resp.Type), Data: resp.Data}
		if resp.ValueNameOut != nil {
			v.Name = strings.TrimRight(resp.ValueNameOut.Buffer, "\x00")
		}
		if n := int(resp.Length); n < len(v.Data) {
			v.Data = v.Data[:n]
		}
		out = append(out, v)
	}
	return out, nil
}

// code returns the Win32 code of a call's non-zero return value, or 0.
func code(err error) uint32 {
	var w *win32.Error
	if errors.As(err, &w) {
		return w.Code
	}
	return 0
}

// Values returns every value of the key at path under HKEY_LOCAL_MACHINE
// (such as `SOFTWARE\Microsoft\Windows NT\CurrentVersion`). A missing key is
// an error matching ErrNotFound.
func (c *Client) Values(ctx context.Context, path string) ([]Value, error) {
	var out []Value
	err := c.withKeys(ctx, func(k *keys) error {
		h, err := k.open(path)
		if err != nil {
			return err
		}
		out, err = k.values(h)
		return err
	})
	return out, c.notFound(err)
}

// Subkeys returns the names of the subkeys of the key at path under
// HKEY_LOCAL_MACHINE.
func (c *Client) Subkeys(ctx context.Context, path string) ([]string, error) {
	var out []string
	err := c.withKeys(ctx, func(k *keys) error {
		h, err := k.open(path)
		if err != nil {
			return err
		}
		out, err = k.subkeys(h)
		return err
	})
	return out, c.notFound(err)
}

// ErrNotFound matches a key or value the host does not have
// (ERROR_FILE_NOT_FOUND).
var ErrNotFound = errors.New("winreg: no such key or value")

// notFound adds ErrNotFound to an ERROR_FILE_NOT_FOUND error.
func (c *Client) notFound(err error) error {
	if err != nil && code(err) == errFileNotFound {
		return annotate(err, ErrNotFound)
	}
	return err
}
