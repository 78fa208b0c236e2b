/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dfdaemon.v2 messages <-> C structs. The `download` object is read and written only here:
 * `get` builds it, the peer's two DownloadTask services parse it, the scheduler forwards a
 * register's download to a seed. Parsing never trusts the sender: every string is bounded,
 * header names and values are checked as the HTTP layer would, and no path is accepted.
 */
#include "df/proto_dfdaemon.h"

#include <stdlib.h>
#include <string.h>

#include "df/df_url.h"
#include "df/xmalloc.h"
#include "proto_json.h"

#define PROTO_DL "download"

void
proto_dfdaemon_download_reset(struct proto_dfdaemon_download *d)
{
    free(d->url);
    free(d->tag);
    free(d->application);
    free(d->filtered);
    for (size_t i = 0; i < d->nheaders; i++) {
        free(d->headers[i].name);
        free(d->headers[i].value);
    }
    free(d->headers);
    memset(d, 0, sizeof(*d));
}

/*
 * filteredQueryParams: an array of names or one '&'-separated string; both read as the
 * string, so a name holds neither '&' nor CR/LF, as the string may not.
 */
static int
proto_dfdaemon_download_filtered(const cJSON *o, char **out, struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "filteredQueryParams"), *e;
    size_t len = 0;
    char *s;

    if (v == NULL || cJSON_IsNull(v) || cJSON_IsString(v))
        return proto_json_str(o, PROTO_DL, "filteredQueryParams", false, true,
                              PROTO_DOWNLOAD_STR_MAX, out, err);
    if (!cJSON_IsArray(v))
        return proto_json_fail(err, DF_EINVAL, PROTO_DL, "filteredQueryParams",
                               "expected array of strings");
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || strpbrk(e->valuestring, "&\r\n") != NULL)
            return proto_json_fail(err, DF_EINVAL, PROTO_DL, "filteredQueryParams",
                                   "expected names");
        if (e->valuestring[0] != '\0') /* an empty name filters nothing */
            len += strlen(e->valuestring) + 1;
    }
    if (len > PROTO_DOWNLOAD_STR_MAX)
        return proto_json_fail(err, DF_EINVAL, PROTO_DL, "filteredQueryParams", "too long");
    if (len == 0)
        return 0; /* no names, or only empty ones: nothing is filtered */
    s = xcalloc(1, len + 1);
    len = 0;
    cJSON_ArrayForEach(e, v)
    {
        size_t l = strlen(e->valuestring);

        if (l == 0)
            continue;
        if (len > 0)
            s[len++] = '&';
        memcpy(s + len, e->valuestring, l);
        len += l;
    }
    *out = s;
    return 0;
}

/* A field name is an RFC 9110 token; a value holds VCHAR, obs-text, SP and HTAB only. */
static bool
proto_dfdaemon_header_is_valid(const char *name, const char *value)
{
    const unsigned char *p;

    if (name[0] == '\0')
        return false;
    for (p = (const unsigned char *)name; *p != '\0'; p++) {
        bool alnum = (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z');

        if (!alnum && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            return false;
    }
    for (p = (const unsigned char *)value; *p != '\0'; p++) {
        if (*p == 0x7f || (*p < 0x20 && *p != '\t'))
            return false;
    }
    return true;
}

static int
proto_dfdaemon_download_headers(const cJSON *o, struct proto_dfdaemon_download *d,
                                struct df_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "requestHeader"), *e;
    size_t n = 0;

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v))
        return proto_json_fail(err, DF_EINVAL, PROTO_DL, "requestHeader", "expected an object");
    cJSON_ArrayForEach(e, v) n++;
    if (n > PROTO_DOWNLOAD_HEADERS_MAX)
        return proto_json_fail(err, DF_EINVAL, PROTO_DL, "requestHeader", "more than %d headers",
                               PROTO_DOWNLOAD_HEADERS_MAX);
    if (n == 0)
        return 0;
    d->headers = xcalloc(n, sizeof(*d->headers));
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || !proto_dfdaemon_header_is_valid(e->string, e->valuestring))
            return proto_json_fail(err, DF_EINVAL, PROTO_DL, "requestHeader", "bad header '%.64s'",
                                   e->string);
        d->headers[d->nheaders].name = xstrdup(e->string);
        d->headers[d->nheaders].value = xstrdup(e->valuestring);
        d->nheaders++;
    }
    return 0;
}

