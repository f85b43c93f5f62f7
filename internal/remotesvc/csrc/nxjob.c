/*
 * nxjob.c: the job parser, command-line builder, progress arithmetic and
 * file texts of nxsvc (see nxjob.h). Portable C99 with no library calls:
 * every read is bounds-checked against the length given, every write
 * against the capacity given.
 */
#include "nxjob.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

size_t nxjob_arena_units(size_t len) { return len / 2 + 2 * NXJOB_MAX_RECORDS + 8; }

typedef struct {
	nx_char *base;
	size_t cap;
	size_t used;
} arena;

/* copy_str copies n UTF-16LE code units from p into the arena. */
static int copy_str(arena *a, const uint8_t *p, uint32_t n, nx_str *out)
{
	uint32_t i;
	nx_char *dst;
	if (a->cap - a->used < (size_t)n + 1)
		return NXJOB_E_ARENA;
	dst = a->base + a->used;
	for (i = 0; i < n; i++) {
		dst[i] = rd16(p + 2 * (size_t)i);
		if (dst[i] == 0)
			return NXJOB_E_NUL;
	}
	dst[n] = 0;
	a->used += (size_t)n + 1;
	out->s = dst;
	out->n = n;
	return NXJOB_OK;
}

static int is_alpha(nx_char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static int is_digit(nx_char c) { return c >= '0' && c <= '9'; }
static int is_hex(nx_char c) { return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }

static nx_char upper(nx_char c) { return (c >= 'a' && c <= 'z') ? (nx_char)(c - 'a' + 'A') : c; }

/* eq_ascii_fold compares s with the ASCII string lit, ignoring ASCII case. */
static int eq_ascii_fold(nx_str s, const char *lit)
{
	uint32_t i;
	for (i = 0; i < s.n; i++) {
		if (lit[i] == 0 || upper(s.s[i]) != upper((nx_char)(unsigned char)lit[i]))
			return 0;
	}
	return lit[s.n] == 0;
}

static int eq_str(nx_str a, nx_str b)
{
	uint32_t i;
	if (a.n != b.n)
		return 0;
	for (i = 0; i < a.n; i++) {
		if (a.s[i] != b.s[i])
			return 0;
	}
	return 1;
}

static int valid_id(nx_str s)
{
	uint32_t i;
	if (s.n < 1 || s.n > NXJOB_MAX_ID)
		return 0;
	for (i = 0; i < s.n; i++) {
		nx_char c = s.s[i];
		if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '_' && c != '-')
			return 0;
	}
	return !(s.n == 1 && s.s[0] == '.') && !(s.n == 2 && s.s[0] == '.' && s.s[1] == '.');
}

/* forbidden_in_name: characters Windows refuses in a file name, and the
 * path separators. */
static int forbidden_in_name(nx_char c)
{
	return c < 0x20 || c == 0x7f || c == '\\' || c == '/' || c == ':' || c == '*' || c == '?' ||
	       c == '"' || c == '<' || c == '>' || c == '|';
}

/* valid_component checks one path component s[from:to]. */
static int valid_component(const nx_char *s, uint32_t from, uint32_t to)
{
	uint32_t i;
	if (to <= from)
		return 0;
	if (to - from == 1 && s[from] == '.')
		return 0;
	if (to - from == 2 && s[from] == '.' && s[from + 1] == '.')
		return 0;
	if (s[to - 1] == ' ' || s[to - 1] == '.')
		return 0;
	for (i = from; i < to; i++) {
		if (forbidden_in_name(s[i]))
			return 0;
	}
	return 1;
}

/* valid_package accepts a file name (in the deployment directory) or a
 * UNC path \\server\share\dir\file with at least a file below the share. */
static int valid_package(nx_str s, int *unc)
{
	uint32_t i, start, parts;
	if (s.n >= 2 && s.s[0] == '\\' && s.s[1] == '\\') {
		*unc = 1;
		if (s.n > NXJOB_MAX_UNC)
			return 0;
		start = 2;
		parts = 0;
		for (i = 2; i <= s.n; i++) {
			if (i == s.n || s.s[i] == '\\') {
				if (!valid_component(s.s, start, i))
					return 0;
				parts++;
				start = i + 1;
			}
		}
		return parts >= 3;
	}
	*unc = 0;
	if (s.n > NXJOB_MAX_PACKAGE_NAME)
		return 0;
	return valid_component(s.s, 0, s.n);
}

