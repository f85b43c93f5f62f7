// Command nxsvc is the Windows service the deployer library pushes to ADMIN$
// in place of winexesvc. Installed with a binary path such as
//
//	C:\Windows\nxdeploy\<id>\nxsvc.exe --job-b64 <base64 of the job's JSON>
//
// (or --job C:\...\job.json, or with a job.json next to the executable), it
// reports RUNNING at once, runs the job's command (msiexec), kills the
// command's process tree on timeout or on SERVICE_CONTROL_STOP/SHUTDOWN,
// writes the Result file and stops. Exit code 0 stops the service with
// WIN32_EXIT_CODE 0; any other code stops it with WIN32_EXIT_CODE 1066
// (ERROR_SERVICE_SPECIFIC_ERROR) and SERVICE_EXIT_CODE set to the code, which
// is the command's exit code or one of job.Code* (0x4E580001-0x4E5800FF).
//
// Started outside the service manager (from a console) it runs the job in the
// foreground, prints the Result as JSON and exits with the code. On systems
// other than Windows it only prints that it needs Windows.
//
// The binaries embedded in package remotesvc are built from this command by
// `go generate ./internal/remotesvc`.
package main
