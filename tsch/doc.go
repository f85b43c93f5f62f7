// Package tsch runs a program on a Windows host as a one-shot task of the
// Task Scheduler ([MS-TSCH] ITaskSchedulerService over \pipe\atsvc): another
// way in when the service manager refuses to create services (Windows 11 and
// Server 2025 can filter RCreateServiceW alone, or an EDR may).
//
// A Task runs one program as LocalSystem (S-1-5-18) with the highest run
// level, has no trigger (it runs only when asked), is hidden, refuses a
// second instance while one runs, starts on batteries, and is stopped after
// its execution time limit. Task.XML is its definition ([MS-TSCH] 2.5).
//
//	c, err := tsch.Open(ctx, host, sess.Pipes(), tsch.Config{Credentials: creds})
//	if err != nil { ... }                         // *derrors.Error
//	defer c.Close()
//	run, err := c.RunOnce(ctx, tsch.Task{Name: "nxdeploy-1234", Command: exe, Arguments: args}, tsch.WaitOptions{})
//	// run.Code is the program's exit code; the task is deleted whatever happened.
//
// Or step by step: Register (SchRpcRegisterTask), Run (SchRpcRun: Windows
// Server 2025 runs a task without trigger only this way), Wait (polls
// SchRpcGetLastRunInfo and SchRpcGetTaskInfo; SCHED_S_TASK_HAS_NOT_RUN right
// after Run is transient), Stop (SchRpcStop), Delete (SchRpcDelete, safe to
// repeat), and Tasks (SchRpcEnumTasks) to find the deployer's tasks by name
// prefix for a sweep.
//
// # Binding
//
// Windows refuses Task Scheduler calls below packet integrity on
// \pipe\atsvc, and go-msrpc's sign-only level fails over named pipes
// (go-msrpc issue #51): the bind is sealed (packet privacy, which also signs)
// with Config.Credentials, NTLM or Kerberos, inside the host's SMB session's
// pipe (smb.Session.Pipes), or over a session of its own (Dial).
//
// # Errors
//
// Every error is a *derrors.Error naming the host and the step (open task
// scheduler, register task, run task, query task, stop task, delete task).
// HRESULT returns the call's HRESULT; an HRESULT of FACILITY_WIN32 also
// gives the error its Win32 code. ErrTaskExists (ERROR_ALREADY_EXISTS),
// ErrTaskNotFound (ERROR_FILE_NOT_FOUND), ErrNotImplemented (E_NOTIMPL) and
// ErrNotStarted match with errors.Is.
//
// # What is proven, and against what
//
// Against Wine's Task Scheduler service (schedsvc, reached through winelab's
// pipe bridge, unsealed: Wine takes no RPC authentication): register, the
// definition read back, task info, enumeration by prefix across pages,
// delete, the typed errors of a duplicate name, a missing task and an
// unimplemented call (Wine 8 implements neither SchRpcRun, SchRpcStop nor
// SchRpcGetLastRunInfo), and RunOnce's cleanup after a failed run. Against
// Wine, a sealed bind is refused (no authentication service), typed. The
// task definitions validate against Microsoft's published Task Scheduler
// schema (xmllint). Run, Stop, LastRun and Wait are proven only as codecs,
// through go-msrpc's generated server stubs, and the sealed bind over a
// session pipe against Samba's winreg (package winreg's tests): a real
// Windows host, or the emulated host once it serves atsvc, is still needed
// for the run itself.
package tsch