static int
proto_dfdaemon_download_fields(const cJSON *o, struct proto_dfdaemon_download *d,
                               struct df_error *err)
{
    struct df_error e;
    struct df_url u;
    uint64_t pl = 0;
    int rv;

    if ((rv = proto_json_str(o, PROTO_DL, "url", true, true, PROTO_DOWNLOAD_STR_MAX, &d->url,
                             err)) != 0 ||
        (rv = proto_json_str(o, PROTO_DL, "tag", false, true, PROTO_DOWNLOAD_STR_MAX, &d->tag,
                             err)) != 0 ||
        (rv = proto_json_str(o, PROTO_DL, "application", false, true, PROTO_DOWNLOAD_STR_MAX,
                             &d->application, err)) != 0 ||
        (rv = proto_dfdaemon_download_filtered(o, &d->filtered, err)) != 0 ||
        (rv = proto_dfdaemon_download_headers(o, d, err)) != 0 ||
        (rv = proto_json_bool(o, PROTO_DL, "outputFd", &d->output_fd, err)) != 0 ||
        (rv = proto_json_bool(o, PROTO_DL, "outputRewind", &d->output_rewind, err)) != 0 ||
        (rv = proto_json_digest(o, PROTO_DL, "digest", false, &d->has_digest, &d->digest, err)) !=
                0 ||
        (rv = proto_json_bool(o, PROTO_DL, "insecure", &d->insecure, err)) != 0 ||
        (rv = proto_json_bool(o, PROTO_DL, "disableBackToSource", &d->disable_back_to_source,
                              err)) != 0 ||
        (rv = proto_json_bool(o, PROTO_DL, "needBackToSource", &d->need_back_to_source, err)) !=
                0 ||
        (rv = proto_json_u64(o, PROTO_DL, "pieceLength", UINT32_MAX, NULL, &pl, err)) != 0 ||
        (rv = proto_json_level(o, PROTO_DL, "priority", PROTO_PRIORITY_MAX, &d->priority, err)) !=
                0)
        return rv;
    d->piece_length = (uint32_t)pl;
    /* df_url names the field "url"; here it is the download's. */
    memset(&u, 0, sizeof(u));
    if ((rv = df_url_parse(d->url, &u, &e)) != 0)
        df_error_set(err, rv, "%s%s",
                     strncmp(e.msg, "url", 3) == 0 ? "download." : "download.url: ", e.msg);
    df_url_reset(&u);
    return rv;
}

int
proto_dfdaemon_download_from_json(const cJSON *msg, struct proto_dfdaemon_download *out,
                                  struct df_error *err)
{
    struct proto_dfdaemon_download d;
    const cJSON *o = NULL;
    int rv;

    memset(&d, 0, sizeof(d));
    if ((rv = proto_json_obj(msg, "", PROTO_DL, &o, err)) != 0)
        goto out;
    if (cJSON_GetObjectItemCaseSensitive(o, "outputPath") != NULL) {
        rv = df_error_set(err, DF_EPERM,
                          "download.outputPath: not accepted; the output goes only into a "
                          "descriptor passed by a local caller (outputFd)");
        goto out;
    }
    if ((rv = proto_dfdaemon_download_fields(o, &d, err)) != 0)
        goto out;
    *out = d;
    memset(&d, 0, sizeof(d));
    rv = 0;
out:
    proto_dfdaemon_download_reset(&d);
    return rv;
}

bool
proto_dfdaemon_download_to_json(cJSON *msg, const struct proto_dfdaemon_download *d)
{
    cJSON *o = cJSON_AddObjectToObject(msg, PROTO_DL), *h = NULL;
    bool ok;

    ok = o != NULL && proto_json_add_str(o, "url", d->url) &&
         proto_json_add_str(o, "tag", d->tag) &&
         proto_json_add_str(o, "application", d->application) &&
         proto_json_add_str(o, "filteredQueryParams", d->filtered) &&
         (!d->has_digest || proto_json_add_digest(o, "digest", &d->digest)) &&
         (d->nheaders == 0 || (h = cJSON_AddObjectToObject(o, "requestHeader")) != NULL) &&
         (!d->output_fd || proto_json_add_bool(o, "outputFd", true)) &&
         (!d->output_rewind || proto_json_add_bool(o, "outputRewind", true)) &&
         (!d->insecure || proto_json_add_bool(o, "insecure", true)) &&
         (!d->disable_back_to_source || proto_json_add_bool(o, "disableBackToSource", true)) &&
         (!d->need_back_to_source || proto_json_add_bool(o, "needBackToSource", true)) &&
         (d->piece_length == 0 || proto_json_add_u64(o, "pieceLength", d->piece_length)) &&
         (d->priority == 0 || proto_json_add_level(o, "priority", d->priority));
    for (size_t i = 0; ok && i < d->nheaders; i++)
        ok = proto_json_add_str(h, d->headers[i].name, d->headers[i].value);
    return ok;
}

