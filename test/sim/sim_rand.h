/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tests' and simulations' pseudo-random numbers: xorshift64*, deterministic across
 * platforms for a given non-zero state, header-only so that any test or tool can use it
 * without linking anything.
 */
#ifndef DF_SIM_RAND_H
#define DF_SIM_RAND_H

#include <stdint.h>

/* The next number of the sequence in *st (never 0 on entry). */
static inline uint64_t
sim_rand(uint64_t *st)
{
    uint64_t x = *st;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * UINT64_C(2685821657736338717);
}

/* Uniform enough in [0, n); 0 when n is 0. */
static inline uint32_t
sim_rand_below(uint64_t *st, uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(sim_rand(st) % n);
}

/* Uniform in [0, 1). */
static inline double
sim_rand_unit(uint64_t *st)
{
    return (double)(sim_rand(st) >> 11) / 9007199254740992.0;
}

#endif
