package main

// handlers.go: the console's pages and forms.

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

//go:embed templates static
var assets embed.FS

// Upload bounds.
const (
	maxFormBytes    = 1 << 20
	maxCSVBytes     = 16 << 20
	maxPackageBytes = 1 << 30
)

// Bounds of the console's own waits.
const (
	probeTimeout = 2 * time.Minute
	ldapTimeout  = 2 * time.Minute
)

// pages are the parsed templates, one per page, each with the layout.
type pages map[string]*template.Template

func parsePages() pages {
	funcs := template.FuncMap{
		"dur": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format("15:04:05.000")
		},
	}
	p := pages{}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		p[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n))
	}
	return p
}

// page is what every page's layout needs.
type page struct {
	Title   string
	CSRF    string
	Flash   string
	Error   string
	Package *packageInfo
	Nav     string
	Data    any
}

// ServeHTTP routes requests: the login page and the static files are
// public, everything else needs a session.
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w.Header())
	if strings.HasPrefix(r.URL.Path, "/static/") {
		c.serveStatic(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/login" {
		c.serveLogin(w, r)
		return
	}
	_, s := c.auth.session(r)
	if s == nil {
		if r.Method == http.MethodGet && r.URL.Path != "/events" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodPost {
		if !c.checkPost(w, r, s) {
			return
		}
	} else if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	type handler func(http.ResponseWriter, *http.Request, *session)
	routes := map[string]map[string]handler{
		"/":                 {http.MethodGet: c.serveComputers},
		"/events":           {http.MethodGet: func(w http.ResponseWriter, r *http.Request, _ *session) { c.serveEvents(w, r) }},
		"/collections":      {http.MethodGet: c.serveCollections},
		"/collections/csv":  {http.MethodPost: c.postCSV},
		"/collections/ldap": {http.MethodPost: c.postLDAP},
		"/settings":         {http.MethodGet: c.serveSettings},
		"/settings/package": {http.MethodPost: c.postPackage},
		"/schedule":         {http.MethodPost: c.postWizard},
		"/schedule/confirm": {http.MethodPost: c.postSchedule},
		"/retry-failed":     {http.MethodPost: c.postRetryFailed},
		"/host":             {http.MethodGet: c.serveHost},
		"/host/cancel":      {http.MethodPost: c.postCancel},
		"/host/reschedule":  {http.MethodPost: c.postReschedule},
		"/host/probe":       {http.MethodPost: c.postProbe},
		"/logout":           {http.MethodPost: c.postLogout},
	}
	methods, ok := routes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	h, ok := methods[m]
	if !ok {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h(w, r, s)
}

// checkPost bounds the request's body, parses the form and checks its CSRF
// token (and, when the browser sends one, its Origin): a form not from this
// session's pages gets 403 Forbidden.
func (c *console) checkPost(w http.ResponseWriter, r *http.Request, s *session) bool {
	limit := int64(maxFormBytes)
	switch r.URL.Path {
	case "/settings/package":
		limit = maxPackageBytes
	case "/collections/csv":
		limit = maxCSVBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+maxFormBytes)
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		http.Error(w, "cross-origin form refused", http.StatusForbidden)
		return false
	}
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(8 << 20)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("the upload is larger than %d MiB", limit>>20), http.StatusRequestEntityTooLarge)
			return false
		}
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	if !c.auth.csrfOK(r, s) {
		http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
		return false
	}
	return true
}

func (c *console) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	sub, _ := fs.Sub(assets, "static")
	http.StripPrefix("/static/", http.FileServer(http.FS(sub))).ServeHTTP(w, r)
}

