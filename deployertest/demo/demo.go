// Package demo starts a fleet of emulated Windows hosts with a mix of the
// faults real fleets show, each running the model of the deployer's remote
// service. examples/deploy -demo deploys to it, and the Deployer's tests use
// it, so both see every state and most rows of the error table.
package demo

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/discovery"
)

// Fault is what is wrong with one emulated host: deployertest's faults by
// name.
type Fault = deployertest.Fault

// The faults of a demo fleet (see deployertest's Fault constants).
const (
	Healthy       = deployertest.Healthy
	RebootNeeded  = deployertest.RebootNeeded
	MSIFailure    = deployertest.MSIFailure
	BusyThenOK    = deployertest.BusyThenOK
	Busy          = deployertest.Busy
	WrongPassword = deployertest.WrongPassword
	AdminShareOff = deployertest.AdminShareOff
	UAC           = deployertest.UAC
	Quarantine    = deployertest.Quarantine
	ServiceHangs  = deployertest.ServiceHangs
	Offline       = deployertest.Offline
	Slow          = deployertest.Slow
	GuestOnly     = deployertest.GuestOnly
	AccountLocked = deployertest.AccountLocked
	OldWindows    = deployertest.OldWindows
	// ServiceCreationRefused installs through the Task Scheduler.
	ServiceCreationRefused = deployertest.ServiceCreationRefused
)

// System is the Windows version and architecture of a host.
type System struct {
	Windows deployertest.Windows
	Arch    deployertest.Arch
}

// Systems is the demo fleet's mix of Windows versions for n hosts: mostly Server 2022, with Server 2012 R2,
// Windows 10, Windows 11, Server 2019 and a 32-bit Windows 10 spread over the fleet (the Windows 7 host is the
// OldWindows fault).
func Systems(n int) []System {
	mix := []System{{deployertest.Server2012R2, deployertest.AMD64}, {deployertest.Windows10, deployertest.AMD64},
		{deployertest.Windows11, deployertest.AMD64}, {deployertest.Windows10, deployertest.X86},
		{deployertest.Server2019, deployertest.AMD64}}
	out := make([]System, n)
	for i := range out {
		out[i] = System{deployertest.Server2022, deployertest.AMD64}
	}
	for i, s := range mix {
		if j := (2*i + 1) * n / (2 * len(mix)); j < n {
			out[j] = s
		}
	}
	return out
}

// DefaultSize is the size of the demo fleet.
const DefaultSize = 50

// Mix is the default mix of a fleet of n hosts: deployertest.FaultMix.
func Mix(n int) []Fault { return deployertest.FaultMix(n) }

// Options shape a fleet.
type Options struct {
	// Faults gives each host's fault; its length is the fleet's size.
	Faults []Fault
	// Port is the SMB port every host listens on (on its own 127.10.x.y
	// address); 0 picks one.
	Port int
	// User and Password are the administrator account of every host (the
	// WrongPassword hosts use another password).
	User, Password string
	// InstallTime is how long a healthy install takes; Slow hosts take 10×.
	InstallTime time.Duration
	// StartTimeout is how long a service may take to report RUNNING
	// before StartService fails with 1053.
	StartTimeout time.Duration
	// Dir holds the hosts' disks; "" means a new temporary directory that
	// Close removes.
	Dir string
	// Systems gives each host's Windows version and architecture (see
	// Systems); nil means Windows Server 2022 on AMD64 for all. An OldWindows
	// host runs Windows 7 whatever it says.
	Systems []System
}

// Host is one host of the fleet.
type Host struct {
	*deployertest.Host
	// Fault is what is wrong with it.
	Fault Fault
	// Addr is its address.
	IP netip.Addr
}

// Fleet is a running demo fleet.
type Fleet struct {
	Hosts []*Host
	Port  int
	User  string
	// Password is the administrator password of the hosts.
	Password string
	dir      string
	tmp      bool
	once     sync.Once
	closeErr error
}

