package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runNameRE matches names the lab gives namespaces and Unix users: "dl<pid>x<hex>..."; group 1 is the pid of
// the process that made them.
var runNameRE = regexp.MustCompile(`^dl([0-9]+)x[0-9a-f]+`)

// Sweep removes what dead runs left behind: every namespace (with the processes still inside it, killed by
// PID) and every Unix user whose name carries the lab prefix of a process that no longer exists. Leftovers of
// live processes, and anything without the prefix, are never touched. NewNet calls it.
func Sweep() error {
	return sweep(deadRun)
}

// sweep removes the namespaces and users whose names dead reports as left by a dead run.
func sweep(dead func(name string) bool) error {
	ipPath, err := LookPath("ip")
	if err != nil {
		return err
	}
	var errs []error
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range entries {
		if dead(e.Name()) {
			if err := removeNamespace(ipPath, e.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	users, err := labUsers()
	if err != nil {
		errs = append(errs, err)
	}
	for _, u := range users {
		if dead(u) {
			if err := deleteUser(u); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// deadRun reports whether name carries the lab prefix of a process that no longer exists.
func deadRun(name string) bool {
	m := runNameRE.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	return errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

// labUsers lists the Unix users whose name carries a lab prefix.
func labUsers() ([]string, error) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var users []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), ":")
		if runNameRE.MatchString(name) {
			users = append(users, name)
		}
	}
	return users, sc.Err()
}

// deleteUser removes a Unix user made by the lab; a user already gone is not an error. Other test processes
// may sweep the same user or hold the passwd lock at the same moment, so a failure is retried while the user
// still exists.
func deleteUser(name string) error {
	userdel, err := LookPath("userdel")
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		out, err := exec.Command(userdel, name).CombinedOutput()
		if err == nil || !userExists(name) {
			return nil
		}
		if attempt == 20 {
			return fmt.Errorf("userdel %s: %w: %s", name, err, strings.TrimSpace(string(out)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// userExists reports whether /etc/passwd has an entry for name.
func userExists(name string) bool {
	users, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(users), "\n") {
		if u, _, ok := strings.Cut(line, ":"); ok && u == name {
			return true
		}
	}
	return false
}
