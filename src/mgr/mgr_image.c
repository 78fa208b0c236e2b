/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an image preheat needs from the registry: the manifest URL of the job
 * (<scheme>://<host>/v2/<repo>/manifests/<tag or digest>) turned into the blob URLs of the
 * image's config and layers, as the peers will later ask for them through the proxy
 * (<scheme>://<host>/v2/<repo>/blobs/<digest>), so that the task ids match.
 *
 *   GET manifest (Accept: the four manifest and index types; the job's headers)
 *     401 + WWW-Authenticate: Bearer realm,service,scope
 *         -> GET realm?service=&scope= (Basic with the job's username/password, if any)
 *         -> {"token"|"access_token"} -> GET manifest again with Bearer <token>
 *     401 + WWW-Authenticate: Basic -> again with the job's username/password
 *     200 index / manifest list -> the manifest of the job's platform, by digest
 *     200 manifest -> config + layers
 *     anything else -> the registry's own reason ({"errors":[{code, message}]})
 *
 * Everything runs on the loop through net_fetch (no redirects across hosts keep the
 * Authorization; TLS verified, with job.caFile as trust anchors when set). The parsing
 * functions are pure and unit-tested.
 */
#include "mgr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include <event2/buffer.h>

#include "df/df_b64.h"
#include "df/df_json.h"
#include "df/df_url.h"
#include "df/log.h"
#include "df/net_fetch.h"
#include "df/xmalloc.h"

#define MGR_IMAGE_MANIFEST_MAX (4u << 20)
#define MGR_IMAGE_TOKEN_MAX    (256u << 10)
#define MGR_IMAGE_BLOBS_MAX    1000
#define MGR_IMAGE_HEADERS_MAX  70

#define MGR_IMAGE_INDEX_OCI    "application/vnd.oci.image.index.v1+json"
#define MGR_IMAGE_INDEX_DOCKER "application/vnd.docker.distribution.manifest.list.v2+json"
#define MGR_IMAGE_MANIF_OCI    "application/vnd.oci.image.manifest.v1+json"
#define MGR_IMAGE_MANIF_DOCKER "application/vnd.docker.distribution.manifest.v2+json"
#define MGR_IMAGE_ACCEPT                                                        \
    MGR_IMAGE_MANIF_DOCKER ", " MGR_IMAGE_INDEX_DOCKER ", " MGR_IMAGE_MANIF_OCI \
                           ", " MGR_IMAGE_INDEX_OCI

void
mgr_image_ref_reset(struct mgr_image_ref *r)
{
    free(r->base);
    free(r->repo);
    free(r->ref);
    memset(r, 0, sizeof(*r));
}

int
mgr_image_ref_parse(const char *url, struct mgr_image_ref *out, struct df_error *err)
{
    struct df_url u;
    const char *p, *m;
    char *auth;

    memset(out, 0, sizeof(*out));
    if (df_url_parse(url, &u, err) != 0)
        return DF_EINVAL;
    p = u.path != NULL ? u.path : "";
    m = strstr(p, "/manifests/");
    if (strncmp(p, "/v2/", 4) != 0 || m == NULL || m <= p + 4 || m[11] == '\0' ||
        strchr(m + 11, '/') != NULL) {
        df_url_reset(&u);
        return df_error_set(err, DF_EINVAL, "%s: not a manifest URL", url);
    }
    auth = df_url_authority_to_str(&u);
    out->base = xasprintf("%s://%s", u.scheme, auth);
    free(auth);
    out->repo = xstrndup(p + 4, (size_t)(m - p - 4));
    out->ref = xstrdup(m + 11);
    df_url_reset(&u);
    return 0;
}

bool
mgr_image_digest_is_valid(const char *d)
{
    size_t hex;

    if (strncmp(d, "sha256:", 7) == 0)
        hex = 64, d += 7;
    else if (strncmp(d, "sha512:", 7) == 0)
        hex = 128, d += 7;
    else
        return false;
    return strlen(d) == hex && strspn(d, "0123456789abcdef") == hex;
}

void
mgr_image_challenge_reset(struct mgr_image_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof(*c));
}

int
mgr_image_challenge_parse(const char *h, struct mgr_image_challenge *c)
{
    const char *p = h, *k, *v;
    size_t klen, vlen;
    char **slot;

    memset(c, 0, sizeof(*c));
    if (strncasecmp(p, "Bearer ", 7) == 0) {
        c->bearer = true;
        p += 7;
    } else if (strncasecmp(p, "Basic", 5) == 0 && (p[5] == '\0' || p[5] == ' ')) {
        p += 5;
    } else {
        return DF_EINVAL;
    }
    /* auth-params: key="quoted" or key=token, comma-separated */
    while (*p != '\0') {
        p += strspn(p, " ,");
        if (*p == '\0')
            break;
        k = p;
        klen = strcspn(p, "=");
        if (p[klen] != '=' || klen == 0)
            goto bad;
        p += klen + 1;
        if (*p == '"') {
            v = ++p;
            /* no escapes in the values registries send; a backslash is refused */
            vlen = strcspn(p, "\"\\");
            if (p[vlen] != '"')
                goto bad;
            p += vlen + 1;
        } else {
            v = p;
            vlen = strcspn(p, ", ");
            p += vlen;
        }
        slot = klen == 5 && strncasecmp(k, "realm", 5) == 0     ? &c->realm
               : klen == 7 && strncasecmp(k, "service", 7) == 0 ? &c->service
               : klen == 5 && strncasecmp(k, "scope", 5) == 0   ? &c->scope
                                                                : NULL;
        if (slot != NULL) {
            free(*slot);
            *slot = xstrndup(v, vlen);
        }
    }
    if (c->bearer && (c->realm == NULL || *c->realm == '\0'))
        goto bad;
    return 0;
bad:
    mgr_image_challenge_reset(c);
    return DF_EINVAL;
}

/* A string member, or "". */
static const char *
mgr_image_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The digest of a descriptor, or NULL with err set. */
static const char *
mgr_image_desc_digest(const cJSON *desc, const char *what, struct df_error *err)
{
    const char *d = mgr_image_str(desc, "digest");

    if (!mgr_image_digest_is_valid(d)) {
        df_error_set(err, DF_EINVAL, "%s: bad digest \"%.80s\" (sha256 or sha512 only)", what, d);
        return NULL;
    }
    return d;
}

/*
 * The index's manifest for platform "os/arch[/variant]" into *out (borrowed from manifests).
 * Returns 0, or DF_EINVAL/DF_ENOTFOUND with err set.
 */
static int
mgr_image_pick(const cJSON *manifests, const char *platform, const char **out, struct df_error *err)
{
    char os[64], arch[64], variant[64] = "", have[512] = "";
    const cJSON *m, *p;
    size_t n = 0;

    if (sscanf(platform, "%63[^/]/%63[^/]/%63s", os, arch, variant) < 2)
        return df_error_set(err, DF_EINVAL, "platform %s: expected os/arch[/variant]", platform);
    cJSON_ArrayForEach(m, manifests)
    {
        p = cJSON_GetObjectItemCaseSensitive(m, "platform");
        if (strcmp(mgr_image_str(p, "os"), os) == 0 &&
            strcmp(mgr_image_str(p, "architecture"), arch) == 0 &&
            (variant[0] == '\0' || strcmp(mgr_image_str(p, "variant"), variant) == 0))
            return (*out = mgr_image_desc_digest(m, "index entry", err)) != NULL ? 0 : DF_EINVAL;
        if (n < sizeof(have) - 1)
            n += (size_t)snprintf(have + n, sizeof(have) - n, "%s%s/%s%s%s", n > 0 ? ", " : "",
                                  mgr_image_str(p, "os"), mgr_image_str(p, "architecture"),
                                  *mgr_image_str(p, "variant") != '\0' ? "/" : "",
                                  mgr_image_str(p, "variant"));
    }
    return df_error_set(err, DF_ENOTFOUND, "no manifest for platform %s in the index (it has: %s)",
                        platform, n > 0 ? have : "none");
}

int
mgr_image_manifest_parse(const char *body, size_t len, const char *platform, char **digest,
                         cJSON **blobs, struct df_error *err)
{
    const cJSON *layers, *manifests, *e;
    const char *mt, *d;
    cJSON *doc = NULL, *list;
    int rv;

    *digest = NULL;
    *blobs = NULL;
    if ((rv = df_json_parse(body, len, NULL, &doc, err)) != 0)
        return DF_EINVAL;
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return df_error_set(err, DF_EINVAL, "the manifest is not a JSON object");
    }
    mt = mgr_image_str(doc, "mediaType");
    manifests = cJSON_GetObjectItemCaseSensitive(doc, "manifests");
    layers = cJSON_GetObjectItemCaseSensitive(doc, "layers");
    if (strcmp(mt, MGR_IMAGE_INDEX_OCI) == 0 || strcmp(mt, MGR_IMAGE_INDEX_DOCKER) == 0 ||
        (*mt == '\0' && cJSON_IsArray(manifests))) {
        if ((rv = mgr_image_pick(manifests, platform, &d, err)) == 0)
            *digest = xstrdup(d);
        cJSON_Delete(doc);
        return rv;
    }
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) > MGR_IMAGE_BLOBS_MAX ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "config"))) {
        /* mt lives in doc: the message first */
        rv = df_error_set(err, DF_EINVAL,
                          "the manifest has no config and layers (media type \"%.100s\"; "
                          "schema 2 and OCI only)",
                          mt);
        cJSON_Delete(doc);
        return rv;
    }
    list = cJSON_CreateArray();
    if ((d = mgr_image_desc_digest(cJSON_GetObjectItemCaseSensitive(doc, "config"), "config",
                                   err)) == NULL)
        goto bad;
    cJSON_AddItemToArray(list, cJSON_CreateString(d));
    cJSON_ArrayForEach(e, layers)
    {
        if ((d = mgr_image_desc_digest(e, "layer", err)) == NULL)
            goto bad;
        cJSON_AddItemToArray(list, cJSON_CreateString(d));
    }
    cJSON_Delete(doc);
    *blobs = list;
    return 0;
