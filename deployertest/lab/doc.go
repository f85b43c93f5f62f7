// Package lab runs real peers for the deployer's tests: Samba in network namespaces, kernel network faults, a
// DNS server and a latency proxy. It plays the part x/crypto/ssh's test package gives OpenSSH's sshd: render a
// daemon's configuration into a temporary directory, start the real daemon, and tear it all down with the test.
//
// # Gating
//
// Require(t, needs...) skips a test with a precise reason ("needs root", "binary wixl not found (apt-get
// install wixl)", ...) when the machine lacks something, and fails it instead when DEPLOYER_LAB=required, as CI
// sets it:
//
//	lab.Require(t, "root", "netns", "smbd", "smbclient")
//
// # Networks
//
// NewNet(t) makes one test's private network: a client namespace, and for each AddHost a host namespace joined
// to it by a veth pair. Host i owns 10.i.0.0/16 (its address 10.i.0.1, the client's end 10.i.255.254);
// AddAddrs gives a host more addresses for fleets. Nothing routes outside, and hosts do not reach each other.
// Names carry a per-run prefix "dl<pid>x<hex>" so parallel runs never collide; Sweep (called by NewNet) removes
// what dead runs left. On cleanup, processes are killed by PID, rules and routes removed, namespaces deleted.
//
// The test process itself stays in the root namespace. Net.DialContext makes its socket on an OS thread that
// has entered the client namespace (then switched back), so Go clients under test connect to hosts without
// `ip netns exec`; pass it (or Net.Dialer) wherever the library takes a dial hook, and Net.Resolver for a DNS
// server inside the Net. Host.Listen puts an in-process server inside a host, where kernel faults apply to it.
// Commands (Net.Command, Host.Command) run through `ip netns exec`; Host.Start runs a daemon under setsid with
// its output in a log file whose tail is printed if the test fails.
//
//	n := lab.NewNet(t)
//	h := n.AddHost(t, "target")
//	s := h.StartSamba(t, lab.SambaOptions{SigningMandatory: true})
//	conn, err := n.DialContext(ctx, "tcp", netip.AddrPortFrom(s.Addr, 445).String())
//
// # Faults
//
// Kernel faults inside a host's namespace, each removed by the returned function or on cleanup: Drop (connect
// timeout), RejectUnreachable (EHOSTUNREACH), RejectReset (ECONNREFUSED), Loss (random loss); and Net.Unroute
// (EHOSTUNREACH without a packet sent). This kernel has no netem: latency comes from StartDelayProxy, a userspace
// proxy that delays each chunk by a fixed one-way D in each direction without capping throughput.
//
// # Samba
//
// Host.StartSamba runs smbd and samba-dcerpcd (started explicitly, `rpc start on demand helpers = no`) from a
// self-contained smb.conf. AdminUser ("Administrator", mapped to root) has an admin token, so svcctl
// OpenSCManager works; User is a non-admin Unix user made for the run: IPC$ works, ADMIN$ is denied, as on
// Windows. SambaOptions mimic hardened Windows (mandatory signing, required encryption, SMB 3.1.1 only) and the
// failures a deployer meets: ADMIN$ missing (NT_STATUS_BAD_NETWORK_NAME), ADMIN$ denied after a good logon
// (NT_STATUS_ACCESS_DENIED, the UAC remote restriction), every logon mapped to guest.
//
// # DNS
//
// StartDNS (loopback) and Host.StartDNS (inside a host) answer A/AAAA from a map and NXDOMAIN for anything else.
package lab
