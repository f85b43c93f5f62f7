//go:build !windows

package runner

import (
	"errors"
	"os/exec"
	"syscall"
)

// processTree owns the started command, which leads its own process group.
type processTree struct {
	cmd *exec.Cmd
}

// resolveExe returns name unchanged: exec.Command searches PATH.
func resolveExe(name string) string { return name }

func startTree(cmd *exec.Cmd, cmdLine string) (*processTree, error) {
	if cmdLine != "" {
		return nil, errors.New("a verbatim command line is supported on Windows only")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &processTree{cmd: cmd}, nil
}

func (t *processTree) kill(uint32) error {
	return syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
}

func (t *processTree) close() {}
