package discovery

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzReadCSV checks that ReadCSV never panics, that every host it returns is
// valid and unique, and that problems point at lines of the input in order.
// Seed inputs are in testdata/fuzz/FuzzReadCSV.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("BIOS_NAME,IP_ADDRESS\r\nPC-001,10.0.0.1\r\n"))
	f.Add([]byte("\xEF\xBB\xBF\"PC-001\" , \"fe80::1%eth0\"\n,\n#c\nPC-002;\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hosts, err := ReadCSV(bytes.NewReader(data), "f")
		var ce *CSVError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error other than *CSVError from a bytes.Reader: %v", err)
		}
		// LF, CRLF and a lone CR each end a line.
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
		// Where reads stop changes nothing (a CR and its LF may arrive apart).
		again, err2 := ReadCSV(iotest.OneByteReader(bytes.NewReader(data)), "f")
		if (err == nil) != (err2 == nil) || len(again) != len(hosts) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("byte-by-byte reading differs: %d hosts, %v; whole: %d hosts, %v", len(again), err2, len(hosts), err)
		}
		if ce != nil {
			if len(ce.Problems) == 0 {
				t.Fatal("CSVError without problems")
			}
			prev := 0
			for _, p := range ce.Problems {
				if p.Line < 1 || p.Line > lines || p.Line < prev || p.Msg == "" {
					t.Fatalf("bad problem %+v (input has %d lines)", p, lines)
				}
				prev = p.Line
			}
			_ = ce.Error()
		}
		names := map[string]bool{}
		addrs := map[string]bool{}
		for _, h := range hosts {
			if h.Name == "" && !h.Addr.IsValid() {
				t.Fatalf("host with neither name nor address: %+v", h)
			}
			if h.Name != "" {
				if err := ValidateName(h.Name); err != nil {
					t.Fatalf("invalid name returned: %v", err)
				}
				k := strings.ToLower(strings.TrimSuffix(h.Name, "."))
				if names[k] {
					t.Fatalf("duplicate name returned: %q", h.Name)
				}
				names[k] = true
			}
			if h.Addr.IsValid() {
				if err := ValidateAddr(h.Addr); err != nil {
					t.Fatalf("invalid address returned: %v", err)
				}
				if addrs[h.Addr.String()] {
					t.Fatalf("duplicate address returned: %s", h.Addr)
				}
				addrs[h.Addr.String()] = true
			}
			if !strings.HasPrefix(h.Source, "csv:f:") || h.Err != nil {
				t.Fatalf("bad host %+v", h)
			}
		}
	})
}