static int valid_product(nx_str s)
{
	uint32_t i;
	if (s.n != 38 || s.s[0] != '{' || s.s[37] != '}')
		return 0;
	for (i = 1; i < 37; i++) {
		if (i == 9 || i == 14 || i == 19 || i == 24) {
			if (s.s[i] != '-')
				return 0;
		} else if (!is_hex(s.s[i])) {
			return 0;
		}
	}
	return 1;
}

/* valid_prop_name: a Windows Installer identifier, [A-Za-z_][A-Za-z0-9_.]*. */
static int valid_prop_name(nx_str s)
{
	uint32_t i;
	if (s.n < 1 || s.n > NXJOB_MAX_PROP_NAME)
		return 0;
	if (!is_alpha(s.s[0]) && s.s[0] != '_')
		return 0;
	for (i = 1; i < s.n; i++) {
		nx_char c = s.s[i];
		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.')
			return 0;
	}
	return 1;
}

/* reserved_prop: properties nxsvc sets itself. */
static int reserved_prop(nx_str s)
{
	return eq_ascii_fold(s, "REBOOT") || eq_ascii_fold(s, "MsiHiddenProperties");
}

int nxjob_parse(const uint8_t *buf, size_t len, nxjob *job, nx_char *arena_base, size_t arena_units)
{
	arena a;
	size_t pos;
	uint32_t count, r, seen = 0;
	int rc;

	job->id.s = 0;
	job->id.n = 0;
	job->op = 0;
	job->package = job->id;
	job->package_unc = 0;
	job->product = job->id;
	job->timeout_s = 0;
	job->grace_s = NXJOB_DEFAULT_GRACE;
	job->has_sha256 = 0;
	job->has_skip = 0;
	job->skip_version = 0;
	job->keep_log = 0;
	job->minor_upgrade = 0;
	job->nprops = 0;
	job->err_record = 0;
	job->err_offset = 0;
	a.base = arena_base;
	a.cap = arena_units;
	a.used = 0;

	if (len > NXJOB_MAX_FILE)
		return NXJOB_E_TOO_LARGE;
	if (len < NXJOB_HEADER_SIZE)
		return NXJOB_E_SHORT;
	if (buf[0] != 'N' || buf[1] != 'X' || buf[2] != 'J' || buf[3] != 'B')
		return NXJOB_E_MAGIC;
	if (rd32(buf + 4) != NXJOB_VERSION)
		return NXJOB_E_VERSION;
	if (rd32(buf + 8) != len)
		return NXJOB_E_LENGTH;
	count = rd32(buf + 12);
	if (count > NXJOB_MAX_RECORDS)
		return NXJOB_E_COUNT;
	if (arena_units < nxjob_arena_units(len))
		return NXJOB_E_ARENA;

	pos = NXJOB_HEADER_SIZE;
	for (r = 1; r <= count; r++) {
		uint32_t tag, flags, plen;
		const uint8_t *p;
		job->err_record = r;
		job->err_offset = (uint32_t)pos;
		if (len - pos < 8)
			return NXJOB_E_TRUNCATED;
		tag = rd16(buf + pos);
		flags = rd16(buf + pos + 2);
		plen = rd32(buf + pos + 4);
		pos += 8;
		if (plen > len - pos)
			return NXJOB_E_TRUNCATED;
		p = buf + pos;
		pos += plen;
		if (tag < NXJOB_TAG_ID || tag > NXJOB_TAG_KEEP_LOG)
			return NXJOB_E_TAG;
		if (flags != 0 && !(tag == NXJOB_TAG_PROPERTY && flags == NXJOB_FLAG_SECRET))
			return NXJOB_E_FLAGS;
		if (tag != NXJOB_TAG_PROPERTY) {
			if (seen & (1u << tag))
				return NXJOB_E_DUPLICATE;
			seen |= 1u << tag;
		}
		switch (tag) {
		case NXJOB_TAG_ID:
		case NXJOB_TAG_PACKAGE:
		case NXJOB_TAG_PRODUCT: {
			nx_str s;
			if (plen == 0 || plen % 2 != 0)
				return NXJOB_E_SIZE;
			rc = copy_str(&a, p, plen / 2, &s);
			if (rc != NXJOB_OK)
				return rc;
			if (tag == NXJOB_TAG_ID) {
				if (!valid_id(s))
					return NXJOB_E_ID;
				job->id = s;
			} else if (tag == NXJOB_TAG_PACKAGE) {
				if (!valid_package(s, &job->package_unc))
					return NXJOB_E_PACKAGE;
				job->package = s;
			} else {
				if (!valid_product(s))
					return NXJOB_E_PRODUCT;
				job->product = s;
			}
			break;
		}
		case NXJOB_TAG_OPERATION:
		case NXJOB_TAG_TIMEOUT:
		case NXJOB_TAG_GRACE:
		case NXJOB_TAG_SKIP_VERSION: {
			uint32_t v;
			if (plen != 4)
				return NXJOB_E_SIZE;
			v = rd32(p);
			if (tag == NXJOB_TAG_SKIP_VERSION) {
				job->has_skip = 1;
				job->skip_version = v;
			} else if (tag == NXJOB_TAG_OPERATION) {
				if (v != NXJOB_OP_INSTALL && v != NXJOB_OP_UNINSTALL)
					return NXJOB_E_OPERATION;
				job->op = v;
			} else if (tag == NXJOB_TAG_TIMEOUT) {
				if (v < 1 || v > NXJOB_MAX_TIMEOUT)
					return NXJOB_E_TIMEOUT;
				job->timeout_s = v;
			} else {
				if (v < 1 || v > NXJOB_MAX_GRACE)
					return NXJOB_E_GRACE;
				job->grace_s = v;
			}
			break;
		}
		case NXJOB_TAG_SHA256: {
			uint32_t i;
			if (plen != 32)
				return NXJOB_E_SIZE;
			for (i = 0; i < 32; i++)
				job->sha256[i] = p[i];
			job->has_sha256 = 1;
			break;
		}
		case NXJOB_TAG_KEEP_LOG:
			if (plen != 0)
				return NXJOB_E_SIZE;
			job->keep_log = 1;
			break;
		case NXJOB_TAG_PROPERTY: {
			uint32_t nlen, vbytes, i;
			nxjob_prop *pr;
			if (job->nprops >= NXJOB_MAX_PROPS)
				return NXJOB_E_PROP_COUNT;
			if (plen < 2)
				return NXJOB_E_SIZE;
			nlen = rd16(p);
			if (nlen == 0 || (uint32_t)2 * nlen > plen - 2)
				return NXJOB_E_SIZE;
			vbytes = plen - 2 - 2 * nlen;
			if (vbytes % 2 != 0)
				return NXJOB_E_SIZE;
			pr = &job->props[job->nprops];
			rc = copy_str(&a, p + 2, nlen, &pr->name);
			if (rc != NXJOB_OK)
				return rc;
			if (!valid_prop_name(pr->name))
				return NXJOB_E_PROP_NAME;
			if (reserved_prop(pr->name))
				return NXJOB_E_PROP_RESERVED;
			for (i = 0; i < job->nprops; i++) {
				if (eq_str(job->props[i].name, pr->name))
					return NXJOB_E_PROP_DUPLICATE;
			}
			rc = copy_str(&a, p + 2 + 2 * (size_t)nlen, vbytes / 2, &pr->value);
			if (rc != NXJOB_OK)
				return rc;
			pr->secret = (flags & NXJOB_FLAG_SECRET) != 0;
			job->nprops++;
			break;
		}
		}
	}
	job->err_record = 0;
	job->err_offset = (uint32_t)pos;
	if (pos != len)
		return NXJOB_E_TRAILING;
	if (job->id.s == 0 || job->op == 0 || job->timeout_s == 0)
		return NXJOB_E_MISSING;
	if (job->op == NXJOB_OP_INSTALL) {
		if (job->package.s == 0)
			return NXJOB_E_MISSING;
		/* The product code of an installation is the package's, for
		 * the skip check alone: both or neither. */
		if (job->has_skip && job->product.s == 0)
			return NXJOB_E_MISSING;
		if (job->product.s != 0 && !job->has_skip)
			return NXJOB_E_CONFLICT;
	} else {
		if (job->product.s == 0)
			return NXJOB_E_MISSING;
		if (job->package.s != 0 || job->has_sha256 || job->has_skip)
			return NXJOB_E_CONFLICT;
	}
	return NXJOB_OK;
}

