package svcctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Sentinel causes inside the *derrors.Error values this package returns;
// test them with errors.Is.
var (
	// ErrClosed: the Client, Manager or Service was closed.
	ErrClosed = errors.New("svcctl: closed")
	// ErrTransportLost: the RPC transport failed while a call was in flight
	// (connection reset, timeout, SMB error), so the call's outcome is
	// unknown. Idempotent calls are retried once on a new transport before
	// this is returned; CreateService, StartService and DeleteService first
	// check the outcome on the new transport.
	ErrTransportLost = errors.New("svcctl: RPC transport lost, outcome unknown")
	// ErrFault: the server answered the call with a DCE/RPC fault PDU (for
	// example nca_op_rng_error from a server that lacks the operation). The
	// call did not succeed; go-msrpc closes the transport on a fault, and the
	// Client dials a new one for the next call.
	ErrFault = errors.New("svcctl: RPC fault")
	// ErrWaitTimeout: WaitState's deadline passed before the service reached
	// the wanted state.
	ErrWaitTimeout = errors.New("svcctl: timed out waiting for service state")
	// ErrUnexpectedState: the service reached a state from which the wanted
	// one cannot follow (it stopped while WaitState waited for RUNNING).
	ErrUnexpectedState = errors.New("svcctl: service reached an unexpected state")
	// ErrRedialLimit: the Client lost MaxRedials+1 transports in a row.
	ErrRedialLimit = errors.New("svcctl: too many transports lost in a row")
)

// Win32 error codes this package acts on.
const (
	errAccessDenied            uint32 = 5
	errInvalidHandle           uint32 = 6
	errInsufficientBuffer      uint32 = 122
	errMoreData                uint32 = 234
	errServiceRequestTimeout   uint32 = 1053
	errServiceAlreadyRunning   uint32 = 1056
	errServiceDoesNotExist     uint32 = 1060
	errServiceCannotAcceptCtrl uint32 = 1061
	errServiceNotActive        uint32 = 1062
	errServiceMarkedForDelete  uint32 = 1072
	errServiceExists           uint32 = 1073
	errRPCUnknownIf            uint32 = 1717
	errRPCProcnumOutOfRange    uint32 = 1745
)

// Win32Code returns the Win32 error code carried by err (a return code of an
// svcctl call, or the Win32 equivalent of an RPC fault), and whether there
// is one.
func Win32Code(err error) (uint32, bool) {
	if e, ok := derrors.As(err); ok && e.Code.Space == derrors.Win32 {
		return e.Code.Value, true
	}
	var w *win32.Error
	if errors.As(err, &w) {
		return w.Code, true
	}
	return 0, false
}

// IsCode reports whether err carries Win32 error code code.
func IsCode(err error, code uint32) bool {
	c, ok := Win32Code(err)
	return ok && c == code
}

// IsServiceNotFound reports ERROR_SERVICE_DOES_NOT_EXIST (1060).
func IsServiceNotFound(err error) bool { return IsCode(err, errServiceDoesNotExist) }

// IsServiceExists reports ERROR_SERVICE_EXISTS (1073).
func IsServiceExists(err error) bool { return IsCode(err, errServiceExists) }

// IsMarkedForDelete reports ERROR_SERVICE_MARKED_FOR_DELETE (1072).
func IsMarkedForDelete(err error) bool { return IsCode(err, errServiceMarkedForDelete) }

// IsAlreadyRunning reports ERROR_SERVICE_ALREADY_RUNNING (1056).
func IsAlreadyRunning(err error) bool { return IsCode(err, errServiceAlreadyRunning) }

// IsNotActive reports ERROR_SERVICE_NOT_ACTIVE (1062).
func IsNotActive(err error) bool { return IsCode(err, errServiceNotActive) }

// IsAccessDenied reports ERROR_ACCESS_DENIED (5).
func IsAccessDenied(err error) bool { return IsCode(err, errAccessDenied) }

// rpcFailure marks an error of the RPC runtime (the call produced no
// response: a transport failure or a fault PDU), as opposed to a call that
// returned a non-zero Win32 code.
type rpcFailure struct{ err error }

func (e *rpcFailure) Error() string { return e.err.Error() }
func (e *rpcFailure) Unwrap() error { return e.err }

// check separates go-msrpc's two kinds of failure: its generated methods
// return a nil response when the call itself failed, and the response with
// an error when the server returned a non-zero code.
func check[T any](out *T, err error) (*T, error) {
	if err != nil && out == nil {
		return nil, &rpcFailure{err: err}
	}
	return out, err
}

// isRPCFailure reports whether err came from the RPC runtime.
func isRPCFailure(err error) bool {
	var rf *rpcFailure
	return errors.As(err, &rf)
}

// faultCode returns the status of a fault PDU in err, and whether err is a
// fault at all (as opposed to an I/O failure of the transport).
func faultCode(err error) (uint32, bool) {
	var re *rpcerrors.RPCError
	if errors.As(err, &re) {
		return re.Code, true
	}
	var ge *rpcerrors.Error
	if errors.As(err, &ge) {
		switch v := ge.Value.(type) {
		case uint32:
			return v, true
		case int32:
			return uint32(v), true
		}
		return 0, true
	}
	// A fault whose status is a Win32 code (rpc_s_access_denied is 5) is
	// mapped to *win32.Error by the registered mapper.
	var we *win32.Error
	if errors.As(err, &we) {
		return we.Code, true
	}
	return 0, false
}

// faultWin32 maps an RPC fault status to the Win32 code Windows reports for
// it (RPC_S_PROCNUM_OUT_OF_RANGE for nca_op_rng_error, ...); 0 if none.
func faultWin32(status uint32) uint32 {
	switch status {
	case 0x1c010002: // nca_op_rng_error
		return errRPCProcnumOutOfRange
	case 0x1c010003: // nca_unk_if
		return errRPCUnknownIf
	case 0x1c00001a, 0x16c9a075: // context mismatch
		return errInvalidHandle
	}
	if status < 0x10000 {
		return status
	}
	return 0
}

// wrap types err for the host and step. Faults become WindowsError with the
// fault's Win32 equivalent; everything else goes through derrors.Wrap.
func (c *Client) wrap(step derrors.Step, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := derrors.As(err); ok && e.Host != "" && e.Step != "" {
		return err
	}
	if status, ok := faultCode(err); ok && isRPCFailure(err) {
		cause := fmt.Errorf("%w: %w", ErrFault, err)
		if code := faultWin32(status); code != 0 {
			k, r := derrors.FromWin32(step, code)
			return &derrors.Error{Host: c.host, Step: step, Kind: k, Reason: r,
				Code: derrors.Win32Code(code), Err: cause}
		}
		return &derrors.Error{Host: c.host, Step: step, Kind: derrors.WindowsError, Err: cause}
	}
	return derrors.Wrap(c.host, step, err)
}

// lost wraps a transport failure of a call whose outcome is unknown.
func lost(err error) error {
	if errors.Is(err, ErrTransportLost) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTransportLost, err)
}

// dialStep names the step a transport set-up failed at, from go-msrpc's
// error text (ncacn_np: dial smb server / open smb session / mount share /
// open file) and whether our TCP dial hook failed.
func dialStep(err error, tcpFailed bool) derrors.Step {
	if tcpFailed {
		return derrors.StepConnect
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "dial smb server"):
		return derrors.StepConnect
	case strings.Contains(s, "open smb session"):
		return derrors.StepLogon
	case strings.Contains(s, "mount share"):
		return derrors.StepTreeConnect
	}
	return derrors.StepOpenSCManager
}

// ctxErr returns the context's error if it is done.
func ctxErr(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}
