// Package msi knows msiexec: it builds msiexec command lines, reads Windows
// Installer packages on Linux, and parses verbose msiexec logs.
//
// # Command lines
//
// InstallCommand and UninstallCommand render `msiexec /i` and `msiexec /x`
// with safe unattended defaults (/qn /norestart) and an optional verbose log
// (/l*v). Line returns the exact command line to hand to CreateProcess (or
// to put in a service's binary path); Args returns the same arguments as
// msiexec reads them. Property names must be public (upper case); values are
// quoted by msiexec's documented rule, PROPERTY="value with ""quotes""".
// Everything that cannot be passed safely (CR, LF, NUL, invalid UTF-8,
// quotes in paths) is rejected with a *PropertyError or *ArgumentError that
// names the property or field and never includes the value.
//
// msiexec does not parse its command line with CommandLineToArgvW: inside a
// quoted value it reads "" as one literal quote and treats backslashes as
// literal, where CommandLineToArgvW leaves quoting after "" and lets
// backslashes escape a following quote. ParseCommandLine and ParseProperties
// implement the msiexec reading this package assumes; SplitCommandLine
// implements CommandLineToArgvW exactly (checked against Wine's shell32 by
// TestWine), and JoinCommandLine/QuoteArg produce command lines it splits
// back into the original arguments. The two readings of a Line agree on the
// program, the switches, the paths and every property whose value has no
// double quote and does not end with a backslash while needing quotes.
//
// Wine's msiexec removes every double quote from its command line and
// collapses runs of spaces, so values with embedded quotes only work on
// Windows; TestWine checks spaces, backslashes, UNC paths, % and & through
// Wine's msiexec.
//
// # Packages
//
// Inspect and InspectReader read ProductName, ProductVersion, ProductCode,
// UpgradeCode, Manufacturer, every Property row and the summary information
// (template platform and languages, package code) from an .msi: the OLE
// compound file through github.com/richardlehane/mscfb, then MSI's stream
// name encoding, the string pool (_StringPool/_StringData, with 3-byte string
// references and strings of 64 KiB or more) and the Property table. Errors
// are *InspectError naming the file and wrapping ErrNotMSI or ErrCorrupt.
// Tests compare every property with msitools' msiinfo on packages built by
// wixl.
//
// testdata/ok.msi installs [ProgramFiles64Folder]NxTest\hello.txt;
// testdata/fails.msi fails its launch condition (msiexec exits 1603) unless
// MUSTBESET is set. testdata/gen.sh rebuilds both from their .wxs sources.
//
// # Logs
//
// ParseLog, ParseLogReader and the incremental Parser read verbose logs in
// UTF-16LE (with or without BOM), UTF-8 (with or without BOM) or
// Windows-1252, and report the final status code, the product, the first
// action that returned 3 with the lines just before it, the "Error NNNN."
// and "Note: 1:" lines, and the last action started (a progress hint while
// the log grows). LogSummary.Excerpt picks a few lines to attach to an
// error. The meaning of msiexec exit codes belongs to package
// github.com/nxdeploy/deployer/errors.
package msi

//go:generate sh testdata/gen.sh
