package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/examples/internal/demofleet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testToken = "test-login-token"

// testMSI is the demo's package, a copy of msi/testdata/ok.msi.
const testMSI = "../internal/demofleet/ok.msi"

// startConsole serves a console for fleet (nil: none) on an httptest server.
func startConsole(t *testing.T, fleet *demo.Fleet) (*console, *httptest.Server) {
	t.Helper()
	cfg := deployer.Config{Concurrency: 8}
	if fleet != nil {
		demofleet.Configure(&cfg, fleet)
	}
	return startConsoleWith(t, consoleOptions{Deployer: cfg})
}

// startConsoleWith serves a console with options o (logged in with
// testToken) on an httptest server.
func startConsoleWith(t *testing.T, o consoleOptions) (*console, *httptest.Server) {
	t.Helper()
	o.Login = loginSecret{token: testToken}
	c, err := newConsole(o)
	require.NoError(t, err)
	srv := httptest.NewServer(c)
	t.Cleanup(func() {
		c.Shutdown()
		srv.Close()
		require.NoError(t, c.Close())
	})
	return c, srv
}

// startFleet starts an emulated fleet with faults.
func startFleet(t *testing.T, password string, faults ...demo.Fault) *demo.Fleet {
	t.Helper()
	f, err := demo.Start(demo.Options{Faults: faults, Password: password, InstallTime: 400 * time.Millisecond,
		StartTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// client is a browser without JavaScript: a cookie jar, redirects not
// followed, and every body kept for TestPasswordNeverSent.
type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	bodies []string
}

func newClient(t *testing.T, base string) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	c.bodies = append(c.bodies, string(b))
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	require.NoError(c.t, err)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *client) upload(path, field, name string, data []byte, form url.Values) (*http.Response, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, vs := range form {
		for _, v := range vs {
			require.NoError(c.t, mw.WriteField(k, v))
		}
	}
	fw, err := mw.CreateFormFile(field, name)
	require.NoError(c.t, err)
	fw.Write(data)
	require.NoError(c.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, c.base+path, &b)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in with the token and returns the session's CSRF token.
func (c *client) login() string {
	c.t.Helper()
	resp, _ := c.get("/login?token=" + testToken)
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode)
	_, body := c.get("/settings")
	m := csrfField.FindStringSubmatch(body)
	require.NotNil(c.t, m, "no CSRF token in the page")
	return m[1]
}

// TestLoginRequired: without a session, pages redirect to the login page,
// the event stream and the forms answer 401, and a wrong token is refused.
func TestLoginRequired(t *testing.T) {
	_, srv := startConsole(t, nil)
	c := newClient(t, srv.URL)
	for _, p := range []string{"/", "/settings", "/collections", "/host?key=x"} {
		resp, _ := c.get(p)
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
		assert.Equal(t, "/login", resp.Header.Get("Location"), p)
	}
	resp, _ := c.get("/events")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	for _, p := range []string{"/retry-failed", "/schedule/confirm", "/host/cancel", "/settings/package"} {
		resp, _ := c.post(p, url.Values{"key": {"x"}})
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
	}
	resp, _ = c.get("/login?token=wrong")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = c.get("/")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a wrong token must not log in")

	// The login form: its CSRF token, then the right or a wrong secret.
	resp, body := c.get("/login")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	tok := csrfField.FindStringSubmatch(body)[1]
	resp, _ = c.post("/login", url.Values{"secret": {testToken}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a login form without its CSRF token")
	resp, _ = c.post("/login", url.Values{"secret": {"nope"}, "csrf": {tok}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_, body = c.get("/login")
	tok = csrfField.FindStringSubmatch(body)[1]
	resp, _ = c.post("/login", url.Values{"secret": {testToken}, "csrf": {tok}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = c.get("/")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestCSRF: every form needs the session's CSRF token and a same-origin
// Origin, else 403 and nothing is done.
func TestCSRF(t *testing.T) {
	con, srv := startConsole(t, nil)
	c := newClient(t, srv.URL)
	tok := c.login()
	msi, err := os.ReadFile(testMSI)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		csrf string
	}{{"missing", ""}, {"wrong", "x" + tok}} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{}
			if tc.csrf != "" {
				form.Set("csrf", tc.csrf)
			}
			for _, p := range []string{"/retry-failed", "/schedule", "/schedule/confirm", "/host/cancel", "/host/probe", "/logout"} {
				resp, _ := c.post(p, form)
				assert.Equal(t, http.StatusForbidden, resp.StatusCode, p)
			}
			resp, _ := c.upload("/settings/package", "msi", "ok.msi", msi, form)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			assert.Nil(t, con.deployer(), "the package was taken without a CSRF token")
			resp, _ = c.upload("/collections/csv", "csv", "h.csv", []byte("BIOS_NAME,IP_ADDRESS\nPC1,10.0.0.1\n"), form)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			assert.Empty(t, con.view().Rows)
		})
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/retry-failed", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, _ := c.do(req)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a cross-origin form")
	resp, _ = c.upload("/settings/package", "msi", "ok.msi", msi, url.Values{"csrf": {tok}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.NotNil(t, con.deployer())
}

// TestHeaders: the session cookie is HttpOnly and SameSite=Strict; every
// page forbids inline script and framing and is not stored.
func TestHeaders(t *testing.T) {
	_, srv := startConsole(t, nil)
	c := newClient(t, srv.URL)
	resp, _ := c.get("/login?token=" + testToken)
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			found = true
			assert.True(t, ck.HttpOnly)
			assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
		}
	}
	require.True(t, found, "no session cookie")
	for _, p := range []string{"/", "/settings", "/collections", "/login", "/static/console.js"} {
		resp, body := c.get(p)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		csp := resp.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", p)
		assert.NotContains(t, csp, "unsafe-inline", p)
		assert.Contains(t, csp, "frame-ancestors 'none'", p)
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), p)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), p)
		if !strings.HasPrefix(p, "/static/") {
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), p)
			assert.NotRegexp(t, `<script>|<script [^>]*>[^<]`, body, "inline script in %s", p)
		}
	}
}

