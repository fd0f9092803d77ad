// SPDX-License-Identifier: GPL-2.0
/* clonefd_bench: results as JSON lines on stdout, progress on stderr. */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>

static int fields;

void json_begin(const char *kind)
{
	fields = 0;
	printf("{");
	json_str("kind", kind);
}

static void key(const char *k)
{
	printf("%s\"%s\": ", fields++ ? ", " : "", k);
}

void json_str(const char *k, const char *value)
{
	const char *c;

	key(k);
	putchar('"');
	for (c = value; *c; c++) {
		if (*c == '"' || *c == '\\')
			putchar('\\');
		if ((unsigned char)*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

void json_num(const char *k, double value)
{
	key(k);
	printf("%.6g", value);
}

/* {"median": .., "p10": .., "p90": .., "p99": ..} of v[0..n). */
void json_quantiles(const char *k, const double *v, int n)
{
	key(k);
	printf("{\"median\": %.6g, \"p10\": %.6g, \"p90\": %.6g, "
	       "\"p99\": %.6g, \"n\": %d}",
	       quantile(v, n, 0.5), quantile(v, n, 0.1), quantile(v, n, 0.9),
	       quantile(v, n, 0.99), n);
}

void json_raw(const char *k, const char *value)
{
	key(k);
	fputs(value, stdout);
}

void json_end(void)
{
	printf("}\n");
	fflush(stdout);
}

void progress(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void skip(const char *section, const char *method, const char *reason)
{
	json_begin("skip");
	json_str("section", section);
	json_str("method", method);
	json_str("reason", reason);
	json_end();
}
