/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open addressing with linear probing. The table doubles when it would pass 3/4 full and
 * never shrinks below what the cap needs, so a lookup probes a short run. Deletion shifts
 * the following entries of the run back instead of leaving tombstones, so the load factor
 * is always exactly n / nslots.
 */
#include "df/df_map.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "df/df_err.h"
#include "df/xmalloc.h"

#define MAP_MIN_SLOTS 16

static uint64_t
map_hash(const char *key)
{
    return XXH3_64bits(key, strlen(key));
}

void
df_map_init(struct df_map *m, size_t max)
{
    memset(m, 0, sizeof(*m));
    m->max = max > 0 ? max : 1;
}

void
df_map_reset(struct df_map *m)
{
    if (m == NULL)
        return;
    free(m->slots);
    m->slots = NULL;
    m->nslots = 0;
    m->n = 0;
}

/* The slot holding key, or the empty slot where it would go. nslots must be non-zero. */
static size_t
map_find(const struct df_map *m, const char *key, uint64_t hash)
{
    size_t mask = m->nslots - 1;
    size_t i = (size_t)hash & mask;

    while (m->slots[i].key != NULL) {
        if (m->slots[i].hash == hash && strcmp(m->slots[i].key, key) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static void
map_grow(struct df_map *m)
{
    size_t nslots = m->nslots == 0 ? MAP_MIN_SLOTS : m->nslots * 2;
    struct df_map_slot *old = m->slots;
    size_t oldn = m->nslots;

    m->slots = xcalloc(nslots, sizeof(*m->slots));
    m->nslots = nslots;
    for (size_t i = 0; i < oldn; i++) {
        if (old[i].key != NULL)
            m->slots[map_find(m, old[i].key, old[i].hash)] = old[i];
    }
    free(old);
}

void *
df_map_get(const struct df_map *m, const char *key)
{
    size_t i;

    if (m->n == 0 || key == NULL)
        return NULL;
    i = map_find(m, key, map_hash(key));
    return m->slots[i].key != NULL ? m->slots[i].value : NULL;
}

int
df_map_put(struct df_map *m, const char *key, void *value)
{
    uint64_t hash = map_hash(key);
    size_t i;

    if (m->nslots > 0 && m->slots[map_find(m, key, hash)].key != NULL)
        return DF_EEXIST;
    if (m->n >= m->max)
        return DF_ELIMIT;
    if ((m->n + 1) * 4 > m->nslots * 3)
        map_grow(m);
    i = map_find(m, key, hash);
    m->slots[i].key = key;
    m->slots[i].hash = hash;
    m->slots[i].value = value;
    m->n++;
    return 0;
}

void *
df_map_del(struct df_map *m, const char *key)
{
    size_t mask, i, j;
    void *value;

    if (m->n == 0 || key == NULL)
        return NULL;
    mask = m->nslots - 1;
    i = map_find(m, key, map_hash(key));
    if (m->slots[i].key == NULL)
        return NULL;
    value = m->slots[i].value;
    /* Backward shift: move each later entry of the run into the hole if its home allows. */
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (m->slots[j].key == NULL)
            break;
        home = (size_t)m->slots[j].hash & mask;
        /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
        if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    memset(&m->slots[i], 0, sizeof(m->slots[i]));
    m->n--;
    return value;
}
