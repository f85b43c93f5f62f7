/*
 * nxjob.h: the files nxsvc shares with the deployer, in portable C.
 *
 * The deployer writes a job file into the deployment directory; nxsvc reads
 * it, installs or removes a product through the Windows Installer API, keeps
 * a progress file up to date and writes a result file. This header and
 * nxjob.c hold everything about those three files that does not need
 * Windows: the job parser, the Windows Installer command-line builder, the
 * progress arithmetic and the text of the progress and result files. They
 * use only <stddef.h> and <stdint.h>, so the same source is compiled by
 * mingw-w64 into nxsvc and by cgo into the Go tests that fuzz it.
 *
 * The formats are specified in the doc comment of the Go package
 * internal/remotesvc/job, which writes job files and reads the other two.
 */
#ifndef NXJOB_H
#define NXJOB_H

#include <stddef.h>
#include <stdint.h>

/* One UTF-16 code unit (WCHAR on Windows). */
typedef uint16_t nx_char;

/* Limits of a job file. */
#define NXJOB_HEADER_SIZE 16u
#define NXJOB_MAX_FILE 65536u
#define NXJOB_MAX_RECORDS 1024u
#define NXJOB_MAX_PROPS 256u
#define NXJOB_MAX_ID 64u
#define NXJOB_MAX_PROP_NAME 72u
#define NXJOB_MAX_PACKAGE_NAME 128u
#define NXJOB_MAX_UNC 1024u
#define NXJOB_MAX_TIMEOUT 604800u
#define NXJOB_MAX_GRACE 3600u
#define NXJOB_DEFAULT_GRACE 120u
/* The job file's format: 2 since KEEP_LOG, and since a successful run
 * leaves nothing but nxsvc.exe in its directory (nxjob_keeps_log,
 * nxjob_leaves_result). Only this version is read: a job of another
 * version (an Engine expecting other files at the end) is refused. */
#define NXJOB_VERSION 2u

/* Record tags. */
#define NXJOB_TAG_ID 1u
#define NXJOB_TAG_OPERATION 2u
#define NXJOB_TAG_PACKAGE 3u
#define NXJOB_TAG_PRODUCT 4u
#define NXJOB_TAG_PROPERTY 5u
#define NXJOB_TAG_TIMEOUT 6u
#define NXJOB_TAG_GRACE 7u
#define NXJOB_TAG_SHA256 8u
#define NXJOB_TAG_SKIP_VERSION 9u
#define NXJOB_TAG_KEEP_LOG 10u /* empty payload */

/* Record flags. */
#define NXJOB_FLAG_SECRET 1u

/* Operations. */
#define NXJOB_OP_INSTALL 1u
#define NXJOB_OP_UNINSTALL 2u

/* Service-specific exit codes of nxsvc's own ("NX" in the high word); any
 * other exit code is the Windows Installer API's result. Keep in step with
 * the Go package job. */
#define NX_CODE_BASE 0x4E580000u
#define NX_CODE_BAD_JOB (NX_CODE_BASE + 1u)
#define NX_CODE_SETUP_FAILED (NX_CODE_BASE + 2u)
#define NX_CODE_TIMEOUT (NX_CODE_BASE + 3u)
#define NX_CODE_STOPPED (NX_CODE_BASE + 4u)
#define NX_CODE_BAD_PACKAGE (NX_CODE_BASE + 5u)
#define NX_CODE_ALREADY_INSTALLED (NX_CODE_BASE + 6u)

/* Windows Installer results that end a run successfully. */
#define NX_MSI_SUCCESS 0u
#define NX_MSI_REBOOT_INITIATED 1641u /* ERROR_SUCCESS_REBOOT_INITIATED */
#define NX_MSI_REBOOT_REQUIRED 3010u  /* ERROR_SUCCESS_REBOOT_REQUIRED */
#define NX_MSI_UNKNOWN_PRODUCT 1605u  /* ERROR_UNKNOWN_PRODUCT */

