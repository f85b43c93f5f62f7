package deployer

// lapsaccount.go: which local account a host's LAPS credential is. Windows
// filters the administrator token of every local account but the built-in
// Administrator (RID 500) on network logons (UAC remote restrictions); the
// account's name does not tell, since the built-in Administrator may be
// renamed. After the logon, the host's LSA does: LsarLookupNames over
// \pipe\lsarpc on the same SMB session gives the account's SID, whose last
// sub-authority is its RID.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	lsat "github.com/oiweiwei/go-msrpc/msrpc/lsat/lsarpc/v0"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/rpcpipe"
	"github.com/nxdeploy/deployer/laps"
	"github.com/nxdeploy/deployer/smb"
)

// policyLookupNames is the POLICY_LOOKUP_NAMES access right ([MS-LSAD]
// 2.2.1.1.2): all a name lookup needs.
const policyLookupNames = 0x00000800

// errNotLocalUser: the name is no user of the host's own account domain.
var errNotLocalUser = errors.New("the account is not a local user of the host")

// usesLAPS reports whether creds are h's LAPS credential (as the Deployer
// builds it: a local account, domain ".", with the LAPS password).
func usesLAPS(h discovery.Host, creds smb.Credentials) bool {
	return h.LAPS != nil && !h.LAPS.Password.IsZero() && creds.Domain == "." &&
		creds.Password == h.LAPS.Password.Reveal()
}

// withLAPSAccountRID returns h with its LAPS credential's RID filled in by
// the host's LSA, when the logon on sess used that credential and its name
// alone does not settle whether it is the built-in Administrator (Windows
// LAPS names another account, or "Administrator" may be a renamed other
// account). When the lookup is refused or fails, h is returned as it is and
// the name decides (laps.Credential.FilteredByUAC).
func withLAPSAccountRID(ctx context.Context, h discovery.Host, creds smb.Credentials, sess *smb.Session) (discovery.Host, error) {
	if !usesLAPS(h, creds) || h.LAPS.RID != 0 || creds.User == "" {
		return h, nil
	}
	rid, err := localAccountRID(ctx, sess, h.Label(), creds.User)
	if err != nil {
		return h, err
	}
	c := *h.LAPS
	c.RID = rid
	h.LAPS = &c
	return h, nil
}

// localAccountRID asks the host's LSA for the RID of its local account
// user, qualified with the computer's NetBIOS name when the logon told it.
func localAccountRID(ctx context.Context, sess *smb.Session, label, user string) (uint32, error) {
	name := user
	if nb := sess.Info().Server.NetBIOSName; nb != "" {
		name = nb + `\` + user
	}
	conn, err := rpcpipe.Bind(ctx, rpcpipe.Config{
		Host:       label,
		BindStep:   derrors.StepConnect,
		Open:       func(ctx context.Context) (net.Conn, error) { return sess.OpenPipe(ctx, "lsarpc") },
		MaxRedials: -1,
	}, lsat.NewLsarpcClient)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var rid uint32
	err = conn.Call(ctx, derrors.StepConnect, true, func(ctx context.Context, cli lsat.LsarpcClient) error {
		pol, err := rpcpipe.Check(cli.OpenPolicy2(ctx, &lsat.OpenPolicy2Request{
			ObjectAttributes: &lsat.ObjectAttributes{}, DesiredAccess: policyLookupNames}))
		if err != nil {
			return fmt.Errorf("LsarOpenPolicy2: %w", err)
		}
		defer func() { _, _ = cli.Close(context.WithoutCancel(ctx), &lsat.CloseRequest{Object: pol.Policy}) }()
		resp, err := rpcpipe.Check(cli.LookupNames(ctx, &lsat.LookupNamesRequest{
			Policy: pol.Policy, Count: 1, Names: []*dtyp.UnicodeString{{Buffer: name}},
			TranslatedSIDs: &lsat.TranslatedSIDs{}, LookupLevel: lsat.LookupLevelWorkstation}))
		if err != nil {
			return fmt.Errorf("LsarLookupNames %q: %w", name, err)
		}
		rid, err = userRID(resp)
		if err != nil {
			return fmt.Errorf("LsarLookupNames %q: %w", name, err)
		}
		return nil
	})
	return rid, err
}

// userRID reads the one translation of a lookup: a user of an account
// domain (S-1-5-21-...), not a BUILTIN alias or a well-known SID.
func userRID(resp *lsat.LookupNamesResponse) (uint32, error) {
	if resp.TranslatedSIDs == nil || len(resp.TranslatedSIDs.SIDs) != 1 || resp.TranslatedSIDs.SIDs[0] == nil {
		return 0, errNotLocalUser
	}
	ts := resp.TranslatedSIDs.SIDs[0]
	if ts.Use != lsat.SIDNameUseTypeUser || resp.ReferencedDomains == nil || ts.DomainIndex < 0 ||
		int(ts.DomainIndex) >= len(resp.ReferencedDomains.Domains) {
		return 0, errNotLocalUser
	}
	dom := resp.ReferencedDomains.Domains[ts.DomainIndex]
	if dom == nil || dom.SID == nil || !strings.HasPrefix(dom.SID.String(), "S-1-5-21-") {
		return 0, errNotLocalUser
	}
	return ts.RelativeID, nil
}

// lapsFiltered names the cause of an access refusal after a logon with h's
// LAPS account when that account is not the built-in Administrator (UAC
// remote restrictions): at ADMIN$ or the service manager's opening, and
// after (an ADMIN$ write, the service's creation or start). Other errors,
// and refusals for the built-in Administrator, are returned as they are.
func lapsFiltered(h discovery.Host, err error) error {
	if h.LAPS == nil {
		return err
	}
	ferr := h.LAPS.CheckRemoteAdmin()
	if ferr == nil {
		return err
	}
	e, ok := derrors.As(err)
	if !ok || !accessRefused(e) {
		return err
	}
	c := *e
	c.Kind, c.Reason = derrors.SharedAccessFailure, derrors.ReasonLAPSAccountFiltered
	c.Err = fmt.Errorf("%w: %w", ferr, e.Err)
	return &c
}

// accessRefused reports an access refusal after the logon.
func accessRefused(e *derrors.Error) bool {
	if e.Reason == derrors.ReasonAdminShareDenied || e.Reason == derrors.ReasonNotAdministrator {
		return true
	}
	if e.Step == derrors.StepLogon || e.Step == derrors.StepConnect && e.Reason != derrors.NoReason {
		return false
	}
	switch e.Code.Space {
	case derrors.NTStatus:
		return e.Code.Value == derrors.StatusAccessDenied || e.Code.Value == derrors.StatusNetworkAccessDenied
	case derrors.Win32:
		return e.Code.Value == derrors.ErrorAccessDenied
	}
	return false
}

// lapsNote is the event message naming a LAPS account that Windows filters,
// or "" when the account is the built-in Administrator (or unknown, as
// legacy LAPS's).
func lapsNote(c *laps.Credential) string {
	if ferr := c.CheckRemoteAdmin(); ferr != nil {
		return strings.TrimPrefix(ferr.Error(), "laps: ")
	}
	return ""
}
