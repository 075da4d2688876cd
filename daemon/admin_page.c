/*
 * The status page: see admin_page.h.
 */
#include "admin_page.h"
#include "admin_views.h"
#include "gen.h"
#include "config.h"
#include "sbuf.h"
#include "version.h"

void admin_page_render(struct sbuf *out, const struct admin_ctx *x)
{
	sbuf_printf(out,
	            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	            "<meta http-equiv=\"refresh\" content=\"5\"><title>meshd %s</title></head>"
	            "<body><h1>meshd %s</h1></body></html>\n",
	            x->gen->cfg->host, MESHD_VERSION);
}
