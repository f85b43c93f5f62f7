package laps

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/laps/internal/dpaping"
)

const vectorDir = "testdata/dpapi-ng"

// envelopeSource answers every key request with one group key envelope: the
// one a Windows domain controller returned for the Windows LAPS blob of the
// test data.
type envelopeSource []byte

func (e envelopeSource) GroupKey(context.Context, KeyRequest) ([]byte, error) { return e, nil }

// windowsLAPS returns the msLAPS-EncryptedPassword value of the test data
// (the DPAPI-NG blob behind its [MS-ADA2] 2.66 header) and the envelope that
// decrypts it.
func windowsLAPS(t testing.TB) ([]byte, envelopeSource) {
	t.Helper()
	blob, err := os.ReadFile(filepath.Join(vectorDir, "dpapi_ng_blob"))
	require.NoError(t, err)
	env, err := os.ReadFile(filepath.Join(vectorDir, "group_key_envelope"))
	require.NoError(t, err)
	return encryptedAttribute(0x01d9737aa6ba2536, blob), env
}

// encryptedAttribute prefixes blob with the attribute's header.
func encryptedAttribute(stamp uint64, blob []byte) []byte {
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(stamp>>32))
	binary.LittleEndian.PutUint32(h[4:], uint32(stamp))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(blob)))
	return append(h[:], blob...)
}

// rootKeyAttributes returns a root key of the test data as the attributes
// of its msKds-ProvRootKey object.
func rootKeyAttributes(t testing.TB, name string) Attributes {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorDir, name))
	require.NoError(t, err)
	var v struct {
		RootKeyID                                           string `json:"RootKeyId"`
		KdfAlgorithm, KdfParameters                         string
		SecretAgreementAlgorithm, SecretAgreementParameters string
		PrivateKeyLength, PublicKeyLength                   int
		RootKeyData                                         string
	}
	require.NoError(t, json.Unmarshal(raw, &v))
	h := func(s string) [][]byte {
		b, err := hex.DecodeString(s)
		require.NoError(t, err)
		return [][]byte{b}
	}
	s := func(s string) [][]byte { return [][]byte{[]byte(s)} }
	return Attributes{
		AttrRootKeyID: s(v.RootKeyID), AttrRootKeyData: h(v.RootKeyData),
		AttrKDFAlgorithm: s(v.KdfAlgorithm), AttrKDFParameters: h(v.KdfParameters),
		AttrSecretAgreement: s(v.SecretAgreementAlgorithm), AttrSecretAgreementParam: h(v.SecretAgreementParameters),
		AttrPrivateKeyLength: s(fmt.Sprint(v.PrivateKeyLength)), AttrPublicKeyLength: s(fmt.Sprint(v.PublicKeyLength)),
	}
}

// protectLAPS encrypts JSON as Windows LAPS does (UTF-16LE with a NUL,
// content after the CMS structure) for sid under root key rk at index
// (l0, l1, l2), and returns the attribute value.
func protectLAPS(t testing.TB, rk *RootKey, sid, text string, l0, l1, l2 int32) []byte {
	t.Helper()
	sd, err := dpaping.TargetSD(sid)
	require.NoError(t, err)
	g, err := rk.rk.GroupKey(sd, l0, l1, l2)
	require.NoError(t, err)
	var u []byte
	for _, r := range text + "\x00" {
		u = binary.LittleEndian.AppendUint16(u, uint16(r))
	}
	blob, err := dpaping.Protect(g, sid, u, true, rand.Reader)
	require.NoError(t, err)
	return encryptedAttribute(0x01da000000000000, blob)
}

func attrs(kv ...string) Attributes {
	a := Attributes{}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = [][]byte{[]byte(kv[i+1])}
	}
	return a
}