int nxjob_version(const nx_char *s, uint32_t n, uint32_t *out)
{
	static const uint32_t limit[4] = {255u, 255u, 65535u, 0xFFFFFFFFu};
	uint32_t field = 0, digits = 0, i;
	uint64_t v = 0, f[4] = {0, 0, 0, 0};
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (digits == 0 || v > limit[field])
				return 0;
			f[field] = v;
			if (i == n)
				break;
			if (++field > 3)
				return 0;
			v = 0;
			digits = 0;
		} else if (is_digit(s[i]) && digits < 10) {
			v = v * 10 + (uint64_t)(s[i] - '0');
			digits++;
		} else {
			return 0;
		}
	}
	if (field < 2)
		return 0;
	*out = (uint32_t)(f[0] << 24 | f[1] << 16 | f[2]);
	return 1;
}

int nxjob_succeeded(uint32_t op, uint32_t code)
{
	if (code == NX_MSI_SUCCESS || code == NX_MSI_REBOOT_REQUIRED || code == NX_MSI_REBOOT_INITIATED)
		return op == NXJOB_OP_INSTALL || op == NXJOB_OP_UNINSTALL;
	if (op == NXJOB_OP_INSTALL)
		return code == NX_CODE_ALREADY_INSTALLED;
	if (op == NXJOB_OP_UNINSTALL)
		return code == NX_MSI_UNKNOWN_PRODUCT;
	return 0;
}

