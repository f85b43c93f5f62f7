/*
 * nxsvc.c: the Windows service the deployer pushes to ADMIN$.
 *
 * Installed as
 *
 *     %SystemRoot%\nxdeploy-<id>\nxsvc.exe %SystemRoot%\nxdeploy-<id>   (expanded by the SCM)
 *
 * it reads the job file "job" of that directory, installs (or removes) the
 * product through the Windows Installer API in its own process with the
 * internal user interface off, a verbose log "install.log" and an external
 * user-interface handler, keeps "progress" up to date from Windows
 * Installer's progress and action messages, and stops with the API's result
 * as its exit code. A run that fails keeps the log and writes "result"; a
 * run that succeeds deletes the log and leaves nxsvc.exe alone in the
 * directory (with "result" only for an install over another version), unless
 * the job asks to keep them (nxjob_keeps_log, nxjob_leaves_result). No
 * property value is ever on a command line: the job is a file in a directory
 * only SYSTEM and Administrators may open.
 *
 * A stop request (or the job's timeout) is answered by returning IDCANCEL
 * to Windows Installer's next progress or action message, so the product
 * rolls back and the API returns 1602. If Windows Installer has not
 * returned after the job's grace period, the service writes its result and
 * ends its process.
 *
 * The program uses no C runtime: its entry point is nx_entry, and it
 * imports only kernel32, advapi32 and msi functions that Windows Vista and
 * Server 2008 have (internal/remotesvc checks the imports of every build).
 */
#ifndef UNICODE
#define UNICODE
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <wincrypt.h>
#include <msi.h>
#include <msiquery.h>

#include "nxjob.h"

/* Why the installation is being cancelled. */
#define NX_CANCEL_NONE 0
#define NX_CANCEL_STOP 1
#define NX_CANCEL_TIMEOUT 2

#define NX_MAX_DIR 200
#define NX_MAX_PATH (NX_MAX_DIR + 32)

/* Milliseconds between two looks for the stop file. */
#define NX_STOP_POLL 500u

/* Minimum milliseconds between two progress files with the same action. */
#define NX_PROGRESS_INTERVAL 250u

static struct {
	WCHAR dir[NX_MAX_DIR + 1];
	int console;
	SERVICE_STATUS_HANDLE status_handle;
	SERVICE_STATUS status;
	CRITICAL_SECTION lock; /* guards status, prog, action, seq, last_write */
	HANDLE stop_event;     /* set when a stop is requested */
	HANDLE done_event;     /* set when the installation returned */
	volatile LONG cancel;  /* NX_CANCEL_* */
	volatile LONG finished;
	nxjob *job;
	nxprog prog;
	WCHAR action[96];
	uint32_t seq;
	DWORD last_write;
	int last_percent;
	DWORD grace_ms;
	/* The product's version Windows Installer had before the job, for a
	 * job with the skip check ("" when it had none). */
	WCHAR installed[64];
} g;

static void *nx_alloc(SIZE_T n) { return HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, n); }
static void nx_free(void *p)
{
	if (p)
		HeapFree(GetProcessHeap(), 0, p);
}

