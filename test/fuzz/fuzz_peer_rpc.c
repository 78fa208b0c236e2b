/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the peer's RPC request decoders. The input after its first byte is a request body,
 * decoded as the RPC server decodes it (rpc_codec_decode with the default limits), then given
 * to every decoder the peer has: peer_download_req_parse() as a local caller's DownloadTask
 * (an output descriptor allowed) and as a TCP caller's (none allowed; bit 0 of the first byte
 * swaps the order, which must not matter), and the taskId check of StatTask and SyncPieces.
 * What a decoder accepts must satisfy its documented invariants: a URL that parses, strings
 * without CR/LF and at most 4096 bytes, never an outputPath, an output descriptor only for a
 * local caller, at most 64 headers of valid names and values, a sha256 digest, a 64-hex task
 * id.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_id.h"
#include "df/df_json.h"
#include "df/df_url.h"
#include "df/net_http_parse.h"
#include "df/rpc_codec.h"
#include "../../src/peer/peer.h"

#define FZ_MAX_STR     4096
#define FZ_MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void
fz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_peer_rpc: %s: %s\n", what, detail != NULL ? detail : "(null)");
    abort();
}

/* An optional single-line field of at most FZ_MAX_STR bytes. */
static void
fz_check_line(const char *what, const char *s)
{
    if (s != NULL && (strlen(s) > FZ_MAX_STR || strpbrk(s, "\r\n") != NULL))
        fz_fail(what, s);
}

static void
fz_check_download(const struct peer_download_req *r, bool allow_output)
{
    struct df_url u;

    memset(&u, 0, sizeof(u));
    if (r->url == NULL || df_url_parse(r->url, &u, NULL) != 0)
        fz_fail("accepted an unparsable url", r->url);
    df_url_reset(&u);
    fz_check_line("url", r->url);
    fz_check_line("tag", r->tag);
    fz_check_line("application", r->application);
    if (r->filtered != NULL && strlen(r->filtered) > FZ_MAX_STR)
        fz_fail("filteredQueryParams too long", r->filtered);
    if (!allow_output && r->output_fd)
        fz_fail("accepted an output descriptor from a caller that may not pass one", NULL);
    if (r->has_digest && r->digest.algo != DF_DIGEST_SHA256)
        fz_fail("digest algorithm", NULL);
    if (r->nheaders > FZ_MAX_HEADERS || (r->nheaders > 0 && r->headers == NULL))
        fz_fail("headers", NULL);
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name, *v = r->headers[i].value;
        if (!net_http_is_token(n, strlen(n)) || !net_http_is_field_value(v))
            fz_fail("header", n);
    }
}

/* Parse as one of the two DownloadTask services; returns whether it was accepted. */
static bool
fz_download(const cJSON *doc, bool allow_output)
{
    struct peer_download_req r;
    struct df_error err;

    memset(&r, 0xa5, sizeof(r));
    err.msg[0] = '\0';
    if (peer_download_req_parse(doc, allow_output, &r, &err) != 0) {
        /* Not checked: one line. peer_rpc echoes a bad requestHeader name as it came. */
        if (err.msg[0] == '\0')
            fz_fail("a refusal without a message", NULL);
        return false;
    }
    if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "download"),
                                         "outputPath") != NULL)
        fz_fail("accepted an outputPath: the peer never writes by path", NULL);
    fz_check_download(&r, allow_output);
    peer_download_req_reset(&r);
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rpc_codec_limits lim = {0, 0};
    struct df_error err;
    cJSON *doc = NULL;
    const char *id = NULL;
    bool with, without;

    if (size == 0)
        return 0;
    if (rpc_codec_decode(data + 1, size - 1, &lim, &doc, &err) != 0)
        return 0;
    if (data[0] & 1) {
        without = fz_download(doc, false);
        with = fz_download(doc, true);
    } else {
        with = fz_download(doc, true);
        without = fz_download(doc, false);
    }
    /* Refusing output descriptors (a TCP caller) only ever refuses more. */
    if (without && !with)
        fz_fail("accepted from a TCP caller, refused from a local one", NULL);
    /* StatTask and SyncPieces: the task id check both use. */
    if (df_json_get_str(doc, "taskId", &id, NULL) == 0 && df_id_task_is_valid(id)) {
        if (strlen(id) != DF_ID_TASK_LEN || strspn(id, "0123456789abcdef") != DF_ID_TASK_LEN)
            fz_fail("accepted task id", id);
    }
    cJSON_Delete(doc);
    return 0;
}