int nxjob_keeps_log(const nxjob *job, uint32_t code)
{
	return job->keep_log || !nxjob_succeeded(job->op, code);
}

int nxjob_leaves_result(const nxjob *job, uint32_t code, int installed_before)
{
	if (job->keep_log || !nxjob_succeeded(job->op, code))
		return 1;
	return job->op == NXJOB_OP_INSTALL && installed_before && code != NX_CODE_ALREADY_INSTALLED;
}

const char *nxjob_strerror(int code)
{
	switch (code) {
	case NXJOB_OK: return "ok";
	case NXJOB_E_TOO_LARGE: return "job file larger than 65536 bytes";
	case NXJOB_E_SHORT: return "job file shorter than its header";
	case NXJOB_E_MAGIC: return "not a job file (bad magic)";
	case NXJOB_E_VERSION: return "job file version not supported";
	case NXJOB_E_LENGTH: return "job file length differs from its header (truncated or extended)";
	case NXJOB_E_COUNT: return "too many records";
	case NXJOB_E_TRUNCATED: return "record runs past the end of the file";
	case NXJOB_E_TRAILING: return "bytes after the last record";
	case NXJOB_E_TAG: return "unknown record tag";
	case NXJOB_E_FLAGS: return "record carries flags it may not have";
	case NXJOB_E_DUPLICATE: return "record given twice";
	case NXJOB_E_SIZE: return "record payload has the wrong size";
	case NXJOB_E_NUL: return "string contains a NUL character";
	case NXJOB_E_ID: return "invalid deployment id";
	case NXJOB_E_OPERATION: return "unknown operation";
	case NXJOB_E_PACKAGE: return "invalid package name or UNC path";
	case NXJOB_E_PRODUCT: return "invalid product code";
	case NXJOB_E_PROP_NAME: return "invalid property name";
	case NXJOB_E_PROP_RESERVED: return "property set by the service itself (REBOOT, MsiHiddenProperties)";
	case NXJOB_E_PROP_DUPLICATE: return "property given twice";
	case NXJOB_E_PROP_COUNT: return "too many properties";
	case NXJOB_E_TIMEOUT: return "timeout out of range";
	case NXJOB_E_GRACE: return "cancel grace period out of range";
	case NXJOB_E_MISSING: return "required record missing";
	case NXJOB_E_CONFLICT: return "records do not fit the operation";
	case NXJOB_E_ARENA: return "arena too small";
	}
	return "unknown error";
}

