package krbauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/oiweiwei/go-msrpc/ssp/krb5"
	"github.com/oiweiwei/gokrb5.fork/v9/client"
	kconfig "github.com/oiweiwei/gokrb5.fork/v9/config"
	"github.com/oiweiwei/gokrb5.fork/v9/credentials"
	"github.com/oiweiwei/gokrb5.fork/v9/iana/etypeID"
	"github.com/oiweiwei/gokrb5.fork/v9/iana/nametype"
	"github.com/oiweiwei/gokrb5.fork/v9/messages"
	"github.com/oiweiwei/gokrb5.fork/v9/types"

	derrors "github.com/nxdeploy/deployer/errors"
)

// tgtMargin is how long before its end a cached TGT is replaced.
const tgtMargin = 5 * time.Minute

// The TGT cache. Each logon to a host needs a service ticket, but the
// account's ticket-granting ticket serves them all until it expires: a fleet
// deployment asks the KDC for one TGT per account and then one service
// ticket per host, instead of a password check per host. It also keeps
// gokrb5 from starting its TGT auto-renewal goroutine at every logon (a
// client made from a credentials cache has none), which would outlive the
// logon by hours.
var tgts = tgtCache{m: make(map[string]*tgtEntry)}

type tgtCache struct {
	mu sync.Mutex
	m  map[string]*tgtEntry
}

// tgtEntry is one account's TGT; sem lets one logon at a time fetch it, so
// a fleet starting 64 logons at once sends one AS exchange, not 64 (each a
// password check a wrong password would count towards lockout).
type tgtEntry struct {
	sem chan struct{}
	cc  *credentials.CCache
	end time.Time
}

// tgtKey names an account and its secret (by digest; the cache never holds
// a password).
func tgtKey(user, realm string, a Account) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", user, realm, a.Password)
	h.Write(a.NTHash)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// get returns the cached TGT for key, or fetches one; fresh says it was
// fetched now.
func (c *tgtCache) get(ctx context.Context, key string, fetch func() (*credentials.CCache, time.Time, error)) (cc *credentials.CCache, fresh bool, err error) {
	c.mu.Lock()
	e := c.m[key]
	if e == nil {
		if len(c.m) >= tgtSweepAt {
			c.sweep()
		}
		e = &tgtEntry{sem: make(chan struct{}, 1)}
		c.m[key] = e
	}
	c.mu.Unlock()
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("krbauth: %s: waiting for the account's TGT: %w", errKDCDial, ctx.Err())
	}
	defer func() { <-e.sem }()
	if e.cc != nil && time.Until(e.end) > tgtMargin {
		return e.cc, false, nil
	}
	cc, end, err := fetch()
	if err != nil {
		return nil, false, err
	}
	e.cc, e.end = cc, end
	return cc, true, nil
}

// drop forgets key's TGT if it is still cc (the KDC refused it: its key
// changed, or it was revoked), so the next get fetches a new one.
func (c *tgtCache) drop(key string, cc *credentials.CCache) {
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e == nil {
		return
	}
	e.sem <- struct{}{}
	if e.cc == cc {
		e.cc, e.end = nil, time.Time{}
	}
	<-e.sem
}

// tgtSweepAt is the cache size at which expired and failed entries are
// dropped before a new one is added, so per-host accounts cannot grow it
// without bound.
const tgtSweepAt = 1024

// sweep drops entries with no usable TGT that no logon holds. c.mu is held.
func (c *tgtCache) sweep() {
	for k, e := range c.m {
		select {
		case e.sem <- struct{}{}:
			if e.cc == nil || time.Until(e.end) <= tgtMargin {
				delete(c.m, k)
			}
			<-e.sem
		default: // a logon is fetching it
		}
	}
}

// forget empties the cache (for tests).
func (c *tgtCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = make(map[string]*tgtEntry)
}

// ForgetTGTs drops every cached TGT, so the next logon of each account
// asks the KDC again.
func ForgetTGTs() { tgts.forget() }

// fetchTGT runs the AS exchange (with pre-authentication) for the account
// and returns the TGT as a credentials cache.
func fetchTGT(user, realm string, a Account, conf *kconfig.Config, kc *krb5.Config) (*credentials.CCache, time.Time, error) {
	var cl *client.Client
	settings := kc.ClientSettings()
	if a.Password != "" {
		cl = client.NewWithPassword(user, realm, a.Password, conf, settings...)
	} else {
		cl = client.NewWithEncryptionKey(user, realm, types.EncryptionKey{KeyType: etypeID.RC4_HMAC, KeyValue: a.NTHash},
			conf, settings...)
	}
	req, err := messages.NewASReqForTGT(realm, conf, cl.Credentials.CName())
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("krbauth: AS-REQ: %w", err)
	}
	rep, err := cl.ASExchange(realm, req, 0)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("krbauth: TGT for %s@%s: %w", user, realm, err)
	}
	client := credentials.Principal{Realm: rep.CRealm, PrincipalName: rep.CName}
	entry, err := cacheEntry(client, rep.Ticket, rep.DecryptedEncPart)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("krbauth: TGT: %w", err)
	}
	cc := &credentials.CCache{Version: 4, DefaultPrincipal: client, Credentials: []*credentials.Credential{entry}}
	return cc, entry.EndTime, nil
}