/* ---- DownloadTask answers ---- */

static const char *const proto_dfdaemon_download_resp_names[] = {
        [PROTO_DOWNLOAD_STARTED] = "downloadTaskStartedResponse",
        [PROTO_DOWNLOAD_PROGRESS] = "downloadProgressResponse",
        [PROTO_DOWNLOAD_FINISHED] = "downloadTaskFinishedResponse",
};

void
proto_dfdaemon_download_resp_reset(struct proto_dfdaemon_download_resp *r)
{
    free(r->host_id);
    free(r->task_id);
    for (size_t i = 0; i < r->nfrom; i++) {
        free(r->from[i].peer_id);
        free(r->from[i].ip);
    }
    free(r->from);
    memset(r, 0, sizeof(*r));
}

static int
proto_dfdaemon_download_from_list(const cJSON *list, struct proto_dfdaemon_download_resp *r,
                                  struct df_error *err)
{
    const char *where = "downloadTaskFinishedResponse.bytesFromPeers[]";
    const cJSON *e;
    int rv, n = cJSON_GetArraySize(list);

    if (n <= 0)
        return 0;
    r->from = xcalloc((size_t)n, sizeof(*r->from));
    cJSON_ArrayForEach(e, list)
    {
        struct proto_dfdaemon_download_from *f = &r->from[r->nfrom++];

        if (!cJSON_IsObject(e))
            return df_error_set(err, DF_EINVAL, "%s: expected an object", where);
        if ((rv = proto_json_str(e, where, "peerId", false, true, 0, &f->peer_id, err)) != 0 ||
            (rv = proto_json_str(e, where, "ip", false, true, 0, &f->ip, err)) != 0 ||
            (rv = proto_json_bool(e, where, "isSeed", &f->is_seed, err)) != 0 ||
            (rv = proto_json_u64(e, where, "bytes", UINT64_MAX, NULL, &f->bytes, err)) != 0)
            return rv;
    }
    return 0;
}

static int
proto_dfdaemon_download_resp_body(const cJSON *o, struct proto_dfdaemon_download_resp *r,
                                  struct df_error *err)
{
    const char *w = proto_dfdaemon_download_resp_names[r->kind];
    const cJSON *list = NULL;
    int rv;

    if ((rv = proto_json_u64(o, w, "contentLength", INT64_MAX, &r->has_content_length,
                             &r->content_length, err)) != 0 ||
        (rv = proto_json_u64(o, w, "pieceLength", UINT32_MAX, NULL, &r->piece_length, err)) != 0 ||
        (rv = proto_json_u64(o, w, "pieceCount", UINT32_MAX, NULL, &r->piece_count, err)) != 0 ||
        (rv = proto_json_u64(o, w, "finishedPieces", UINT32_MAX, NULL, &r->finished_pieces, err)) !=
                0 ||
        (rv = proto_json_u64(o, w, "finishedBytes", INT64_MAX, NULL, &r->finished_bytes, err)) !=
                0 ||
        (rv = proto_json_u64(o, w, "bytesFromSource", UINT64_MAX, NULL, &r->bytes_from_source,
                             err)) != 0 ||
        (rv = proto_json_u64(o, w, "outputBytes", UINT64_MAX, &r->has_output_bytes,
                             &r->output_bytes, err)) != 0 ||
        (rv = proto_json_array(o, w, "bytesFromPeers", &list, err)) != 0)
        return rv;
    return proto_dfdaemon_download_from_list(list, r, err);
}