/* line is a bounded writer of code units. */
typedef struct {
	nx_char *out;
	size_t cap;
	size_t n;
} line;

static void put(line *l, nx_char c)
{
	if (l->n < l->cap)
		l->out[l->n] = c;
	l->n++;
}

static void put_ascii(line *l, const char *s)
{
	while (*s)
		put(l, (nx_char)(unsigned char)*s++);
}

static void put_str(line *l, nx_str s)
{
	uint32_t i;
	for (i = 0; i < s.n; i++)
		put(l, s.s[i]);
}

/* has_prop reports whether the job sets the property lit (exactly: Windows
 * Installer's property names are case-sensitive). */
static int has_prop(const nxjob *job, const char *lit)
{
	uint32_t i, j;
	for (i = 0; i < job->nprops; i++) {
		nx_str s = job->props[i].name;
		for (j = 0; j < s.n && lit[j] && s.s[j] == (nx_char)(unsigned char)lit[j]; j++)
			;
		if (j == s.n && !lit[j])
			return 1;
	}
	return 0;
}

int nxjob_minor_upgrade(const nxjob *job, const nx_char *installed, uint32_t n)
{
	uint32_t have;
	if (job->op != NXJOB_OP_INSTALL || !job->has_skip || !installed)
		return 0;
	if (!nxjob_version(installed, n, &have) || have >= job->skip_version)
		return 0;
	return !has_prop(job, "REINSTALL") && !has_prop(job, "REINSTALLMODE");
}

size_t nxjob_cmdline(const nxjob *job, nx_char *out, size_t cap)
{
	line l;
	uint32_t i, j, secrets = 0;
	l.out = out;
	l.cap = cap;
	l.n = 0;
	/* /norestart: Windows Installer never restarts the host itself. */
	put_ascii(&l, "REBOOT=ReallySuppress");
	for (i = 0; i < job->nprops; i++) {
		const nxjob_prop *p = &job->props[i];
		put(&l, ' ');
		put_str(&l, p->name);
		put_ascii(&l, "=\"");
		for (j = 0; j < p->value.n; j++) {
			if (p->value.s[j] == '"')
				put(&l, '"');
			put(&l, p->value.s[j]);
		}
		put(&l, '"');
		if (p->secret)
			secrets++;
	}
	if (job->minor_upgrade)
		put_ascii(&l, " REINSTALL=ALL REINSTALLMODE=vomus");
	if (secrets > 0) {
		int first = 1;
		put_ascii(&l, " MsiHiddenProperties=\"");
		for (i = 0; i < job->nprops; i++) {
			if (!job->props[i].secret)
				continue;
			if (!first)
				put(&l, ';');
			first = 0;
			put_str(&l, job->props[i].name);
		}
		put(&l, '"');
	}
	if (l.n < cap)
		out[l.n] = 0;
	else if (cap > 0)
		out[0] = 0;
	return l.n;
}

void nxprog_init(nxprog *p)
{
	p->total = 0;
	p->done = 0;
	p->forward = 1;
	p->script = 0;
	p->per_data = 0;
	p->rollback = 0;
}

/* The fields of INSTALLMESSAGE_PROGRESS, as documented in "Parsing Windows
 * Installer Messages": field 1 is the kind (0 reset, 1 action info, 2
 * report, 3 add to total). */
void nxprog_progress(nxprog *p, int32_t f1, int32_t f2, int32_t f3, int32_t f4)
{
	switch (f1) {
	case 0: /* reset: f2 total, f3 direction (0 forward), f4 1 = script */
		p->total = f2 > 0 ? f2 : 0;
		p->forward = f3 == 0;
		p->script = f4 == 1;
		p->done = p->forward ? 0 : p->total;
		p->per_data = 0;
		if (!p->forward)
			p->rollback = 1;
		break;
	case 1: /* action info: f2 ticks per ActionData, f3 1 = use them */
		p->per_data = (f3 == 1 && f2 > 0) ? f2 : 0;
		break;
	case 2: /* report: f2 ticks moved */
		if (f2 <= 0 || p->total <= 0)
			break;
		if (p->forward)
			p->done = p->done + f2 > p->total ? p->total : p->done + f2;
		else
			p->done = p->done - f2 < 0 ? 0 : p->done - f2;
		break;
	case 3: /* add to the total */
		if (f2 > 0 && p->total < ((int64_t)1 << 52))
			p->total += f2;
		break;
	}
}

