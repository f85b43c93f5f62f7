// Package secrettest checks that a value prints none of its secrets
// through any encoder a program might log it with.
package secrettest

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// BytesForms returns the forms a byte secret (an NT hash) takes in printed
// output: raw, hex in both cases, base64 (encoding/json's) and fmt's
// decimal list.
func BytesForms(b []byte) []string {
	return []string{string(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b), fmt.Sprint(b)}
}

// Encoders are the ways a value gets printed, by name.
var Encoders = map[string]func(v any) (string, error){
	"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
	"slog JSON": func(v any) (string, error) {
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, nil)).Info("msg", "v", v)
		return b.String(), nil
	},
	"slog text": func(v any) (string, error) {
		var b bytes.Buffer
		slog.New(slog.NewTextHandler(&b, nil)).Info("msg", "v", v)
		return b.String(), nil
	},
	"%v":  func(v any) (string, error) { return fmt.Sprintf("%v", v), nil },
	"%+v": func(v any) (string, error) { return fmt.Sprintf("%+v", v), nil },
	"%#v": func(v any) (string, error) { return fmt.Sprintf("%#v", v), nil },
	"%s":  func(v any) (string, error) { return fmt.Sprintf("%s", v), nil },
	"%q":  func(v any) (string, error) { return fmt.Sprintf("%q", v), nil },
	"%x":  func(v any) (string, error) { return fmt.Sprintf("%x", v), nil },
	"%d":  func(v any) (string, error) { return fmt.Sprintf("%d", v), nil },
	"%v in a struct": func(v any) (string, error) {
		return fmt.Sprintf("%+v", struct{ Inner any }{v}), nil
	},
	"gob": func(v any) (string, error) {
		var b bytes.Buffer
		err := gob.NewEncoder(&b).Encode(v)
		return b.String(), err
	},
	"xml": func(v any) (string, error) { b, err := xml.Marshal(v); return string(b), err },
}

// AssertHidden checks that no encoder prints any of secrets for v. An
// encoder that cannot encode v at all (gob or xml of a type with functions)
// prints nothing, which passes. It returns the outputs, by encoder, for
// further checks.
func AssertHidden(t *testing.T, v any, secrets ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, enc := range Encoders {
		s, err := enc(v)
		if err != nil {
			continue
		}
		out[name] = s
		for _, sec := range secrets {
			if sec != "" && strings.Contains(s, sec) {
				t.Errorf("%s prints the secret %q of %T: %s", name, sec, v, s)
			}
		}
	}
	return out
}