bad:
    cJSON_Delete(list);
    cJSON_Delete(doc);
    return DF_EINVAL;
}

const char *
mgr_image_default_platform(void)
{
    static char platform[80];
    struct utsname u;
    const char *arch;

    if (platform[0] != '\0')
        return platform;
    arch = uname(&u) != 0                        ? "amd64"
           : strcmp(u.machine, "x86_64") == 0    ? "amd64"
           : strcmp(u.machine, "aarch64") == 0   ? "arm64"
           : strncmp(u.machine, "armv7", 5) == 0 ? "arm"
           : strcmp(u.machine, "i686") == 0      ? "386"
                                                 : u.machine;
    snprintf(platform, sizeof(platform), "linux/%s", arch);
    return platform;
}

/* ---- the resolver ---- */

enum mgr_image_phase {
    MGR_IMAGE_MANIFEST,
    MGR_IMAGE_TOKEN,
};

struct mgr_image {
    struct mgr *ctx;
    struct mgr_image_ref ref;
    char *platform;
    const struct mgr_job_secret *sec;
    char *auth;   /* our own Authorization after the token flow, or NULL */
    char *target; /* the URL of the current request */
    enum mgr_image_phase phase;
    bool tried_auth;
    int manifests; /* manifest requests so far: an index leads to one more */
    int status;
    char *challenge;
    struct net_fetch *fetch;
    mgr_image_done_fn *done;
    void *arg;
};

