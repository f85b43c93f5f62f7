package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingTB stands in for a testing.TB: it records Skipf and Fatalf and ends the goroutine as they would.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// callRequire runs Require against a recorder on its own goroutine, as the testing package runs a test.
func callRequire(t *testing.T, needs ...string) *recordingTB {
	t.Helper()
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Require(r, needs...)
	}()
	<-done
	return r
}

func TestRequire(t *testing.T) {
	const missing = "deployer-lab-no-such-binary"
	isRoot := os.Geteuid() == 0
	tests := []struct {
		name        string
		env         string
		needs       []string
		wantSkip    bool
		wantFail    bool
		wantInMsg   []string
		notWantMsgs []string
	}{
		{name: "present binary passes", env: "", needs: []string{"sh"}},
		{name: "present binary passes when required", env: "required", needs: []string{"sh"}},
		{name: "nothing needed passes", env: "required"},
		{
			name: "missing binary skips", env: "", needs: []string{"sh", missing}, wantSkip: true,
			wantInMsg: []string{"binary " + missing + " not found", "set DEPLOYER_LAB=required"},
		},
		{
			name: "missing binary fails when required", env: "required", needs: []string{missing}, wantFail: true,
			wantInMsg: []string{"binary " + missing + " not found", "DEPLOYER_LAB=required, so this is a failure"},
		},
		{
			name: "other values of DEPLOYER_LAB skip", env: "yes", needs: []string{missing}, wantSkip: true,
			wantInMsg: []string{missing},
		},
		{
			name: "every missing need is named", env: "", needs: []string{missing + "-1", "sh", missing + "-2"},
			wantSkip: true, wantInMsg: []string{missing + "-1", missing + "-2"}, notWantMsgs: []string{"binary sh"},
		},
		{
			name: "root", env: "required", needs: []string{"root"}, wantFail: !isRoot,
			wantInMsg: func() []string {
				if isRoot {
					return nil
				}
				return []string{"needs root"}
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvLab, tc.env)
			r := callRequire(t, tc.needs...)
			assert.Equal(t, tc.wantSkip, r.skipped, "skipped (message %q)", r.msg)
			assert.Equal(t, tc.wantFail, r.failed, "failed (message %q)", r.msg)
			for _, s := range tc.wantInMsg {
				assert.Contains(t, r.msg, s)
			}
			for _, s := range tc.notWantMsgs {
				assert.NotContains(t, r.msg, s)
			}
		})
	}
}

func TestCheckNeedNamesPackage(t *testing.T) {
	tests := []struct{ need, want string }{
		{"deployer-lab-no-such-binary", "binary deployer-lab-no-such-binary not found on PATH"},
		{"sh", ""},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, checkNeed(tc.need), tc.need)
	}
	// A known binary that is missing names its Debian package; emulate with an empty PATH.
	t.Setenv("PATH", t.TempDir())
	if _, err := LookPath("wixl"); err != nil {
		assert.Equal(t, "binary wixl not found (apt-get install wixl)", checkNeed("wixl"))
	}
	p, err := LookPath("smbd")
	if err == nil {
		require.Equal(t, "/usr/sbin/smbd", p, "sbin fallback with an empty PATH")
	}
}

// TestRequireHelper is run only as a child of TestRequireRealTesting, with a real *testing.T.
func TestRequireHelper(t *testing.T) {
	if os.Getenv("LAB_REQUIRE_HELPER") != "1" {
		t.Skip("helper for TestRequireRealTesting; runs only in its child process")
	}
	Require(t, "deployer-lab-no-such-binary")
	t.Log("REACHED-AFTER-REQUIRE")
}

// TestRequireRealTesting runs TestRequireHelper in a child test binary: without DEPLOYER_LAB the child test is
// skipped and the binary passes; with DEPLOYER_LAB=required it fails; in neither case does the test go on.
func TestRequireRealTesting(t *testing.T) {
	tests := []struct {
		env      string
		wantLine string
		wantExit int
	}{
		{env: "", wantLine: "--- SKIP: TestRequireHelper", wantExit: 0},
		{env: "required", wantLine: "--- FAIL: TestRequireHelper", wantExit: 1},
	}
	for _, tc := range tests {
		t.Run("DEPLOYER_LAB="+tc.env, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRequireHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "LAB_REQUIRE_HELPER=1", EnvLab+"="+tc.env)
			out, err := cmd.CombinedOutput()
			exit := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				exit = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.wantExit, exit, "%s", out)
			assert.Contains(t, string(out), tc.wantLine)
			assert.Contains(t, string(out), "binary deployer-lab-no-such-binary not found")
			assert.NotContains(t, string(out), "REACHED-AFTER-REQUIRE")
		})
	}
}
