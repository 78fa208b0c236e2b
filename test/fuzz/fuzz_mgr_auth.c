/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what the manager reads from a request before any handler: the JWT (base64url parts,
 * header, claims, signature) and the query string (page, per_page, filters, the Link header
 * built from it). Input: a token, optionally followed by a NUL byte and a query. Checks that
 * a token never verifies under a key that did not sign it unless it is ours, that whatever we
 * sign verifies to the same claims, and that a query that parses yields a Link header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/mgr/mgr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fz_key[MGR_JWT_KEY_LEN] = "fuzz key fuzz key fuzz key fuzz";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mgr_jwt_claims c, back;
    struct mgr_page pg;
    char *buf, *query = NULL, *tok = NULL, *link, *v;
    size_t tlen;

    if (size > 16384)
        return 0;
    if ((buf = malloc(size + 1)) == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    tlen = strlen(buf);
    if (tlen + 1 < size)
        query = buf + tlen + 1;

    if (mgr_jwt_verify(fz_key, sizeof(fz_key), buf, 1, false, &c) == 0) {
        /* only a token signed with fz_key verifies: sign the claims again, same bytes */
        if (mgr_jwt_sign(fz_key, sizeof(fz_key), &c, &tok) != 0 ||
            mgr_jwt_verify(fz_key, sizeof(fz_key), tok, 1, false, &back) != 0 || back.id != c.id ||
            back.exp != c.exp || back.orig_iat != c.orig_iat)
            abort();
        free(tok);
    }
    (void)mgr_jwt_verify(fz_key, sizeof(fz_key), buf, INT64_MAX / 2, true, &c);
    /* claims from the input bytes round-trip */
    if (size >= 24) {
        memcpy(&c.id, data, 8);
        memcpy(&c.exp, data + 8, 8);
        memcpy(&c.orig_iat, data + 16, 8);
        c.id = (int64_t)((uint64_t)c.id % 9007199254740992u) + 1;
        c.exp = (int64_t)((uint64_t)c.exp % 9007199254740992u) + 1;
        c.orig_iat = (int64_t)((uint64_t)c.orig_iat % 9007199254740992u) + 1;
        if (mgr_jwt_sign(fz_key, sizeof(fz_key), &c, &tok) != 0 ||
            mgr_jwt_verify(fz_key, sizeof(fz_key), tok, 0, false, &back) != 0 || back.id != c.id ||
            back.exp != c.exp || back.orig_iat != c.orig_iat)
            abort();
        free(tok);
    }
    if (query != NULL) {
        v = mgr_query_get(query, "name");
        free(v);
        if (mgr_page_parse(query, &pg, NULL) == 0) {
            if (pg.page < 1 || pg.per_page < 1 || pg.per_page > MGR_PAGE_MAX_PER_PAGE)
                abort();
            link = mgr_page_link("/api/v1/users", query, &pg, (int64_t)tlen * 1000);
            if (link != NULL && strstr(link, ";rel=last") == NULL)
                abort();
            free(link);
        }
    }
    free(buf);
    return 0;
}