func TestRead(t *testing.T) {
	ctx := context.Background()
	enc, env := windowsLAPS(t)
	updated := time.Date(2023, 4, 20, 11, 24, 20, 0, time.UTC) // "t":"1d9737aa6ba2536"
	tests := []struct {
		name     string
		attrs    Attributes
		keys     KeySource
		source   Source
		account  string
		password string
		updated  bool
		expires  time.Time
	}{
		{"legacy", attrs(AttrLegacyPassword, "L3gacy!pw", AttrLegacyExpiration, "133420000000000000"),
			nil, Legacy, "", "L3gacy!pw", false, filetime(133420000000000000)},
		{"legacy without expiration", attrs(AttrLegacyPassword, "x"), nil, Legacy, "", "x", false, time.Time{}},
		{"clear", attrs(AttrPassword, `{"n":"Administrator","t":"1d8161b41c41cde","p":"A6a3#7%eb!5"}`, AttrExpiration, "133420000000000000"),
			nil, Clear, "Administrator", "A6a3#7%eb!5", true, filetime(133420000000000000)},
		{"clear beats legacy", Attributes{
			AttrPassword: {[]byte(`{"n":"WLapsAdmin","p":"new"}`)}, AttrLegacyPassword: {[]byte("old")},
		}, nil, Clear, "WLapsAdmin", "new", false, time.Time{}},
		{"attribute names in any case", Attributes{"MSLAPS-PASSWORD": {[]byte(`{"n":"a","p":"b"}`)}}, nil, Clear, "a", "b", false, time.Time{}},
		{"encrypted, Windows LAPS blob and its domain controller's key", Attributes{
			AttrEncryptedPassword: {enc}, AttrPassword: {[]byte(`{"n":"stale","p":"stale"}`)},
		}, env, Encrypted, "Administrator", "Z}-FQ5ZjuB+4Yg", true, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Read(ctx, "PC1", tc.attrs, tc.keys)
			require.NoError(t, err)
			assert.Equal(t, "PC1", c.Computer)
			assert.Equal(t, tc.source, c.Source)
			assert.Equal(t, tc.account, c.Account)
			assert.Equal(t, tc.password, c.Password.Reveal())
			assert.Equal(t, tc.updated, !c.Updated.IsZero())
			assert.Equal(t, tc.expires, c.Expires)
		})
	}
	c, err := Read(ctx, "PC1", Attributes{AttrEncryptedPassword: {enc}}, env)
	require.NoError(t, err)
	assert.Equal(t, updated, c.Updated.Truncate(time.Second))
}

