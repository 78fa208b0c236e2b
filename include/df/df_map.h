/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A string-keyed hash map with open addressing (linear probing, backward-shift deletion,
 * XXH3 hashes) and a hard cap on the number of entries. Keys are borrowed: each key must
 * stay valid and unchanged while its entry is in the map (the scheduler keys objects by
 * their own id string). Values are borrowed pointers; the map never frees them.
 */
#ifndef DF_DF_MAP_H
#define DF_DF_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct df_map_slot {
    const char *key; /* NULL = empty */
    uint64_t hash;
    void *value;
};

struct df_map {
    struct df_map_slot *slots;
    size_t nslots; /* 0 or a power of two */
    size_t n;
    size_t max; /* cap on n */
};

/* Start an empty map that holds at most max entries (max >= 1). Allocates nothing yet. */
void df_map_init(struct df_map *m, size_t max);

/* Free the slot array; the keys and values stay with their owners. */
void df_map_reset(struct df_map *m);

/* The value stored under key, or NULL. */
void *df_map_get(const struct df_map *m, const char *key);

/*
 * Insert key -> value. Returns DF_EEXIST when the key is present, DF_ELIMIT when the map
 * already holds max entries; the map is unchanged then.
 */
int df_map_put(struct df_map *m, const char *key, void *value);

/* Remove key; returns its value or NULL when absent. */
void *df_map_del(struct df_map *m, const char *key);

static inline size_t
df_map_count(const struct df_map *m)
{
    return m->n;
}

#endif
