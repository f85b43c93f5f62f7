package lab

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsTTL is the TTL of every answer.
const dnsTTL = 60

// DNS is a small authoritative DNS server for tests, on UDP and TCP at the same address: it answers A and AAAA
// queries for the names it was given and NXDOMAIN for every other name (NOERROR with no answer when the name
// exists but has no address of the asked family).
type DNS struct {
	addr    string
	records map[string][]netip.Addr
	udp     *dns.Server
	tcp     *dns.Server
	queries atomic.Int64
}

// StartDNS starts a DNS server on 127.0.0.1 (random port, UDP and TCP) answering from records, whose keys are
// host names with or without the final dot, in any case. The server stops on cleanup.
func StartDNS(t testing.TB, records map[string][]netip.Addr) *DNS {
	t.Helper()
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("lab: %v", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			_ = pc.Close()
			if attempt < 5 {
				continue // the UDP port's TCP twin is taken: pick another port
			}
			t.Fatalf("lab: %v", err)
		}
		return serveDNS(t, records, pc, ln)
	}
}

// StartDNS starts a DNS server on port 53 of the host's primary address, inside its namespace; clients reach it
// with Net.Resolver(d.Addr()).
func (h *Host) StartDNS(t testing.TB, records map[string][]netip.Addr) *DNS {
	t.Helper()
	addr := netip.AddrPortFrom(h.Addr, 53).String()
	pc, err := h.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	ln, err := h.Listen(context.Background(), "tcp", addr)
	if err != nil {
		_ = pc.Close()
		t.Fatalf("lab: %v", err)
	}
	return serveDNS(t, records, pc, ln)
}

// serveDNS serves records on pc and ln until cleanup.
func serveDNS(t testing.TB, records map[string][]netip.Addr, pc net.PacketConn, ln net.Listener) *DNS {
	t.Helper()
	d := &DNS{addr: pc.LocalAddr().String(), records: make(map[string][]netip.Addr, len(records))}
	for name, addrs := range records {
		d.records[dns.CanonicalName(name)] = append([]netip.Addr(nil), addrs...)
	}
	h := dns.HandlerFunc(d.serve)
	started := make(chan struct{}, 2)
	d.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }}
	d.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }}
	errc := make(chan error, 2)
	go func() { errc <- d.udp.ActivateAndServe() }()
	go func() { errc <- d.tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			t.Fatalf("lab: DNS server: %v", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.udp.ShutdownContext(ctx); err != nil {
			t.Errorf("lab: DNS server (udp) shutdown: %v", err)
		}
		if err := d.tcp.ShutdownContext(ctx); err != nil {
			t.Errorf("lab: DNS server (tcp) shutdown: %v", err)
		}
		for range 2 {
			<-errc
		}
	})
	return d
}

// Addr returns the server's "ip:port".
func (d *DNS) Addr() string { return d.addr }

// Queries returns how many queries the server has answered.
func (d *DNS) Queries() int64 { return d.queries.Load() }

// Resolver returns a Go resolver (PreferGo) that sends every query to this server, over UDP or TCP as asked.
// For a server inside a namespace use Net.Resolver(d.Addr()).
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, network, d.addr)
		},
	}
}

// serve answers one query.
func (d *DNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	d.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	addrs, ok := d.records[dns.CanonicalName(q.Name)]
	if !ok {
		m.Rcode = dns.RcodeNameError
		_ = w.WriteMsg(m)
		return
	}
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: dnsTTL}
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case q.Qtype == dns.TypeA && a.Is4():
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
		case q.Qtype == dns.TypeAAAA && a.Is6():
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
		}
	}
	_ = w.WriteMsg(m) // an error means the client went away: nobody to tell
}
