/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz URL parsing, serialisation and the canonical URL. Input: the URL, optionally followed
 * by a NUL byte, one flag byte and a filter list. Checks that whatever parses serialises to
 * a URL that parses again to the same string (normalisation is idempotent) and that the
 * canonical form is itself a valid URL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf, *url, *filter = NULL, *s1 = NULL, *s2 = NULL, *canon = NULL, *t;
    struct df_url u = {0}, v = {0};
    unsigned flags = 0;
    size_t ulen;

    if (size > DF_URL_MAX_LEN + 64)
        return 0;
    buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    url = buf;
    ulen = strlen(url);
    if (ulen + 1 < size) {
        flags = (unsigned char)buf[ulen + 1] & (DF_URL_CANON_SORT | DF_URL_CANON_NO_DEFAULTS);
        filter = buf + ulen + 2;
    }

    if (df_url_parse(url, &u, NULL) == 0) {
        s1 = df_url_to_str(&u, true);
        if (df_url_parse(s1, &v, NULL) != 0)
            abort();
        s2 = df_url_to_str(&v, true);
        if (strcmp(s1, s2) != 0)
            abort();
        t = df_url_target_to_str(&u);
        if (t[0] != '/')
            abort();
        free(t);
        free(df_url_authority_to_str(&u));
        if (df_url_canonical_new(url, filter, flags, &canon, NULL) != 0)
            abort();
        df_url_reset(&v);
        if (df_url_parse(canon, &v, NULL) != 0)
            abort();
    } else if (df_url_canonical_new(url, filter, flags, &canon, NULL) == 0)
        abort();

    free(canon);
    free(s1);
    free(s2);
    df_url_reset(&u);
    df_url_reset(&v);
    free(buf);
    return 0;
}
