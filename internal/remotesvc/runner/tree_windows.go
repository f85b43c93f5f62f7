//go:build windows

package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// processTree owns the started command: its job object (zero when job objects
// are unavailable) and the command, whose process is killed directly then.
type processTree struct {
	job windows.Handle
	cmd *exec.Cmd
}

// resolveExe turns a bare executable name (msiexec.exe) into its path in the
// system directory when it exists there, so the service never depends on its
// PATH or working directory; other names are returned unchanged.
func resolveExe(name string) string {
	if strings.ContainsAny(name, `\/:`) {
		return name
	}
	sys, err := windows.GetSystemDirectory()
	if err != nil {
		return name
	}
	for _, cand := range []string{name, name + ".exe"} {
		p := filepath.Join(sys, cand)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return name
}

func startTree(cmd *exec.Cmd, cmdLine string) (*processTree, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CmdLine:       cmdLine,
		HideWindow:    true,
		CreationFlags: windows.CREATE_SUSPENDED | windows.CREATE_NEW_PROCESS_GROUP,
	}
	t := &processTree{cmd: cmd}
	if h, err := newKillOnCloseJob(); err == nil {
		t.job = h
	}
	if err := cmd.Start(); err != nil {
		t.close()
		return nil, err
	}
	if t.job != 0 {
		if err := assign(t.job, uint32(cmd.Process.Pid)); err != nil {
			_ = windows.CloseHandle(t.job)
			t.job = 0
		}
	}
	if err := resume(uint32(cmd.Process.Pid)); err != nil {
		_ = t.kill(1)
		_ = cmd.Wait()
		t.close()
		return nil, fmt.Errorf("resume suspended process: %w", err)
	}
	return t, nil
}

func newKillOnCloseJob() (windows.Handle, error) {
	h, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, err
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(h, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(h)
		return 0, err
	}
	return h, nil
}

func assign(jobHandle windows.Handle, pid uint32) error {
	p, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(p)
	return windows.AssignProcessToJobObject(jobHandle, p)
}

// resume resumes every thread of the suspended process pid (it has exactly one).
func resume(pid uint32) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(snap)
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, oerr := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if oerr != nil {
			return oerr
		}
		_, rerr := windows.ResumeThread(th)
		_ = windows.CloseHandle(th)
		if rerr != nil {
			return rerr
		}
		resumed++
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return err
	}
	if resumed == 0 {
		return errors.New("no thread found")
	}
	return nil
}

func (t *processTree) kill(code uint32) error {
	if t.job != 0 {
		if err := windows.TerminateJobObject(t.job, code); err == nil {
			return nil
		}
	}
	return t.cmd.Process.Kill()
}

func (t *processTree) close() {
	if t.job != 0 {
		_ = windows.CloseHandle(t.job)
		t.job = 0
	}
}
