// SPDX-License-Identifier: GPL-2.0
/*
 * clonefd_bench, item 3: event-loop scaling.  N live children, released
 * together; the time from the release to the last exit collected, per
 * exit, for each way an event loop learns of exits.  The methods take
 * turns within each round, in a new order every round.
 */
#include "bench.h"

#include <err.h>
#include <stdlib.h>

static const enum collector methods[] = {
	BY_CLONEFD, BY_PIDFD, BY_SIGNALFD, BY_SELFPIPE,
};
#define NMETHODS ((int)(sizeof(methods) / sizeof(methods[0])))

static double release_and_collect(struct herd *h)
{
	uint64_t t0;
	double per_exit;

	herd_watch(h);
	t0 = now_ns();
	herd_release(h);
	herd_collect(h);
	per_exit = (double)(now_ns() - t0) / h->n;
	herd_done(h);
	return per_exit;
}

static void scale(int n)
{
	double *per[NMETHODS];
	const char *spawned_with[NMETHODS] = { 0 };
	int order[NMETHODS], m, r, i;
	struct herd h;

	raise_limits(n);
	for (m = 0; m < NMETHODS; m++) {
		per[m] = calloc(opt.scaling_rounds, sizeof(double));
		if (!per[m])
			err(1, "calloc");
	}
	for (r = 0; r < opt.scaling_rounds; r++) {
		shuffle_order(order, NMETHODS, r);
		for (i = 0; i < NMETHODS; i++) {
			m = order[i];
			if (methods[m] == BY_CLONEFD && !opt.clone4)
				continue;
			/* Plain children come from clone3: spawning is not timed. */
			herd_spawn(&h, methods[m], n, 0);
			spawned_with[m] = h.spawned_with;
			per[m][r] = release_and_collect(&h);
		}
		progress("scaling: N=%d, round %d of %d", n, r + 1,
			 opt.scaling_rounds);
	}
	for (m = 0; m < NMETHODS; m++) {
		if (!spawned_with[m]) {
			skip("scaling", collector_name[methods[m]],
			     opt.no_clone4);
			continue;
		}
		json_begin("scaling");
		json_str("method", collector_name[methods[m]]);
		json_str("spawned_with", spawned_with[m]);
		json_num("n", n);
		json_num("rounds", opt.scaling_rounds);
		json_quantiles("ns_per_exit", per[m], opt.scaling_rounds);
		json_end();
		free(per[m]);
	}
}

void bench_scaling(void)
{
	int i;

	for (i = 0; i < opt.scaling_count; i++)
		scale(opt.scaling_n[i]);
}
