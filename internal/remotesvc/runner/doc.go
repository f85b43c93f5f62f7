// Package runner is the platform-neutral heart of nxsvc: it finds the job in
// the service's arguments, runs the command with a timeout, kills the
// command's whole process tree on timeout or when the service is stopped, and
// writes the Result file.
//
// On Windows the command is created suspended, put in a job object with
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE and then resumed, so every process it
// spawns belongs to the job and TerminateJobObject ends them all; if the job
// object cannot be used (for example an old Windows that forbids nested jobs)
// only the command's own process is killed. On other systems the command runs
// in its own process group, which is killed as a whole; that is what the
// package's tests exercise on Linux.
package runner