int
proto_dfdaemon_download_resp_from_json(const cJSON *msg, struct proto_dfdaemon_download_resp *out,
                                       struct df_error *err)
{
    struct proto_dfdaemon_download_resp r;
    const cJSON *body = NULL;
    size_t kind = 0;
    int rv;

    memset(&r, 0, sizeof(r));
    if ((rv = proto_json_str(msg, "", "hostId", true, true, 0, &r.host_id, err)) != 0 ||
        (rv = proto_json_str(msg, "", "taskId", true, true, 0, &r.task_id, err)) != 0)
        goto out;
    if (!df_id_task_is_valid(r.task_id)) {
        rv = df_error_set(err, DF_EINVAL, "taskId: expected 64 lowercase hex");
        goto out;
    }
    if ((rv = proto_json_kind(msg, proto_dfdaemon_download_resp_names,
                              DF_NELEM(proto_dfdaemon_download_resp_names), false, &kind, &body,
                              err)) != 0)
        goto out;
    r.kind = (enum proto_dfdaemon_download_resp_kind)kind;
    if ((rv = proto_dfdaemon_download_resp_body(body, &r, err)) != 0)
        goto out;
    *out = r;
    memset(&r, 0, sizeof(r));
    rv = 0;
out:
    proto_dfdaemon_download_resp_reset(&r);
    return rv;
}

static bool
proto_dfdaemon_download_from_add(cJSON *o, const struct proto_dfdaemon_download_resp *r)
{
    cJSON *a = cJSON_AddArrayToObject(o, "bytesFromPeers"), *e;
    bool ok = a != NULL;

    for (size_t i = 0; ok && i < r->nfrom; i++) {
        const struct proto_dfdaemon_download_from *f = &r->from[i];

        ok = (e = cJSON_CreateObject()) != NULL && cJSON_AddItemToArray(a, e) &&
             proto_json_add_str(e, "peerId", f->peer_id) && proto_json_add_str(e, "ip", f->ip) &&
             proto_json_add_bool(e, "isSeed", f->is_seed) &&
             proto_json_add_u64(e, "bytes", f->bytes);
    }
    return ok;
}

