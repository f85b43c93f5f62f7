package smb

import (
	"encoding/binary"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type avPair struct {
	id  uint16
	val string
}

// challenge builds a CHALLENGE_MESSAGE with the given AV pairs and version.
func challenge(version []byte, pairs ...avPair) []byte {
	var info []byte
	for _, p := range pairs {
		u := utf16.Encode([]rune(p.val))
		info = binary.LittleEndian.AppendUint16(info, p.id)
		info = binary.LittleEndian.AppendUint16(info, uint16(2*len(u)))
		for _, c := range u {
			info = binary.LittleEndian.AppendUint16(info, c)
		}
	}
	info = append(info, 0, 0, 0, 0)
	msg := make([]byte, 56)
	copy(msg, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(msg[8:], 2)
	flags := uint32(0x00800000) // target info
	if version != nil {
		flags |= ntlmNegotiateVersion
		copy(msg[48:], version)
	}
	binary.LittleEndian.PutUint32(msg[20:], flags)
	binary.LittleEndian.PutUint16(msg[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(msg[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(msg[44:], 56)
	return append(msg, info...)
}

func TestParseChallenge(t *testing.T) {
	full := challenge([]byte{10, 0, 0x61, 0x4A, 0, 0, 0, 15},
		avPair{avNbDomainName, "CORP"}, avPair{avNbComputerName, "PC1"},
		avPair{avDNSDomain, "corp.example"}, avPair{avDNSComputer, "pc1.corp.example"},
		avPair{avDNSTree, "example"}, avPair{7, "\x00\x00\x00\x00"})
	tests := []struct {
		name    string
		msg     []byte
		want    ServerIdentity
		wantErr bool
	}{
		{"windows 10", full, ServerIdentity{NetBIOSName: "PC1", NetBIOSDomain: "CORP", DNSName: "pc1.corp.example",
			DNSDomain: "corp.example", DNSForest: "example", OS: OSVersion{10, 0, 19041}}, false},
		{"no version", challenge(nil, avPair{avNbComputerName, "SMB"}), ServerIdentity{NetBIOSName: "SMB"}, false},
		{"unicode name", challenge(nil, avPair{avNbComputerName, "PC-É"}), ServerIdentity{NetBIOSName: "PC-É"}, false},
		{"empty", nil, ServerIdentity{}, true},
		{"wrong signature", append([]byte("NTLMSSX\x00"), full[8:]...), ServerIdentity{}, true},
		{"negotiate message", func() []byte { m := append([]byte{}, full...); m[8] = 1; return m }(), ServerIdentity{}, true},
		{"info out of range", func() []byte {
			m := append([]byte{}, full...)
			binary.LittleEndian.PutUint32(m[44:], 1000)
			return m
		}(), ServerIdentity{OS: OSVersion{10, 0, 19041}}, true},
		{"pair overruns", func() []byte {
			m := append([]byte{}, full[:len(full)-4]...)
			binary.LittleEndian.PutUint16(m[40:], uint16(len(m)-56+2))
			return append(m, 9, 0)
		}(), ServerIdentity{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChallenge(tt.msg)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			if tt.name == "pair overruns" {
				assert.Equal(t, "PC1", got.NetBIOSName)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestOSVersionStrings(t *testing.T) {
	tests := []struct {
		v          OSVersion
		str, named string
	}{
		{OSVersion{}, "", ""},
		{OSVersion{10, 0, 19041}, "10.0.19041", "Windows 10.0 Build 19041"},
		{OSVersion{6, 1, 7601}, "6.1.7601", "Windows 6.1 Build 7601"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.str, tt.v.String())
		assert.Equal(t, tt.named, tt.v.Name())
		assert.Equal(t, tt.str == "", tt.v.IsZero())
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(challenge([]byte{10, 0, 0x61, 0x4A, 0, 0, 0, 15}, avPair{avNbComputerName, "PC1"}, avPair{avDNSDomain, "x.y"}))
	f.Add(challenge(nil))
	f.Add([]byte("NTLMSSP\x00\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		id, err := ParseChallenge(msg)
		if err == nil && len(msg) < ntlmChallengeMinLen {
			t.Fatalf("accepted a %d-byte message", len(msg))
		}
		for _, s := range []string{id.NetBIOSName, id.NetBIOSDomain, id.DNSName, id.DNSDomain, id.DNSForest} {
			if len(s) > 3*len(msg) {
				t.Fatalf("name longer than the message: %q", s)
			}
		}
	})
}
