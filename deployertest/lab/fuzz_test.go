package lab

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatState(t *testing.T) {
	tests := []struct {
		line string
		want byte
	}{
		{"1234 (sleep) S 1 2 3", 'S'},
		{"1234 (a) b) Z 1 2 3", 'Z'},
		{"1234 (smbd: client [10.1.0.1]) R 1", 'R'},
		{"1234 (x)", 0},
		{"garbage", 0},
		{"", 0},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, statState([]byte(tc.line)), tc.line)
	}
}

func FuzzStatState(f *testing.F) {
	f.Add([]byte("1234 (sleep) S 1 2 3"))
	f.Add([]byte("1 (a) b) Z 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := statState(b)
		if s == 0 {
			return
		}
		i := strings.LastIndexByte(string(b), ')')
		require.GreaterOrEqual(t, i, 0)
		require.Equal(t, b[i+2], s, "the state follows the last ')'")
	})
}

func FuzzDeadRun(f *testing.F) {
	f.Add("dl1x1a2b-client")
	f.Add("dl99999999999999999999999x1-h")
	f.Add("dlx-")
	f.Add("dscexp")
	f.Fuzz(func(t *testing.T, name string) {
		if !deadRun(name) {
			return
		}
		m := runNameRE.FindStringSubmatch(name)
		require.NotNil(t, m, "only lab names are ever dead runs: %q", name)
		pid, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		require.Positive(t, pid)
	})
}

// recordingWriter is a dns.ResponseWriter that keeps the message written.
type recordingWriter struct {
	dns.ResponseWriter
	msg *dns.Msg
}

func (w *recordingWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }

func (w *recordingWriter) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
}

// FuzzDNSServe feeds arbitrary wire messages to the DNS handler: every parseable query gets exactly one answer
// that packs, with answers only for names in the records.
func FuzzDNSServe(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"host1.lab.test.", dns.TypeA}, {"missing.lab.test.", dns.TypeAAAA}, {"v6only.lab.test.", dns.TypeA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		b, err := m.Pack()
		require.NoError(f, err)
		f.Add(b)
	}
	d := &DNS{records: map[string][]netip.Addr{}}
	for name, addrs := range testRecords {
		d.records[dns.CanonicalName(name)] = addrs
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil {
			return
		}
		w := &recordingWriter{}
		d.serve(w, req)
		require.NotNil(t, w.msg)
		_, err := w.msg.Pack()
		require.NoError(t, err)
		assert.Equal(t, req.Id, w.msg.Id)
		if len(req.Question) == 1 {
			if _, ok := d.records[dns.CanonicalName(req.Question[0].Name)]; !ok {
				assert.Equal(t, dns.RcodeNameError, w.msg.Rcode)
				assert.Empty(t, w.msg.Answer)
			}
		} else {
			assert.Equal(t, dns.RcodeFormatError, w.msg.Rcode)
		}
	})
}
