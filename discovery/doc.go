// Package discovery finds the hosts to deploy to — the Deployer documentation's first state,
// Discovered — from a CSV file, Active Directory or an address range, as
// Host values of one shape.
//
// # API
//
//	type Host struct{ Name string; Addr netip.Addr; Source string; Attrs map[string]string; Err error }
//	type Source interface{ Discover(ctx) ([]Host, error) }
//
//	// CSV, the Deployer documentation's BIOS_NAME,IP_ADDRESS
//	ReadCSV(r io.Reader, name string) ([]Host, error)   // error: *CSVError{File, Problems []Problem{Line, Field, Msg}}
//	CSVSource{Path}                                      // Source over a file
//	ReaderSource{Name, R}                                // Source over a reader (stdin)
//
//	// Active Directory over LDAP (go-ldap)
//	LDAPSource{URL, Plain, CAPEM, ServerName, InsecureSkipVerify, TLSConfig,
//	           User, Password, NTLM, BaseDN, OneLevel, Filter, IncludeDisabled, SeenSince,
//	           PageSize, ConnectTimeout, SearchTimeout, Dial, Resolve, NoResolve}
//	LDAPSource.Discover(ctx) ([]Host, error)
//	ResolveHosts(ctx, hosts, ResolveOptions{Resolver, Concurrency, Timeout, IPv6}) error
//	LogonFailureFromLDAP(host, err) *derrors.Error; ADSubCode(err) (uint32, bool)
//
//	// Address ranges: who answers on TCP 445
//	ScanRange(ctx, spec, RangeOptions{Port, Concurrency, Rate, Timeout, MaxAddrs, AllowLarge, Dial})
//	    ([]Host, *RangeReport, error)                     // report: open/refused/silent/unreachable per address
//	ParseRange(spec, max) ([]netip.Addr, error)
//	RangeSource{Spec, Options}
//
//	ValidateName, ValidateAddr, ParseAddr                 // what a valid Host holds
//
// A Source may return hosts together with an error when the result is
// partial but usable (a *CSVError lists the lines left out). Problems of one
// host (an AD computer whose name does not resolve) are in Host.Err, a
// *derrors.Error, and the host is still returned so the operator sees it.
//
// # CSV
//
// ReadCSV accepts the Deployer documentation's format as spreadsheets and people write it: an
// optional header (detected; columns in any order, extra columns kept in
// Attrs), a UTF-8 BOM, CRLF, blank and '#' lines, spaces around cells,
// quoted cells, ';' as separator. An empty IP_ADDRESS means "resolve the
// name later" (the zero Addr). IPv4 and IPv6 are accepted; an IPv6 zone
// ("fe80::1%eth0") only on a link-local address, where it is needed to
// reach it at all; IPv4-mapped IPv6 is read as IPv4. Every invalid line is
// reported with its number, and valid rows are still returned; a repeated
// name or address is reported with the line it first appeared on and left
// out. 100,000 lines cost about 0.17 s of CPU (BenchmarkReadCSV).
//
// # Active Directory
//
// LDAPSource reads computer objects: enabled ones by default
// (DefaultComputerFilter), optionally ANDed with the caller's filter
// (checked with ldap.CompileFilter before connecting) and with a
// lastLogonTimestamp lower bound (SeenSince). The search starts at the
// domain (rootDSE defaultNamingContext) or at BaseDN, such as an OU, over
// the subtree or one level, and reads every page of the paged-results
// control (1000 per page by default, AD's maximum), so any number of
// computers is read whole. Pages are requested one by one (not with
// go-ldap's SearchWithPaging) so a cancelled context stops between pages.
//
// Transport: ldaps://, or ldap:// with StartTLS (the default), or plain
// ldap:// when Plain is set. Certificates are verified, against CAPEM (the
// domain CA's PEM) or the system roots; a failure is a *derrors.Error
// wrapping *tls.CertificateVerificationError. The bind is simple ("user@realm"
// or "DOMAIN\user") or NTLM (Microsoft's "sicily" bind: Windows DCs accept
// it, Samba does not). Invalid credentials are a derrors.LogonFailure
// at step "ldap bind" whose Reason and Detail decode AD's sub-code ("data
// 52e" wrong password, 525 no such user, 530/531 logon restrictions, 532
// password expired, 533 disabled, 701 account expired, 773 must change, 775
// locked out). The connection goes through the Dial hook; ConnectTimeout
// bounds dial, TLS and bind, SearchTimeout the paged search, and ctx both.
//
// Each computer's dNSHostName (an FQDN, looked up as rooted) is resolved
// through ResolveOptions.Resolver with bounded concurrency; one that does
// not resolve is returned with the zero Addr and Host.Err of kind
// DNSResolutionFailure. A computer without dNSHostName is named by its cn,
// looked up as is (through the resolver's search list). Hosts carry Source
// "ldap:<url>" and Attrs "os", "os_version", "dns_host_name", "last_logon"
// (RFC 3339, UTC) and "dn".
//
// # Address ranges
//
// ScanRange dials TCP 445 on every address of a CIDR prefix, an
// "a.b.c.d-e.f.g.h" range, a single address, or a comma-separated list of
// them (DefaultMaxScanAddrs at most unless AllowLarge), with bounded
// concurrency, an optional rate limit and a per-address timeout, and reports
// each address as open, refused (reset), silent (no answer within the
// timeout) or unreachable (ICMP), with the typed error. Open addresses
// become Hosts with Source "range:<spec>".
package discovery