static size_t wlen(const WCHAR *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* dir_path writes g.dir + "\" + name into out (NX_MAX_PATH + 1 units). */
static void dir_path(WCHAR *out, const WCHAR *name)
{
	size_t n = wlen(g.dir), i;
	for (i = 0; i < n; i++)
		out[i] = g.dir[i];
	out[n++] = L'\\';
	for (i = 0; name[i] && n < NX_MAX_PATH; i++)
		out[n++] = name[i];
	out[n] = 0;
}

/* write_atomic writes data to dir\tmp, then renames it over dir\name, trying
 * the rename up to tries times (a reader may hold the old file open). */
static int write_atomic(const WCHAR *name, const WCHAR *tmp, const char *data, size_t n, int tries)
{
	WCHAR final_path[NX_MAX_PATH + 1], tmp_path[NX_MAX_PATH + 1];
	HANDLE h;
	DWORD written = 0;
	BOOL ok;
	dir_path(final_path, name);
	dir_path(tmp_path, tmp);
	h = CreateFileW(tmp_path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 0;
	ok = WriteFile(h, data, (DWORD)n, &written, NULL) && written == (DWORD)n;
	CloseHandle(h);
	if (ok) {
		for (;;) {
			if (MoveFileExW(tmp_path, final_path, MOVEFILE_REPLACE_EXISTING))
				return 1;
			if (--tries <= 0)
				break;
			Sleep(50);
		}
	}
	DeleteFileW(tmp_path);
	return 0;
}

/* write_progress writes the progress file; with force it ignores the rate
 * limit and retries the rename. Called with g.lock held. */
static void write_progress(int force)
{
	char text[512];
	size_t n;
	int percent = nxprog_percent(&g.prog);
	DWORD now = GetTickCount();
	if (!force && percent == g.last_percent && now - g.last_write < NX_PROGRESS_INTERVAL)
		return;
	if (!force && now - g.last_write < NX_PROGRESS_INTERVAL / 5)
		return;
	g.seq++;
	n = nxfmt_progress(text, sizeof text, g.seq, percent, nxprog_phase(&g.prog), g.action);
	if (write_atomic(L"progress", L"progress.tmp", text, n, force ? 20 : 1)) {
		g.last_write = now;
		g.last_percent = percent;
	}
}

static void write_result(uint32_t code, const char *outcome, int msi_valid, uint32_t msi, const char *message)
{
	char text[1024];
	size_t n;
	const nx_char *id = (g.job && g.job->id.s) ? g.job->id.s : NULL;
	n = nxfmt_result_installed(text, sizeof text, id, code, outcome, msi_valid, msi, message, NULL,
				   (const nx_char *)g.installed);
	write_atomic(L"result", L"result.tmp", text, n, 40);
}

/* report sets the service's status; code is the exit code for
 * SERVICE_STOPPED (0, or a service-specific code). */
static void report(DWORD state, uint32_t code, DWORD wait_hint)
{
	if (g.console)
		return;
	EnterCriticalSection(&g.lock);
	g.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	g.status.dwCurrentState = state;
	g.status.dwControlsAccepted =
	    (state == SERVICE_RUNNING) ? (SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN) : 0;
	g.status.dwWin32ExitCode = (code == 0) ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
	g.status.dwServiceSpecificExitCode = code;
	g.status.dwWaitHint = wait_hint;
	if (state == SERVICE_RUNNING || state == SERVICE_STOPPED)
		g.status.dwCheckPoint = 0;
	else
		g.status.dwCheckPoint++;
	SetServiceStatus(g.status_handle, &g.status);
	LeaveCriticalSection(&g.lock);
}

/* request_cancel asks for the installation to be cancelled; the first
 * reason given wins. */
static void request_cancel(LONG why)
{
	InterlockedCompareExchange(&g.cancel, why, NX_CANCEL_NONE);
	if (g.stop_event)
		SetEvent(g.stop_event);
}

/* copy_action records the current action's name. Called with g.lock held. */
static void copy_action(const WCHAR *name)
{
	size_t i;
	for (i = 0; name[i] && i < sizeof g.action / sizeof g.action[0] - 1; i++)
		g.action[i] = name[i];
	g.action[i] = 0;
}

/* The external user-interface handler: follows progress and actions, and
 * answers IDCANCEL once a cancel is requested. */
static int WINAPI ui_handler(LPVOID context, UINT message, MSIHANDLE record)
{
	UINT kind = message & 0xFF000000u;
	int cancel = g.cancel != NX_CANCEL_NONE;
	(void)context;
	switch (kind) {
	case INSTALLMESSAGE_ACTIONSTART: {
		WCHAR name[96];
		DWORD len = sizeof name / sizeof name[0];
		if (record && MsiRecordGetStringW(record, 1, name, &len) == ERROR_SUCCESS) {
			EnterCriticalSection(&g.lock);
			copy_action(name);
			write_progress(1);
			LeaveCriticalSection(&g.lock);
		}
		return cancel ? IDCANCEL : IDOK;
	}
	case INSTALLMESSAGE_PROGRESS:
		if (record && MsiRecordGetFieldCount(record) >= 2) {
			EnterCriticalSection(&g.lock);
			nxprog_progress(&g.prog, MsiRecordGetInteger(record, 1), MsiRecordGetInteger(record, 2),
					MsiRecordGetInteger(record, 3), MsiRecordGetInteger(record, 4));
			write_progress(0);
			LeaveCriticalSection(&g.lock);
		}
		return cancel ? IDCANCEL : IDOK;
	case INSTALLMESSAGE_ACTIONDATA:
		EnterCriticalSection(&g.lock);
		nxprog_actiondata(&g.prog);
		write_progress(0);
		LeaveCriticalSection(&g.lock);
		return cancel ? IDCANCEL : IDOK;
	}
	return 0;
}

/* hard_stop ends the process when Windows Installer did not return within
 * the grace period after a cancel. */
static void hard_stop(void)
{
	uint32_t code = (g.cancel == NX_CANCEL_TIMEOUT) ? NX_CODE_TIMEOUT : NX_CODE_STOPPED;
	if (InterlockedCompareExchange(&g.finished, 1, 0) != 0)
		return;
	write_result(code, "hard-stop", 0, 0,
		     "Windows Installer did not return within the grace period after the cancel");
	report(SERVICE_STOPPED, code, 0);
	ExitProcess(code);
}

/* stop_file reports whether the deployment directory holds a file "stop":
 * the Engine's stop request for a program that runs as a Task Scheduler
 * task, which no service stop can reach. */
static int stop_file(void)
{
	WCHAR path[NX_MAX_PATH + 1];
	HANDLE h;
	dir_path(path, L"stop");
	h = CreateFileW(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
			FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 0;
	CloseHandle(h);
	return 1;
}

/* watchdog cancels the installation on a stop request (a service stop, or
 * the stop file, looked for every NX_STOP_POLL ms) and at the job's
 * timeout, and ends the process when a cancel is not honoured within the
 * grace period. */
static DWORD WINAPI watchdog(LPVOID arg)
{
	HANDLE wait[2];
	DWORD r, start = GetTickCount(), limit = g.job->timeout_s * 1000u, elapsed, slice;
	(void)arg;
	wait[0] = g.done_event;
	wait[1] = g.stop_event;
	for (;;) {
		if (stop_file()) {
			request_cancel(NX_CANCEL_STOP);
			break;
		}
		elapsed = GetTickCount() - start;
		if (elapsed >= limit) {
			request_cancel(NX_CANCEL_TIMEOUT);
			break;
		}
		slice = limit - elapsed < NX_STOP_POLL ? limit - elapsed : NX_STOP_POLL;
		r = WaitForMultipleObjects(2, wait, FALSE, slice);
		if (r == WAIT_OBJECT_0)
			return 0;
		if (r == WAIT_OBJECT_0 + 1)
			break;
	}
	if (WaitForSingleObject(g.done_event, g.grace_ms) == WAIT_OBJECT_0)
		return 0;
	hard_stop();
	return 0;
}

/* read_job reads dir\job into a heap buffer of at most NXJOB_MAX_FILE + 1
 * bytes. */
static uint8_t *read_job(size_t *len)
{
	WCHAR path[NX_MAX_PATH + 1];
	HANDLE h;
	LARGE_INTEGER size;
	uint8_t *buf = NULL;
	DWORD got = 0;
	dir_path(path, L"job");
	h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return NULL;
	if (GetFileSizeEx(h, &size) && size.QuadPart >= 0 && size.QuadPart <= NXJOB_MAX_FILE) {
		buf = nx_alloc((SIZE_T)size.QuadPart + 1);
		if (buf && !(ReadFile(h, buf, (DWORD)size.QuadPart, &got, NULL) && got == (DWORD)size.QuadPart)) {
			nx_free(buf);
			buf = NULL;
		}
		*len = got;
	} else if (GetFileSizeEx(h, &size)) {
		/* Too large: hand the parser a length it rejects. */
		buf = nx_alloc(1);
		*len = (size_t)NXJOB_MAX_FILE + 1;
	}
	CloseHandle(h);
	return buf;
}

/* parse_job loads the job; on failure it writes the result and returns 0. */
static int parse_job(void)
{
	size_t len = 0;
	uint8_t *buf = read_job(&len);
	nx_char *arena;
	int rc;
	char message[160];
	const char *why;
	size_t i, n;
	if (!buf) {
		write_result(NX_CODE_BAD_JOB, "bad-job", 0, 0, "the job file cannot be read");
		return 0;
	}
	g.job = nx_alloc(sizeof *g.job);
	arena = nx_alloc(nxjob_arena_units(len) * sizeof(nx_char));
	if (!g.job || !arena) {
		write_result(NX_CODE_SETUP_FAILED, "setup-failed", 0, 0, "out of memory");
		return 0;
	}
	rc = (len > NXJOB_MAX_FILE) ? NXJOB_E_TOO_LARGE
				    : nxjob_parse(buf, len, g.job, arena, nxjob_arena_units(len));
	nx_free(buf);
	if (rc == NXJOB_OK) {
		/* The job holds the property values: it is not needed on disk
		 * any more. The progress file comes first, so that from now until
		 * the service ends the directory holds one or the other. */
		WCHAR path[NX_MAX_PATH + 1];
		EnterCriticalSection(&g.lock);
		write_progress(1);
		LeaveCriticalSection(&g.lock);
		dir_path(path, L"job");
		DeleteFileW(path);
		return 1;
	}
	/* "job file: <reason>" */
	why = nxjob_strerror(rc);
	n = 0;
	for (i = 0; "job file: "[i]; i++)
		message[n++] = "job file: "[i];
	for (i = 0; why[i] && n < sizeof message - 1; i++)
		message[n++] = why[i];
	message[n] = 0;
	g.job->id.s = NULL;
	write_result(NX_CODE_BAD_JOB, "bad-job", 0, 0, message);
	return 0;
}

/* package_matches reports whether the file at path has the SHA-256 the job
 * gives (CryptoAPI's AES provider: Windows XP SP3, Vista and later). */
static int package_matches(const WCHAR *path, const uint8_t *want)
{
	HCRYPTPROV prov = 0;
	HCRYPTHASH hash = 0;
	HANDLE h;
	uint8_t *buf, got[32];
	DWORD n = 0, len = sizeof got;
	int ok = 0, i;
	h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 0;
	buf = nx_alloc(64 << 10);
	if (buf && CryptAcquireContextW(&prov, NULL, NULL, PROV_RSA_AES, CRYPT_VERIFYCONTEXT) &&
	    CryptCreateHash(prov, CALG_SHA_256, 0, 0, &hash)) {
		ok = 1;
		while (ok && ReadFile(h, buf, 64 << 10, &n, NULL) && n > 0)
			ok = CryptHashData(hash, buf, n, 0) != 0;
		ok = ok && CryptGetHashParam(hash, HP_HASHVAL, got, &len, 0) && len == sizeof got;
		for (i = 0; ok && i < (int)sizeof got; i++)
			ok = got[i] == want[i];
	}
	if (hash)
		CryptDestroyHash(hash);
	if (prov)
		CryptReleaseContext(prov, 0);
	nx_free(buf);
	CloseHandle(h);
	return ok;
}

/* NX_MAX_SCRUB bounds the log scrub_log reads into memory. */
#define NX_MAX_SCRUB (64u << 20)

/* scrub_needle overwrites every occurrence of needle in the log text. */
static size_t scrub_needle(uint8_t *text, size_t len, const uint8_t *needle, size_t units, int unit)
{
	size_t *table, n;
	if (units == 0)
		return 0;
	table = nx_alloc(units * sizeof *table);
	if (!table)
		return 0;
	n = nxscrub(text, len, needle, units, unit, table);
	nx_free(table);
	return n;
}

/* scrub_log overwrites the values of the secret properties in the verbose
 * log with asterisks, as UTF-16LE, UTF-8 and ANSI text: Windows Installer
 * already leaves out what MsiHiddenProperties names, but Wine's msi (8.0)
 * logs every property, and a custom action may log what it was given. A
 * short secret blots out every occurrence of its characters alike. */
static void scrub_log(void)
{
	WCHAR path[NX_MAX_PATH + 1];
	HANDLE h;
	LARGE_INTEGER size, zero;
	uint8_t *text = NULL;
	DWORD got = 0, written = 0;
	size_t hits = 0;
	uint32_t i;
	dir_path(path, L"install.log");
	h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return;
	if (!GetFileSizeEx(h, &size) || size.QuadPart <= 0 || size.QuadPart > NX_MAX_SCRUB)
		goto done;
	text = nx_alloc((SIZE_T)size.QuadPart);
	if (!text || !ReadFile(h, text, (DWORD)size.QuadPart, &got, NULL) || got != (DWORD)size.QuadPart)
		goto done;
	for (i = 0; i < g.job->nprops; i++) {
		const nxjob_prop *p = &g.job->props[i];
		size_t n8;
		int na;
		uint8_t *u8;
		BOOL lossy = FALSE;
		if (!p->secret || p->value.n == 0)
			continue;
		hits += scrub_needle(text, got, (const uint8_t *)p->value.s, p->value.n, 2);
		n8 = nx_utf8(p->value.s, p->value.n, NULL, 0);
		u8 = nx_alloc(n8);
		if (u8) {
			nx_utf8(p->value.s, p->value.n, u8, n8);
			hits += scrub_needle(text, got, u8, n8, 1);
			nx_free(u8);
		}
		na = WideCharToMultiByte(CP_ACP, WC_NO_BEST_FIT_CHARS, (const WCHAR *)p->value.s, (int)p->value.n, NULL, 0,
					 NULL, &lossy);
		if (na > 0 && !lossy) {
			uint8_t *acp = nx_alloc((SIZE_T)na);
			if (acp && WideCharToMultiByte(CP_ACP, WC_NO_BEST_FIT_CHARS, (const WCHAR *)p->value.s,
						       (int)p->value.n, (char *)acp, na, NULL, &lossy) == na)
				hits += scrub_needle(text, got, acp, (size_t)na, 1);
			nx_free(acp);
		}
	}
	if (hits > 0) {
		zero.QuadPart = 0;
		if (SetFilePointerEx(h, zero, NULL, FILE_BEGIN))
			WriteFile(h, text, got, &written, NULL);
	}
done:
	if (text) {
		SecureZeroMemory(text, got);
		nx_free(text);
	}
	CloseHandle(h);
}

/* delete_log deletes the verbose log, trying for a second while another
 * program (a virus scanner) may hold it; one it cannot delete is scrubbed
 * instead. */
static void delete_log(void)
{
	WCHAR path[NX_MAX_PATH + 1];
	int tries = 20;
	dir_path(path, L"install.log");
	while (!DeleteFileW(path)) {
		DWORD e = GetLastError();
		if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
			return;
		if (--tries <= 0) {
			scrub_log();
			return;
		}
		Sleep(50);
	}
}

/* finish ends a run whose job parsed, with exit code code: it keeps the log
 * (scrubbed) or deletes it, writes the result file when the job and the
 * outcome call for one (nxjob_keeps_log, nxjob_leaves_result), deletes the
 * package (package, NULL to keep it) and the progress file, and returns
 * code. */
static uint32_t finish(uint32_t code, const char *outcome, int msi_valid, uint32_t msi, const char *message,
		       const WCHAR *package)
{
	WCHAR progress_path[NX_MAX_PATH + 1];
	if (nxjob_keeps_log(g.job, code))
		scrub_log();
	else
		delete_log();
	if (nxjob_leaves_result(g.job, code, g.installed[0] != 0))
		write_result(code, outcome, msi_valid, msi, message);
	if (package)
		DeleteFileW(package);
	dir_path(progress_path, L"progress");
	DeleteFileW(progress_path);
	return code;
}

/* already_installed asks Windows Installer, for a job with the skip check,
 * what it has of the job's product: it records the installed version in
 * g.installed and returns 1 when that is the job's version (major, minor
 * and build, as Windows Installer compares versions). An older version
 * makes the job a minor upgrade (g.job->minor_upgrade, see
 * nxjob_minor_upgrade): without REINSTALL Windows Installer would refuse
 * the package with 1638. */
static int already_installed(void)
{
	DWORD n = sizeof g.installed / sizeof g.installed[0];
	uint32_t have, len;
	const WCHAR *product = (const WCHAR *)g.job->product.s;
	g.installed[0] = 0;
	if (!g.job->has_skip || MsiQueryProductStateW(product) != INSTALLSTATE_DEFAULT)
		return 0;
	if (MsiGetProductInfoW(product, INSTALLPROPERTY_VERSIONSTRING, g.installed, &n) != ERROR_SUCCESS) {
		g.installed[0] = 0;
		return 0;
	}
	len = (uint32_t)wlen(g.installed);
	g.job->minor_upgrade = nxjob_minor_upgrade(g.job, (const nx_char *)g.installed, len);
	return nxjob_version((const nx_char *)g.installed, len, &have) && have == g.job->skip_version;
}

/* install runs the job through the Windows Installer API and returns the
 * service's exit code. */
static uint32_t install(void)
{
	WCHAR log_path[NX_MAX_PATH + 1];
	WCHAR package_path[NX_MAX_PATH + 1];
	const WCHAR *package = NULL;
	const WCHAR *installed_package;
	nx_char *cmdline;
	size_t need;
	UINT r;
	HANDLE thread;
	LONG why;
	uint32_t code;
	const char *outcome;
	DWORD log_mode = INSTALLLOGMODE_FATALEXIT | INSTALLLOGMODE_ERROR | INSTALLLOGMODE_WARNING |
			       INSTALLLOGMODE_USER | INSTALLLOGMODE_INFO | INSTALLLOGMODE_RESOLVESOURCE |
			       INSTALLLOGMODE_OUTOFDISKSPACE | INSTALLLOGMODE_ACTIONSTART |
			       INSTALLLOGMODE_ACTIONDATA | INSTALLLOGMODE_COMMONDATA |
			       INSTALLLOGMODE_PROPERTYDUMP | INSTALLLOGMODE_VERBOSE;
	const DWORD ui_filter = INSTALLLOGMODE_PROGRESS | INSTALLLOGMODE_ACTIONSTART | INSTALLLOGMODE_ACTIONDATA;
	/* Every callback is typed through the Windows headers: a calling
	 * convention that differs from the header's does not compile. */
	const INSTALLUI_HANDLER_RECORD handler = ui_handler;
	const LPTHREAD_START_ROUTINE watch = watchdog;

	uint32_t i;

	if (!parse_job())
		return NX_CODE_BAD_JOB;
	g.grace_ms = g.job->grace_s * 1000u;
	/* Windows Installer leaves the values of MsiHiddenProperties out of its
	 * log; the dump of every property is where a secret would show first
	 * where that is not honoured (Wine's msi), so it is left out too. */
	for (i = 0; i < g.job->nprops; i++) {
		if (g.job->props[i].secret)
			log_mode &= ~(DWORD)INSTALLLOGMODE_PROPERTYDUMP;
	}
	if (g.job->op == NXJOB_OP_INSTALL) {
		if (g.job->package_unc) {
			package = (const WCHAR *)g.job->package.s;
		} else {
			dir_path(package_path, (const WCHAR *)g.job->package.s);
			package = package_path;
		}
	}
	dir_path(log_path, L"install.log");
	/* Windows Installer keeps its own copy of an installed package. */
	installed_package = (g.job->op == NXJOB_OP_INSTALL && !g.job->package_unc) ? package_path : NULL;
	if (already_installed())
		return finish(NX_CODE_ALREADY_INSTALLED, "already-installed", 0, 0,
			      "the product is already installed in the package's version: nothing installed",
			      installed_package);
	/* After already_installed: a minor upgrade changes the line. */
	need = nxjob_cmdline(g.job, NULL, 0);
	cmdline = nx_alloc((need + 1) * sizeof(nx_char));
	if (!cmdline)
		return finish(NX_CODE_SETUP_FAILED, "setup-failed", 0, 0, "out of memory", NULL);
	nxjob_cmdline(g.job, cmdline, need + 1);
	if (g.job->has_sha256 && !package_matches(package, g.job->sha256))
		return finish(NX_CODE_BAD_PACKAGE, "bad-package", 0, 0,
			      "the package on the computer is not the one the Engine sent (SHA-256)", NULL);

	MsiSetInternalUI(INSTALLUILEVEL_NONE, NULL);
	r = MsiEnableLogW(log_mode, log_path, INSTALLLOGATTRIBUTES_FLUSHEACHLINE);
	if (r == ERROR_SUCCESS)
		r = MsiSetExternalUIRecord(handler, ui_filter, NULL, NULL);
	if (r != ERROR_SUCCESS)
		return finish(NX_CODE_SETUP_FAILED, "setup-failed", 1, r, "cannot set up Windows Installer logging or messages",
			      NULL);
	thread = CreateThread(NULL, 0, watch, NULL, 0, NULL);
	if (!thread)
		return finish(NX_CODE_SETUP_FAILED, "setup-failed", 0, 0, "cannot start the watchdog thread", NULL);
	CloseHandle(thread);

	if (g.cancel != NX_CANCEL_NONE)
		r = ERROR_INSTALL_USEREXIT;
	else if (g.job->op == NXJOB_OP_INSTALL)
		r = MsiInstallProductW(package, (const WCHAR *)cmdline);
	else
		r = MsiConfigureProductExW((const WCHAR *)g.job->product.s, INSTALLLEVEL_DEFAULT, INSTALLSTATE_ABSENT,
					   (const WCHAR *)cmdline);
	/* The command line holds the property values: wipe it. */
	SecureZeroMemory(cmdline, (need + 1) * sizeof(nx_char));
	nx_free(cmdline);
	/* Close the log. */
	MsiEnableLogW(0, NULL, 0);

	if (InterlockedCompareExchange(&g.finished, 1, 0) != 0) {
		/* The watchdog is ending the process (a hard stop, a failure):
		 * take the secrets out of the log meanwhile. */
		scrub_log();
		Sleep(INFINITE);
	}
	why = g.cancel;
	code = r;
	outcome = "done";
	if (why == NX_CANCEL_STOP) {
		outcome = "cancelled";
	} else if (why == NX_CANCEL_TIMEOUT) {
		outcome = "timeout";
		code = NX_CODE_TIMEOUT;
	}
	EnterCriticalSection(&g.lock);
	if (r == ERROR_SUCCESS || r == ERROR_SUCCESS_REBOOT_REQUIRED || r == ERROR_SUCCESS_REBOOT_INITIATED) {
		g.prog.script = 0;
		g.prog.forward = 1;
		g.prog.total = g.prog.total > 0 ? g.prog.total : 1;
		g.prog.done = g.prog.total;
	}
	write_progress(1);
	LeaveCriticalSection(&g.lock);
	finish(code, outcome, 1, r,
	       why == NX_CANCEL_STOP      ? "cancelled by a stop request"
	       : why == NX_CANCEL_TIMEOUT ? "cancelled at the job's timeout"
					  : "",
	       installed_package);
	SetEvent(g.done_event);
	return code;
}

static DWORD WINAPI control(DWORD ctl, DWORD event_type, LPVOID event_data, LPVOID context)
{
	(void)event_type;
	(void)event_data;
	(void)context;
	switch (ctl) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		request_cancel(NX_CANCEL_STOP);
		report(SERVICE_STOP_PENDING, 0, (g.grace_ms ? g.grace_ms : NXJOB_DEFAULT_GRACE * 1000u) + 5000u);
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	}
	return ERROR_CALL_NOT_IMPLEMENTED;
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
	const LPHANDLER_FUNCTION_EX ctl = control;
	uint32_t code;
	(void)argc;
	(void)argv;
	g.status_handle = RegisterServiceCtrlHandlerExW(L"", ctl, NULL);
	if (!g.status_handle)
		return;
	if (g.dir[0] == 0) {
		/* No usable directory: nowhere to read a job from or write a
		 * result to. The exit code alone says it. */
		report(SERVICE_STOPPED, NX_CODE_BAD_JOB, 0);
		return;
	}
	report(SERVICE_START_PENDING, 0, 3000);
	report(SERVICE_RUNNING, 0, 0);
	code = install();
	report(SERVICE_STOPPED, code, 0);
}

/* set_dir takes the deployment directory from the command line: the first
 * argument after the program, quoted or not. It must be an absolute path
 * (X:\...) without quotes or control characters. */
static int set_dir(void)
{
	const WCHAR *p = GetCommandLineW();
	size_t n = 0;
	WCHAR end = L' ';
	if (*p == L'"') {
		for (p++; *p && *p != L'"'; p++)
			;
		if (*p)
			p++;
	} else {
		while (*p && *p != L' ' && *p != L'\t')
			p++;
	}
	while (*p == L' ' || *p == L'\t')
		p++;
	if (*p == L'"') {
		end = L'"';
		p++;
	}
	while (p[n] && p[n] != end && !(end == L' ' && p[n] == L'\t')) {
		if (p[n] < 0x20 || p[n] == L'"' || n >= NX_MAX_DIR)
			return 0;
		g.dir[n] = p[n];
		n++;
	}
	while (n > 3 && g.dir[n - 1] == L'\\')
		n--;
	g.dir[n] = 0;
	return n >= 4 && ((g.dir[0] >= L'A' && g.dir[0] <= L'Z') || (g.dir[0] >= L'a' && g.dir[0] <= L'z')) &&
	       g.dir[1] == L':' && g.dir[2] == L'\\';
}

void nx_entry(void);

void nx_entry(void)
{
	SERVICE_TABLE_ENTRYW table[2];
	const LPSERVICE_MAIN_FUNCTIONW main_fn = service_main;
	uint32_t code = NX_CODE_BAD_JOB;
	InitializeCriticalSection(&g.lock);
	g.last_percent = -2;
	g.stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	g.done_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	nxprog_init(&g.prog);
	if (!set_dir() || !g.stop_event || !g.done_event)
		g.dir[0] = 0;
	table[0].lpServiceName = L"";
	table[0].lpServiceProc = main_fn;
	table[1].lpServiceName = NULL;
	table[1].lpServiceProc = NULL;
	if (StartServiceCtrlDispatcherW(table))
		ExitProcess(g.status.dwServiceSpecificExitCode);
	if (g.dir[0] != 0 && GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
		/* Started from a console: run the job in the foreground. */
		g.console = 1;
		code = install();
	}
	ExitProcess(code);
}
