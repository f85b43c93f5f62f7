package discovery

import "testing"

// FuzzParseRange checks that ParseRange never panics, never returns more
// than max addresses, and returns only valid, distinct addresses.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1-10.0.0.9", "2001:db8::/120", "10.0.0.1,10.0.0.1",
		"fe80::1%eth0-fe80::5%eth0", "0.0.0.0/0", "10.0.0.5", " , 10.1.1.1 - 10.1.1.3 "} {
		f.Add(s, 300)
	}
	f.Fuzz(func(t *testing.T, spec string, max int) {
		if max < 0 || max > 4096 {
			max = 4096
		}
		addrs, err := ParseRange(spec, max)
		if err != nil {
			if addrs != nil {
				t.Fatalf("addresses with an error")
			}
			return
		}
		if len(addrs) > max {
			t.Fatalf("%d addresses, max %d", len(addrs), max)
		}
		seen := map[string]bool{}
		for _, a := range addrs {
			if err := ValidateAddr(a); err != nil {
				t.Fatalf("invalid address %s: %v", a, err)
			}
			if seen[a.String()] {
				t.Fatalf("duplicate %s", a)
			}
			seen[a.String()] = true
		}
	})
}
