/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cJSON with limits: documents from the network or disk are parsed only through
 * df_json_parse(), which bounds size and nesting depth before cJSON sees the bytes.
 * Typed getters validate field types so services only see checked values.
 */
#ifndef DF_DF_JSON_H
#define DF_DF_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"

struct df_json_limits {
    size_t max_bytes; /* 0 = no size limit */
    int max_depth;    /* maximum nesting of objects/arrays; 0 = 64 */
};

/*
 * Parse len bytes of buf into *out (the caller frees it with cJSON_Delete). Returns
 * DF_ETOOBIG over a limit and DF_EINVAL for malformed JSON or trailing garbage, with a
 * message in err that gives the line and column and what was expected there ("json:
 * malformed at line 3, column 5: expected ',' or '}', found '\"'"); *out is untouched on
 * failure.
 */
int df_json_parse(const char *buf, size_t len, const struct df_json_limits *lim, cJSON **out,
                  struct df_error *err);

/*
 * The line and column (both from 1; a column counts UTF-8 characters, a tab as one) of byte
 * off of buf, which must hold at least off bytes.
 */
void df_json_position(const char *buf, size_t off, unsigned *line, unsigned *col);

/* Print unformatted JSON; the caller frees the result with free(). NULL on OOM. */
char *df_json_print(const cJSON *item);

/*
 * Typed getters for object members. Each returns 0 and fills *out when the key holds
 * the type, DF_ENOTFOUND when the key is absent or null (out untouched), and DF_EINVAL
 * with a message naming the key when the value has another type or is out of range.
 * Strings are borrowed from obj.
 */
int df_json_get_str(const cJSON *obj, const char *key, const char **out, struct df_error *err);
int df_json_get_bool(const cJSON *obj, const char *key, bool *out, struct df_error *err);
int df_json_get_i64(const cJSON *obj, const char *key, int64_t *out, struct df_error *err);
int df_json_get_u64(const cJSON *obj, const char *key, uint64_t *out, struct df_error *err);

/*
 * Integers in our messages may arrive as JSON numbers or, for 64-bit values as the
 * protobuf JSON mapping prints them, as decimal strings. Adds a number when it fits a
 * double exactly (< 2^53), a decimal string otherwise. Returns NULL on OOM.
 */
cJSON *df_json_add_u64(cJSON *obj, const char *key, uint64_t v);

#endif
