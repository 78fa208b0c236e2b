/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the scheduler tests: the deterministic PRNG, task ids from numbers,
 * and one-line wrappers around announce/register. All static inline so that each test
 * file uses what it needs.
 */
#ifndef DF_SCHED_TEST_UTIL_H
#define DF_SCHED_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

#include <check.h>

#include "../../../src/scheduler/sched_state.h"
#include "../../sim/sim_rand.h"

#define T_MIB (UINT64_C(1) << 20)

/* The shared generator (test/sim/sim_rand.h) under the tests' short names. */
static inline uint64_t
t_rand(uint64_t *st)
{
    return sim_rand(st);
}

static inline uint32_t
t_rand_below(uint64_t *st, uint32_t n)
{
    return sim_rand_below(st, n);
}

/* A valid task id (64 lowercase hex) made from n; buf holds 65 bytes. */
static inline const char *
t_task_id(char *buf, unsigned n)
{
    snprintf(buf, 65, "%064x", n);
    return buf;
}

static inline void
t_host(struct sched_state *s, const char *id, enum sched_host_type type, uint32_t slots,
       int64_t now)
{
    struct sched_host_info hi;

    memset(&hi, 0, sizeof(hi));
    hi.id = id;
    hi.ip = "127.0.0.1";
    hi.hostname = id;
    hi.type = type;
    hi.upload_slots = slots;
    hi.rpc_port = 65000;
    hi.download_port = 65002;
    ck_assert_int_eq(sched_state_host_announce(s, &hi, now), 0);
}

static inline int
t_register(struct sched_state *s, const char *peer, const char *host, const char *task,
           int64_t content_length, uint64_t piece_length, bool need_bts, int64_t now,
           struct sched_actions *out)
{
    struct sched_register r;

    memset(&r, 0, sizeof(r));
    r.host_id = host;
    r.task_id = task;
    r.peer_id = peer;
    r.url = "http://origin.example/blob";
    r.content_length = content_length;
    r.piece_length = piece_length;
    r.need_back_to_source = need_bts;
    return sched_state_peer_register(s, &r, now, out);
}

#endif
