// Package winreg reads what a Windows host already has installed, from its
// registry over \pipe\winreg ([MS-RRP]) on the host's SMB session, so the
// deployer can tell, before pushing anything, whether the package's product
// is installed and in which version.
//
// Open binds the registry over an smb.PipeOpener (sess.Pipes() for an
// smb.Session the caller has: one connection and one logon per host); Dial
// logs on by itself. Product looks a ProductCode up under
// HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall and, for 32-bit
// products on 64-bit Windows, under its WOW6432Node twin; ProductCodes lists
// the products Windows Installer registered for an UpgradeCode; Products
// lists every entry. Version compares product versions as Windows Installer
// does (major.minor.build, the fourth field ignored):
//
//	reg, err := winreg.Open(ctx, host, sess.Pipes(), winreg.Config{})
//	if err != nil { ... }                  // *derrors.Error
//	defer reg.Close()                      // puts Remote Registry back as it was
//	p, err := reg.Product(ctx, productCode)
//	switch {
//	case errors.Is(err, winreg.ErrNotInstalled): // install
//	case err != nil:                             // could not tell
//	case p.Version.Compare(pkg) == 0:            // already there: With Collector
//	case p.Version.Compare(pkg) < 0:             // an older version: upgrade
//	}
//
// # The Remote Registry service
//
// \pipe\winreg exists only while the Remote Registry service runs. Open asks
// the service manager (\pipe\svcctl on the same session) first: a stopped
// service is started and a disabled one set to start on demand and started,
// as impacket's reg.py does; Close (also after an error, and after ctx was
// cancelled, within Config.ServiceTimeout) stops it again and disables it
// again if it was. Config.KeepDisabled refuses to enable a disabled service;
// Config.LeaveService leaves the service alone (Windows 8 and later start a
// demand-start Remote Registry when \pipe\winreg is opened). When the
// service manager refuses the account, Open tries the registry as it is.
//
// # What is proven, and against what
//
// Reading keys and values (both views, every value type, upgrade codes,
// sealed and unsealed binds, over a caller's session and its own) is tested
// against Samba's winreg server with Uninstall keys imported into its
// registry. Starting a stopped or disabled Remote Registry and putting it
// back is tested against Wine's service manager (through a pipe bridge), on
// a stand-in service, because Samba reports its Remote Registry as always
// running and Wine has none.
package winreg