// TestPasswordNeverSent schedules an emulated fleet with a distinctive
// password through the wizard and checks that no page, no error re-render,
// no probe and no event of the stream carries it, and that no file of the
// console holds it.
func TestPasswordNeverSent(t *testing.T) {
	const password = "Zq7-console-Secret!9"
	fleet := startFleet(t, password, demo.Healthy, demo.MSIFailure, demo.WrongPassword)
	con, srv := startConsole(t, fleet)
	c := newClient(t, srv.URL)
	tok := c.login()
	msi, err := os.ReadFile(testMSI)
	require.NoError(t, err)
	resp, _ := c.upload("/settings/package", "msi", "ok.msi", msi, url.Values{"csrf": {tok}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, body := c.upload("/collections/csv", "csv", "fleet.csv", []byte(fleet.CSV()), url.Values{"csrf": {tok}})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	// The event stream, read from the start to the end of the test.
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	require.NoError(t, err)
	stream, err := c.hc.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, stream.StatusCode)
	var events strings.Builder
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			events.WriteString(sc.Text() + "\n")
		}
	}()

	keys := []string{}
	for _, h := range fleet.Hosts {
		keys = append(keys, h.Name)
	}
	form := url.Values{"csrf": {tok}, "key": keys}
	resp, body = c.post("/schedule", form)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `id="wizard"`)
	// A wizard error re-renders the form: without the password.
	resp, body = c.post("/schedule/confirm", url.Values{"csrf": {tok}, "key": keys, "password": {password}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "user name")
	resp, body = c.post("/schedule/confirm", url.Values{"csrf": {tok}, "key": keys, "user": {fleet.User},
		"password": {password}, "props-1": {"bad line"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "NAME=VALUE")
	resp, _ = c.post("/schedule/confirm", url.Values{"csrf": {tok}, "key": keys, "user": {fleet.User},
		"password": {password}, "props-1": {"SERVER=engine1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	d := con.deployer()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	require.NoError(t, d.Wait(wctx))
	counts := d.Counts()
	assert.Equal(t, 1, counts[deployer.WithCollector])
	assert.Equal(t, 2, counts[deployer.Failed])

	for _, k := range keys {
		_, body := c.get("/host?key=" + url.QueryEscape(k))
		assert.Contains(t, body, k)
		resp, body = c.post("/host/probe", url.Values{"csrf": {tok}, "key": {k}})
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, `id="probe-result"`)
	}
	c.get("/")
	c.get("/collections")
	c.get("/settings")
	time.Sleep(300 * time.Millisecond) // the last events reach the stream
	cancel()
	stream.Body.Close()
	<-streamDone

	assert.Contains(t, events.String(), "event: host")
	assert.Contains(t, events.String(), "With Collector")
	for i, b := range append(c.bodies, events.String()) {
		assert.NotContains(t, b, password, "response %d carries the password", i)
	}
	require.NoError(t, filepath.WalkDir(con.dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		assert.NotContains(t, string(b), password, p)
		return err
	}))
}

// TestFlags: -h prints the usage to stderr and exits 0; bad command lines
// exit 2 with the reason.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"-h"}, exitOK, "-listen"},
		{[]string{"-nope"}, exitUsage, "flag provided but not defined"},
		{[]string{"-listen", "nonsense"}, exitUsage, "-listen"},
		{[]string{"-concurrency", "0"}, exitUsage, "-concurrency"},
		{[]string{"pc1"}, exitUsage, "unexpected arguments"},
		{[]string{"-login-password-env", "CONSOLE_TEST_UNSET_VARIABLE"}, exitUsage, "never taken from a flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tc.code, run(tc.args, &stdout, &stderr))
			assert.Contains(t, stderr.String(), tc.err)
			assert.Empty(t, stdout.String())
		})
	}
}

// TestStopsOnSignal: the console started by run stops cleanly on SIGINT
// and SIGTERM, with status 0.
func TestStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Setenv("CONSOLE_TEST_PASSWORD", "pw")
			pr, pw := io.Pipe()
			var stderr bytes.Buffer
			code := make(chan int, 1)
			go func() {
				defer pw.Close()
				code <- run([]string{"-listen", "127.0.0.1:0", "-login-password-env", "CONSOLE_TEST_PASSWORD"}, pw, &stderr)
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			require.NoError(t, err)
			require.Contains(t, line, "http://127.0.0.1:")
			go io.Copy(io.Discard, pr)
			require.NoError(t, syscall.Kill(syscall.Getpid(), sig))
			select {
			case c := <-code:
				assert.Equal(t, exitOK, c, stderr.String())
			case <-time.After(30 * time.Second):
				t.Fatal("the console did not stop")
			}
		})
	}
}
