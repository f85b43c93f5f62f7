// Package svcctl is a client for the Windows Service Control Manager
// ([MS-SCMR]) over ncacn_np:HOST[\pipe\svcctl], built on go-msrpc.
//
// The probe's administrator check is Dial and OpenSCManager with
// ManagerCreateService: an account that is not an administrator gets a typed
// access denied (SharedAccessFailure, ReasonNotAdministrator, Win32 5).
//
// # Connecting
//
// Dial resolves the host (Config.Resolver), makes the TCP connection through
// Config.Dial (go-msrpc's SMB transport dials through this hook), sets up an
// SMB session with NTLM through SPNEGO, or Kerberos when
// Config.Credentials.Kerberos is set (signing required unless
// Config.SigningOptional), opens \pipe\svcctl on IPC$ and binds the svcctl
// interface. By default the bind carries no RPC-level authentication and
// relies on the SMB session, as impacket and goexec do on real Windows;
// Config.RPCAuth asks for packet integrity or privacy instead.
//
// With Config.Pipe the Client makes no connection of its own: it speaks over
// \pipe\svcctl opened on an SMB session the caller already has
// (smb.Session.OpenPipe), so a host costs one TCP connection and one logon
// for files and services together. The deployer's Connect and Probe work
// this way.
//
//	c, err := svcctl.Dial(ctx, "host1", svcctl.Config{Credentials: creds})
//	if err != nil { ... }                                   // *derrors.Error: resolve, connect, logon, ...
//	defer c.Close()
//	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
//	if errors.Is(err, derrors.ReasonNotAdministrator) { ... } // ERROR_ACCESS_DENIED
//	svc, err := m.CreateService(ctx, "nxd-1234", "nxd-1234", `C:\Windows\nxd\svc.exe job`, svcctl.CreateOptions{})
//	err = svc.Start(ctx, "arg")
//	st, err := svcctl.WaitState(ctx, svc, svcctl.Stopped, svcctl.WaitOptions{Timeout: time.Hour})
//	code := st.ExitCode()                                   // service-specific exit code when 1066
//	err = svcctl.DeleteAndWait(ctx, svc, svcctl.WaitOptions{Timeout: time.Minute})
//
// # Errors
//
// Every error is a *derrors.Error (package github.com/nxdeploy/deployer/errors)
// naming the host and the step (open service manager, create service, start
// service, query service, stop service, delete service, ...). A non-zero
// return code of a call keeps its Win32 code (IsServiceNotFound 1060,
// IsServiceExists 1073, IsMarkedForDelete 1072, IsAlreadyRunning 1056,
// IsNotActive 1062, Win32Code). A fault PDU is typed as a windows error with
// the fault's Win32 equivalent (nca_op_rng_error → RPC_S_PROCNUM_OUT_OF_RANGE
// 1745) and wraps ErrFault.
//
// # Transport loss and recovery
//
// go-msrpc closes the transport on any fault PDU and on any I/O error. The
// Client then dials a new transport (at most Config.MaxRedials times in a
// row without a completed call) for the next call, and reopens Manager and
// Service handles on it: a Manager with its access rights, a Service by its
// name, which always designates the same service record, so reopening is
// safe. What each call does when the transport dies while it is in flight:
//
//   - OpenSCManager, OpenService, QueryStatus, QueryConfig, EnumServices,
//     Control/Stop and ChangeConfig are idempotent and are sent once more on
//     the new transport. (A repeated STOP may then answer
//     ERROR_SERVICE_NOT_ACTIVE, which StopAndWait takes as stopped.)
//   - CreateService checks its outcome with OpenService by name: found means
//     created, 1060 means not created and the create is sent once more.
//   - StartService queries the status: not STOPPED means started; STOPPED
//     with ERROR_SERVICE_NEVER_STARTED (1077) means not started and the
//     start is sent once more; any other STOPPED status is ambiguous and
//     ErrTransportLost is returned.
//   - DeleteService reopens by name: 1060 or 1072 mean deleted; otherwise the
//     delete is sent once more.
//   - A fault is never retried: the server answered, the call failed.
//
// # Waiting
//
// WaitState polls QueryServiceStatusEx with a backoff from 50 ms to 1 s that
// honours the service's wait hint, until the wanted state or a deadline.
// StopAndWait treats ERROR_SERVICE_NOT_ACTIVE (1062) and a service that is
// gone (1060) as stopped, waits through START_PENDING/STOP_PENDING (1061),
// and treats ERROR_SERVICE_MARKED_FOR_DELETE (1072) as "wait until the name
// is gone (1060)"; WaitDeleted and DeleteAndWait do the same after a
// delete. The SCM removes a marked service once it has stopped and every
// handle to it is closed.
//
// # Tested against
//
// Samba 4.17 (smbd + samba-dcerpcd in a network namespace, signing
// mandatory; with encryption required for the RPC-auth variants): the
// administrator check, typed 1060/1058/1056/5, enumeration, status, config,
// Spooler stop/start, the faults of CreateServiceW/DeleteService/
// ChangeServiceConfigW and the recovery after them, connections cut before
// or after a request. The emulated Windows host (package deployertest with its
// SCM): the whole life cycle, 1073/1072/1062/1053/2, marked-for-delete
// until the handles close, paging through 600 services, and the outcome
// checks of CreateService/StartService/DeleteService after a lost
// connection.
package svcctl
