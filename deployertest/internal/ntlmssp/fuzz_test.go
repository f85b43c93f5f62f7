package ntlmssp

import "testing"

func FuzzParseSPNEGO(f *testing.F) {
	f.Add(NegTokenInitHint())
	f.Add(NegTokenResp(1, true, []byte("NTLMSSP\x00tok"), nil))
	f.Add(NegTokenResp(-1, false, []byte("x"), []byte("mic")))
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := ParseSPNEGO(b)
		if err == nil && in == nil {
			t.Fatal("nil result without error")
		}
	})
}
