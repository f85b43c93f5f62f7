// Package job defines the contract between the deployer library and nxsvc, the
// small Windows service the library pushes to ADMIN$: the Job the service runs
// (the msiexec command line, where its log and result go, and a timeout) and
// the Result the service writes when the command ends.
//
// The package is platform-neutral so the library (running on Linux) and the
// service (running on Windows) share one definition, one JSON encoding and one
// validation. A job reaches the service in one of three ways, tried in order:
//
//   - --job-b64 <base64 JSON> in the service's arguments: the job travels in
//     the service's binary path, so no extra upload is needed;
//   - --job <absolute Windows path of a job file>;
//   - a file named job.json next to the service executable.
//
// When the service stops, its SCM status carries the outcome: exit code 0 means
// the command exited 0; otherwise WIN32_EXIT_CODE is 1066
// (ERROR_SERVICE_SPECIFIC_ERROR) and SERVICE_EXIT_CODE is the command's exit
// code, or one of the Code* values (range 0x4E580000-0x4E5800FF) when the
// service itself failed. The Result file, written atomically beside the log,
// repeats the code with timestamps and an error text.
package legacyjob
