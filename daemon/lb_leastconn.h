/*
 * Least connections (lb = least_conn): the candidate with the fewest
 * connections and attempts in flight per unit of weight, an endpoint of
 * weight w counting as w replicas sharing its load. Ties are broken at
 * random in proportion to the weights, so an idle service (every load 0)
 * still splits by weight and never sends everything to the first
 * endpoint. No lock: the counts are endpoint.c's atomics.
 */
#ifndef MESHD_LB_LEASTCONN_H
#define MESHD_LB_LEASTCONN_H

struct lb_ops;

extern const struct lb_ops lb_leastconn;

#endif
