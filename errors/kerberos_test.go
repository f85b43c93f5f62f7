package errors_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/oiweiwei/gokrb5.fork/v9/krberror"
	"github.com/oiweiwei/gokrb5.fork/v9/messages"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

// krbFailure builds the error gokrb5 returns for a KRB-ERROR from the KDC,
// flattened to text as go-smb2 does with its initiator's errors.
func krbFailure(code int32) error {
	err := krberror.Errorf(messages.KRBError{ErrorCode: code}, krberror.KDCError, "AS Exchange Error: kerberos error response from KDC")
	return fmt.Errorf("invalid response error: %s", err.Error())
}

func TestKerberosErrorsClassify(t *testing.T) {
	for _, tc := range []struct {
		code   int32
		reason derrors.Reason
		name   string
	}{
		{derrors.KDCErrPreauthFailed, derrors.ReasonBadCredentials, "KDC_ERR_PREAUTH_FAILED"},
		{derrors.KDCErrCPrincipalUnknown, derrors.ReasonBadCredentials, "KDC_ERR_C_PRINCIPAL_UNKNOWN"},
		{derrors.KDCErrClientRevoked, derrors.ReasonAccountRevoked, "KDC_ERR_CLIENT_REVOKED"},
		{derrors.KDCErrKeyExpired, derrors.ReasonPasswordExpired, "KDC_ERR_KEY_EXPIRED"},
		{derrors.KDCErrPolicy, derrors.ReasonLogonRestricted, "KDC_ERR_POLICY"},
		{derrors.KDCErrSPrincipalUnknown, derrors.ReasonUnknownServicePrincipal, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{derrors.KRBAPErrSkew, derrors.ReasonClockSkew, "KRB_AP_ERR_SKEW"},
		{derrors.KDCErrEtypeNoSupp, derrors.ReasonKerberosEtype, "KDC_ERR_ETYPE_NOSUPP"},
		{derrors.KDCErrWrongRealm, derrors.ReasonKDCUnreachable, "KDC_ERR_WRONG_REALM"},
		{60, derrors.NoReason, "KRB_ERR_GENERIC"},
	} {
		e := derrors.Wrap("pc1", derrors.StepLogon, krbFailure(tc.code))
		assert.Equal(t, derrors.LogonFailure, e.Kind, "%d", tc.code)
		assert.Equal(t, "logon failure", e.Message())
		assert.Equal(t, tc.reason, e.Reason, "%d", tc.code)
		assert.Equal(t, derrors.KerberosErrorCode(tc.code), e.Code)
		assert.Equal(t, tc.name, e.Code.Name())
		assert.Equal(t, fmt.Sprintf("KRB %d %s", tc.code, tc.name), e.Code.String())
		assert.NotEmpty(t, e.Code.Text())
		assert.Equal(t, derrors.NoRetry, derrors.Retry(e), "no Kerberos failure is retried")
	}
}

func TestKerberosCodeFromChainOrText(t *testing.T) {
	code, ok := derrors.KerberosCode(fmt.Errorf("wrapped: %w", messages.KRBError{ErrorCode: 37}))
	require.True(t, ok)
	assert.Equal(t, int32(37), code)
	code, ok = derrors.KerberosCode(krbFailure(24))
	require.True(t, ok)
	assert.Equal(t, int32(24), code)
	_, ok = derrors.KerberosCode(fmt.Errorf("KRB Error: (not a number)"))
	assert.False(t, ok)
	_, ok = derrors.KerberosCode(nil)
	assert.False(t, ok)
	assert.Equal(t, "", derrors.KerberosErrorCode(9999).Name(), "unknown codes have no name")
}

func FuzzKerberosCode(f *testing.F) {
	f.Add("KRB Error: (24) KDC_ERR_PREAUTH_FAILED")
	f.Add("KRB Error: (99999)")
	f.Add("error sending to a KDC")
	f.Fuzz(func(t *testing.T, s string) {
		e := derrors.Wrap("h", derrors.StepLogon, fmt.Errorf("%s", s))
		if e == nil || e.Kind == 0 {
			t.Fatalf("Wrap(%q) = %v", s, e)
		}
		if code, ok := derrors.KerberosCode(fmt.Errorf("%s", s)); ok && code < 0 {
			t.Fatalf("negative code %d from %q", code, s)
		}
	})
}

func TestKDCUnreachableBeatsTheDNSErrorItWraps(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "_kerberos._tcp.CORP", IsNotFound: true}
	e := derrors.Wrap("pc1", derrors.StepLogon, fmt.Errorf("krbauth: no KDC for realm CORP: %w", dns))
	assert.Equal(t, derrors.LogonFailure, e.Kind, "the host's name resolved; the realm's KDC did not")
	assert.Equal(t, derrors.ReasonKDCUnreachable, e.Reason)
}

func TestAccountAttempt(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{derrors.Wrap("h", derrors.StepLogon, krbFailure(derrors.KDCErrPreauthFailed)), true},
		{derrors.Wrap("h", derrors.StepLogon, krbFailure(derrors.KDCErrClientRevoked)), true},
		{&derrors.Error{Kind: derrors.LogonFailure, Reason: derrors.ReasonBadCredentials}, true},
		{&derrors.Error{Kind: derrors.LogonFailure}, true},
		{derrors.Wrap("h", derrors.StepLogon, krbFailure(derrors.KRBAPErrSkew)), false},
		{derrors.Wrap("h", derrors.StepLogon, krbFailure(derrors.KDCErrSPrincipalUnknown)), false},
		{derrors.Wrap("h", derrors.StepLogon, fmt.Errorf("error sending to a KDC: refused")), false},
		{&derrors.Error{Kind: derrors.ConnectionTimeout}, false},
		{fmt.Errorf("plain"), false},
		{nil, false},
	} {
		assert.Equal(t, tc.want, derrors.AccountAttempt(tc.err), "%v", tc.err)
	}
}
