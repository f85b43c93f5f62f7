/* sanitize.c: runs nxsvc's portable C on every input of a stream under
 * AddressSanitizer and UndefinedBehaviorSanitizer. The stream (stdin) is a
 * sequence of u32 little-endian length + bytes. Each input is copied into a
 * buffer of exactly its length so any read past it is caught; every
 * function of nxjob.h is called on what the parser returns. Built by
 * sanitize_test.go with the host's gcc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nxjob.h"

static void exercise(const uint8_t *in, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t units = nxjob_arena_units(len);
	nx_char *arena = malloc(units * sizeof(nx_char));
	nxjob *job = malloc(sizeof *job);
	char text[512];
	int rc;
	if (!buf || !arena || !job)
		abort();
	memcpy(buf, in, len);
	rc = nxjob_parse(buf, len, job, arena, units);
	(void)nxjob_strerror(rc);
	if (rc == NXJOB_OK) {
		size_t need = nxjob_cmdline(job, NULL, 0), caps[4], i;
		caps[0] = 1;
		caps[1] = need / 2 + 1;
		caps[2] = need;
		caps[3] = need + 1;
		for (i = 0; i < 4; i++) {
			nx_char *line = malloc(caps[i] * sizeof(nx_char));
			if (!line)
				abort();
			if (nxjob_cmdline(job, line, caps[i]) != need)
				abort();
			free(line);
		}
		nxfmt_result(text, sizeof text, job->id.s, 0, "done", 1, 0, "m", job->id.s);
		/* What a run of the job leaves, after a success and a failure. */
		if (nxjob_keeps_log(job, 0) != job->keep_log || !nxjob_keeps_log(job, 1603) ||
		    !nxjob_leaves_result(job, 1603, 0) || nxjob_leaves_result(job, 0, 0) != job->keep_log)
			abort();
		for (i = 0; i < job->nprops; i++) {
			const nx_str v = job->props[i].value;
			size_t n8 = nx_utf8(v.s, v.n, NULL, 0);
			uint8_t *u8 = malloc(n8 ? n8 : 1);
			size_t *table = malloc((n8 + v.n + 1) * sizeof *table);
			if (!u8 || !table)
				abort();
			nxfmt_progress(text, sizeof text, 1, 50, "execute", v.s);
			if (nx_utf8(v.s, v.n, u8, n8) != n8)
				abort();
			/* Scrub the input itself with each value, both ways. */
			nxscrub(buf, len, (const uint8_t *)v.s, v.n, 2, table);
			nxscrub(buf, len, u8, n8, 1, table);
			free(table);
			free(u8);
		}
	} else {
		/* The parser's arena too small must be refused, not overrun. */
		nxjob_parse(buf, len, job, arena, units / 2);
	}
	/* The success rule on the input's bytes as operation and code. */
	if (len >= 8) {
		uint32_t op, code;
		memcpy(&op, buf, sizeof op);
		memcpy(&code, buf + 4, sizeof code);
		(void)nxjob_succeeded(op % 4, code);
	}
	/* The progress arithmetic on the input's bytes as messages. */
	{
		nxprog p;
		size_t i;
		nxprog_init(&p);
		for (i = 0; i + 16 <= len; i += 16) {
			int32_t f[4];
			memcpy(f, buf + i, sizeof f);
			nxprog_progress(&p, f[0] % 5, f[1], f[2] % 3, f[3] % 3);
			nxprog_actiondata(&p);
			(void)nxprog_percent(&p);
		}
	}
	free(job);
	free(arena);
	free(buf);
}

int main(void)
{
	unsigned char hdr[4];
	size_t n = 0;
	static uint8_t in[NXJOB_MAX_FILE + 16];
	while (fread(hdr, 1, 4, stdin) == 4) {
		size_t len = (size_t)hdr[0] | ((size_t)hdr[1] << 8) | ((size_t)hdr[2] << 16) | ((size_t)hdr[3] << 24);
		if (len > sizeof in || fread(in, 1, len, stdin) != len)
			return 2;
		exercise(in, len);
		n++;
	}
	printf("%zu inputs\n", n);
	return 0;
}
