/*
 * Power of two choices over a peak EWMA of connect latency (lb = p2c_ewma,
 * the default), after Finagle's and Linkerd's balancers: two distinct
 * candidates drawn at random in proportion to their weights, the cheaper
 * one taken. The cost is an endpoint's latency estimate times its load per
 * unit of weight: estimate x (1 + (attempts in flight + connections) /
 * weight), an endpoint of weight w counting as w replicas sharing its load.
 *
 * The estimate (per endpoint, from attempt_done): a sample above it takes
 * it at once (peak), one below blends in with weight 1 - exp(-dt / tau),
 * dt the time since the last sample and tau the service's ewma_decay, so
 * it is an average over the last tau seconds whatever the rate. A failed
 * attempt is a sample of its latency or connect_timeout, whichever is
 * larger, so an endpoint that fails is avoided. An endpoint not sampled
 * for a while has its excess over the best candidate's estimate fade with
 * the same tau, so a slow or failed endpoint is tried again (and measured
 * again) after about tau x ln(excess / best). One never measured counts as
 * the best, so new endpoints get traffic at once.
 */
#ifndef MESHD_LB_P2C_H
#define MESHD_LB_P2C_H

struct lb_ops;

extern const struct lb_ops lb_p2c;

#endif
