package svcctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

type fakeResponse struct{}

// invokeErr is what go-msrpc's generated methods return when the call
// itself failed: a nil response and the runtime's error.
func invokeErr(err error) error {
	_, e := check[fakeResponse](nil, fmt.Errorf("dcerpc: invoke: /svcctl/v2/ROp: response: %w", err))
	return e
}

// returnErr is what they return for a non-zero return code.
func returnErr(code uint32) error {
	_, e := check(&fakeResponse{}, fmt.Errorf("/svcctl/v2/ROp: %w", win32.FromCode(code)))
	return e
}

func TestWrapClassifies(t *testing.T) {
	c := &Client{host: "host1"}
	tests := []struct {
		name      string
		step      derrors.Step
		err       error
		kind      derrors.Kind
		reason    derrors.Reason
		code      derrors.Code
		sentinels []error
	}{
		{"return code: not an administrator", derrors.StepOpenSCManager, returnErr(5),
			derrors.SharedAccessFailure, derrors.ReasonNotAdministrator, derrors.Win32Code(5), nil},
		{"return code: service missing", derrors.StepOpenService, returnErr(1060),
			derrors.WindowsError, derrors.NoReason, derrors.Win32Code(1060), nil},
		{"return code: marked for delete", derrors.StepCreateService, returnErr(1072),
			derrors.WindowsError, derrors.ReasonServiceMarkedForDelete, derrors.Win32Code(1072), nil},
		{"fault: operation out of range", derrors.StepCreateService, invokeErr(rpcerrors.OperationRangeError),
			derrors.WindowsError, derrors.NoReason, derrors.Win32Code(1745), []error{ErrFault}},
		{"fault: unknown interface", derrors.StepOpenSCManager, invokeErr(rpcerrors.UnknownInterface),
			derrors.WindowsError, derrors.NoReason, derrors.Win32Code(1717), []error{ErrFault}},
		{"fault: access denied", derrors.StepOpenSCManager, invokeErr(win32.ErrorAccessDenied),
			derrors.SharedAccessFailure, derrors.ReasonNotAdministrator, derrors.Win32Code(5), []error{ErrFault}},
		{"fault: unmapped status", derrors.StepQueryService, invokeErr(&rpcerrors.Error{Value: uint32(0x1c000099)}),
			derrors.WindowsError, derrors.NoReason, derrors.Code{}, []error{ErrFault}},
		{"transport lost", derrors.StepStartService, lost(invokeErr(io.ErrUnexpectedEOF)),
			derrors.UnknownError, derrors.NoReason, derrors.Code{}, []error{ErrTransportLost, io.ErrUnexpectedEOF}},
		{"transport timeout", derrors.StepQueryService, lost(invokeErr(context.DeadlineExceeded)),
			derrors.ConnectionTimeout, derrors.NoReason, derrors.Code{}, []error{ErrTransportLost}},
		{"closed transport", derrors.StepQueryService, lost(invokeErr(dcerpc.ErrClosed)),
			derrors.UnknownError, derrors.NoReason, derrors.Code{}, []error{ErrTransportLost, dcerpc.ErrClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.wrap(tt.step, tt.err)
			de, ok := derrors.As(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, "host1", de.Host)
			assert.Equal(t, tt.step, de.Step)
			assert.Equal(t, tt.kind, de.Kind, "%v", err)
			assert.Equal(t, tt.reason, de.Reason, "%v", err)
			assert.Equal(t, tt.code, de.Code, "%v", err)
			for _, s := range tt.sentinels {
				assert.ErrorIs(t, err, s)
			}
			if tt.code.Space == derrors.Win32 {
				got, ok := Win32Code(err)
				assert.True(t, ok)
				assert.Equal(t, tt.code.Value, got)
			}
			// Wrapping again keeps the classification.
			assert.Same(t, de, errors.Unwrap(fmt.Errorf("x: %w", c.wrap(derrors.StepCleanup, err))).(*derrors.Error))
		})
	}
	assert.NoError(t, c.wrap(derrors.StepQueryService, nil))
}

func TestCheckSeparatesFailures(t *testing.T) {
	out, err := check(&fakeResponse{}, nil)
	assert.NotNil(t, out)
	assert.NoError(t, err)
	assert.False(t, isRPCFailure(returnErr(1060)))
	assert.True(t, isRPCFailure(invokeErr(io.EOF)))
	_, fault := faultCode(invokeErr(io.EOF))
	assert.False(t, fault)
	code, fault := faultCode(invokeErr(rpcerrors.OperationRangeError))
	assert.True(t, fault)
	assert.Equal(t, uint32(0x1c010002), code)
}

func TestCodePredicates(t *testing.T) {
	c := &Client{host: "h"}
	tests := []struct {
		code uint32
		pred func(error) bool
	}{
		{1060, IsServiceNotFound},
		{1073, IsServiceExists},
		{1072, IsMarkedForDelete},
		{1056, IsAlreadyRunning},
		{1062, IsNotActive},
		{5, IsAccessDenied},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			assert.True(t, tt.pred(c.wrap(derrors.StepQueryService, returnErr(tt.code))))
			assert.True(t, tt.pred(returnErr(tt.code)), "raw go-msrpc error")
			assert.False(t, tt.pred(c.wrap(derrors.StepQueryService, returnErr(87))))
			assert.False(t, tt.pred(nil))
		})
	}
}

func TestDialStep(t *testing.T) {
	tests := []struct {
		err       string
		tcpFailed bool
		want      derrors.Step
	}{
		{"bind: could not bind the selected transport: ncacn_np: dial smb server: 1.2.3.4:445: refused", false, derrors.StepConnect},
		{"anything", true, derrors.StepConnect},
		{"bind: ncacn_np: open smb session: response error: logon failure", false, derrors.StepLogon},
		{"bind: ncacn_np: mount share: response error: access denied", false, derrors.StepTreeConnect},
		{"bind: ncacn_np: open file: response error: object name not found", false, derrors.StepOpenSCManager},
		{"bind: bind_nak", false, derrors.StepOpenSCManager},
	}
	for _, tt := range tests {
		t.Run(tt.err, func(t *testing.T) {
			assert.Equal(t, tt.want, dialStep(errors.New(tt.err), tt.tcpFailed))
		})
	}
}
