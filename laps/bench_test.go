package laps

import (
	"context"
	"testing"
)

// BenchmarkReadEncrypted decrypts the Windows LAPS blob of the test data
// with its domain controller's envelope: the client's whole share of the
// work per computer once the envelope is known (L2 key derivation from the
// envelope, DH key agreement, key unwrap, AES-GCM, JSON).
func BenchmarkReadEncrypted(b *testing.B) {
	enc, env := windowsLAPS(b)
	attrs := Attributes{AttrEncryptedPassword: {enc}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(ctx, "PC", attrs, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadClear reads a Windows LAPS password in clear.
func BenchmarkReadClear(b *testing.B) {
	attrs := Attributes{AttrPassword: {[]byte(`{"n":"Administrator","t":"1d8161b41c41cde","p":"A6a3#7%eb!5"}`)}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(ctx, "PC", attrs, nil); err != nil {
			b.Fatal(err)
		}
	}
}
