package tsch

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
)

var sampleTask = Task{
	Name:               "nxdeploy-4f2a-0001",
	Command:            `C:\Windows\nxdeploy\4f2a\nxsvc.exe`,
	Arguments:          `run "C:\Windows\nxdeploy\4f2a" --job job.bin & <x> 'y' é`,
	WorkingDirectory:   `C:\Windows\nxdeploy\4f2a`,
	Description:        "Collector deployment <4f2a> & more",
	ExecutionTimeLimit: 90*time.Minute + 5*time.Second,
}

// TestTaskXMLSchema validates the task definitions against the Task
// Scheduler schema Microsoft publishes (testdata/task.xsd) with libxml2's
// xmllint, and checks that xmllint does reject a definition that breaks it.
func TestTaskXMLSchema(t *testing.T) {
	lab.Require(t, "xmllint")
	dir := t.TempDir()
	validate := func(name, doc string) ([]byte, error) {
		path := filepath.Join(dir, name+".xml")
		// Go writes UTF-8; the declaration names the UTF-16 the definition
		// travels in over RPC.
		doc = strings.Replace(doc, `encoding="UTF-16"`, `encoding="UTF-8"`, 1)
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
		return exec.Command("xmllint", "--noout", "--schema", "testdata/task.xsd", path).CombinedOutput()
	}
	versionAttr := regexp.MustCompile(`(<Task[^>]*?) version="([^"]*)"`)
	strip := func(doc string) string { return versionAttr.ReplaceAllString(doc, "$1") }
	for _, task := range []Task{sampleTask, {Name: "a", Command: `C:\a.exe`}} {
		doc, err := task.XML()
		require.NoError(t, err)
		// The published schema pins the version to 1.3; ours is 1.2, which
		// every Windows since Vista reads.
		m := versionAttr.FindStringSubmatch(doc)
		require.NotNil(t, m)
		assert.Equal(t, "1.2", m[2])
		out, err := validate(task.Name, strip(doc))
		assert.NoError(t, err, "%s\n%s", out, doc)
	}
	// The validator rejects what the schema forbids.
	doc, err := sampleTask.XML()
	require.NoError(t, err)
	for name, bad := range map[string]string{
		"run level":   strings.Replace(doc, "HighestAvailable", "Administrator", 1),
		"context":     strings.Replace(doc, `Context="LocalSystem"`, `Context="Nobody"`, 1),
		"no actions":  regexp.MustCompile(`(?s)<Actions.*</Actions>`).ReplaceAllString(doc, ""),
		"priority 11": strings.Replace(doc, "<Priority>7</Priority>", "<Priority>11</Priority>", 1),
	} {
		out, err := validate("bad", strip(bad))
		assert.Error(t, err, "%s: xmllint accepted it: %s", name, out)
	}
}

// parsedTask is what the definition says, read back.
type parsedTask struct {
	XMLName     xml.Name  `xml:"http://schemas.microsoft.com/windows/2004/02/mit/task Task"`
	Version     string    `xml:"version,attr"`
	URI         string    `xml:"RegistrationInfo>URI"`
	Description string    `xml:"RegistrationInfo>Description"`
	Triggers    *struct{} `xml:"Triggers"`
	Principal   struct {
		ID       string `xml:"id,attr"`
		UserID   string `xml:"UserId"`
		RunLevel string `xml:"RunLevel"`
	} `xml:"Principals>Principal"`
	Hidden      bool   `xml:"Settings>Hidden"`
	Enabled     bool   `xml:"Settings>Enabled"`
	OnBatteries bool   `xml:"Settings>DisallowStartIfOnBatteries"`
	Policy      string `xml:"Settings>MultipleInstancesPolicy"`
	Limit       string `xml:"Settings>ExecutionTimeLimit"`
	Actions     struct {
		Context    string `xml:"Context,attr"`
		Command    string `xml:"Exec>Command"`
		Arguments  string `xml:"Exec>Arguments"`
		WorkingDir string `xml:"Exec>WorkingDirectory"`
	} `xml:"Actions"`
}

