package smb

import (
	"fmt"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/smbguard"
)

// recoverReply, deferred in every function of this package that calls into
// go-smb2 (in the caller's goroutine or one of ours), turns a panic in
// go-smb2's decoders (a reply the connection guard did not foresee) into a
// typed error at step, and closes the connection: go-smb2's state after a
// panic cannot be trusted. Panics in go-smb2's own receiver goroutine cannot
// be recovered; the guard makes them unreachable.
func (s *Session) recoverReply(step derrors.Step, errp *error) {
	if r := recover(); r != nil {
		_ = s.conn.Close()
		*errp = &derrors.Error{Host: s.label, Step: step, Kind: derrors.SharedAccessFailure,
			Reason: derrors.ReasonMalformedReply,
			Err:    &smbguard.MalformedError{Command: string(step), Problem: fmt.Sprintf("go-smb2 failed on it: %v", r)}}
	}
}