// Start starts a fleet.
func Start(o Options) (*Fleet, error) {
	if o.User == "" {
		o.User = deployertest.DefaultUser
	}
	if o.Password == "" {
		o.Password = deployertest.DefaultPassword
	}
	if o.InstallTime <= 0 {
		o.InstallTime = 300 * time.Millisecond
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = time.Second
	}
	f := &Fleet{User: o.User, Password: o.Password, dir: o.Dir}
	if f.dir == "" {
		d, err := os.MkdirTemp("", "deployer-demo-")
		if err != nil {
			return nil, err
		}
		f.dir, f.tmp = d, true
	}
	port := o.Port
	if port == 0 {
		p, err := freePort(len(o.Faults))
		if err != nil {
			f.Close()
			return nil, err
		}
		port = p
	}
	f.Port = port
	for i, fault := range o.Faults {
		h, err := f.start(i, fault, o)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("demo host %d (%s): %w", i, fault, err)
		}
		f.Hosts = append(f.Hosts, h)
	}
	return f, nil
}

func (f *Fleet) start(i int, fault Fault, o Options) (*Host, error) {
	ip := netip.MustParseAddr(deployertest.FleetAddress(i))
	name := fmt.Sprintf("PC-%04d", i+1)
	h := &Host{Fault: fault, IP: ip}
	if fault == Offline {
		h.Host = &deployertest.Host{Name: name, IP: ip.String(), Port: f.Port, Addr: net.JoinHostPort(ip.String(), strconv.Itoa(f.Port))}
		return h, nil
	}
	root := filepath.Join(f.dir, name)
	sys := System{deployertest.Server2022, deployertest.AMD64}
	if i < len(o.Systems) {
		sys = o.Systems[i]
	}
	opts := []deployertest.Option{deployertest.WithRoot(root), deployertest.WithHostname(name),
		deployertest.WithWindows(sys.Windows), deployertest.WithArch(sys.Arch),
		deployertest.WithListenAddress(net.JoinHostPort(ip.String(), strconv.Itoa(f.Port))),
		deployertest.WithCredentials(f.User, f.Password),
		deployertest.WithInstaller(deployertest.Installer{Duration: o.InstallTime}),
		deployertest.WithStartTimeout(o.StartTimeout), deployertest.WithFault(fault)}
	wh, err := deployertest.New(opts...)
	if err != nil {
		return nil, err
	}
	h.Host = wh
	return h, nil
}

// freePort finds a port free on the first n fleet addresses.
func freePort(n int) (int, error) {
	for try := 0; try < 20; try++ {
		ln, err := net.Listen("tcp", deployertest.FleetAddress(0)+":0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ok := true
		for i := 1; i < n && ok; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort(deployertest.FleetAddress(i), strconv.Itoa(port)))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("demo: no port free on every fleet address")
}

// Targets returns the fleet as discovered hosts (name and address), as a CSV
// in the Deployer documentation's BIOS_NAME,IP_ADDRESS format would give them.
func (f *Fleet) Targets() []discovery.Host {
	out := make([]discovery.Host, len(f.Hosts))
	for i, h := range f.Hosts {
		out[i] = discovery.Host{Name: h.Name, Addr: h.IP, Source: "demo"}
	}
	return out
}

// CSV renders the fleet in the Deployer documentation's BIOS_NAME,IP_ADDRESS format.
func (f *Fleet) CSV() string {
	s := "BIOS_NAME,IP_ADDRESS\n"
	for _, h := range f.Hosts {
		s += h.Name + "," + h.IP.String() + "\n"
	}
	return s
}

// Close stops every host and removes the fleet's directory if it made it.
// Later calls return the first call's result.
func (f *Fleet) Close() error {
	f.once.Do(func() { f.closeErr = f.close() })
	return f.closeErr
}

func (f *Fleet) close() error {
	var errs []error
	for _, h := range f.Hosts {
		if h.Fault != Offline && h.Host != nil {
			errs = append(errs, h.Host.Close())
		}
	}
	if f.tmp {
		errs = append(errs, os.RemoveAll(f.dir))
	}
	return errors.Join(errs...)
}
