/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Field readers and writers shared by the proto_* messages (private to src/proto). A
 * reader's error names the field by its path in the wire's spelling ("download.url:
 * required"); `where` is the path of the object holding the field, "" at the top. Strings
 * a reader returns are copies the caller owns.
 */
#ifndef DF_PROTO_JSON_H
#define DF_PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df_digest.h"
#include "df/df_err.h"
#include "df/df_json.h"

/* Set err to "where.key: <fmt>" (or "key: <fmt>" at the top); returns code. */
int proto_json_fail(struct df_error *err, int code, const char *where, const char *key,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * A string of at most max bytes (0: no bound) into *out. Absent, null or "" leaves *out NULL
 * unless required ("...: required"). With line, CR and LF are refused.
 */
int proto_json_str(const cJSON *o, const char *where, const char *key, bool required, bool line,
                   size_t max, char **out, struct df_error *err);

/* An unsigned integer <= max (a number or a decimal string); absent leaves *out and *has. */
int proto_json_u64(const cJSON *o, const char *where, const char *key, uint64_t max, bool *has,
                   uint64_t *out, struct df_error *err);

/* A bool; absent leaves *out. */
int proto_json_bool(const cJSON *o, const char *where, const char *key, bool *out,
                    struct df_error *err);

/* A required object member, borrowed from o. */
int proto_json_obj(const cJSON *o, const char *where, const char *key, const cJSON **out,
                   struct df_error *err);

/* An optional array member (absent or null: *out NULL), borrowed from o. */
int proto_json_array(const cJSON *o, const char *where, const char *key, const cJSON **out,
                     struct df_error *err);

/* A required sha256 digest string ("sha256:<hex>"). */
int proto_json_digest(const cJSON *o, const char *where, const char *key, bool required, bool *has,
                      struct df_digest *out, struct df_error *err);

/*
 * A common.v2.Priority: the enum's name ("LEVEL3", as protobuf's JSON mapping writes it) or
 * a number of 0..max; absent leaves *out. The names reach LEVEL6 only; larger numbers are
 * for the manager's applications, whose REST API stores up to 20.
 */
int proto_json_level(const cJSON *o, const char *where, const char *key, uint32_t max,
                     uint32_t *out, struct df_error *err);

/* Writers: each returns false on OOM; a NULL string is left out. */
bool proto_json_add_str(cJSON *o, const char *key, const char *v);
bool proto_json_add_u64(cJSON *o, const char *key, uint64_t v);
bool proto_json_add_bool(cJSON *o, const char *key, bool v);
bool proto_json_add_digest(cJSON *o, const char *key, const struct df_digest *d);
/* A priority: its name up to LEVEL6, a number above. */
bool proto_json_add_level(cJSON *o, const char *key, uint32_t v);

/*
 * The message's one kind member (an object named by names[k]) into *kind and *body. Members
 * hostId, taskId and peerId are skipped; another unknown member is an error when strict,
 * and ignored otherwise.
 */
int proto_json_kind(const cJSON *msg, const char *const *names, size_t nnames, bool strict,
                    size_t *kind, const cJSON **body, struct df_error *err);

/* Free n strings of v and v itself. */
void proto_json_strv_free(char **v, size_t n);

#endif
