// Package scm models the Windows service control manager ([MS-SCMR]) of an
// emulated host: the services database, context handles with access masks,
// service state transitions, and the programs that "run" services.
//
// A Manager holds the database; each RPC association opens a Session (its
// handles) and closes it when the association ends:
//
//	m := scm.New(scm.Options{AdminDir: dir, StartTimeout: time.Second})
//	defer m.Close()
//	s := m.Open(scm.Caller{User: "Administrator", Admin: true})
//	defer s.Close()
//	h, err := s.OpenSCManager("", scm.SCManagerAllAccess)
//
// Every Session method returns an Errno, the exact Win32 code Windows
// returns: ERROR_ACCESS_DENIED for a caller without an administrator token
// asking for SC_MANAGER_CREATE_SERVICE (or when the DenyAll knob is on),
// ERROR_SERVICE_EXISTS, ERROR_SERVICE_DOES_NOT_EXIST,
// ERROR_SERVICE_ALREADY_RUNNING, ERROR_SERVICE_DISABLED,
// ERROR_SERVICE_NOT_ACTIVE, ERROR_SERVICE_MARKED_FOR_DELETE (a deleted
// service lives on until it is stopped and its last handle is closed),
// ERROR_SERVICE_REQUEST_TIMEOUT when the program does not report RUNNING
// within Options.StartTimeout, ERROR_PROCESS_ABORTED when it exits before
// that, and ERROR_FILE_NOT_FOUND when the executable under ADMIN$
// (Options.AdminDir, mapped from C:\Windows) has vanished.
//
// Services go STOPPED → START_PENDING → RUNNING → STOP_PENDING → STOPPED.
// What runs is a Program; the default, Installer, models this project's
// remote service running msiexec: scripted exit codes per run (e.g. 1618,
// 1618, 0), a configurable duration, progress lines appended to the
// /l*v log under ADMIN$, and the exit code reported as a service-specific
// exit code (dwWin32ExitCode ERROR_SERVICE_SPECIFIC_ERROR 1066).
//
// Command lines are split with msi.SplitCommandLine (CommandLineToArgvW rules).
// A Manager keeps all its state itself and is safe for concurrent use;
// Close stops every running program and waits for it.
package scm