static void
mgr_image_free(struct mgr_image *r)
{
    mgr_image_ref_reset(&r->ref);
    free(r->platform);
    free(r->auth);
    free(r->target);
    free(r->challenge);
    free(r);
}

void
mgr_image_cancel(struct mgr_image *r)
{
    if (r == NULL)
        return;
    if (r->fetch != NULL)
        net_fetch_cancel(r->fetch);
    mgr_image_free(r);
}

/* End with rv: urls (taken) on success, else the reason. */
static void
mgr_image_end(struct mgr_image *r, int rv, const char *why, cJSON *urls)
{
    r->done(r->arg, rv, why, urls, r->auth);
    mgr_image_free(r);
}

static void mgr_image_end_cb(struct net_fetch *s, int rv, const char *why, uint64_t retry_after_ms,
                             void *arg);

static int
mgr_image_head_cb(struct net_fetch *s, const struct net_fetch_meta *m, void *arg)
{
    struct mgr_image *r = arg;
    const char *h = net_http_head_get(m->head, "WWW-Authenticate");

    (void)s;
    r->status = m->status;
    free(r->challenge);
    r->challenge = h != NULL ? xstrdup(h) : NULL;
    return 0;
}

/*
 * GET r->target: the job's headers, ours for Authorization once we have one. Returns 0, or
 * DF_EINVAL with err set (a URL net_fetch refuses).
 */
