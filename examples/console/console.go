package main

// console.go: what the console knows (the package, the Deployer, the
// collections, the accounts the wizard was given) and what it does with it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/examples/internal/demofleet"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

// consoleOptions configure a console.
type consoleOptions struct {
	// Deployer is the template of every Deployer's configuration; Package,
	// Store, Credentials, Properties and OnEvent are the console's.
	Deployer deployer.Config
	Login    loginSecret
	Logger   *slog.Logger
	// LDAPDial and LDAPResolver reach Active Directory and resolve the
	// computers it lists, for the collections from it; the system's when
	// nil (tests reach a lab's domain controller through them).
	LDAPDial     discovery.DialFunc
	LDAPResolver *net.Resolver
}

// packageInfo is the package chosen in the settings page.
type packageInfo struct {
	File     string // the name it was uploaded with
	Name     string
	Version  string
	Code     string
	Identity deployer.PackageIdentity
	path     string
}

// collection is a set of computers discovered together.
type collection struct {
	ID       int
	Name     string
	Source   string // "CSV file x.csv", "Active Directory ldaps://..."
	Hosts    []discovery.Host
	Problems []discovery.Problem // the CSV's bad lines
	Props    []msi.Property      // given to every computer of it
}

// console is the web application's state.
type console struct {
	opts   consoleOptions
	dir    string // uploaded packages
	store  deployer.Store
	events *broker
	auth   *auth
	pages  pages

	mu          sync.Mutex
	d           *deployer.Deployer
	pkg         *packageInfo
	pkgErr      string // why the chosen package has no Deployer
	collections []*collection
	order       []string                  // host keys in the order they were discovered
	hosts       map[string]discovery.Host // by key
	hostColl    map[string]*collection    // the collection a host was last discovered in
	uploads     int

	// secrets are the accounts and properties the Deployer picks at every
	// attempt; in memory only.
	secretsMu sync.RWMutex
	creds     map[string]smb.Credentials
	props     map[string][]msi.Property // by host key, from its collection
}

func newConsole(o consoleOptions) (*console, error) {
	dir, err := os.MkdirTemp("", "deployer-console-")
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &console{opts: o, dir: dir, store: deployer.NewMemoryStore(), events: newBroker(), auth: newAuth(o.Login),
		pages: parsePages(), hosts: map[string]discovery.Host{}, hostColl: map[string]*collection{},
		creds: map[string]smb.Credentials{}, props: map[string][]msi.Property{}}
	return c, nil
}

// Shutdown ends the event streams, so the web server can stop.
func (c *console) Shutdown() { c.events.close() }

// Close stops the Deployer (installations under way are stopped and their
// hosts cleaned up), forgets the accounts and removes the uploaded packages.
func (c *console) Close() error {
	c.events.close()
	c.mu.Lock()
	d := c.d
	c.d = nil
	c.mu.Unlock()
	var err error
	if d != nil {
		err = d.Close()
	}
	c.secretsMu.Lock()
	clear(c.creds)
	c.secretsMu.Unlock()
	return errors.Join(err, os.RemoveAll(c.dir))
}

// deployer returns the current Deployer, nil when no package is chosen.
func (c *console) deployer() *deployer.Deployer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.d
}

// setPackage inspects the package in data and makes a new Deployer for it:
// the old one, if any, is closed first (its installations under way are
// stopped); the hosts keep their records, which the new one loads.
func (c *console) setPackage(name string, data []byte) (*packageInfo, error) {
	base := filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	info, err := msi.InspectReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uploads++
	path := filepath.Join(c.dir, fmt.Sprintf("package-%d.msi", c.uploads))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	if c.d != nil {
		if err := c.d.Close(); err != nil {
			c.opts.Logger.Warn("closing the Deployer of the previous package", "error", err.Error())
		}
		c.d = nil
	}
	if c.pkg != nil {
		os.Remove(c.pkg.path)
	}
	p := &packageInfo{File: base, Name: info.ProductName, Version: info.ProductVersion, Code: info.ProductCode, path: path}
	c.pkg, c.pkgErr = p, ""
	cfg := c.opts.Deployer
	cfg.Package = deployer.Package{Path: path}
	cfg.Store = c.store
	cfg.Credentials = c.credentials
	cfg.Properties = c.properties
	cfg.OnEvent = func(ev deployer.Event) { c.events.publish(ev.Host) }
	d, err := deployer.New(cfg)
	if err != nil {
		c.pkgErr = err.Error()
		return p, err
	}
	c.d = d
	p.Identity = d.Package()
	c.events.publishAll()
	return p, nil
}

// credentials is the Deployer's Config.Credentials: the account the wizard
// was given for the host.
func (c *console) credentials(h discovery.Host) (smb.Credentials, bool) {
	c.secretsMu.RLock()
	defer c.secretsMu.RUnlock()
	cr, ok := c.creds[h.Label()]
	return cr, ok
}

