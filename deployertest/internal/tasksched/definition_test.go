package tasksched

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/tsch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ns = `xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"`

func TestParseDefinition(t *testing.T) {
	ours, err := tsch.Task{Name: "nxdeploy-1", Command: `C:\Windows\nxdeploy\1\nxsvc.exe`, Arguments: `C:\Windows\nxdeploy\1`,
		ExecutionTimeLimit: 95 * time.Minute}.XML()
	require.NoError(t, err)
	cases := []struct {
		name string
		text string
		want Definition
		code uint32
	}{
		{name: "the deployer's task", text: ours, want: Definition{Command: `C:\Windows\nxdeploy\1\nxsvc.exe`,
			Arguments: `C:\Windows\nxdeploy\1`, UserID: "S-1-5-18", Enabled: true, Hidden: true, ExecutionTimeLimit: 95 * time.Minute}},
		{name: "defaults", text: `<Task ` + ns + `><Actions><Exec><Command>a.exe</Command></Exec></Actions></Task>`,
			want: Definition{Command: "a.exe", Enabled: true, ExecutionTimeLimit: 72 * time.Hour}},
		{name: "disabled, no limit", text: `<Task ` + ns + `><Settings><Enabled>false</Enabled><ExecutionTimeLimit>PT0S</ExecutionTimeLimit></Settings>` +
			`<Actions><Exec><Command>a.exe</Command></Exec></Actions></Task>`, want: Definition{Command: "a.exe"}},
		{name: "not XML", text: "<Task " + ns + "><Actions>", code: schedEMalformedXML},
		{name: "empty", text: "", code: schedEMissingNode},
		{name: "no namespace", text: `<Task><Actions><Exec><Command>a</Command></Exec></Actions></Task>`, code: schedENamespace},
		{name: "other root", text: `<Job ` + ns + `/>`, code: schedEUnexpectedNod},
		{name: "no action", text: `<Task ` + ns + `><Actions/></Task>`, code: schedEMissingNode},
		{name: "no command", text: `<Task ` + ns + `><Actions><Exec><Arguments>x</Arguments></Exec></Actions></Task>`, code: schedEMissingNode},
		{name: "two actions", text: `<Task ` + ns + `><Actions><Exec><Command>a</Command></Exec><Exec><Command>b</Command></Exec></Actions></Task>`,
			code: schedEUnexpectedNod},
		{name: "COM handler", text: `<Task ` + ns + `><Actions><ComHandler><ClassId>{x}</ClassId></ComHandler></Actions></Task>`, code: schedEUnexpectedNod},
		{name: "bad boolean", text: `<Task ` + ns + `><Settings><Enabled>maybe</Enabled></Settings><Actions><Exec><Command>a</Command></Exec></Actions></Task>`,
			code: schedEInvalidValue},
		{name: "bad duration", text: `<Task ` + ns + `><Settings><ExecutionTimeLimit>PTxH</ExecutionTimeLimit></Settings><Actions><Exec><Command>a</Command></Exec></Actions></Task>`,
			code: schedEInvalidValue},
		{name: "long command", text: `<Task ` + ns + `><Actions><Exec><Command>` + strings.Repeat("a", 300) + `</Command></Exec></Actions></Task>`,
			code: schedEInvalidValue},
		{name: "too deep", text: `<Task ` + ns + `>` + strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40) + `</Task>`, code: schedEMalformedXML},
		{name: "entity", text: `<!DOCTYPE Task [<!ENTITY x "y">]><Task ` + ns + `><Actions><Exec><Command>&x;</Command></Exec></Actions></Task>`,
			code: schedEMalformedXML},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			def, err := ParseDefinition(c.text)
			if c.code == 0 {
				require.NoError(t, err)
				assert.Equal(t, c.want, def)
				return
			}
			var xe *XMLError
			require.True(t, errors.As(err, &xe), "%v", err)
			assert.Equal(t, c.code, xe.Code, "%v", err)
			assert.NotEmpty(t, xe.Error())
		})
	}
}

func FuzzParseDefinition(f *testing.F) {
	ours, _ := tsch.Task{Name: "n", Command: `C:\x.exe`, Arguments: "a b"}.XML()
	f.Add(ours)
	f.Add(`<Task ` + ns + `><Actions><Exec><Command>a</Command></Exec></Actions></Task>`)
	f.Add(`<Task ` + ns + `><Settings><ExecutionTimeLimit>P3DT4H</ExecutionTimeLimit></Settings></Task>`)
	f.Fuzz(func(t *testing.T, text string) {
		def, err := ParseDefinition(text)
		if err == nil && def.Command == "" {
			t.Fatal("a definition without a command was accepted")
		}
		var xe *XMLError
		if err != nil && !errors.As(err, &xe) {
			t.Fatalf("not an *XMLError: %v", err)
		}
	})
}