static int
mgr_image_start(struct mgr_image *r, const char *basic, struct df_error *err)
{
    static const struct net_fetch_cbs cbs = {mgr_image_head_cb, NULL, mgr_image_end_cb};
    struct net_http_header h[MGR_IMAGE_HEADERS_MAX];
    struct net_fetch_env env;
    struct net_fetch_req req;
    const char *own = basic != NULL ? basic : r->auth;
    const cJSON *e;
    size_t n = 0;

    if (r->phase == MGR_IMAGE_MANIFEST)
        h[n++] = (struct net_http_header){"Accept", MGR_IMAGE_ACCEPT};
    cJSON_ArrayForEach(e, r->sec->headers)
    {
        /* the job's own Authorization goes to the registry, never to the token realm */
        if (n < MGR_IMAGE_HEADERS_MAX - 1 &&
            !((own != NULL || r->phase == MGR_IMAGE_TOKEN) &&
              strcasecmp(e->string, "Authorization") == 0) &&
            strcasecmp(e->string, "Accept") != 0)
            h[n++] = (struct net_http_header){e->string, e->valuestring};
    }
    if (own != NULL)
        h[n++] = (struct net_http_header){"Authorization", own};
    memset(&env, 0, sizeof(env));
    env.pool = r->ctx->fetch_pool;
    env.base = r->ctx->base;
    env.dns = r->ctx->dns;
    env.tls = r->ctx->tls;
    env.connect_timeout_ms = 10000;
    env.head_timeout_ms = 30000;
    env.idle_timeout_ms = 30000;
    env.policy_name = "registry policy";
    memset(&req, 0, sizeof(req));
    req.url = r->target;
    req.headers = h;
    req.nheaders = n;
    req.any_status = true;
    req.policy = r->ctx->job_policy;
    req.max_body = r->phase == MGR_IMAGE_MANIFEST ? MGR_IMAGE_MANIFEST_MAX : MGR_IMAGE_TOKEN_MAX;
    r->status = 0;
    return net_fetch_start(&env, &req, &cbs, r, &r->fetch, err);
}

/* mgr_image_start from a callback: a failure ends r. */
static void
mgr_image_get(struct mgr_image *r, const char *basic)
{
    struct df_error err;

    if (mgr_image_start(r, basic, &err) != 0)
        mgr_image_end(r, DF_EINVAL, err.msg, NULL);
}

/* "Basic base64(username:password)" of the job, or NULL without a username. */
static char *
mgr_image_basic(const struct mgr_image *r)
{
    char *plain, *out, *b64;

    if (r->sec->username == NULL || r->sec->username[0] == '\0')
        return NULL;
    plain = xasprintf("%s:%s", r->sec->username, r->sec->password);
    b64 = xmalloc(df_b64_encoded_size(strlen(plain)));
    df_b64_encode((const uint8_t *)plain, strlen(plain), b64);
    out = xasprintf("Basic %s", b64);
    free(b64);
    free(plain);
    return out;
}

