package deployer_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/secrettest"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

// secretProps are the caller's properties: a long value with spaces and
// quotes, a plain long one, and a short one.
var secretProps = []msi.Property{
	{Name: "ENROLL_KEY", Value: `S3cr3t "quoted" K3y-9f8e7d`},
	{Name: "SERVER", Value: "collector.example.test"},
	{Name: "PIN", Value: "42"},
}

// leakingService plays the deployer's remote service running an msiexec
// that writes the caller's property values into its verbose log (install.log
// beside the service's program), in UTF-16 as Windows does, in the forms
// Windows Installer writes them (the command line, PROPERTY CHANGE lines,
// CustomActionData in another case), and fails with 1603.
func leakingService(ctx context.Context, run *deployertest.Run) (uint32, bool) {
	run.ReportRunning()
	dir := run.Args[0][:strings.LastIndexByte(run.Args[0], '\\')]
	cmd := msi.InstallCommand{Package: dir + `\package.msi`, LogPath: dir + `\install.log`, Properties: secretProps}
	lines := []string{
		"=== Verbose logging started: 1/2/2026  10:15:01  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\\Windows\\system32\\msiexec.exe ===",
		"MSI (c) (A8:E4) [10:15:01:001]: Command Line: " + cmd.String(),
		"MSI (s) (A8:E4) [10:15:02:343]: PROPERTY CHANGE: Adding ENROLL_KEY property. Its value is '" + secretProps[0].Value + "'.",
		"MSI (s) (A8:E4) [10:15:02:343]: PROPERTY CHANGE: Adding SERVER property. Its value is '" + secretProps[1].Value + "'.",
		"MSI (s) (A8:E4) [10:15:02:344]: PROPERTY CHANGE: Adding PIN property. Its value is '" + secretProps[2].Value + "'.",
		"MSI (s) (A8:E4) [10:15:03:156]: Executing op: CustomActionSchedule(Action=Configure,ActionType=3073,Source=BinaryData,Target=Configure,CustomActionData=https://" +
			strings.ToUpper(secretProps[1].Value) + "/;" + strings.ToLower(secretProps[0].Value) + ")",
		"CustomAction Configure returned actual error code 1603 while connecting to " + secretProps[1].Value,
		"MSI (s) (A8:E4) [10:15:04:001]: Note: 1: 1708 2: 42 3: " + secretProps[0].Value,
		"Action ended 10:15:04: InstallFinalize. Return value 3.",
		"MSI (s) (A8:E4) [10:15:04:500]: Product: Nexthink Collector -- Installation failed.",
		"MSI (s) (A8:E4) [10:15:04:501]: MainEngineThread is returning 1603",
	}
	if p, err := run.LocalPath(cmd.LogPath); err == nil {
		var b bytes.Buffer
		b.Write([]byte{0xFF, 0xFE})
		for _, u := range utf16.Encode([]rune(strings.Join(lines, "\r\n") + "\r\n")) {
			_ = binary.Write(&b, binary.LittleEndian, u)
		}
		_ = os.WriteFile(p, b.Bytes(), 0o644)
	}
	return 1603, true
}

// assertNoSecret fails when text holds any of the caller's values in any
// case (the short one as a word).
func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, p := range secretProps[:2] {
		assert.NotContains(t, low, strings.ToLower(p.Value), "%s leaks %s", what, p.Name)
		assert.NotContains(t, low, strings.ToLower(strings.ReplaceAll(p.Value, `"`, `""`)), "%s leaks %s (quoted)", what, p.Name)
		assert.NotContains(t, low, strings.ToLower(strings.ReplaceAll(p.Value, `"`, "")), "%s leaks %s (unquoted)", what, p.Name)
	}
	assert.NotRegexp(t, `PIN=42\b|value is '42'`, text, "%s leaks PIN", what)
}