/* Parse results. Keep in step with the Go package job (ParseError codes). */
enum nxjob_error {
	NXJOB_OK = 0,
	NXJOB_E_TOO_LARGE = 1,      /* file larger than NXJOB_MAX_FILE */
	NXJOB_E_SHORT = 2,          /* shorter than the header */
	NXJOB_E_MAGIC = 3,          /* not a job file */
	NXJOB_E_VERSION = 4,        /* a version this nxsvc does not read */
	NXJOB_E_LENGTH = 5,         /* declared length differs from the file's */
	NXJOB_E_COUNT = 6,          /* too many records */
	NXJOB_E_TRUNCATED = 7,      /* a record runs past the end */
	NXJOB_E_TRAILING = 8,       /* bytes after the last record */
	NXJOB_E_TAG = 9,            /* unknown record tag */
	NXJOB_E_FLAGS = 10,         /* flags a record may not carry */
	NXJOB_E_DUPLICATE = 11,     /* a record that may appear once appears twice */
	NXJOB_E_SIZE = 12,          /* a record's payload has the wrong size */
	NXJOB_E_NUL = 13,           /* a string contains U+0000 */
	NXJOB_E_ID = 14,            /* invalid deployment id */
	NXJOB_E_OPERATION = 15,     /* unknown operation */
	NXJOB_E_PACKAGE = 16,       /* invalid package name or UNC path */
	NXJOB_E_PRODUCT = 17,       /* invalid product code */
	NXJOB_E_PROP_NAME = 18,     /* invalid property name */
	NXJOB_E_PROP_RESERVED = 19, /* a property nxsvc sets itself */
	NXJOB_E_PROP_DUPLICATE = 20,/* the same property twice */
	NXJOB_E_PROP_COUNT = 21,    /* too many properties */
	NXJOB_E_TIMEOUT = 22,       /* timeout outside 1..NXJOB_MAX_TIMEOUT */
	NXJOB_E_GRACE = 23,         /* grace outside 1..NXJOB_MAX_GRACE */
	NXJOB_E_MISSING = 24,       /* a required record is missing */
	NXJOB_E_CONFLICT = 25,      /* records that do not fit the operation */
	NXJOB_E_ARENA = 26          /* the caller's arena is too small */
};

/* A string copied out of the job: NUL-terminated, n code units long. */
typedef struct {
	const nx_char *s;
	uint32_t n;
} nx_str;

typedef struct {
	nx_str name;
	nx_str value;
	int secret;
} nxjob_prop;

typedef struct {
	nx_str id;
	uint32_t op;
	nx_str package;   /* install: a file name in the directory, or a UNC path */
	int package_unc;  /* package is \\server\share\... */
	nx_str product;   /* uninstall: {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX} */
	uint32_t timeout_s;
	uint32_t grace_s;
	int has_sha256;      /* the package's SHA-256 is given */
	/* install: when has_skip, product is the package's ProductCode and
	 * skip_version its version (major << 24 | minor << 16 | build, as
	 * Windows Installer packs a version): the same version installed
	 * already means nothing to install. */
	int has_skip;
	uint32_t skip_version;
	/* KEEP_LOG: keep install.log and the result file after a successful
	 * run too. */
	int keep_log;
	/* Set by nxsvc, not by the parser (which clears it): the command line
	 * carries REINSTALL=ALL REINSTALLMODE=vomus, the minor upgrade of an
	 * older installed version (see nxjob_minor_upgrade). */
	int minor_upgrade;
	uint8_t sha256[32];
	uint32_t nprops;
	nxjob_prop props[NXJOB_MAX_PROPS];
	/* Where parsing stopped: the 1-based record (0 for the header) and
	 * the byte offset of that record. */
	uint32_t err_record;
	uint32_t err_offset;
} nxjob;

/* nxjob_arena_units returns how many code units an arena needs to hold the
 * strings of a job file of len bytes. */
size_t nxjob_arena_units(size_t len);

/* nxjob_parse parses and validates a job file. Strings are copied into
 * arena (arena_units code units, see nxjob_arena_units) and job points into
 * it. It returns NXJOB_OK or an NXJOB_E_* code; it never reads outside buf
 * nor writes outside job and arena, whatever buf holds. */
int nxjob_parse(const uint8_t *buf, size_t len, nxjob *job, nx_char *arena, size_t arena_units);

/* nxjob_version parses a Windows Installer version "major.minor.build"
 * or "major.minor.build.revision" (major and minor at most 255, build at
 * most 65535, revision ignored, each field 1-10 decimal digits) of n units
 * into *out packed as major << 24 | minor << 16 | build; it returns 0 when
 * s is not such a version. */
int nxjob_version(const nx_char *s, uint32_t n, uint32_t *out);

/* nxjob_minor_upgrade returns 1 when the job, installing with the skip
 * check, meets its product installed at the version installed (n units,
 * as MsiGetProductInfo's VersionString gives it) OLDER than the package's,
 * and the job's properties set neither REINSTALL nor REINSTALLMODE:
 * Windows Installer refuses such a package with 1638
 * (ERROR_PRODUCT_VERSION) unless the install is a minor upgrade
 * (REINSTALL=ALL REINSTALLMODE=vomus). A newer installed version is no
 * upgrade (Windows Installer rightly refuses the downgrade), nor is an
 * unreadable one. */
int nxjob_minor_upgrade(const nxjob *job, const nx_char *installed, uint32_t n);

