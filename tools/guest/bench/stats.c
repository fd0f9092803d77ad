// SPDX-License-Identifier: GPL-2.0
/* clonefd_bench: quantiles and the order of methods within a round. */
#include "bench.h"

#include <err.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (linear interpolation); v is not changed. */
double quantile(const double *v, int n, double q)
{
	double *s, pos, r;
	int i;

	if (n <= 0)
		errx(1, "quantile of nothing");
	s = malloc(n * sizeof(*s));
	if (!s)
		err(1, "malloc");
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	pos = q * (n - 1);
	i = (int)pos;
	r = i + 1 < n ? s[i] + (pos - i) * (s[i + 1] - s[i]) : s[i];
	free(s);
	return r;
}

/*
 * The methods' order in round `round`: a fresh permutation every round
 * (fixed seed, so runs are comparable), so that no method always runs
 * first or after the same neighbour.
 */
void shuffle_order(int *order, int n, unsigned int round)
{
	unsigned int state = 2654435761u * (round + 1);
	int i;

	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		int j, t;

		state = state * 1103515245u + 12345u;
		j = (state >> 16) % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}