/* Percent-encode s for a query value into b. */
static void
mgr_image_escape(struct evbuffer *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (isalnum((unsigned char)*s) || strchr("-_.~", *s) != NULL)
            evbuffer_add(b, s, 1);
        else
            evbuffer_add_printf(b, "%%%02X", (unsigned char)*s);
    }
}

/* A 401: the token flow (Bearer) or the job's credentials (Basic), once. */
static void
mgr_image_challenge(struct mgr_image *r, const char *reason)
{
    struct mgr_image_challenge c;
    struct evbuffer *b;
    char *basic;

    if (r->tried_auth || r->challenge == NULL || mgr_image_challenge_parse(r->challenge, &c) != 0) {
        mgr_image_end(r, DF_EPERM, reason, NULL);
        return;
    }
    r->tried_auth = true;
    basic = mgr_image_basic(r);
    if (!c.bearer) {
        if (basic == NULL) {
            mgr_image_challenge_reset(&c);
            mgr_image_end(r, DF_EPERM, reason, NULL);
            return;
        }
        free(r->auth);
        r->auth = basic;
        mgr_image_challenge_reset(&c);
        mgr_image_get(r, NULL);
        return;
    }
    b = evbuffer_new();
    evbuffer_add_printf(b, "%s%s", c.realm, strchr(c.realm, '?') != NULL ? "&" : "?");
    if (c.service != NULL) {
        evbuffer_add_printf(b, "service=");
        mgr_image_escape(b, c.service);
        evbuffer_add_printf(b, "&");
    }
    evbuffer_add_printf(b, "scope=");
    if (c.scope != NULL) {
        mgr_image_escape(b, c.scope);
    } else {
        mgr_image_escape(b, "repository:");
        mgr_image_escape(b, r->ref.repo);
        mgr_image_escape(b, ":pull");
    }
    evbuffer_add(b, "", 1);
    free(r->target);
    r->target = xstrdup((const char *)evbuffer_pullup(b, -1));
    evbuffer_free(b);
    mgr_image_challenge_reset(&c);
    r->phase = MGR_IMAGE_TOKEN;
    mgr_image_get(r, basic);
    free(basic);
}

/* The registry's reason for status: its errors[0] code and message when it sent them. */
static void
mgr_image_reason(const struct mgr_image *r, struct evbuffer *body, char *out, size_t len)
{
    size_t n = evbuffer_get_length(body);
    cJSON *doc = n > 0 && n < 65536
                         ? cJSON_ParseWithLength((const char *)evbuffer_pullup(body, -1), n)
                         : NULL;
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);

    if (e != NULL)
        snprintf(out, len, "%s answered %d: %s: %s", r->target, r->status, mgr_image_str(e, "code"),
                 mgr_image_str(e, "message"));
    else
        snprintf(out, len, "%s answered %d", r->target, r->status);
    cJSON_Delete(doc);
}

/* A manifest or index arrived: the blobs, or the platform's manifest next. */
static void
mgr_image_manifest(struct mgr_image *r, struct evbuffer *body)
{
    struct df_error err;
    char *digest, msg[sizeof(err.msg) + 64];
    cJSON *blobs, *urls;
    const cJSON *e;
    int rv;

    rv = mgr_image_manifest_parse((const char *)evbuffer_pullup(body, -1),
                                  evbuffer_get_length(body), r->platform, &digest, &blobs, &err);
    if (rv != 0) {
        snprintf(msg, sizeof(msg), "%s: %s", r->target, err.msg);
        mgr_image_end(r, rv, msg, NULL);
        return;
    }
    if (digest != NULL) {
        if (++r->manifests > 2) {
            free(digest);
            mgr_image_end(r, DF_EPROTO, "an index points at another index", NULL);
            return;
        }
        free(r->target);
        r->target = xasprintf("%s/v2/%s/manifests/%s", r->ref.base, r->ref.repo, digest);
        free(digest);
        mgr_image_get(r, NULL);
        return;
    }
    urls = cJSON_CreateArray();
    cJSON_ArrayForEach(e, blobs)
    {
        char *u;

        u = xasprintf("%s/v2/%s/blobs/%s", r->ref.base, r->ref.repo, e->valuestring);
        cJSON_AddItemToArray(urls, cJSON_CreateString(u));
        free(u);
    }
    cJSON_Delete(blobs);
    mgr_image_end(r, 0, NULL, urls);
}