func TestTaskXMLContent(t *testing.T) {
	doc, err := sampleTask.XML()
	require.NoError(t, err)
	var p parsedTask
	require.NoError(t, xml.Unmarshal([]byte(strings.Replace(doc, `encoding="UTF-16"`, "", 1)), &p))
	assert.Equal(t, xml.Name{Space: TaskNamespace, Local: "Task"}, p.XMLName)
	assert.Equal(t, "1.2", p.Version)
	assert.Equal(t, `\nxdeploy-4f2a-0001`, p.URI)
	assert.Equal(t, sampleTask.Description, p.Description)
	assert.Equal(t, "LocalSystem", p.Principal.ID)
	assert.Equal(t, "S-1-5-18", p.Principal.UserID)
	assert.Equal(t, "HighestAvailable", p.Principal.RunLevel)
	assert.True(t, p.Hidden)
	assert.True(t, p.Enabled)
	assert.False(t, p.OnBatteries)
	assert.Equal(t, "IgnoreNew", p.Policy)
	assert.Equal(t, "PT1H30M5S", p.Limit)
	assert.Equal(t, "LocalSystem", p.Actions.Context)
	assert.Equal(t, sampleTask.Command, p.Actions.Command)
	assert.Equal(t, sampleTask.Arguments, p.Actions.Arguments)
	assert.Equal(t, sampleTask.WorkingDirectory, p.Actions.WorkingDir)
	assert.Nil(t, p.Triggers, "a task that runs only when asked has no trigger")
}

func TestTaskInvalid(t *testing.T) {
	for name, task := range map[string]Task{
		"empty name":        {Command: `C:\a.exe`},
		"dot dot":           {Name: "..", Command: `C:\a.exe`},
		"path in name":      {Name: `a\b`, Command: `C:\a.exe`},
		"space":             {Name: "a b", Command: `C:\a.exe`},
		"non-ASCII name":    {Name: "tâche", Command: `C:\a.exe`},
		"long name":         {Name: strings.Repeat("a", 201), Command: `C:\a.exe`},
		"no command":        {Name: "a"},
		"long command":      {Name: "a", Command: `C:\` + strings.Repeat("a", 260)},
		"control character": {Name: "a", Command: `C:\a.exe`, Arguments: "x\x01y"},
		"invalid UTF-8":     {Name: "a", Command: "C:\\\xff.exe"},
		"negative limit":    {Name: "a", Command: `C:\a.exe`, ExecutionTimeLimit: -time.Second},
	} {
		_, err := task.XML()
		assert.ErrorIs(t, err, ErrInvalidTask, name)
	}
}

func TestISODuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "PT4H", 90 * time.Second: "PT1M30S", time.Millisecond: "PT1S", 3*time.Hour + 7*time.Second: "PT3H7S",
	} {
		assert.Equal(t, want, isoDuration(d))
	}
}

// FuzzTaskXML: whatever the task, XML fails with ErrInvalidTask or gives a
// document that reads back to the same command, arguments and directory.
func FuzzTaskXML(f *testing.F) {
	f.Add(sampleTask.Name, sampleTask.Command, sampleTask.Arguments, sampleTask.WorkingDirectory)
	f.Add("a", "\x00", "]]>", "&#0;")
	f.Fuzz(func(t *testing.T, name, command, args, dir string) {
		task := Task{Name: name, Command: command, Arguments: args, WorkingDirectory: dir}
		doc, err := task.XML()
		if err != nil {
			assert.ErrorIs(t, err, ErrInvalidTask)
			return
		}
		var p parsedTask
		if err := xml.Unmarshal([]byte(strings.Replace(doc, `encoding="UTF-16"`, "", 1)), &p); err != nil {
			t.Fatalf("unreadable definition: %v\n%s", err, doc)
		}
		// XML normalises CR and CRLF to LF in text.
		norm := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n") }
		if p.Actions.Command != norm(command) || p.Actions.Arguments != norm(args) || p.Actions.WorkingDir != norm(dir) || p.URI != `\`+name {
			t.Fatalf("definition changed the task: %+v", p)
		}
	})
}
