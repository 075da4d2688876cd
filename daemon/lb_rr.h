/*
 * Weighted round robin (lb = round_robin): every endpoint in turn, one of
 * weight 3 getting three turns in each cycle, skipping those the
 * connection already tried. One cursor per endpoint set, shared by the
 * workers.
 */
#ifndef MESHD_LB_RR_H
#define MESHD_LB_RR_H

struct lb_ops;

extern const struct lb_ops lb_rr;

#endif