void nxprog_actiondata(nxprog *p)
{
	if (p->per_data > 0)
		nxprog_progress(p, 2, (int32_t)(p->per_data > 0x7fffffff ? 0x7fffffff : p->per_data), 0, 0);
}

int nxprog_percent(const nxprog *p)
{
	int64_t pct;
	if (p->total <= 0)
		return -1;
	if (p->script)
		return 0;
	pct = p->done * 100 / p->total;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	return (int)pct;
}

const char *nxprog_phase(const nxprog *p)
{
	if (p->script)
		return "script";
	if (!p->forward)
		return "rollback";
	return "execute";
}

/* text is a bounded writer of UTF-8 bytes; the last byte of cap is kept
 * for the NUL. */
typedef struct {
	char *out;
	size_t cap;
	size_t n;
} text;

static void tput(text *t, char c)
{
	if (t->n + 1 < t->cap)
		t->out[t->n++] = c;
}

static void tputs(text *t, const char *s)
{
	while (s && *s)
		tput(t, *s++);
}

static void tputu(text *t, uint32_t v)
{
	char d[10];
	int i = 0;
	do {
		d[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i < 10);
	while (i > 0)
		tput(t, d[--i]);
}

/* tputw writes at most max code units of s as UTF-8, one line: control
 * characters become spaces and unpaired surrogates U+FFFD. */
static void tputw(text *t, const nx_char *s, uint32_t max)
{
	uint32_t i;
	for (i = 0; s && s[i] && i < max; i++) {
		uint32_t c = s[i];
		if (c >= 0xD800 && c <= 0xDBFF && i + 1 < max && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
			c = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
			i++;
		} else if (c >= 0xD800 && c <= 0xDFFF) {
			c = 0xFFFD;
		}
		if (c < 0x20 || c == 0x7f)
			c = ' ';
		if (c < 0x80) {
			tput(t, (char)c);
		} else if (c < 0x800) {
			if (t->n + 2 >= t->cap)
				return;
			tput(t, (char)(0xC0 | (c >> 6)));
			tput(t, (char)(0x80 | (c & 0x3F)));
		} else if (c < 0x10000) {
			if (t->n + 3 >= t->cap)
				return;
			tput(t, (char)(0xE0 | (c >> 12)));
			tput(t, (char)(0x80 | ((c >> 6) & 0x3F)));
			tput(t, (char)(0x80 | (c & 0x3F)));
		} else {
			if (t->n + 4 >= t->cap)
				return;
			tput(t, (char)(0xF0 | (c >> 18)));
			tput(t, (char)(0x80 | ((c >> 12) & 0x3F)));
			tput(t, (char)(0x80 | ((c >> 6) & 0x3F)));
			tput(t, (char)(0x80 | (c & 0x3F)));
		}
	}
}

/* tputa writes an ASCII message on one line. */
static void tputa(text *t, const char *s)
{
	for (; s && *s; s++)
		tput(t, (*s < 0x20 || *s == 0x7f) ? ' ' : *s);
}

static size_t tend(text *t)
{
	if (t->cap > 0)
		t->out[t->n] = 0;
	return t->n;
}

size_t nxfmt_progress(char *out, size_t cap, uint32_t seq, int percent, const char *phase,
		      const nx_char *action)
{
	text t;
	t.out = out;
	t.cap = cap;
	t.n = 0;
	tputs(&t, "nxsvc-progress 1\nseq=");
	tputu(&t, seq);
	tputs(&t, "\npercent=");
	if (percent < 0)
		tputs(&t, "-1");
	else
		tputu(&t, (uint32_t)percent);
	tputs(&t, "\nphase=");
	tputa(&t, phase);
	tputs(&t, "\naction=");
	tputw(&t, action, 128);
	tputs(&t, "\n");
	return tend(&t);
}

size_t nxfmt_result(char *out, size_t cap, const nx_char *id, uint32_t code, const char *outcome,
		    int msi_valid, uint32_t msi, const char *message, const nx_char *detail)
{
	return nxfmt_result_installed(out, cap, id, code, outcome, msi_valid, msi, message, detail, 0);
}

size_t nxfmt_result_installed(char *out, size_t cap, const nx_char *id, uint32_t code, const char *outcome,
			      int msi_valid, uint32_t msi, const char *message, const nx_char *detail,
			      const nx_char *installed)
{
	text t;
	t.out = out;
	t.cap = cap;
	t.n = 0;
	tputs(&t, "nxsvc-result 1\nid=");
	tputw(&t, id, NXJOB_MAX_ID);
	tputs(&t, "\ncode=");
	tputu(&t, code);
	tputs(&t, "\noutcome=");
	tputa(&t, outcome);
	if (msi_valid) {
		tputs(&t, "\nmsi=");
		tputu(&t, msi);
	}
	tputs(&t, "\nerror=");
	tputa(&t, message);
	if (detail && detail[0]) {
		if (message && message[0])
			tputs(&t, ": ");
		tputw(&t, detail, 512);
	}
	if (installed && installed[0]) {
		tputs(&t, "\ninstalled=");
		tputw(&t, installed, 64);
	}
	tputs(&t, "\n");
	return tend(&t);
}

/* unit_at reads the i-th unit of a unit-size text. */
static uint32_t unit_at(const uint8_t *p, size_t i, int unit)
{
	return unit == 2 ? rd16(p + 2 * i) : p[i];
}

size_t nxscrub(uint8_t *buf, size_t len, const uint8_t *needle, size_t nunits, int unit, size_t *table)
{
	size_t n = (unit == 2) ? len / 2 : len, i, k, count = 0;
	if (nunits == 0 || (unit != 1 && unit != 2) || nunits > n)
		return 0;
	/* Knuth-Morris-Pratt: table[i] is the length of the longest proper
	 * prefix of needle[0..i] that is also its suffix. */
	table[0] = 0;
	for (i = 1, k = 0; i < nunits; i++) {
		while (k > 0 && unit_at(needle, i, unit) != unit_at(needle, k, unit))
			k = table[k - 1];
		if (unit_at(needle, i, unit) == unit_at(needle, k, unit))
			k++;
		table[i] = k;
	}
	for (i = 0, k = 0; i < n; i++) {
		while (k > 0 && unit_at(buf, i, unit) != unit_at(needle, k, unit))
			k = table[k - 1];
		if (unit_at(buf, i, unit) == unit_at(needle, k, unit))
			k++;
		if (k == nunits) {
			size_t j, start = i + 1 - nunits;
			for (j = start; j <= i; j++) {
				if (unit == 2) {
					buf[2 * j] = '*';
					buf[2 * j + 1] = 0;
				} else {
					buf[j] = '*';
				}
			}
			count++;
			k = 0;
		}
	}
	return count;
}

size_t nx_utf8(const nx_char *s, uint32_t n, uint8_t *out, size_t cap)
{
	size_t len = 0;
	uint32_t i;
	for (i = 0; i < n; i++) {
		uint32_t c = s[i];
		uint8_t b[4];
		size_t m, j;
		if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
			c = 0x10000 + ((c - 0xD800) << 10) + (uint32_t)(s[i + 1] - 0xDC00);
			i++;
		} else if (c >= 0xD800 && c <= 0xDFFF) {
			c = 0xFFFD;
		}
		if (c < 0x80) {
			b[0] = (uint8_t)c;
			m = 1;
		} else if (c < 0x800) {
			b[0] = (uint8_t)(0xC0 | (c >> 6));
			b[1] = (uint8_t)(0x80 | (c & 0x3F));
			m = 2;
		} else if (c < 0x10000) {
			b[0] = (uint8_t)(0xE0 | (c >> 12));
			b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
			b[2] = (uint8_t)(0x80 | (c & 0x3F));
			m = 3;
		} else {
			b[0] = (uint8_t)(0xF0 | (c >> 18));
			b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
			b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
			b[3] = (uint8_t)(0x80 | (c & 0x3F));
			m = 4;
		}
		for (j = 0; j < m; j++) {
			if (len < cap)
				out[len] = b[j];
			len++;
		}
	}
	return len;
}