// properties is the Deployer's Config.Properties: the host's collection's.
func (c *console) properties(h discovery.Host) ([]msi.Property, bool) {
	c.secretsMu.RLock()
	defer c.secretsMu.RUnlock()
	p, ok := c.props[h.Label()]
	return p, ok
}

// addCollection records a discovered collection; its hosts join the table
// as Discovered unless the Deployer knows them.
func (c *console) addCollection(name, source string, hosts []discovery.Host, problems []discovery.Problem) *collection {
	c.mu.Lock()
	defer c.mu.Unlock()
	col := &collection{ID: len(c.collections) + 1, Name: name, Source: source, Hosts: hosts, Problems: problems}
	if col.Name == "" {
		col.Name = fmt.Sprintf("Collection %d", col.ID)
	}
	c.collections = append(c.collections, col)
	for _, h := range hosts {
		key := h.Label()
		if _, ok := c.hosts[key]; !ok {
			c.order = append(c.order, key)
		}
		c.hosts[key] = h
		c.hostColl[key] = col
	}
	return col
}

// errNoPackage: scheduling needs a package.
var errNoPackage = errors.New("choose the package in Settings first")

// schedule gives the hosts of keys the account and their collections the
// properties, and schedules them. Hosts that failed are rescheduled (the
// operator's decision, with perhaps a corrected account, overrides the
// retry class).
func (c *console) schedule(keys []string, cred smb.Credentials, props map[int][]msi.Property) (int, error) {
	c.mu.Lock()
	d := c.d
	var hosts []discovery.Host
	var failed []string
	for _, k := range keys {
		h, ok := c.hosts[k]
		if !ok {
			if d == nil {
				continue
			}
			if _, known := d.Host(k); !known {
				continue
			}
			h = discovery.Host{Name: k}
		}
		hosts = append(hosts, h)
		if col := c.hostColl[k]; col != nil {
			if p, ok := props[col.ID]; ok {
				col.Props = p
			}
		}
	}
	c.secretsMu.Lock()
	for _, h := range hosts {
		k := h.Label()
		c.creds[k] = cred
		if col := c.hostColl[k]; col != nil && len(col.Props) > 0 {
			c.props[k] = slices.Clone(col.Props)
		} else {
			delete(c.props, k)
		}
	}
	c.secretsMu.Unlock()
	c.mu.Unlock()
	if d == nil {
		return 0, errNoPackage
	}
	if len(hosts) == 0 {
		return 0, errors.New("no computer selected")
	}
	for _, h := range hosts {
		if r, ok := d.Host(h.Label()); ok && r.State == deployer.Failed {
			failed = append(failed, h.Label())
		}
	}
	if err := d.Schedule(hosts...); err != nil {
		return 0, err
	}
	if len(failed) > 0 {
		if err := d.Reschedule(failed...); err != nil {
			return 0, err
		}
	}
	return len(hosts), nil
}

// probe runs the doctor on one host with cred, or the account the host was
// scheduled with when cred has no user.
func (c *console) probe(ctx context.Context, key string, cred smb.Credentials) (*deployer.ProbeReport, error) {
	c.mu.Lock()
	h, ok := c.hosts[key]
	c.mu.Unlock()
	if !ok {
		h = discovery.Host{Name: key}
		if d := c.deployer(); d == nil {
			return nil, fmt.Errorf("%w %q", deployer.ErrUnknownHost, key)
		} else if r, known := d.Host(key); !known {
			return nil, fmt.Errorf("%w %q", deployer.ErrUnknownHost, key)
		} else if a, err := discovery.ParseAddr(r.Addr); err == nil {
			h.Addr = a
		}
	}
	if cred.User == "" {
		var known bool
		if cred, known = c.credentials(h); !known {
			return nil, errors.New("give an account: this computer was not scheduled with one")
		}
	}
	opts := deployer.ProbeOptions{ConnectConfig: c.opts.Deployer.Connect}
	opts.SMB.Credentials = cred
	return deployer.Probe(ctx, h, opts), nil
}

// loadDemo starts the demo with its package and a collection of the fleet.
func (c *console) loadDemo(f *demo.Fleet) error {
	if _, err := c.setPackage("demo.msi", demofleet.MSI); err != nil {
		return err
	}
	hosts, err := discovery.ReadCSV(strings.NewReader(f.CSV()), "demo-fleet.csv")
	var ce *discovery.CSVError
	if err != nil && !errors.As(err, &ce) {
		return err
	}
	col := c.addCollection("Demo fleet", "CSV file demo-fleet.csv", hosts, nil)
	if ce != nil {
		col.Problems = ce.Problems
	}
	return nil
}
