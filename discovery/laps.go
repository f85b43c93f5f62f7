package discovery

import (
	"context"
	"errors"
	"net/url"

	"github.com/go-ldap/ldap/v3"

	"github.com/nxdeploy/deployer/laps"
)

// LAPSOptions makes an LDAPSource read each computer's local administrator
// password that LAPS keeps in Active Directory (see package laps), into
// Host.LAPS. The bind account needs the right to read it (LAPS's read
// permission, or "All extended rights" on the computers); a computer whose
// password the account may not read comes back without one.
type LAPSOptions struct {
	// Forms lists the LAPS forms to read: laps.Legacy (ms-Mcs-AdmPwd),
	// laps.Clear (msLAPS-Password) and laps.Encrypted
	// (msLAPS-EncryptedPassword). Empty means all three; the newest form a
	// computer has wins.
	Forms []laps.Source
	// Keys decrypts encrypted passwords. When nil and a computer has one,
	// Discover dials the domain controller's group key service once for
	// the run (laps.DialGKDI to DC with GKDI) and closes it at the end.
	Keys laps.KeySource
	// DC is the domain controller whose key service is asked; the LDAP
	// URL's host by default.
	DC string
	// GKDI configures that connection (its Credentials: an account in the
	// group the passwords are encrypted for, Domain Admins by default).
	GKDI laps.GKDIConfig
}

// lapsAttributes returns the LDAP attributes of the selected forms.
func (o *LAPSOptions) attributes() []string {
	want := map[laps.Source]bool{}
	for _, f := range o.Forms {
		want[f] = true
	}
	all := len(want) == 0
	var out []string
	if all || want[laps.Legacy] {
		out = append(out, laps.AttrLegacyPassword, laps.AttrLegacyExpiration)
	}
	if all || want[laps.Clear] {
		out = append(out, laps.AttrPassword)
	}
	if all || want[laps.Encrypted] {
		out = append(out, laps.AttrEncryptedPassword)
	}
	if all || want[laps.Clear] || want[laps.Encrypted] {
		out = append(out, laps.AttrExpiration)
	}
	return out
}

// lapsRaw collects a computer object's LAPS values.
func (o *LAPSOptions) raw(e *ldap.Entry) laps.Attributes {
	a := laps.Attributes{}
	for _, name := range o.attributes() {
		if v := e.GetRawAttributeValues(name); len(v) > 0 {
			a[name] = v
		}
	}
	return a
}

// readLAPS turns each computer's LAPS values into its Host.LAPS; the key
// service is dialled once, on the first encrypted password, when o.Keys is
// nil. A computer with no readable password gets none; any other failure is
// its Host.LAPSError.
func (o *LAPSOptions) read(ctx context.Context, sourceURL string, hosts []Host, raw []laps.Attributes) {
	keys := o.Keys
	var (
		gkdi    *laps.GKDI
		dialErr error
	)
	defer func() {
		if gkdi != nil {
			_ = gkdi.Close()
		}
	}()
	for i := range hosts {
		a := raw[i]
		if len(a) == 0 {
			continue
		}
		k := keys
		if _, enc := a[laps.AttrEncryptedPassword]; enc && k == nil {
			if gkdi == nil && dialErr == nil {
				dc := o.DC
				if dc == "" {
					if u, err := url.Parse(sourceURL); err == nil {
						dc = u.Hostname()
					}
				}
				gkdi, dialErr = laps.DialGKDI(ctx, dc, o.GKDI)
			}
			if gkdi != nil {
				k = gkdi
			}
		}
		c, err := laps.Read(ctx, hosts[i].Label(), a, k)
		switch {
		case err == nil:
			hosts[i].LAPS = c
			hosts[i].Attrs["laps"] = c.Source.String()
			if c.Account != "" {
				hosts[i].Attrs["laps_account"] = c.Account
			}
		case errors.Is(err, laps.ErrNoKeySource) && dialErr != nil:
			hosts[i].LAPSError = errors.Join(err, dialErr)
		case !errors.Is(err, laps.ErrNoPassword):
			hosts[i].LAPSError = err
		}
	}
}