func TestReadRootKey(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"kdf_sha512_dh.json", "kdf_sha256_ecdh_p384.json", "kdf_sha1_nonce.json"} {
		rk, err := ParseRootKey(rootKeyAttributes(t, name))
		require.NoError(t, err)
		assert.Equal(t, "KDS root key "+rk.ID(), fmt.Sprintf("%v %#v", rk, rk)[:len("KDS root key ")+36])
		v := protectLAPS(t, rk, "S-1-5-21-1-2-3-512", `{"n":"WLapsAdmin","t":"1da0000000000000","p":"p@ss"}`, 370, 2, 5)
		c, err := Read(ctx, "PC2", Attributes{AttrEncryptedPassword: {v}}, rk)
		require.NoError(t, err, name)
		assert.Equal(t, "WLapsAdmin", c.Account)
		assert.Equal(t, "p@ss", c.Password.Reveal())
	}
	// Another root key cannot.
	rk, err := ParseRootKey(rootKeyAttributes(t, "kdf_sha256_dh.json"))
	require.NoError(t, err)
	enc, _ := windowsLAPS(t)
	_, err = Read(ctx, "PC3", Attributes{AttrEncryptedPassword: {enc}}, rk)
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	enc, env := windowsLAPS(t)
	notAuthorized := func() KeySource {
		g, err := dpaping.ParseGroupKey(env)
		require.NoError(t, err)
		g.Flags |= 1
		return envelopeSource(g.Marshal())
	}()
	tampered := append([]byte{}, enc...)
	tampered[len(tampered)-3] ^= 1
	long := append([]byte{}, enc...)
	binary.LittleEndian.PutUint32(long[8:], uint32(len(enc)))
	tests := []struct {
		name  string
		attrs Attributes
		keys  KeySource
		want  error
		attr  string
	}{
		{"nothing", Attributes{"name": {[]byte("PC1")}}, nil, ErrNoPassword, ""},
		{"empty values", Attributes{AttrPassword: {}, AttrLegacyPassword: {[]byte{}}}, nil, ErrNoPassword, ""},
		{"encrypted without keys", Attributes{AttrEncryptedPassword: {enc}}, nil, ErrNoKeySource, AttrEncryptedPassword},
		{"not authorised", Attributes{AttrEncryptedPassword: {enc}}, notAuthorized, ErrNotAuthorized, AttrEncryptedPassword},
		{"altered", Attributes{AttrEncryptedPassword: {tampered}}, env, ErrDecrypt, AttrEncryptedPassword},
		{"short header", Attributes{AttrEncryptedPassword: {enc[:10]}}, env, ErrMalformed, AttrEncryptedPassword},
		{"size past the end", Attributes{AttrEncryptedPassword: {long}}, env, ErrMalformed, AttrEncryptedPassword},
		{"not a blob", Attributes{AttrEncryptedPassword: {make([]byte, 40)}}, env, ErrMalformed, AttrEncryptedPassword},
		{"bad envelope", Attributes{AttrEncryptedPassword: {enc}}, envelopeSource("KDSK"), ErrMalformed, AttrEncryptedPassword},
		{"JSON syntax", attrs(AttrPassword, `{"n":"a","p":"secret`), nil, ErrMalformed, AttrPassword},
		{"JSON without password", attrs(AttrPassword, `{"n":"a"}`), nil, ErrMalformed, AttrPassword},
		{"JSON empty password", attrs(AttrPassword, `{"n":"a","p":""}`), nil, ErrMalformed, AttrPassword},
		{"JSON wrong type", attrs(AttrPassword, `{"n":1,"p":"secret"}`), nil, ErrMalformed, AttrPassword},
		{"JSON bad time", attrs(AttrPassword, `{"p":"secret","t":"zz"}`), nil, ErrMalformed, AttrPassword},
		{"JSON trailing", attrs(AttrPassword, `{"p":"secret"} {}`), nil, ErrMalformed, AttrPassword},
		{"bad expiration", attrs(AttrPassword, `{"p":"secret"}`, AttrExpiration, "soon"), nil, ErrMalformed, AttrExpiration},
		{"legacy not UTF-8", attrs(AttrLegacyPassword, "\xff\xfe"), nil, ErrMalformed, AttrLegacyPassword},
		{"legacy bad expiration", attrs(AttrLegacyPassword, "x", AttrLegacyExpiration, "-1"), nil, ErrMalformed, AttrLegacyExpiration},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(ctx, "PC9", tc.attrs, tc.keys)
			require.ErrorIs(t, err, tc.want)
			var le *Error
			require.True(t, errors.As(err, &le))
			assert.Equal(t, "PC9", le.Computer)
			assert.Equal(t, tc.attr, le.Attribute)
			assert.NotContains(t, err.Error(), "secret", "an error shows the password")
			assert.Contains(t, err.Error(), "PC9")
		})
	}
}

func TestParseRootKeyErrors(t *testing.T) {
	good := rootKeyAttributes(t, "kdf_sha256_dh.json")
	for _, tc := range []struct {
		attr, value string
		want        error
	}{
		{AttrRootKeyID, "not-a-guid", ErrMalformed},
		{AttrRootKeyData, "short", ErrMalformed},
		{AttrKDFAlgorithm, "PBKDF2", ErrUnsupported},
		{AttrKDFParameters, "junk", ErrMalformed},
		{AttrPrivateKeyLength, "many", ErrMalformed},
	} {
		a := Attributes{}
		for k, v := range good {
			a[k] = v
		}
		a[tc.attr] = [][]byte{[]byte(tc.value)}
		_, err := ParseRootKey(a)
		assert.ErrorIs(t, err, tc.want, tc.attr)
		var le *Error
		require.True(t, errors.As(err, &le))
		assert.Equal(t, tc.attr, le.Attribute)
	}
}

