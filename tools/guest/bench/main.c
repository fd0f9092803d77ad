// SPDX-License-Identifier: GPL-2.0
/*
 * clonefd_bench: what CLONE_FD costs and saves; see bench.h.
 *
 *   clonefd_bench [--clone4 auto|require|no] [--only SECTIONS]
 *                 [--rounds R] [--cycles K] [--exec PATH]
 *                 [--scaling-n N,N,..] [--scaling-rounds R]
 *                 [--latency-samples S] [--memory-children N]
 *                 [--memory-rounds R]
 *
 * SECTIONS: a comma-separated subset of cycle,scaling,latency,memory.
 * clone4() is used only where /proc/kallsyms lists __x64_sys_clone4 (the
 * patched kernel): elsewhere syscall 463 may be another call.  With
 * "auto" its methods are skipped there, with a reason; "require" fails.
 */
#include "bench.h"

#include <err.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

struct options opt = {
	.rounds = 40,
	.cycles = 25,
	.scaling_n = { 100, 1000, 10000 },
	.scaling_count = 3,
	.scaling_rounds = 7,
	.latency_samples = 300,
	.memory_children = 2000,
	.memory_rounds = 7,
};

static int kallsyms_has(const char *symbol)
{
	char line[512], name[256];
	FILE *f = fopen("/proc/kallsyms", "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %255s", name) == 1 &&
			!strcmp(name, symbol);
	fclose(f);
	return found;
}

/* clone4() and CLONE_FD, seen working; or why they are skipped. */
static void detect_clone4(const char *mode)
{
	int status;
	long ret;

	if (!strcmp(mode, "no")) {
		opt.no_clone4 = "clone4() not measured (--clone4 no)";
		return;
	}
	if (!kallsyms_has("__x64_sys_clone4")) {
		opt.no_clone4 = "clone4() is not available: /proc/kallsyms "
				"lists no __x64_sys_clone4 (not the patched "
				"kernel; syscall 463 is not called)";
		if (!strcmp(mode, "require"))
			errx(1, "%s", opt.no_clone4);
		return;
	}
	ret = clone4(SIGCHLD, 0, NULL);
	if (ret == 0)
		_exit(EXIT_STATUS);
	if (ret < 0 || waitpid(ret, &status, 0) != ret)
		err(1, "the patched kernel's clone4() fails");
	check_exit_status(status, "clone4() probe");
	ret = clone4(CLONE_FD, 0, NULL);
	if (ret == 0)
		_exit(EXIT_STATUS);
	if (ret < 0)
		err(1, "clone4(CLONE_FD) fails (CONFIG_CLONEFD=n?)");
	check_clonefd_info(ret, "clone4(CLONE_FD) probe");
	close(ret);
	opt.clone4 = 1;
}

static int parse_list(char *s, int *v, int max)
{
	int n = 0;
	char *tok;

	for (tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (n == max)
			errx(1, "at most %d values in a list", max);
		v[n] = atoi(tok);
		if (v[n++] <= 0)
			errx(1, "bad number %s", tok);
	}
	return n;
}

static int positive(const char *s)
{
	int v = atoi(s);

	if (v <= 0)
		errx(1, "bad number %s", s);
	return v;
}

static void meta(const char *sections)
{
	struct utsname u;

	uname(&u);
	json_begin("meta");
	json_str("kernel", u.release);
	json_str("version", u.version);
	json_num("cpus", sysconf(_SC_NPROCESSORS_ONLN));
	json_num("clone4", opt.clone4);
	json_str("no_clone4", opt.no_clone4 ? opt.no_clone4 : "");
	json_str("sections", sections);
	json_str("exec", opt.exec_path);
	json_num("exit_status", EXIT_STATUS);
	json_end();
}

static char *default_exec(void)
{
	static char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		err(1, "readlink(/proc/self/exe)");
	self[n] = 0;
	snprintf(path, sizeof(path), "%s/clonefd_bench_exit", dirname(self));
	return path;
}

int main(int argc, char *argv[])
{
	char sections[128] = "cycle,scaling,latency,memory";
	const char *clone4_mode = "auto";
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			errx(1, "%s: needs a value (usage: see main.c)", a);
		i++;
		if (!strcmp(a, "--clone4"))
			clone4_mode = v;
		else if (!strcmp(a, "--only"))
			snprintf(sections, sizeof(sections), "%s", v);
		else if (!strcmp(a, "--rounds"))
			opt.rounds = positive(v);
		else if (!strcmp(a, "--cycles"))
			opt.cycles = positive(v);
		else if (!strcmp(a, "--exec"))
			opt.exec_path = v;
		else if (!strcmp(a, "--scaling-n"))
			opt.scaling_count = parse_list(argv[i], opt.scaling_n, 8);
		else if (!strcmp(a, "--scaling-rounds"))
			opt.scaling_rounds = positive(v);
		else if (!strcmp(a, "--latency-samples"))
			opt.latency_samples = positive(v);
		else if (!strcmp(a, "--memory-children"))
			opt.memory_children = positive(v);
		else if (!strcmp(a, "--memory-rounds"))
			opt.memory_rounds = positive(v);
		else
			errx(1, "unknown option %s (usage: see main.c)", a);
	}
	if (strcmp(clone4_mode, "auto") && strcmp(clone4_mode, "require") &&
	    strcmp(clone4_mode, "no"))
		errx(1, "--clone4 takes auto, require or no");
	if (!opt.exec_path)
		opt.exec_path = default_exec();
	setvbuf(stdout, NULL, _IOLBF, 0);
	detect_clone4(clone4_mode);
	meta(sections);
	if (opt.no_clone4)
		progress("%s", opt.no_clone4);
	if (strstr(sections, "cycle"))
		bench_cycles();
	if (strstr(sections, "scaling"))
		bench_scaling();
	if (strstr(sections, "latency"))
		bench_latency();
	if (strstr(sections, "memory"))
		bench_memory();
	json_begin("done");
	json_end();
	return 0;
}
