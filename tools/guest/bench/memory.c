// SPDX-License-Identifier: GPL-2.0
/*
 * clonefd_bench, item 5: kernel memory per live child.  N blocked
 * children of each kind (plain, with a pidfd, with CLONE_FD), the kinds
 * taking turns round by round; /proc/slabinfo (active objects x object
 * size, per cache) and /proc/meminfo (Slab + KernelStack + PageTables +
 * VmallocUsed) before and after spawning them, per child; and per round
 * the difference from the plain children of the same round.
 */
#include "bench.h"

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CACHES 1024

struct snapshot {
	int count;
	char name[MAX_CACHES][64];
	double bytes[MAX_CACHES];	/* active objects x object size */
	double meminfo;			/* bytes */
	double slab_total;
};

enum { MEM_PLAIN, MEM_PIDFD, MEM_CLONEFD, MEM_KINDS };
static const char *const kind_name[MEM_KINDS] = { "plain", "pidfd", "clonefd" };
static const enum collector kind_how[MEM_KINDS] = {
	BY_WAITPID, BY_PIDFD, BY_CLONEFD,
};

static int have_slabinfo;

static void read_slabinfo(struct snapshot *s)
{
	char line[512], name[64];
	long active, total, size;
	FILE *f = fopen("/proc/slabinfo", "r");

	s->count = 0;
	s->slab_total = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &total,
			   &size) != 4)
			continue;
		if (s->count == MAX_CACHES)
			errx(1, "more than %d slab caches", MAX_CACHES);
		strcpy(s->name[s->count], name);
		s->bytes[s->count++] = (double)active * size;
		s->slab_total += (double)active * size;
	}
	fclose(f);
}

static void read_meminfo(struct snapshot *s)
{
	static const char *const keys[] = {
		"Slab:", "KernelStack:", "PageTables:", "VmallocUsed:",
	};
	char line[256], key[64];
	long kb;
	FILE *f = fopen("/proc/meminfo", "r");
	size_t i;

	if (!f)
		err(1, "/proc/meminfo");
	s->meminfo = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld", key, &kb) != 2)
			continue;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i]))
				s->meminfo += kb * 1024.0;
	}
	fclose(f);
}

static void snap(struct snapshot *s)
{
	read_slabinfo(s);
	read_meminfo(s);
}

static double cache_bytes(const struct snapshot *s, const char *name)
{
	int i;

	for (i = 0; i < s->count; i++)
		if (!strcmp(s->name[i], name))
			return s->bytes[i];
	return 0;
}

/* Per round and kind: bytes per child, in total and per cache. */
struct measured {
	double slab[MEM_KINDS][64], meminfo[MEM_KINDS][64];
	double *cache[MEM_KINDS][64];	/* indexed like the first snapshot */
};

static struct snapshot before, after, names;

static void one(struct measured *out, int kind, int r)
{
	int n = opt.memory_children, c;
	struct herd h;

	usleep(100000);	/* let RCU-freed objects of the last round go */
	snap(&before);
	herd_spawn(&h, kind_how[kind], n, opt.clone4);
	snap(&after);
	herd_watch(&h);
	herd_release(&h);
	herd_collect(&h);
	herd_done(&h);
	out->slab[kind][r] = (after.slab_total - before.slab_total) / n;
	out->meminfo[kind][r] = (after.meminfo - before.meminfo) / n;
	out->cache[kind][r] = calloc(names.count, sizeof(double));
	if (!out->cache[kind][r])
		err(1, "calloc");
	for (c = 0; c < names.count; c++)
		out->cache[kind][r][c] = (cache_bytes(&after, names.name[c]) -
					  cache_bytes(&before, names.name[c])) / n;
}

static int measured_kind(int kind)
{
	return kind != MEM_CLONEFD || opt.clone4;
}

static void report_kind(struct measured *m, int kind)
{
	json_begin("memory");
	json_str("method", kind_name[kind]);
	json_num("n", opt.memory_children);
	json_num("rounds", opt.memory_rounds);
	json_num("slabinfo", have_slabinfo);
	if (have_slabinfo)
		json_quantiles("slab_bytes_per_child", m->slab[kind],
			       opt.memory_rounds);
	json_quantiles("meminfo_bytes_per_child", m->meminfo[kind],
		       opt.memory_rounds);
	json_end();
}

/* `kind` minus the plain children, round by round; the caches that differ. */
static void report_extra(struct measured *m, int kind)
{
	int rounds = opt.memory_rounds, r, c, first = 1;
	double d[64], med;

	json_begin("memory_extra");
	json_str("method", kind_name[kind]);
	json_str("vs", kind_name[MEM_PLAIN]);
	json_num("n", opt.memory_children);
	json_num("rounds", rounds);
	for (r = 0; r < rounds; r++)
		d[r] = m->meminfo[kind][r] - m->meminfo[MEM_PLAIN][r];
	json_quantiles("meminfo_bytes_per_child", d, rounds);
	if (have_slabinfo) {
		for (r = 0; r < rounds; r++)
			d[r] = m->slab[kind][r] - m->slab[MEM_PLAIN][r];
		json_quantiles("slab_bytes_per_child", d, rounds);
		json_raw("caches", "{");
		for (c = 0; c < names.count; c++) {
			for (r = 0; r < rounds; r++)
				d[r] = m->cache[kind][r][c] -
				       m->cache[MEM_PLAIN][r][c];
			med = quantile(d, rounds, 0.5);
			if (med > -4 && med < 4)
				continue;
			printf("%s\"%s\": %.1f", first ? "" : ", ",
			       names.name[c], med);
			first = 0;
		}
		printf("}");
	}
	json_end();
}

void bench_memory(void)
{
	static struct measured m;
	int order[MEM_KINDS], k, r, i;

	if (opt.memory_rounds > 64)
		errx(1, "at most 64 memory rounds");
	raise_limits(opt.memory_children);
	snap(&names);
	have_slabinfo = names.count > 0;
	if (!have_slabinfo)
		progress("memory: /proc/slabinfo unreadable (not root?): "
			 "meminfo only");
	for (r = 0; r < opt.memory_rounds; r++) {
		shuffle_order(order, MEM_KINDS, r);
		for (i = 0; i < MEM_KINDS; i++)
			if (measured_kind(order[i]))
				one(&m, order[i], r);
		progress("memory: round %d of %d", r + 1, opt.memory_rounds);
	}
	for (k = 0; k < MEM_KINDS; k++) {
		if (!measured_kind(k)) {
			skip("memory", kind_name[k], opt.no_clone4);
			continue;
		}
		report_kind(&m, k);
		if (k != MEM_PLAIN)
			report_extra(&m, k);
	}
}