cJSON *
proto_dfdaemon_download_resp_to_json(const struct proto_dfdaemon_download_resp *r)
{
    cJSON *m = cJSON_CreateObject(), *o = NULL;
    bool ok, len = r->has_content_length;

    ok = m != NULL && proto_json_add_str(m, "hostId", r->host_id) &&
         proto_json_add_str(m, "taskId", r->task_id) &&
         (o = cJSON_AddObjectToObject(m, proto_dfdaemon_download_resp_names[r->kind])) != NULL;
    if (ok && r->kind == PROTO_DOWNLOAD_STARTED)
        ok = (!len || proto_json_add_u64(o, "contentLength", r->content_length)) &&
             proto_json_add_u64(o, "pieceLength", r->piece_length) &&
             proto_json_add_u64(o, "pieceCount", r->piece_count) &&
             proto_json_add_u64(o, "finishedPieces", r->finished_pieces);
    else if (ok && r->kind == PROTO_DOWNLOAD_PROGRESS)
        ok = proto_json_add_u64(o, "finishedBytes", r->finished_bytes) &&
             (!len || proto_json_add_u64(o, "contentLength", r->content_length)) &&
             proto_json_add_u64(o, "finishedPieces", r->finished_pieces);
    else if (ok)
        ok = (!len || proto_json_add_u64(o, "contentLength", r->content_length)) &&
             proto_json_add_u64(o, "pieceCount", r->piece_count) &&
             proto_json_add_u64(o, "bytesFromSource", r->bytes_from_source) &&
             proto_dfdaemon_download_from_add(o, r) &&
             (!r->has_output_bytes || proto_json_add_u64(o, "outputBytes", r->output_bytes));
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* ---- StatTask / SyncPieces ---- */

void
proto_dfdaemon_task_reset(struct proto_dfdaemon_task *t)
{
    free(t->id);
    free(t->state);
    memset(t, 0, sizeof(*t));
}

int
proto_dfdaemon_task_from_json(const cJSON *o, struct proto_dfdaemon_task *out, struct df_error *err)
{
    struct proto_dfdaemon_task t;
    int rv;

    memset(&t, 0, sizeof(t));
    if ((rv = proto_json_str(o, "", "id", true, true, 0, &t.id, err)) != 0 ||
        (rv = proto_json_str(o, "", "state", false, true, 0, &t.state, err)) != 0 ||
        (rv = proto_json_u64(o, "", "contentLength", UINT64_MAX, NULL, &t.content_length, err)) !=
                0 ||
        (rv = proto_json_u64(o, "", "pieceLength", UINT64_MAX, NULL, &t.piece_length, err)) != 0 ||
        (rv = proto_json_u64(o, "", "pieceCount", UINT64_MAX, NULL, &t.piece_count, err)) != 0 ||
        (rv = proto_json_u64(o, "", "finishedPieces", UINT64_MAX, &t.has_finished_pieces,
                             &t.finished_pieces, err)) != 0 ||
        (rv = proto_json_u64(o, "", "bytesFromSource", UINT64_MAX, &t.has_bytes_from_source,
                             &t.bytes_from_source, err)) != 0 ||
        (rv = proto_json_u64(o, "", "finishedBytes", UINT64_MAX, &t.has_finished_bytes,
                             &t.finished_bytes, err)) != 0)
        goto out;
    *out = t;
    memset(&t, 0, sizeof(t));
out:
    proto_dfdaemon_task_reset(&t);
    return rv;
}

cJSON *
proto_dfdaemon_task_to_json(const struct proto_dfdaemon_task *t)
{
    cJSON *o = cJSON_CreateObject();
    bool ok;

    ok = o != NULL && proto_json_add_str(o, "id", t->id) &&
         proto_json_add_str(o, "state", t->state) &&
         proto_json_add_u64(o, "contentLength", t->content_length) &&
         proto_json_add_u64(o, "pieceLength", t->piece_length) &&
         proto_json_add_u64(o, "pieceCount", t->piece_count) &&
         (!t->has_finished_pieces || proto_json_add_u64(o, "finishedPieces", t->finished_pieces)) &&
         (!t->has_bytes_from_source ||
          proto_json_add_u64(o, "bytesFromSource", t->bytes_from_source)) &&
         (!t->has_finished_bytes || proto_json_add_u64(o, "finishedBytes", t->finished_bytes));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int
proto_dfdaemon_task_ref_from_json(const cJSON *msg, struct proto_dfdaemon_task_ref *out,
                                  struct df_error *err)
{
    const char *id = NULL;

    if (df_json_get_str(msg, "taskId", &id, NULL) != 0 || !df_id_task_is_valid(id))
        return df_error_set(err, DF_EINVAL, "taskId: expected 64 lowercase hex");
    memcpy(out->task_id, id, sizeof(out->task_id));
    return 0;
}

cJSON *
proto_dfdaemon_task_ref_to_json(const struct proto_dfdaemon_task_ref *r)
{
    cJSON *m = cJSON_CreateObject();

    if (m != NULL && !proto_json_add_str(m, "taskId", r->task_id)) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

int
proto_dfdaemon_sync_piece_from_json(const cJSON *msg, struct proto_dfdaemon_sync_piece *out,
                                    struct df_error *err)
{
    struct proto_dfdaemon_sync_piece p;
    uint64_t number = 0, length = 0;
    bool has = false;
    int rv;

    memset(&p, 0, sizeof(p));
    if ((rv = proto_json_u64(msg, "", "number", UINT32_MAX, &has, &number, err)) != 0 ||
        (rv = proto_json_u64(msg, "", "offset", INT64_MAX, NULL, &p.offset, err)) != 0 ||
        (rv = proto_json_u64(msg, "", "length", UINT32_MAX, NULL, &length, err)) != 0 ||
        (rv = proto_json_bool(msg, "", "receiving", &p.receiving, err)) != 0)
        return rv;
    if (!has)
        return df_error_set(err, DF_EINVAL, "number: required");
    p.number = (uint32_t)number;
    p.length = (uint32_t)length;
    *out = p;
    return 0;
}

cJSON *
proto_dfdaemon_sync_piece_to_json(const struct proto_dfdaemon_sync_piece *p)
{
    cJSON *m = cJSON_CreateObject();

    if (m == NULL || !proto_json_add_u64(m, "number", p->number) ||
        !proto_json_add_u64(m, "offset", p->offset) ||
        !proto_json_add_u64(m, "length", p->length) ||
        (p->receiving && !proto_json_add_bool(m, "receiving", true))) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}