// Kerberos error codes that mean the KDC no longer accepts a TGT it issued
// ([RFC 4120] 7.5.9): a fresh TGT may succeed where the cached one failed.
var staleTGTCodes = map[int32]bool{
	20: true, // KDC_ERR_TGT_REVOKED
	31: true, // KRB_AP_ERR_BAD_INTEGRITY (the krbtgt key changed)
	32: true, // KRB_AP_ERR_TKT_EXPIRED
	41: true, // KRB_AP_ERR_MODIFIED
}

// logonCCache returns a credentials cache with the account's TGT and a
// service ticket for spn. A cached TGT the KDC refuses is dropped and the
// exchange run once more with a new one.
func logonCCache(ctx context.Context, user, realm, spn string, a Account, conf *kconfig.Config, kc *krb5.Config) (*credentials.CCache, error) {
	if a.Password == "" && len(a.NTHash) == 0 {
		cc, err := credentials.LoadCCache(a.CCache)
		if err != nil {
			return nil, fmt.Errorf("krbauth: credentials cache %s: %w", a.CCache, err)
		}
		return withServiceTicket(cc, realm, spn, conf, kc)
	}
	key := tgtKey(user, realm, a)
	for {
		tgt, fresh, err := tgts.get(ctx, key, func() (*credentials.CCache, time.Time, error) {
			return fetchTGT(user, realm, a, conf, kc)
		})
		if err != nil {
			return nil, err
		}
		cc, err := withServiceTicket(tgt, realm, spn, conf, kc)
		if code, ok := derrors.KerberosCode(err); ok && !fresh && staleTGTCodes[code] {
			tgts.drop(key, tgt)
			continue
		}
		return cc, err
	}
}

// withServiceTicket runs the TGS exchange for spn with the TGT in tgt and
// returns a new cache holding both tickets. The client is made from a
// credentials cache, so gokrb5 starts no renewal goroutine.
func withServiceTicket(tgt *credentials.CCache, realm, spn string, conf *kconfig.Config, kc *krb5.Config) (*credentials.CCache, error) {
	cl, err := client.NewFromCCacheOptionalTGT(tgt, conf, kc.ClientSettings()...)
	if err != nil {
		return nil, fmt.Errorf("krbauth: TGT: %w", err)
	}
	var entry *credentials.Credential
	for _, c := range tgt.GetEntries() {
		if len(c.Server.PrincipalName.NameString) > 0 && c.Server.PrincipalName.NameString[0] == "krbtgt" {
			entry = c
			break
		}
	}
	if entry == nil {
		return nil, fmt.Errorf("krbauth: the credentials cache has no TGT for %s", realm)
	}
	var t messages.Ticket
	if err := t.Unmarshal(entry.Ticket); err != nil {
		return nil, fmt.Errorf("krbauth: TGT: %w", err)
	}
	princ := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, spn)
	_, rep, err := cl.TGSREQGenerateAndExchange(princ, realm, t, entry.Key, false)
	if err != nil {
		return nil, fmt.Errorf("krbauth: service ticket for %s: %w", spn, err)
	}
	svc, err := cacheEntry(tgt.DefaultPrincipal, rep.Ticket, rep.DecryptedEncPart)
	if err != nil {
		return nil, fmt.Errorf("krbauth: service ticket: %w", err)
	}
	out := *tgt
	out.Credentials = append(append([]*credentials.Credential(nil), tgt.Credentials...), svc)
	return &out, nil
}

// cacheEntry is a credentials cache entry for a ticket the KDC issued to
// client, with the decrypted part of the KDC's reply (key and times).
func cacheEntry(client credentials.Principal, tkt messages.Ticket, ep messages.EncKDCRepPart) (*credentials.Credential, error) {
	b, err := tkt.Marshal()
	if err != nil {
		return nil, err
	}
	return &credentials.Credential{
		Client:      client,
		Server:      credentials.Principal{Realm: tkt.Realm, PrincipalName: tkt.SName},
		Key:         ep.Key,
		AuthTime:    ep.AuthTime,
		StartTime:   ep.StartTime,
		EndTime:     ep.EndTime,
		RenewTill:   ep.RenewTill,
		TicketFlags: ep.Flags,
		Ticket:      b,
	}, nil
}
