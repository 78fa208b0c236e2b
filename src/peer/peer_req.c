/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a `get` asks for (struct peer_download_req): taken from the proto_dfdaemon download
 * object once it is validated, and held to what another host may ask. Shared by the RPC
 * service (local callers) and the swarm service (the scheduler's seed requests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/df_digest.h"
#include "df/df_json.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/net_listener.h"
#include "df/proto_dfdaemon.h"
#include "df/xmalloc.h"
#include "peer.h"

void
peer_download_req_reset(struct peer_download_req *r)
{
    free(r->url);
    free(r->tag);
    free(r->application);
    free(r->filtered);
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)(uintptr_t)r->headers[i].name);
        free((char *)(uintptr_t)r->headers[i].value);
    }
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

/* Move d's fields into r (d is left empty). */
static void
peer_download_req_take(struct peer_download_req *r, struct proto_dfdaemon_download *d)
{
    memset(r, 0, sizeof(*r));
    r->url = d->url;
    r->output_fd = d->output_fd;
    r->output_rewind = d->output_rewind && d->output_fd;
    r->tag = d->tag;
    r->application = d->application;
    r->filtered = d->filtered;
    r->has_digest = d->has_digest;
    r->digest = d->digest;
    r->headers = xcalloc(d->nheaders > 0 ? d->nheaders : 1, sizeof(*r->headers));
    for (size_t i = 0; i < d->nheaders; i++) {
        r->headers[i].name = d->headers[i].name;
        r->headers[i].value = d->headers[i].value;
    }
    r->nheaders = d->nheaders;
    r->insecure = d->insecure;
    r->disable_back_to_source = d->disable_back_to_source;
    r->need_back_to_source = d->need_back_to_source;
    r->priority = d->priority;
    free(d->headers);
    memset(d, 0, sizeof(*d));
}

/*
 * A registry blob URL names its content (.../blobs/sha256:<64 hex>): the whole content is
 * verified against it, as with an explicit digest, which must then be the same.
 */
int
peer_req_blob_digest(struct peer_download_req *r, struct df_error *err)
{
    static const char mark[] = "/blobs/sha256:";
    const char *tail;
    struct df_digest named;
    struct df_url u;
    size_t n, hex = 2 * DF_SHA256_LEN;
    int rv;

    memset(&u, 0, sizeof(u));
    if ((rv = df_url_parse(r->url, &u, err)) != 0) /* checked by the parser: does not fail */
        return rv;
    n = strlen(u.path);
    tail = n >= sizeof(mark) - 1 + hex ? u.path + n - hex - (sizeof(mark) - 1) : NULL;
    if (tail == NULL || strncmp(tail, mark, sizeof(mark) - 1) != 0 ||
        strspn(tail + sizeof(mark) - 1, "0123456789abcdef") != hex) {
        df_url_reset(&u);
        return 0; /* not a blob URL */
    }
    rv = df_digest_parse(tail + 7, &named, err); /* "/blobs/" is 7 bytes */
    df_url_reset(&u);
    if (rv != 0)
        return rv;
    if (r->has_digest && !df_digest_is_equal(&named, &r->digest))
        return df_error_set(err, DF_EINVAL,
                            "download.digest: differs from the sha256 the blob URL names");
    r->digest = named;
    r->has_digest = true;
    return 0;
}

int
peer_download_req_parse(const cJSON *msg, bool allow_output, struct peer_download_req *out,
                        struct df_error *err)
{
    struct proto_dfdaemon_download d;
    int rv;

    memset(&d, 0, sizeof(d));
    if ((rv = proto_dfdaemon_download_from_json(msg, &d, err)) != 0)
        return rv;
    if (d.output_fd && !allow_output) {
        proto_dfdaemon_download_reset(&d);
        return df_error_set(err, DF_EPERM,
                            "download.outputFd: only a local caller on the unix socket may ask "
                            "for an output");
    }
    peer_download_req_take(out, &d);
    if ((rv = peer_req_blob_digest(out, err)) != 0) {
        peer_download_req_reset(out);
        return rv;
    }
    return 0;
}

bool
peer_req_header_is_reserved(const char *name)
{
    static const char *const reserved[] = {
            "host",
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "upgrade",
            "transfer-encoding",
            "content-length",
            "proxy-authorization",
            "proxy-authenticate",
    };

    for (size_t i = 0; i < DF_NELEM(reserved); i++) {
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    }
    return false;
}

int
peer_download_req_restrict(struct peer_download_req *r, const struct peer *ctx,
                           struct df_error *err)
{
    if (r->insecure)
        return df_error_set(err, DF_EPERM,
                            "download.insecure: only a local caller may turn off TLS "
                            "verification");
    for (size_t i = 0; i < r->nheaders; i++) {
        if (peer_req_header_is_reserved(r->headers[i].name))
            return df_error_set(err, DF_EPERM,
                                "download.requestHeader: '%.64s' may not be set by another host",
                                r->headers[i].name);
    }
    r->policy = ctx->src_policy;
    return 0;
}