// TestPropertyValuesNeverLeave: the caller's property values appear in the
// host's msiexec log; they appear in no error, excerpt, log summary,
// progress, event, log line or store record.
func TestPropertyValuesNeverLeave(t *testing.T) {
	root := t.TempDir()
	e := deployertest.Start(t, deployertest.WithRoot(root), deployertest.WithStartTimeout(2*time.Second),
		deployertest.WithProgram(leakingService))
	require.NoError(t, os.MkdirAll(filepath.Join(e.AdminDir, "SysWOW64"), 0o755))
	em := &emulated{Host: e}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("RunInstaller", func(t *testing.T) {
		conn := connect(t, em)
		var actions []string
		var rawLog []byte
		res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{
			Properties: secretProps,
			Progress: func(p deployer.InstallProgress) {
				actions = append(actions, p.Action)
				if p.Phase == "cleanup" && rawLog == nil {
					matches, _ := filepath.Glob(filepath.Join(e.AdminDir, "nxdeploy-*", "install.log"))
					if len(matches) == 1 {
						rawLog, _ = os.ReadFile(matches[0])
					}
				}
			},
		})
		require.Error(t, err)
		require.NotEmpty(t, rawLog, "the host's log was read before the cleanup")
		assert.True(t, bytes.Contains(rawLog, utf16le(secretProps[1].Value)), "the host's log holds the values (the test is meaningful)")
		de, ok := derrors.As(err)
		require.True(t, ok)
		assert.Equal(t, derrors.MSIError, de.Kind)
		t.Logf("excerpt:\n%s", de.Detail)
		assertNoSecret(t, "the error", err.Error())
		assertNoSecret(t, "the excerpt", de.Detail)
		assert.Contains(t, de.Detail, "<SERVER redacted>")
		assert.Contains(t, de.Detail, "<ENROLL_KEY redacted>")
		info, jerr := json.Marshal(deployer.NewErrorInfo(e.Name, err))
		require.NoError(t, jerr)
		assertNoSecret(t, "the ErrorInfo", string(info))
		sum, jerr := json.Marshal(res.Log)
		require.NoError(t, jerr)
		assertNoSecret(t, "the log summary", string(sum))
		assertNoSecret(t, "the progress", strings.Join(actions, "\n"))
	})

	t.Run("Deployer", func(t *testing.T) {
		var events, logs bytes.Buffer
		enc := json.NewEncoder(&events)
		storePath := filepath.Join(t.TempDir(), "deploy.journal")
		store, err := deployer.OpenFileStore(storePath)
		require.NoError(t, err)
		d, err := deployer.New(deployer.Config{
			Connect:     em.connectConfig(),
			Package:     deployer.Package{Path: testPackage},
			Install:     deployer.InstallOptions{Properties: secretProps},
			Store:       store,
			BusyRetries: -1,
			OnEvent:     func(ev deployer.Event) { _ = enc.Encode(ev) },
			Logger:      slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		require.NoError(t, err)
		summary, err := d.Run(ctx, []discovery.Host{em.target()})
		require.NoError(t, err)
		require.NoError(t, store.Close())
		journal, err := os.ReadFile(storePath)
		require.NoError(t, err)
		sum, err := json.Marshal(summary)
		require.NoError(t, err)
		require.Contains(t, events.String(), "MSI error (1603)", "the failure was reported")
		for what, text := range map[string]string{"the events": events.String(), "the log": logs.String(),
			"the store": string(journal), "the summary": string(sum), "the Deployer printed": fmt.Sprintf("%+v %#v", d, d)} {
			assertNoSecret(t, what, text)
		}
	})
}

// utf16le encodes s as UTF-16LE.
func utf16le(s string) []byte {
	var b bytes.Buffer
	for _, u := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&b, binary.LittleEndian, u)
	}
	return b.Bytes()
}

// TestConfigsPrintNoSecret: the deployer's configurations and the types
// that hold them print no password or NT hash through any encoder (and a
// Deployer none of its MSI property values either).
func TestConfigsPrintNoSecret(t *testing.T) {
	const pw = "Depl0y-S3cret!pw"
	hash := []byte{0x0c, 0xb6, 0x94, 0x88, 0x05, 0xf7, 0x97, 0xbf, 0x2a, 0x82, 0x80, 0x79, 0x73, 0xb8, 0x95, 0x37}
	secrets := append([]string{pw}, secrettest.BytesForms(hash)...)
	creds := smb.Credentials{User: "admin", Domain: "CORP", Password: pw, NTHash: hash}
	cc := deployer.ConnectConfig{SMB: smb.Config{Credentials: creds}}
	cfg := deployer.Config{Connect: cc, Package: deployer.Package{Path: testPackage}}
	d, err := deployer.New(deployer.Config{Connect: cc, Package: deployer.Package{Path: testPackage},
		Install: deployer.InstallOptions{Properties: secretProps}})
	require.NoError(t, err)
	for name, v := range map[string]any{"ConnectConfig": cc, "Config": cfg, "pointer to Config": &cfg} {
		t.Run(name, func(t *testing.T) { secrettest.AssertHidden(t, v, secrets...) })
	}
	t.Run("Deployer", func(t *testing.T) {
		secrettest.AssertHidden(t, d, append(secrets, secretProps[0].Value, secretProps[1].Value)...)
	})
	t.Run("Conn", func(t *testing.T) {
		e := startEmulated(t, hostOpts{})
		conn := connect(t, e)
		out := secrettest.AssertHidden(t, conn, e.Password)
		assert.Contains(t, out["%v"], e.Name)
	})
}

// logText decodes a verbose msiexec log (UTF-16LE with a byte order mark,
// as Windows and Wine write it, or 8-bit) for a test to search.
func logText(raw []byte) string {
	if len(raw) < 2 || raw[0] != 0xFF || raw[1] != 0xFE {
		return string(raw)
	}
	u := make([]uint16, 0, len(raw)/2)
	for i := 2; i+1 < len(raw); i += 2 {
		u = append(u, uint16(raw[i])|uint16(raw[i+1])<<8)
	}
	return string(utf16.Decode(u))
}
