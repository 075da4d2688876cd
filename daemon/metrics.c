/*
 * Metrics: see metrics.h. (Skeleton: build info and reloads only; the
 * counters, shards and histograms come with issue 11's metrics work.)
 */
#include "metrics.h"
#include "sbuf.h"
#include "version.h"

#include <stdatomic.h>
#include <stdlib.h>

struct metrics_shard {
	int unused;
};

static atomic_uint_fast64_t reloads_ok, reloads_rejected;

struct metrics_shard *metrics_shard_new(void)
{
	return calloc(1, sizeof(struct metrics_shard));
}

void metrics_shard_free(struct metrics_shard *sh)
{
	free(sh);
}

void metrics_reload(bool accepted, uint64_t generation)
{
	(void)generation;
	atomic_fetch_add_explicit(accepted ? &reloads_ok : &reloads_rejected, 1,
	                          memory_order_relaxed);
}

void metrics_render_prometheus(struct sbuf *out, const struct metrics_process *p)
{
	(void)p;
	sbuf_puts(out, "# HELP libmesh_build_info meshd's version.\n"
	               "# TYPE libmesh_build_info gauge\n"
	               "libmesh_build_info{version=\"" MESHD_VERSION "\"} 1\n");
}

void metrics_render_json(struct sbuf *out, const struct metrics_process *p)
{
	(void)p;
	sbuf_puts(out, "{\"series\":[]}");
}
