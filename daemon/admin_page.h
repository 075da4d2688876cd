/*
 * The status page at the admin listener's "/" (admin_page.c): one
 * self-contained HTML page (inline CSS, no script, no external asset)
 * rendered on the server from the same data as the JSON views, refreshing
 * itself every 5 s, like HAProxy's stats page.
 */
#ifndef MESHD_ADMIN_PAGE_H
#define MESHD_ADMIN_PAGE_H

struct sbuf;
struct admin_ctx;

void admin_page_render(struct sbuf *out, const struct admin_ctx *x);

#endif
