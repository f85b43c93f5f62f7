package msi_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/msi"
)

func TestRedactorString(t *testing.T) {
	r := msi.NewRedactor([]msi.Property{
		{Name: "TOKEN", Value: `Ab "C" d3`},
		{Name: "SERVER", Value: "engine.corp"},
		{Name: "PIN", Value: "42"},
		{Name: "MODE", Value: "on"},
		{Name: "BLANK", Value: "  "},
		{Name: "EMPTY", Value: ""},
		{Name: "PASS", Value: "pässwörd"},
	})
	cases := []struct{ name, in, want string }{
		{"as given", `key Ab "C" d3 end`, `key <TOKEN redacted> end`},
		{"quoted on a command line", `TOKEN="Ab ""C"" d3" SERVER=engine.corp`, `TOKEN="<TOKEN redacted>" SERVER=<SERVER redacted>`},
		{"quotes dropped (Wine)", `Property(S): TOKEN = Ab C d3`, `Property(S): TOKEN = <TOKEN redacted>`},
		{"other case", `https://ENGINE.CORP/x`, `https://<SERVER redacted>/x`},
		{"non-ASCII, other case", `PÄSSWÖRD`, `<PASS redacted>`},
		{"short value on its property's line", `Adding PIN property. Its value is '42'.`, `Adding PIN property. Its value is '<PIN redacted>'.`},
		{"short value as NAME=value", `msiexec /i x.msi PIN=42 MODE=on`, `msiexec /i x.msi PIN=<PIN redacted> MODE=<MODE redacted>`},
		{"short value elsewhere stays", `Note: 1: 1708 2: 42; mode online`, `Note: 1: 1708 2: 42; mode online`},
		{"short value inside a word stays", `PIN=42 and 4242 and x42`, `PIN=<PIN redacted> and 4242 and x42`},
		{"short value per line", "PIN=42\nerror 42", "PIN=<PIN redacted>\nerror 42"},
		{"blank and empty values stay", `a  b`, `a  b`},
		{"nothing to hide", `Action start 10:00:00: InstallFiles.`, `Action start 10:00:00: InstallFiles.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assert.Equal(t, c.want, r.String(c.in)) })
	}
	var nilR *msi.Redactor
	assert.Equal(t, "engine.corp", nilR.String("engine.corp"))
}

func TestRedactorCutLines(t *testing.T) {
	secret := strings.Repeat("k3y", 1000) // 3000 characters: longer than a kept line
	r := msi.NewRedactor([]msi.Property{{Name: "KEY", Value: secret}})
	log := "Line one\r\nMSI (s): PROPERTY CHANGE: Adding KEY property. Its value is '" + secret + "'.\r\nMainEngineThread is returning 1603\r\n"
	sum := r.Summary(msi.ParseLog([]byte(log)))
	b, err := json.Marshal(sum)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "k3yk3y", "no piece of the value is left where the parser cut the line")
	assert.Contains(t, string(b), `\u003cKEY redacted\u003e`)

	// A line cut where a value starts ends with a piece of it.
	assert.Equal(t, "value is '<KEY redacted>", r.Line("value is '"+secret[:10]))
	assert.Equal(t, "<KEY redacted>' end", r.Line(secret[len(secret)-9:]+"' end"))
	assert.Equal(t, "value is 'k3y", r.Line("value is 'k3y"), "three characters are not taken for a piece")
}

func TestRedactorUTF16Log(t *testing.T) {
	props := []msi.Property{{Name: "SERVER", Value: "collector.example.test"}, {Name: "PORT", Value: "443"}}
	for _, f := range []string{"windows_1603_utf8.log", "windows_1603_cp1252.log", "windows_1603_utf8bom.log"} {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/logs/" + f)
			require.NoError(t, err)
			r := msi.NewRedactor(props)
			inputs := map[string][]byte{"as stored": raw}
			if f == "windows_1603_utf8.log" {
				inputs["UTF-16LE"] = utf16LE(string(raw))
			}
			for enc, b := range inputs {
				sum := r.Summary(msi.ParseLog(b))
				out, err := json.Marshal(sum)
				require.NoError(t, err)
				text := string(out) + "\n" + sum.Excerpt(40)
				assert.NotContains(t, strings.ToLower(text), "collector.example.test", enc)
				assert.NotContains(t, text, "value is '443'", enc)
				assert.NotContains(t, text, "PORT=443", enc)
			}
		})
	}
}

func utf16LE(s string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}