/* nxjob_succeeded returns 1 when a run of operation op that ends with the
 * exit code code succeeded: Windows Installer's 0, 3010 or 1641, or
 * NX_CODE_ALREADY_INSTALLED, for an install; 0, 3010, 1641 or 1605 (the
 * product is already absent) for an uninstall. */
int nxjob_succeeded(uint32_t op, uint32_t code);

/* nxjob_keeps_log returns 1 when nxsvc keeps install.log (scrubbed) after
 * a run of job that ends with code: the run failed, or the job has
 * KEEP_LOG. Otherwise it deletes the log before it reports that it
 * stopped. */
int nxjob_keeps_log(const nxjob *job, uint32_t code);

/* nxjob_leaves_result returns 1 when nxsvc writes the result file after a
 * run of job that ends with code, installed_before saying whether the skip
 * check found a version of the product installed: the run failed, the job
 * has KEEP_LOG, or an install succeeded over another version (the result's
 * "installed" line says which; not for NX_CODE_ALREADY_INSTALLED, whose
 * version is the package's). */
int nxjob_leaves_result(const nxjob *job, uint32_t code, int installed_before);

/* nxjob_strerror describes an NXJOB_* code in ASCII. */
const char *nxjob_strerror(int code);

/* nxjob_cmdline writes the Windows Installer command line for the job
 * (REBOOT=ReallySuppress, the properties as NAME="value" with quotes
 * doubled, REINSTALL=ALL REINSTALLMODE=vomus when job->minor_upgrade, and
 * MsiHiddenProperties naming the secret ones) into out, NUL
 * terminated, when it fits in cap units. It returns the line's length in
 * code units without the NUL; the caller retries with a larger buffer when
 * that is not less than cap. */
size_t nxjob_cmdline(const nxjob *job, nx_char *out, size_t cap);

/* Progress of an installation, fed by Windows Installer's
 * INSTALLMESSAGE_PROGRESS and INSTALLMESSAGE_ACTIONDATA messages. */
typedef struct {
	int64_t total;     /* ticks of the current phase */
	int64_t done;      /* ticks done so far */
	int forward;       /* 1: the bar moves forward; 0: backward (rollback) */
	int script;        /* 1: Windows Installer is writing its script */
	int64_t per_data;  /* ticks to add for each ActionData message */
	int rollback;      /* a backward phase was seen */
} nxprog;

void nxprog_init(nxprog *p);
/* nxprog_progress applies one INSTALLMESSAGE_PROGRESS record (fields 1-4). */
void nxprog_progress(nxprog *p, int32_t f1, int32_t f2, int32_t f3, int32_t f4);
/* nxprog_actiondata applies one INSTALLMESSAGE_ACTIONDATA message. */
void nxprog_actiondata(nxprog *p);
/* nxprog_percent is the share of the current phase done, 0-100, or -1. */
int nxprog_percent(const nxprog *p);
/* nxprog_phase names the phase: "script", "execute" or "rollback". */
const char *nxprog_phase(const nxprog *p);

/* nxfmt_progress writes the progress file's text into out (at most cap
 * bytes, NUL-terminated) and returns its length without the NUL. action
 * may be NULL. */
size_t nxfmt_progress(char *out, size_t cap, uint32_t seq, int percent, const char *phase,
		      const nx_char *action);

/* nxfmt_result writes the result file's text. id, message and msi may be
 * absent (NULL; msi_valid 0). */
size_t nxfmt_result(char *out, size_t cap, const nx_char *id, uint32_t code, const char *outcome,
		    int msi_valid, uint32_t msi, const char *message, const nx_char *detail);

/* nxfmt_result_installed is nxfmt_result with the line "installed=<v>":
 * the version of the product the host had before the job (installed, 64
 * units at most shown), NULL or empty for none. */
size_t nxfmt_result_installed(char *out, size_t cap, const nx_char *id, uint32_t code, const char *outcome,
			      int msi_valid, uint32_t msi, const char *message, const nx_char *detail,
			      const nx_char *installed);

/* nxscrub overwrites, in buf, every leftmost non-overlapping occurrence of
 * needle (nunits units) with '*' characters of the same length, and returns
 * how many it overwrote. unit is the size of a character: 1 (ANSI or
 * UTF-8 text: the needle is bytes) or 2 (UTF-16LE text: the needle and the
 * matches are 16-bit little-endian units at even offsets). table must have
 * room for nunits entries. An empty needle matches nothing. */
size_t nxscrub(uint8_t *buf, size_t len, const uint8_t *needle, size_t nunits, int unit, size_t *table);

/* nx_utf8 writes s (n code units) as UTF-8 into out, unpaired surrogates as
 * U+FFFD, and returns the length; nothing is written past cap, and the
 * length returned is the full length whatever cap is. */
size_t nx_utf8(const nx_char *s, uint32_t n, uint8_t *out, size_t cap);

#endif
