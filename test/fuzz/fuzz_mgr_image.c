/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what an image preheat reads from a registry (reliability.md targets 9 and 10): the
 * manifest, index or manifest list body, and the WWW-Authenticate challenge whose realm the
 * manager then fetches. Input: a platform, a NUL byte, then the body (also tried as a
 * challenge). Checks that whatever is accepted holds only well-formed digests, at most 1000
 * blobs, and that a Bearer challenge always has a realm.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/mgr/mgr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mgr_image_challenge c;
    struct df_error err;
    const char *platform = "linux/amd64", *body;
    char *buf, *digest = NULL;
    const cJSON *e;
    cJSON *blobs = NULL;
    size_t plen, blen;

    if (size > 65536 || (buf = malloc(size + 1)) == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    plen = strlen(buf);
    body = buf;
    blen = size;
    if (plen < size) {
        platform = buf;
        body = buf + plen + 1;
        blen = size - plen - 1;
    }
    if (mgr_image_manifest_parse(body, blen, platform, &digest, &blobs, &err) == 0) {
        if ((digest == NULL) == (blobs == NULL))
            abort();
        if (digest != NULL && !mgr_image_digest_is_valid(digest))
            abort();
        if (blobs != NULL && (cJSON_GetArraySize(blobs) < 1 || cJSON_GetArraySize(blobs) > 1001))
            abort();
        cJSON_ArrayForEach(e, blobs)
        {
            if (!cJSON_IsString(e) || !mgr_image_digest_is_valid(e->valuestring))
                abort();
        }
    }
    free(digest);
    cJSON_Delete(blobs);
    if (memchr(body, '\0', blen) == NULL && mgr_image_challenge_parse(body, &c) == 0) {
        if (c.bearer && (c.realm == NULL || c.realm[0] == '\0'))
            abort();
        mgr_image_challenge_reset(&c);
    }
    free(buf);
    return 0;
}