/* The token server's answer: {"token"} or {"access_token"}. */
static void
mgr_image_token(struct mgr_image *r, struct evbuffer *body)
{
    size_t n = evbuffer_get_length(body);
    cJSON *doc = cJSON_ParseWithLength((const char *)evbuffer_pullup(body, -1), n);
    const char *tok = mgr_image_str(doc, "token");

    if (*tok == '\0')
        tok = mgr_image_str(doc, "access_token");
    if (*tok == '\0' || strpbrk(tok, "\r\n ") != NULL || strlen(tok) > 16384) {
        cJSON_Delete(doc);
        mgr_image_end(r, DF_EPROTO, "the token server answered no token", NULL);
        return;
    }
    free(r->auth);
    r->auth = xasprintf("Bearer %s", tok);
    cJSON_Delete(doc);
    r->phase = MGR_IMAGE_MANIFEST;
    free(r->target);
    r->target = xasprintf("%s/v2/%s/manifests/%s", r->ref.base, r->ref.repo, r->ref.ref);
    mgr_image_get(r, NULL);
}

static void
mgr_image_end_cb(struct net_fetch *s, int rv, const char *why, uint64_t retry_after_ms, void *arg)
{
    struct mgr_image *r = arg;
    struct evbuffer *body = net_fetch_body(s);
    char reason[1024];

    (void)retry_after_ms;
    r->fetch = NULL;
    if (rv != 0 && r->status == 0) {
        snprintf(reason, sizeof(reason), "GET %s: %s", r->target, why != NULL ? why : "failed");
        mgr_image_end(r, rv, reason, NULL);
        return;
    }
    if (rv != 0) {
        snprintf(reason, sizeof(reason), "GET %s: %d, then %s", r->target, r->status,
                 why != NULL ? why : "failed");
        mgr_image_end(r, rv, reason, NULL);
        return;
    }
    if (r->status == 200) {
        if (r->phase == MGR_IMAGE_TOKEN)
            mgr_image_token(r, body);
        else
            mgr_image_manifest(r, body);
        return;
    }
    mgr_image_reason(r, body, reason, sizeof(reason));
    if (r->status == 401 && r->phase == MGR_IMAGE_MANIFEST)
        mgr_image_challenge(r, reason);
    else
        mgr_image_end(r, r->status == 404 ? DF_ENOTFOUND : DF_EPROTO, reason, NULL);
}

int
mgr_image_resolve(struct mgr *ctx, const char *url, const char *platform,
                  const struct mgr_job_secret *sec, mgr_image_done_fn *done, void *arg,
                  struct mgr_image **out, struct df_error *err)
{
    struct mgr_image *r = xcalloc(1, sizeof(*r));

    if (mgr_image_ref_parse(url, &r->ref, err) != 0) {
        free(r);
        return DF_EINVAL;
    }
    r->ctx = ctx;
    r->platform = xstrdup(platform != NULL && *platform != '\0' ? platform
                                                                : mgr_image_default_platform());
    r->sec = sec;
    r->done = done;
    r->arg = arg;
    r->target = xstrdup(url);
    r->manifests = 1;
    if (mgr_image_start(r, NULL, err) != 0) {
        mgr_image_free(r);
        return DF_EINVAL;
    }
    *out = r;
    return 0;
}