func TestFilteredByUAC(t *testing.T) {
	tests := []struct {
		name            string
		c               Credential
		filtered, known bool
	}{
		{"legacy names no account", Credential{Source: Legacy}, false, false},
		{"built-in by name", Credential{Account: "administrator"}, false, true},
		{"another name", Credential{Account: "WLapsAdmin"}, true, false},
		{"RID 500 renamed", Credential{Account: "Admin2", RID: 500}, false, true},
		{"RID 1001", Credential{Account: "Administrator", RID: 1001}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Computer = "PC1"
			filtered, known := c.FilteredByUAC()
			assert.Equal(t, tc.filtered, filtered)
			assert.Equal(t, tc.known, known)
			err := c.CheckRemoteAdmin()
			if !tc.filtered {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrFilteredAccount)
			var fe *FilteredAccountError
			require.True(t, errors.As(err, &fe))
			assert.Equal(t, tc.known, fe.Certain)
			assert.Contains(t, err.Error(), c.Account)
			assert.Contains(t, err.Error(), "LocalAccountTokenFilterPolicy")
		})
	}
}

// TestPasswordRedacted prints a password, and a credential holding one,
// through every encoder a program may point at it.
func TestPasswordRedacted(t *testing.T) {
	const pw = "Sup3r-S3cret!"
	p := NewPassword(pw)
	c := &Credential{Computer: "PC1", Source: Clear, Account: "Administrator", Password: p}
	type holder struct {
		Exported Password
		hidden   Password
		Cred     *Credential
	}
	h := holder{Exported: p, hidden: p, Cred: c}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		outs = append(outs, fmt.Sprintf(verb, p), fmt.Sprintf(verb, c), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(p, c, h), fmt.Sprintln(p, *c), p.String(), p.GoString())
	for _, v := range []any{p, c, h, []Password{p}, map[string]Password{"k": p}} {
		j, err := json.Marshal(v)
		require.NoError(t, err)
		outs = append(outs, string(j))
	}
	type doc struct {
		P Password
		A Password `xml:"a,attr"`
	}
	x, err := xml.Marshal(doc{p, p})
	require.NoError(t, err)
	outs = append(outs, string(x))
	var buf bytes.Buffer
	for _, handler := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(handler)
		l.Info("read", "password", p, "cred", c, "holder", h, slog.Any("any", p), slog.Group("g", "p", p))
		l.Info("read", "cred", *c)
	}
	outs = append(outs, buf.String())
	for _, o := range outs {
		assert.NotContains(t, o, pw)
		assert.NotContains(t, o, hex.EncodeToString([]byte(pw)))
	}
	assert.Contains(t, buf.String(), Redacted)
	assert.Equal(t, pw, p.Reveal())
	assert.True(t, Password{}.IsZero())
	assert.Equal(t, "", Password{}.Reveal())
}

func FuzzRead(f *testing.F) {
	enc, env := windowsLAPS(f)
	f.Add([]byte(`{"n":"Administrator","t":"1d8161b41c41cde","p":"A6a3#7%eb!5"}`), []byte("133420000000000000"), enc)
	f.Add([]byte(`{"p":"x"}`), []byte("0"), enc[:40])
	f.Add([]byte("\xff"), []byte(""), []byte{})
	f.Fuzz(func(t *testing.T, clear, expires, encrypted []byte) {
		ctx := context.Background()
		for _, a := range []Attributes{
			{AttrPassword: {clear}, AttrExpiration: {expires}},
			{AttrLegacyPassword: {clear}, AttrLegacyExpiration: {expires}},
			{AttrEncryptedPassword: {encrypted}},
		} {
			c, err := Read(ctx, "PC", a, env)
			if err == nil {
				assert.False(t, c.Password.IsZero())
				assert.NotContains(t, fmt.Sprintf("%+v %#v", c, c), "p\":") // never prints JSON
				continue
			}
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("untyped error %v", err)
			}
			if s := c2s(clear); len(s) > 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("the error shows the input: %v", err)
			}
		}
	})
}

// c2s returns the text of b between the first `"p":"` and the next quote,
// the password a JSON input carries, or "".
func c2s(b []byte) string {
	s := string(b)
	i := strings.Index(s, `"p":"`)
	if i < 0 {
		return ""
	}
	s = s[i+5:]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}
