/*
 * Smooth weighted round robin (lb = round_robin), nginx's algorithm: every
 * pick adds each candidate's weight to its current weight, takes the
 * highest and subtracts the candidates' total from it. Weights 9 and 1 give
 * one turn in ten to the second, in the middle of the ten, and 5, 1, 1 give
 * a a b a c a a: turns are spread over the cycle instead of coming in a
 * burst. One cycle per endpoint set, shared by the workers under the set's
 * lock.
 */
#ifndef MESHD_LB_RR_H
#define MESHD_LB_RR_H

struct lb_ops;

extern const struct lb_ops lb_rr;

#endif