// render writes a page; templates render into a buffer first so a failure
// is a clean 500.
func (c *console) render(w http.ResponseWriter, s *session, status int, name string, p page) {
	if s != nil {
		p.CSRF = c.auth.csrfToken(s)
		if p.Flash == "" {
			p.Flash = c.auth.takeFlash(s)
		}
	}
	c.mu.Lock()
	p.Package = c.pkg
	c.mu.Unlock()
	var b bytes.Buffer
	if err := c.pages[name].Execute(&b, p); err != nil {
		c.opts.Logger.Error("rendering a page", "page", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// redirect sends the browser to path with a message for the next page.
func (c *console) redirect(w http.ResponseWriter, r *http.Request, s *session, path, flash string) {
	if flash != "" {
		c.auth.setFlash(s, flash)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (c *console) serveLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// The URL printed at start carries the token: log in and drop it
		// from the address bar.
		if tok := r.URL.Query().Get("token"); tok != "" {
			if c.auth.check(tok) {
				c.auth.login(w, r)
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			c.renderLogin(w, r, http.StatusUnauthorized, "wrong token")
			return
		}
		c.renderLogin(w, r, http.StatusOK, "")
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		ck, err := r.Cookie(preLoginCookie)
		if err != nil || ck.Value == "" || r.PostFormValue("csrf") != ck.Value {
			http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
			return
		}
		if !c.auth.check(r.PostFormValue("secret")) {
			time.Sleep(500 * time.Millisecond) // slows guessing down
			c.renderLogin(w, r, http.StatusUnauthorized, "wrong token or password")
			return
		}
		c.auth.login(w, r)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// renderLogin shows the login form with a fresh CSRF token in a cookie.
func (c *console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: preLoginCookie, Value: tok, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	c.render(w, nil, status, "login", page{Title: "Log in", CSRF: tok, Error: msg})
}

func (c *console) postLogout(w http.ResponseWriter, r *http.Request, _ *session) {
	c.auth.logout(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (c *console) serveComputers(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, s, http.StatusOK, "computers", page{Title: "Discover and install", Nav: "computers", Data: c.view()})
}

// collectionsData is the collections page.
type collectionsData struct {
	Collections []*collection
	Created     int
}

func (c *console) serveCollections(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderCollections(w, s, http.StatusOK, 0, "")
}

func (c *console) renderCollections(w http.ResponseWriter, s *session, status, created int, errMsg string) {
	c.mu.Lock()
	cols := slices.Clone(c.collections)
	c.mu.Unlock()
	slices.Reverse(cols)
	c.render(w, s, status, "collections", page{Title: "Collections", Nav: "collections", Error: errMsg,
		Data: collectionsData{Collections: cols, Created: created}})
}

// postCSV creates a collection from an uploaded CSV file: its valid rows
// are kept, its bad lines listed with their numbers.
func (c *console) postCSV(w http.ResponseWriter, r *http.Request, s *session) {
	f, fh, err := r.FormFile("csv")
	if err != nil {
		c.renderCollections(w, s, http.StatusBadRequest, 0, "choose a CSV file")
		return
	}
	defer f.Close()
	name := fh.Filename
	hosts, err := discovery.ReadCSV(f, name)
	var ce *discovery.CSVError
	if err != nil && !errors.As(err, &ce) {
		c.renderCollections(w, s, http.StatusBadRequest, 0, err.Error())
		return
	}
	if len(hosts) == 0 && ce == nil {
		c.renderCollections(w, s, http.StatusBadRequest, 0, name+": no computer in the file")
		return
	}
	var problems []discovery.Problem
	if ce != nil {
		problems = ce.Problems
	}
	col := c.addCollection(r.PostFormValue("name"), "CSV file "+name, hosts, problems)
	c.events.publishAll()
	c.renderCollections(w, s, http.StatusOK, col.ID, "")
}

// postLDAP creates a collection from Active Directory. The bind password
// is used for this search only.
func (c *console) postLDAP(w http.ResponseWriter, r *http.Request, s *session) {
	src := &discovery.LDAPSource{URL: strings.TrimSpace(r.PostFormValue("url")), BaseDN: strings.TrimSpace(r.PostFormValue("base")),
		Filter: strings.TrimSpace(r.PostFormValue("filter")), User: strings.TrimSpace(r.PostFormValue("bind_user")),
		Password: r.PostFormValue("bind_password"), Plain: r.PostFormValue("plain") == "on",
		Dial: c.opts.LDAPDial, Resolve: discovery.ResolveOptions{Resolver: c.opts.LDAPResolver}}
	if pem := strings.TrimSpace(r.PostFormValue("ca")); pem != "" {
		src.CAPEM = []byte(pem)
	}
	if src.URL == "" {
		c.renderCollections(w, s, http.StatusBadRequest, 0, "give the directory's LDAP URL")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ldapTimeout)
	defer cancel()
	hosts, err := src.Discover(ctx)
	if err != nil {
		c.renderCollections(w, s, http.StatusBadGateway, 0, "Active Directory: "+err.Error())
		return
	}
	col := c.addCollection(r.PostFormValue("name"), "Active Directory "+src.URL, hosts, nil)
	c.events.publishAll()
	c.renderCollections(w, s, http.StatusOK, col.ID, "")
}

func (c *console) serveSettings(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderSettings(w, s, http.StatusOK, "")
}

func (c *console) renderSettings(w http.ResponseWriter, s *session, status int, errMsg string) {
	c.mu.Lock()
	pkgErr := c.pkgErr
	c.mu.Unlock()
	if errMsg == "" && pkgErr != "" {
		errMsg = pkgErr
	}
	c.render(w, s, status, "settings", page{Title: "Settings", Nav: "settings", Error: errMsg})
}

// postPackage takes a new package: inspected first, then a new Deployer.
func (c *console) postPackage(w http.ResponseWriter, r *http.Request, s *session) {
	f, fh, err := r.FormFile("msi")
	if err != nil {
		c.renderSettings(w, s, http.StatusBadRequest, "choose an MSI file")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPackageBytes+1))
	if err != nil || len(data) > maxPackageBytes {
		c.renderSettings(w, s, http.StatusBadRequest, fmt.Sprintf("%s: unreadable, or larger than %d MiB", fh.Filename, maxPackageBytes>>20))
		return
	}
	p, err := c.setPackage(fh.Filename, data)
	if err != nil {
		c.renderSettings(w, s, http.StatusBadRequest, err.Error())
		return
	}
	c.redirect(w, r, s, "/settings", fmt.Sprintf("Package %s %s inspected; a new Deployer installs it.", p.Name, p.Version))
}

// wizardData is the wizard's second step.
type wizardData struct {
	Keys        []string
	Collections []*collection // of the selected computers, with their properties as NAME=VALUE lines
	PropsText   map[int]string
	User        string
	Domain      string
}

// postWizard is the wizard's account step for the selected computers.
func (c *console) postWizard(w http.ResponseWriter, r *http.Request, s *session) {
	keys := selectedKeys(r)
	if len(keys) == 0 {
		c.redirect(w, r, s, "/", "Select computers first.")
		return
	}
	c.renderWizard(w, s, http.StatusOK, keys, "", "", "")
}

func (c *console) renderWizard(w http.ResponseWriter, s *session, status int, keys []string, user, domain, errMsg string) {
	d := wizardData{Keys: keys, PropsText: map[int]string{}, User: user, Domain: domain}
	c.mu.Lock()
	seen := map[int]bool{}
	for _, k := range keys {
		if col := c.hostColl[k]; col != nil && !seen[col.ID] {
			seen[col.ID] = true
			d.Collections = append(d.Collections, col)
			var lines []string
			for _, p := range col.Props {
				lines = append(lines, p.Name+"="+p.Value)
			}
			d.PropsText[col.ID] = strings.Join(lines, "\n")
		}
	}
	c.mu.Unlock()
	c.render(w, s, status, "wizard", page{Title: "Schedule for installation", Nav: "computers", Error: errMsg, Data: d})
}

// selectedKeys are the form's "key" values, deduplicated.
func selectedKeys(r *http.Request) []string {
	var keys []string
	for _, k := range r.PostForm["key"] {
		if k = strings.TrimSpace(k); k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// parseProps reads NAME=VALUE lines.
func parseProps(text string) ([]msi.Property, error) {
	var out []msi.Property
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not NAME=VALUE", i+1, line)
		}
		if err := msi.ValidatePropertyName(name); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if err := msi.ValidatePropertyValue(name, value); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, msi.Property{Name: name, Value: value})
	}
	return out, nil
}

// postSchedule ends the wizard: the account and the properties are kept in
// memory and the computers scheduled.
func (c *console) postSchedule(w http.ResponseWriter, r *http.Request, s *session) {
	keys := selectedKeys(r)
	user, domain := strings.TrimSpace(r.PostFormValue("user")), strings.TrimSpace(r.PostFormValue("domain"))
	pw := r.PostFormValue("password")
	if user == "" || pw == "" {
		c.renderWizard(w, s, http.StatusBadRequest, keys, user, domain, "give the account's user name and password")
		return
	}
	props := map[int][]msi.Property{}
	for name, vals := range r.PostForm {
		id, err := strconv.Atoi(strings.TrimPrefix(name, "props-"))
		if !strings.HasPrefix(name, "props-") || err != nil || len(vals) == 0 {
			continue
		}
		p, err := parseProps(vals[0])
		if err != nil {
			c.renderWizard(w, s, http.StatusBadRequest, keys, user, domain, "MSI properties: "+err.Error())
			return
		}
		props[id] = p
	}
	n, err := c.schedule(keys, smb.Credentials{User: user, Domain: domain, Password: pw}, props)
	if err != nil {
		c.renderWizard(w, s, http.StatusBadRequest, keys, user, domain, err.Error())
		return
	}
	c.redirect(w, r, s, "/", fmt.Sprintf("%d computers scheduled for installation.", n))
}

func (c *console) postRetryFailed(w http.ResponseWriter, r *http.Request, s *session) {
	d := c.deployer()
	if d == nil {
		c.redirect(w, r, s, "/", errNoPackage.Error())
		return
	}
	keys, err := d.RescheduleFailed(0)
	if err != nil {
		c.redirect(w, r, s, "/", err.Error())
		return
	}
	c.redirect(w, r, s, "/", fmt.Sprintf("%d failed computers rescheduled.", len(keys)))
}

// hostData is the detail page of one computer.
type hostData struct {
	Row    row
	Record deployer.HostRecord
	Known  bool
	Probe  *probeView
}

// probeView is a probe's report as the page shows it.
type probeView struct {
	OK       bool
	Duration time.Duration
	Dialect  string
	Steps    []probeStep
	Error    *deployer.ErrorInfo
}

type probeStep struct {
	Name     string
	Duration time.Duration
	Error    string
}

func (c *console) hostData(key string) (hostData, bool) {
	v := c.view()
	rw, ok := v.row(key)
	if !ok {
		return hostData{}, false
	}
	hd := hostData{Row: rw}
	if d := c.deployer(); d != nil {
		hd.Record, hd.Known = d.Host(key)
	}
	return hd, true
}

func (c *console) serveHost(w http.ResponseWriter, r *http.Request, s *session) {
	key := r.URL.Query().Get("key")
	hd, ok := c.hostData(key)
	if !ok {
		http.Error(w, "no such computer", http.StatusNotFound)
		return
	}
	c.render(w, s, http.StatusOK, "host", page{Title: key, Nav: "computers", Data: hd})
}

func hostURL(key string) string { return "/host?key=" + url.QueryEscape(key) }

func (c *console) postCancel(w http.ResponseWriter, r *http.Request, s *session) {
	key := r.PostFormValue("key")
	d := c.deployer()
	if d == nil {
		c.redirect(w, r, s, hostURL(key), errNoPackage.Error())
		return
	}
	if err := d.Cancel(key); err != nil {
		c.redirect(w, r, s, hostURL(key), err.Error())
		return
	}
	c.redirect(w, r, s, hostURL(key), "Cancelling "+key+": an installation under way is stopped and the computer cleaned up; it goes back to the state it had before it was scheduled.")
}

func (c *console) postReschedule(w http.ResponseWriter, r *http.Request, s *session) {
	key := r.PostFormValue("key")
	d := c.deployer()
	if d == nil {
		c.redirect(w, r, s, hostURL(key), errNoPackage.Error())
		return
	}
	if _, ok := c.credentials(discovery.Host{Name: key}); !ok {
		c.redirect(w, r, s, hostURL(key), "schedule it with the wizard first: it has no account")
		return
	}
	if err := d.Reschedule(key); err != nil {
		c.redirect(w, r, s, hostURL(key), err.Error())
		return
	}
	c.redirect(w, r, s, hostURL(key), key+" rescheduled.")
}

// postProbe runs the doctor on one computer and shows its steps.
func (c *console) postProbe(w http.ResponseWriter, r *http.Request, s *session) {
	key := r.PostFormValue("key")
	cred := smb.Credentials{User: strings.TrimSpace(r.PostFormValue("user")), Domain: strings.TrimSpace(r.PostFormValue("domain")),
		Password: r.PostFormValue("password")}
	ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
	defer cancel()
	rep, err := c.probe(ctx, key, cred)
	hd, ok := c.hostData(key)
	if !ok {
		http.Error(w, "no such computer", http.StatusNotFound)
		return
	}
	if err != nil {
		c.render(w, s, http.StatusBadRequest, "host", page{Title: key, Nav: "computers", Error: "Probe: " + err.Error(), Data: hd})
		return
	}
	pv := &probeView{OK: rep.OK, Duration: rep.Duration, Error: deployer.NewErrorInfo(key, errOrNil(rep.Err))}
	if rep.Dialect != 0 {
		pv.Dialect = rep.Dialect.String()
	}
	for _, st := range rep.Steps {
		ps := probeStep{Name: st.Name, Duration: st.Duration}
		if st.Err != nil {
			ps.Error = errorTitle(deployer.NewErrorInfo(key, st.Err))
		}
		pv.Steps = append(pv.Steps, ps)
	}
	hd.Probe = pv
	c.render(w, s, http.StatusOK, "host", page{Title: key, Nav: "computers", Data: hd})
}

// errOrNil keeps a nil *derrors.Error a nil error.
func errOrNil[T error](e T) error {
	var zero T
	if any(e) == any(zero) {
		return nil
	}
	return e
}
