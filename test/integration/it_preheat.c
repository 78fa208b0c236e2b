/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's jobs and Harbor's two preheat contracts, against a real manager on
 * 127.0.2.1 (127.0.2.0/24 is this suite's): the REST job API with its access rules, bounds,
 * pagination and rate limit; the request sequences Harbor >= 2.12 (/healthy, /oapi/v1/jobs)
 * and Harbor <= 2.11 (/_ping, /preheats) send, bodies byte for byte as clients.md has them,
 * checking every field Harbor reads; a registry password never in any answer nor in the
 * database file. Image preheats against Debian's docker-registry with token auth
 * (test/tools/token_server): an image and a two-platform OCI index pushed with curl through
 * the registry API (blobs made with head, gzip and sha256sum), resolved by the manager
 * through the token flow; a missing tag fails with the registry's reason; a registry that
 * never answers leaves the job to its timeout, or to the restart that fails it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "df/df_time.h"
#include "harness/harness.h"

#define PH_IP    "127.0.2.1"
#define PH_REG   "127.0.2.2"
#define PH_TOKEN "127.0.2.3"
#define PH_HOLE  "127.0.2.4"
#define PH_USER  "it:it-secret"
#define PH_REPO  "demo/app"
/* bcrypt of "it-secret" (cost 4), as htpasswd -B would write it */
#define PH_HTPASSWD "it:$2b$04$4L4OXZjcd8R.va.YiSkl9OFMq3S8wVAOche8E2kiKOJf.n.Bt.S8K\n"

/*
 * Push to registry $1 repository $2 (work dir $3, token realm $4, user $5): tag v1 (linux/
 * amd64, three layers), tag arm (linux/arm64, two) and tag multi, an OCI index of both.
 * Prints the amd64 image's config and layer digests (hex), one a line.
 */
static const char ph_image_sh[] =
        "set -eu\n"
        "R=$1; REPO=$2; W=$3; T=$4; U=$5; mkdir -p \"$W\"\n"
        "if [ \"$T\" = basic ]; then A=\"Authorization: Basic $(printf %s \"$U\" | base64)\"; else\n"
        "tok=$(curl -sf -u \"$U\" \"$T?service=it-registry&scope=repository:$REPO:push,pull\" |"
        " sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n"
        "A=\"Authorization: Bearer $tok\"; fi\n"
        "push() {\n"
        "  d=$(sha256sum \"$1\" | cut -d' ' -f1)\n"
        "  curl -sf -X POST -H \"$A\" -D \"$W/h\" -o /dev/null \"http://$R/v2/$REPO/blobs/uploads/\"\n"
        "  loc=$(grep -i '^Location:' \"$W/h\" | tr -d '\\r' | cut -d' ' -f2)\n"
        "  case $loc in http*) ;; *) loc=\"http://$R$loc\";; esac\n"
        "  case $loc in *\\?*) loc=\"$loc&\";; *) loc=\"$loc?\";; esac\n"
        "  curl -sf -X PUT -H \"$A\" -H 'Content-Type: application/octet-stream' --data-binary"
        " @\"$1\" -o /dev/null \"${loc}digest=sha256:$d\"\n"
        "  echo \"$d\"\n"
        "}\n"
        "image() {\n"
        "  layers=''\n"
        "  for i in $(seq \"$2\"); do\n"
        "    head -c $((i * 300000 + 1000)) /dev/urandom | gzip -n -c > \"$W/$1-l$i.gz\"\n"
        "    d=$(push \"$W/$1-l$i.gz\"); s=$(stat -c %s \"$W/$1-l$i.gz\")\n"
        "    layers=\"$layers${layers:+,}{\\\"mediaType\\\":\\\"application/vnd.oci.image.layer.v1."
        "tar+gzip\\\",\\\"digest\\\":\\\"sha256:$d\\\",\\\"size\\\":$s}\"\n"
        "    echo \"$d\" >> \"$W/$1.blobs\"\n"
        "  done\n"
        "  printf '{\"architecture\":\"%s\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
        "\"diff_ids\":[]}}' \"$1\" > \"$W/$1-config.json\"\n"
        "  c=$(push \"$W/$1-config.json\"); cs=$(stat -c %s \"$W/$1-config.json\")\n"
        "  sed -i \"1i $c\" \"$W/$1.blobs\"\n"
        "  printf '{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json"
        "\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"sha256:%s\",\"size\":%s},\"layers\":[%s]}' \"$c\" \"$cs\" \"$layers\" > "
        "\"$W/$1-manifest.json\"\n"
        "}\n"
        "put() {\n"
        "  curl -sf -X PUT -H \"$A\" -H \"Content-Type: $3\" --data-binary @\"$1\" -o /dev/null"
        " \"http://$R/v2/$REPO/manifests/$2\"\n"
        "}\n"
        "M=application/vnd.oci.image.manifest.v1+json\n"
        "image amd64 3; image arm64 2\n"
        "put \"$W/amd64-manifest.json\" v1 $M; put \"$W/arm64-manifest.json\" arm $M\n"
        "ma=$(sha256sum \"$W/amd64-manifest.json\" | cut -d' ' -f1); sa=$(stat -c %s "
        "\"$W/amd64-manifest.json\")\n"
        "mb=$(sha256sum \"$W/arm64-manifest.json\" | cut -d' ' -f1); sb=$(stat -c %s "
        "\"$W/arm64-manifest.json\")\n"
        "printf '{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%s,\"platform"
        "\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},{\"mediaType\":\"%s\",\"digest\":"
        "\"sha256:%s\",\"size\":%s,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}"
        "]}' $M \"$mb\" \"$sb\" $M \"$ma\" \"$sa\" > \"$W/index.json\"\n"
        "put \"$W/index.json\" multi application/vnd.oci.image.index.v1+json\n"
        "cat \"$W/amd64.blobs\"\n";

struct ph {
    char *dir;
    struct it_proc mgr;
    char addr[64];
    char root[4200]; /* "Bearer <jwt>" of root */
    char link[2048]; /* Link header of the last answer */
    /* the registry and its token server (the image tests) */
    struct it_proc reg, token;
    char reg_addr[32], token_addr[32];
    char blobs[4][72]; /* sha256:<hex> of the amd64 image's config and layers */
    bool basic;        /* the registry takes Basic (htpasswd) instead of tokens */
};

static struct ph P;

/*
 * One request: method, path, an Authorization value (NULL: none) and a JSON body (NULL:
 * none). Returns the status; the body in *out when out is given (free it).
 */
static int
ph_http(const char *method, const char *path, const char *auth, const char *json, char **out)
{
    char file[700], *text = NULL, *nl;
    FILE *f;
    int status;

    snprintf(file, sizeof(file), "%s/body.json", P.dir);
    if (json != NULL) {
        f = fopen(file, "w");
        ck_assert_ptr_nonnull(f);
        fputs(json, f);
        fclose(f);
    }
    /* the Link header on a line of its own, then the body, then the status */
    ck_assert_int_eq(it_shf(&text, 30,
                            "curl -s -g -X %s %s%s%s %s%s -D %s/h -o %s/o -w '%%{http_code}' "
                            "'http://%s%s' && echo && (grep -i '^Link:' %s/h || echo) && cat %s/o",
                            method, auth != NULL ? "-H 'Authorization: " : "",
                            auth != NULL ? auth : "", auth != NULL ? "'" : "",
                            json != NULL ? "-H 'Content-Type: application/json' "
                                           "-H 'Accept: application/json' --data-binary @"
                                         : "",
                            json != NULL ? file : "", P.dir, P.dir, P.addr, path, P.dir, P.dir),
                     0);
    status = atoi(text);
    nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    P.link[0] = '\0';
    if (strncasecmp(nl + 1, "Link: ", 6) == 0)
        snprintf(P.link, sizeof(P.link), "%.*s", (int)strcspn(nl + 7, "\r\n"), nl + 7);
    nl = strchr(nl + 1, '\n');
    if (out != NULL)
        *out = strdup(nl != NULL ? nl + 1 : "");
    free(text);
    return status;
}

/* Write text to the file dir/name. */
static void
ph_write(const char *name, const char *text)
{
    char path[700];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", P.dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* ph_http, expecting status want; returns the body parsed (NULL when not JSON). */
static cJSON *
ph_want(const char *method, const char *path, const char *auth, const char *json, int want)
{
    char *out = NULL;
    int status = ph_http(method, path, auth, json, &out);
    cJSON *doc;

    ck_assert_msg(status == want, "%s %s: %d %s, want %d", method, path, status, out, want);
    doc = cJSON_Parse(out);
    free(out);
    return doc;
}

/* ph_http, expecting status want and exactly the body text want_body. */
static void
ph_want_text(const char *method, const char *path, const char *auth, const char *json, int want,
             const char *want_body)
{
    char *out = NULL;
    int status = ph_http(method, path, auth, json, &out);

    ck_assert_msg(status == want && strcmp(out, want_body) == 0, "%s %s: %d %s, want %d %s", method,
                  path, status, out, want, want_body);
    free(out);
}

static int
ph_start(const char *flag)
{
    char dd[600];

    snprintf(dd, sizeof(dd), "%s/data", P.dir);
    memset(&P.mgr, 0, sizeof(P.mgr));
    if (it_df_start(&P.mgr, P.dir, "manager", "manager", "--listen", PH_IP ":0", "--rpc-listen",
                    PH_IP ":0", "--data-dir", dd, "--job-allow", "127.0.2.0/24",
                    "--auth-password-iterations", "1000", flag, NULL) != 0)
        return -1;
    snprintf(P.addr, sizeof(P.addr), "%s", it_proc_ready_str(&P.mgr, "rest"));
    return 0;
}

static void
ph_restart(const char *flag)
{
    ck_assert_int_eq(it_proc_stop(&P.mgr), 0);
    cJSON_Delete(P.mgr.ready);
    P.mgr.ready = NULL;
    ck_assert_int_eq(ph_start(flag), 0);
}

/* Sign in as name: "Bearer <jwt>" into out. */
static void
ph_signin(const char *name, const char *password, char *out, size_t len)
{
    char body[256];
    cJSON *doc;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"%s\"}", name, password);
    doc = ph_want("POST", "/api/v1/users/signin", NULL, body, 200);
    snprintf(out, len, "Bearer %s", cJSON_GetObjectItemCaseSensitive(doc, "token")->valuestring);
    cJSON_Delete(doc);
}

/* A personal access token of root with scopes (a JSON array): "Bearer <token>" into out. */
static void
ph_pat(const char *scopes, char *out, size_t len)
{
    char body[256];
    cJSON *doc;

    snprintf(body, sizeof(body),
             "{\"name\":\"harbor\",\"scopes\":%s,\"expired_at\":\"2099-01-01T00:00:00Z\","
             "\"user_id\":1}",
             scopes);
    doc = ph_want("POST", "/api/v1/personal-access-tokens", P.root, body, 200);
    snprintf(out, len, "Bearer %s", cJSON_GetObjectItemCaseSensitive(doc, "token")->valuestring);
    cJSON_Delete(doc);
}

static void
ph_setup(void)
{
    memset(&P, 0, sizeof(P));
    P.dir = it_tmpdir();
    ck_assert_int_eq(ph_start(NULL), 0);
    ph_signin("root", "dragonfly", P.root, sizeof(P.root));
}

static void
ph_teardown(void)
{
    int status;

    /* a clean stop: no crash, and under ASan no leak, with whatever jobs still run */
    if (P.mgr.pid > 0 && (status = it_proc_stop(&P.mgr)) != 0) {
        it_proc_dump_log(&P.mgr);
        ck_abort_msg("the manager stopped with status %d", status);
    }
    if (P.reg.pid > 0)
        it_proc_kill(&P.reg);
    if (P.token.pid > 0)
        it_proc_kill(&P.token);
    cJSON_Delete(P.mgr.ready);
    it_rmtree(P.dir);
    free(P.dir);
}

static const char *
ph_str(const cJSON *doc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);

    ck_assert_msg(cJSON_IsString(v), "%s: not a string", key);
    return v->valuestring;
}

/* Poll job path (GET with auth) until its state is not PENDING, for up to 20 s. */
static cJSON *
ph_wait_final(const char *path, const char *auth)
{
    cJSON *doc = NULL;

    for (int i = 0; i < 200; i++) {
        cJSON_Delete(doc);
        doc = ph_want("GET", path, auth, NULL, 200);
        if (strcmp(ph_str(doc, "state"), "PENDING") != 0)
            return doc;
        it_sleep_ms(100);
    }
    ck_abort_msg("%s still PENDING after 20 s", path);
    return NULL;
}

/* True when the manager's database files hold the bytes of s. */
static bool
ph_db_has(const char *s)
{
    char *out = NULL;
    bool has;

    ck_assert_int_eq(
            it_shf(&out, 10, "cat %s/data/manager.db* | grep -c -a -F '%s' || true", P.dir, s), 0);
    has = atoi(out) > 0;
    free(out);
    return has;
}

START_TEST(test_jobs_rest)
{
    char guest[4200], path[64], *out = NULL;
    cJSON *job, *args, *list;
    int id;

    cJSON_Delete(ph_want(
            "POST", "/api/v1/users/signup", NULL,
            "{\"name\":\"gail\",\"password\":\"gailpass1\",\"email\":\"g@example.com\"}", 200));
    ph_signin("gail", "gailpass1", guest, sizeof(guest));
    /* nobody but a writer creates jobs: the hole upstream had twice */
    ph_want_text("POST", "/api/v1/jobs", NULL, "{\"type\":\"preheat\"}", 401,
                 "{\"message\":\"Unauthorized\"}");
    ph_want_text("POST", "/api/v1/jobs", guest,
                 "{\"type\":\"preheat\",\"args\":{\"type\":\"file\",\"url\":\"http://o/a\"}}", 401,
                 "{\"message\":\"permission deny\"}");
    /* a file preheat with a registry password: created PENDING, the password nowhere */
    job = ph_want("POST", "/api/v1/jobs", P.root,
                  "{\"type\":\"preheat\",\"bio\":\"b1\",\"scheduler_cluster_ids\":[1],\"args\":{"
                  "\"type\":\"file\",\"urls\":[\"http://127.0.2.9:1/a\"],\"username\":\"u\","
                  "\"password\":\"Pw-0f-the-registry\",\"headers\":{\"Authorization\":"
                  "\"Basic c2VjcmV0LWhlYWRlcg==\"}}}",
                  200);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(job, "id")));
    id = cJSON_GetObjectItemCaseSensitive(job, "id")->valueint;
    ck_assert_str_eq(ph_str(job, "state"), "PENDING");
    ck_assert_str_eq(ph_str(job, "type"), "preheat");
    ck_assert_str_eq(ph_str(job, "bio"), "b1");
    ck_assert(strncmp(ph_str(job, "task_id"), "group_", 6) == 0);
    args = cJSON_GetObjectItemCaseSensitive(job, "args");
    ck_assert_str_eq(ph_str(args, "password"), "");
    ck_assert_str_eq(ph_str(args, "scope"), "single_seed_peer");
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(args, "timeout")->valuedouble, 3.6e12);
    ck_assert_str_eq(ph_str(cJSON_GetObjectItemCaseSensitive(args, "headers"), "Authorization"),
                     "<redacted>");
    ck_assert_int_eq(
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(job, "scheduler_clusters")), 1);
    cJSON_Delete(job);
    snprintf(path, sizeof(path), "/api/v1/jobs/%d", id);
    job = ph_wait_final(path, P.root);
    out = cJSON_PrintUnformatted(job);
    ck_assert_ptr_null(strstr(out, "Pw-0f-the-registry"));
    ck_assert_ptr_null(strstr(out, "c2VjcmV0LWhlYWRlcg"));
    free(out);
    cJSON_Delete(job);
    ck_assert(!ph_db_has("Pw-0f-the-registry"));
    ck_assert(!ph_db_has("c2VjcmV0LWhlYWRlcg"));
    /* a guest reads jobs (upstream's RBAC) */
    list = ph_want("GET", "/api/v1/jobs?per_page=1", guest, NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    ck_assert_str_eq(P.link, "</api/v1/jobs?page=1&per_page=1>;rel=prev,</api/v1/jobs?page=1&"
                             "per_page=1>;rel=next,</api/v1/jobs?page=1&per_page=1>;rel=first,"
                             "</api/v1/jobs?page=1&per_page=1>;rel=last");
    list = ph_want("GET", "/api/v1/jobs?state=PENDING&type=preheat", P.root, NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    /* PATCH bio and user_id, then DELETE */
    job = ph_want("PATCH", path, P.root, "{\"bio\":\"x'); DROP TABLE jobs;--\"}", 200);
    ck_assert_str_eq(ph_str(job, "bio"), "x'); DROP TABLE jobs;--");
    cJSON_Delete(job);
    ph_want_text("PATCH", path, guest, "{\"bio\":\"g\"}", 401, "{\"message\":\"permission deny\"}");
    ph_want_text("DELETE", path, guest, NULL, 401, "{\"message\":\"permission deny\"}");
    ph_want_text("DELETE", path, P.root, NULL, 200, "");
    ph_want_text("GET", path, P.root, NULL, 404, "{\"message\":\"record not found\"}");
    ph_want_text("DELETE", path, P.root, NULL, 404, "{\"message\":\"record not found\"}");
    /* upstream's errors */
    ph_want_text("POST", "/api/v1/jobs", P.root, "{\"type\":\"nope\"}", 422,
                 "{\"errors\":\"Unknow type\"}");
    ph_want_text("POST", "/api/v1/jobs", P.root,
                 "{\"type\":\"preheat\",\"scheduler_cluster_ids\":[77],\"args\":{\"type\":\"file\","
                 "\"url\":\"http://o/a\"}}",
                 404, "{\"message\":\"scheduler cluster id 77: record not found\"}");
    ph_want_text("POST", "/api/v1/jobs", P.root,
                 "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://r/v2/a/"
                 "manifests/v1\",\"piece_length\":1}}",
                 422, "{\"errors\":\"args.piece_length: expected 4194304 to 67108864, got 1\"}");
    cJSON_Delete(
            ph_want("POST", "/api/v1/jobs", P.root, "{\"type\":\"preheat\",\"args\":[]}", 422));
    cJSON_Delete(ph_want("POST", "/api/v1/jobs", P.root, "not json", 422));
    cJSON_Delete(ph_want("GET", "/api/v1/jobs/abc", P.root, NULL, 422));
}

END_TEST

/* Creation is limited per cluster by its job_rate_limit (per second): 429 in text. */
START_TEST(test_jobs_rate_limit)
{
    const char *body = "{\"type\":\"preheat\",\"scheduler_cluster_ids\":[2],\"args\":{\"type\":"
                       "\"file\",\"url\":\"http://127.0.2.9:1/a\"}}";
    char *out = NULL;
    cJSON *doc;
    int ok = 0, limited = 0;

    doc = ph_want("POST", "/api/v1/clusters", P.root,
                  "{\"name\":\"slow\",\"scheduler_cluster_config\":{\"candidate_parent_limit\":3,"
                  "\"filter_parent_limit\":15,\"job_rate_limit\":1},\"seed_peer_cluster_config\":"
                  "{\"load_limit\":10},\"peer_cluster_config\":{\"load_limit\":10}}",
                  200);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(doc, "id")->valueint, 2);
    cJSON_Delete(doc);
    /* a bucket of one: eight creations sent at once, not all pass (a sequence of them
     * could be spread over seconds on a loaded machine and all find a token) */
    ph_write("limited.json", body);
    ck_assert_int_eq(
            it_shf(&out, 60,
                   "for i in 1 2 3 4 5 6 7 8; do curl -s -o %s/lim$i -w '%%{http_code}\\n' "
                   "-H 'Authorization: %s' --data-binary @%s/limited.json "
                   "http://%s/api/v1/jobs & done; wait; grep -lx 'rate limit "
                   "exceeded' %s/lim? | wc -l",
                   P.dir, P.root, P.dir, P.addr, P.dir),
            0);
    /* eight status lines, then the count of bodies saying "rate limit exceeded" */
    {
        int codes[9], n = 0;
        char *line, *save = NULL;

        for (line = strtok_r(out, "\n", &save); line != NULL && n < 9;
             line = strtok_r(NULL, "\n", &save))
            codes[n++] = atoi(line);
        ck_assert_int_eq(n, 9);
        for (int i = 0; i < 8; i++) {
            ck_assert_msg(codes[i] == 200 || codes[i] == 429, "%d", codes[i]);
            ok += codes[i] == 200;
            limited += codes[i] == 429;
        }
        ck_assert_int_eq(codes[8], limited);
    }
    free(out);
    ck_assert_int_ge(ok, 1);
    ck_assert_int_ge(limited, 1);
    out = NULL;
    ck_assert_int_eq(it_shf(&out, 10,
                            "curl -s http://%s/metrics | grep "
                            "'^dragonfly_manager_jobs_limited_total'",
                            P.addr),
                     0);
    ck_assert_int_eq(atoi(strchr(out, ' ') + 1), limited);
    free(out);
}

END_TEST

/*
 * Harbor >= 2.12: GET /healthy, POST /oapi/v1/jobs, then GET /oapi/v1/jobs/<id> every 10 s
 * until the state is not PENDING. The bodies as 2.13 and 2.12 send them (clients.md A.3).
 */
START_TEST(test_harbor_oapi)
{
    static const char *const bodies[] = {
            /* 2.13+: scope from the policy, cluster ids */
            "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://127.0.2.9:1/v2/"
            "library/busybox/manifests/latest\",\"tag\":\"\",\"filtered_query_params\":\"\","
            "\"headers\":{\"Authorization\":\"Bearer eyJhbGciOiJSUzI1NiIs.harbor\"},\"scope\":"
            "\"all_peers\",\"concurrent_count\":0,\"timeout\":0},\"scheduler_cluster_ids\":[1]}",
            /* 2.12: single_peer, no cluster ids */
            "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://127.0.2.9:1/v2/"
            "library/busybox/manifests/latest\",\"tag\":\"\",\"filtered_query_params\":\"\","
            "\"headers\":{\"Authorization\":\"Bearer eyJhbGciOiJSUzI1NiIs.harbor\"},\"scope\":"
            "\"single_peer\",\"concurrent_count\":0,\"timeout\":0},\"scheduler_cluster_ids\":"
            "null}",
    };
    char pat[128], cpat[128], path[64], *text;
    const cJSON *e;
    cJSON *job;
    int64_t t;

    ph_pat("[\"job\"]", pat, sizeof(pat));
    ph_pat("[\"cluster\"]", cpat, sizeof(cpat));
    /* "Test connection" and the check before every POST: the same header */
    ph_want_text("GET", "/healthy", pat, NULL, 200, "\"OK\"");
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        /* only a PAT with scope job: a JWT is no PAT, a cluster scope is not enough */
        ph_want_text("POST", "/oapi/v1/jobs", P.root, bodies[i], 401,
                     "{\"message\":\"Unauthorized\"}");
        ph_want_text("POST", "/oapi/v1/jobs", cpat, bodies[i], 403,
                     "{\"message\":\"Token doesn't have permission to access this resource. "
                     "Required permission: job\"}");
        job = ph_want("POST", "/oapi/v1/jobs", pat, bodies[i], 200);
        /* what Harbor decodes: id a number, the times RFC 3339, the state */
        ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(job, "id")));
        ck_assert_int_eq(df_time_parse_rfc3339_any(ph_str(job, "created_at"), &t), 0);
        ck_assert_int_eq(df_time_parse_rfc3339_any(ph_str(job, "updated_at"), &t), 0);
        ck_assert_str_eq(ph_str(job, "state"), "PENDING");
        snprintf(path, sizeof(path), "/oapi/v1/jobs/%d",
                 cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
        text = cJSON_PrintUnformatted(job);
        ck_assert_ptr_null(strstr(text, "eyJhbGciOiJSUzI1NiIs"));
        free(text);
        cJSON_Delete(job);
        job = ph_wait_final(path, pat);
        /* FAILURE: Harbor joins result.job_states[].error */
        ck_assert_str_eq(ph_str(job, "state"), "FAILURE");
        e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "result"),
                                             "job_states");
        ck_assert_int_eq(cJSON_GetArraySize(e), 1);
        ck_assert_str_ne(ph_str(cJSON_GetArrayItem(e, 0), "error"), "");
        ck_assert(cJSON_IsArray(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(e, 0), "results")));
        cJSON_Delete(job);
    }
}

END_TEST

/*
 * Harbor <= 2.11: GET /_ping, POST /preheats (its PreheatImage body), GET /preheats/<id>:
 * the id a string, the status one of WAITING, RUNNING, SUCCESS, FAIL. A PAT by default; with
 * harbor.openLegacyRoutes no token, as Dragonfly 1 served them.
 */
START_TEST(test_harbor_legacy)
{
    const char *body = "{\"type\":\"image\",\"url\":\"http://127.0.2.9:1/v2/library/busybox/"
                       "manifests/1.36\",\"headers\":{\"Authorization\":\"Bearer hb.tok\"},"
                       "\"image\":\"library/busybox\",\"tag\":\"1.36\",\"digest\":\"sha256:"
                       "0000000000000000000000000000000000000000000000000000000000000000\"}";
    char pat[128], path[64];
    const char *status;
    cJSON *doc = NULL;

    ph_pat("[\"job\"]", pat, sizeof(pat));
    ph_want_text("GET", "/_ping", NULL, NULL, 200, "\"OK\"");
    ph_want_text("POST", "/preheats", NULL, body, 401, "{\"message\":\"Unauthorized\"}");
    ph_want_text("POST", "/preheats", P.root, body, 401, "{\"message\":\"Unauthorized\"}");
    doc = ph_want("POST", "/preheats", pat, body, 200);
    ck_assert_int_gt(atoi(ph_str(doc, "id")), 0);
    snprintf(path, sizeof(path), "/preheats/%s", ph_str(doc, "id"));
    cJSON_Delete(doc);
    ph_want_text("GET", path, NULL, NULL, 401, "{\"message\":\"Unauthorized\"}");
    doc = NULL;
    for (int i = 0; i < 200; i++) {
        cJSON_Delete(doc);
        doc = ph_want("GET", path, pat, NULL, 200);
        status = ph_str(doc, "status");
        ck_assert_msg(strcmp(status, "WAITING") == 0 || strcmp(status, "RUNNING") == 0 ||
                              strcmp(status, "SUCCESS") == 0 || strcmp(status, "FAIL") == 0,
                      "%s", status);
        if (strcmp(status, "FAIL") == 0 || strcmp(status, "SUCCESS") == 0)
            break;
        it_sleep_ms(100);
    }
    ck_assert_str_eq(ph_str(doc, "status"), "FAIL");
    ck_assert_str_ne(ph_str(doc, "errorMsg"), "");
    ck_assert_ptr_nonnull(strstr(ph_str(doc, "startTime"), " +0000 UTC"));
    ck_assert_ptr_nonnull(strstr(ph_str(doc, "finishTime"), " +0000 UTC"));
    cJSON_Delete(doc);
    cJSON_Delete(ph_want("POST", "/preheats", pat, "{\"type\":\"image\"}", 422));
    ph_want_text("GET", "/preheats/999", pat, NULL, 404, "{\"message\":\"record not found\"}");
    /* opened for a Harbor whose auth mode is NONE */
    ph_restart("--harbor-open-legacy-routes");
    doc = ph_want("POST", "/preheats", NULL, body, 200);
    snprintf(path, sizeof(path), "/preheats/%s", ph_str(doc, "id"));
    cJSON_Delete(doc);
    doc = ph_want("GET", path, NULL, NULL, 200);
    cJSON_Delete(doc);
    /* the rest of the API stays closed */
    cJSON_Delete(ph_want("GET", "/api/v1/jobs", NULL, NULL, 401));
    cJSON_Delete(ph_want("GET", "/oapi/v1/jobs", NULL, NULL, 401));
}

END_TEST

/* The manager, a token server and docker-registry with token auth, the images pushed. */
static void
ph_registry_setup(void)
{
    char tool[700], key[700], crt[700], yml[1200], cfg[700], *out = NULL, *line, *save = NULL;
    const char *targv[] = {tool,          "--listen", P.token_addr, "--key",     key,
                           "--cert",      crt,        "--issuer",   "it-issuer", "--service",
                           "it-registry", "--user",   PH_USER,      NULL};
    const char *rargv[] = {"/usr/bin/docker-registry", "serve", cfg, NULL};
    int port = 20000 + (int)(getpid() % 9000), i, n = 0;
    bool basic = P.basic;

    ph_setup();
    P.basic = basic;
    ck_assert_msg(access("/usr/bin/docker-registry", X_OK) == 0,
                  "docker-registry is needed (scripts/install-deps.sh)");
    snprintf(P.reg_addr, sizeof(P.reg_addr), PH_REG ":%d", port);
    snprintf(P.token_addr, sizeof(P.token_addr), PH_TOKEN ":%d", port + 1);
    ck_assert_ptr_nonnull(it_tool("token_server", tool, sizeof(tool)));
    snprintf(key, sizeof(key), "%s/token.key", P.dir);
    snprintf(crt, sizeof(crt), "%s/token.crt", P.dir);
    snprintf(cfg, sizeof(cfg), "%s/registry.yml", P.dir);
    ck_assert_int_eq(it_shf(NULL, 30,
                            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                            "-nodes -keyout %s -out %s -days 2 -subj /CN=it-token 2>/dev/null",
                            key, crt),
                     0);
    if (P.basic)
        snprintf(yml, sizeof(yml),
                 "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    "
                 "rootdirectory: %s/regdata\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n    "
                 "realm: it\n    path: %s/htpasswd\n",
                 P.dir, P.reg_addr, P.dir);
    else
        snprintf(yml, sizeof(yml),
                 "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    "
                 "rootdirectory: %s/regdata\nhttp:\n  addr: %s\nauth:\n  token:\n    realm: "
                 "http://%s/token\n    service: it-registry\n    issuer: it-issuer\n    "
                 "rootcertbundle: %s\n",
                 P.dir, P.reg_addr, P.token_addr, crt);
    ph_write("registry.yml", yml);
    ph_write("htpasswd", PH_HTPASSWD);
    ph_write("image.sh", ph_image_sh);
    if (!P.basic)
        ck_assert_int_eq(
                it_proc_start(&P.token, P.dir, "token", (char *const *)(uintptr_t)targv, NULL, 0),
                0);
    ck_assert_int_eq(
            it_proc_start(&P.reg, P.dir, "registry", (char *const *)(uintptr_t)rargv, NULL, 0), 0);
    for (i = 0; i < 300; i++) {
        /* any answer: a token registry says 401 to everyone */
        if (it_shf(NULL, 10,
                   "curl -s --max-time 2 -o /dev/null -w '%%{http_code}' http://%s/v2/ | "
                   "grep -q 401 && { %s || curl -s --max-time 2 -o /dev/null "
                   "'http://%s/token?scope='; }",
                   P.reg_addr, P.basic ? "true" : "false", P.token_addr) == 0)
            break;
        it_sleep_ms(100);
    }
    ck_assert_msg(i < 300, "the registry or its token server did not answer");
    ck_assert_int_eq(it_shf(&out, 120, "sh %s/image.sh %s " PH_REPO " %s/work %s%s%s " PH_USER,
                            P.dir, P.reg_addr, P.dir, P.basic ? "basic" : "http://",
                            P.basic ? "" : P.token_addr, P.basic ? "" : "/token"),
                     0);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        ck_assert_int_lt(n, 4);
        snprintf(P.blobs[n++], sizeof(P.blobs[0]), "sha256:%s", line);
    }
    free(out);
    ck_assert_int_eq(n, 4);
}

/* The same with a registry of Basic auth (htpasswd) and no token server. */
static void
ph_registry_basic_setup(void)
{
    P.basic = true;
    ph_registry_setup();
}

/* POST body to /api/v1/jobs as root (200 expected): the job's path into path. */
static void
ph_create(const char *body, char *path, size_t len)
{
    cJSON *job = ph_want("POST", "/api/v1/jobs", P.root, body, 200);

    snprintf(path, len, "/api/v1/jobs/%d", cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
    cJSON_Delete(job);
}

/* Create an image preheat of tag with extra args (a JSON fragment) as root; its path. */
static void
ph_image_job(const char *tag, const char *extra, char *path, size_t len)
{
    char body[2048];

    snprintf(body, sizeof(body),
             "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://%s/v2/" PH_REPO
             "/manifests/%s\"%s%s}}",
             P.reg_addr, tag, *extra != '\0' ? "," : "", extra);
    ph_create(body, path, len);
}

/* The final job_states[0].error of job path. */
static char *
ph_job_error(const char *path)
{
    cJSON *job = ph_wait_final(path, P.root);
    const cJSON *js = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(job, "result"),
                                             "job_states"),
            0);
    char *e;

    ck_assert_str_eq(ph_str(job, "state"), "FAILURE");
    e = strdup(ph_str(js, "error"));
    cJSON_Delete(job);
    return e;
}

/* How many lines of the manager's log hold s. */
static int
ph_log_count(const char *s)
{
    char *out = NULL;
    int n;

    ck_assert_int_eq(it_shf(&out, 10, "grep -c -F '%s' %s || true", s, P.mgr.log_path), 0);
    n = atoi(out);
    free(out);
    return n;
}

/* A pull token of the repository from the token server, as Harbor hands one over (free it). */
static char *
ph_pull_token(void)
{
    char *tok = NULL;

    ck_assert_int_eq(it_shf(&tok, 30,
                            "curl -sf -u " PH_USER " 'http://%s/token?service=it-registry&scope="
                            "repository:" PH_REPO ":pull' | sed 's/.*\"token\":\"\\([^\"]*\\)"
                            "\".*/\\1/'",
                            P.token_addr),
                     0);
    tok[strcspn(tok, "\n")] = '\0';
    return tok;
}

/*
 * The manifest through the token flow with the job's username and password, or with a
 * registry token in the job's headers (Harbor's way); the index resolved for a platform.
 */
START_TEST(test_image_resolution)
{
    char path[64], want[256], hdr[1200], *e, *tok;

    ph_image_job("v1", "\"username\":\"it\",\"password\":\"it-secret\"", path, sizeof(path));
    e = ph_job_error(path);
    /* resolved: no seed peer to take it here */
    ck_assert_str_eq(e, "candidate seed peers not found (no active seed peer in scheduler "
                        "cluster 1)");
    free(e);
    snprintf(want, sizeof(want), "/v2/" PH_REPO "/manifests/v1: 4 blobs to preheat");
    ck_assert_int_eq(ph_log_count(want), 1);
    /* the index: this machine's platform (linux/amd64 here) or the one asked for */
    ph_image_job("multi", "\"username\":\"it\",\"password\":\"it-secret\"", path, sizeof(path));
    free(ph_job_error(path));
    ph_image_job("multi",
                 "\"username\":\"it\",\"password\":\"it-secret\",\"platform\":\"linux/arm64\"",
                 path, sizeof(path));
    free(ph_job_error(path));
    ck_assert_int_eq(ph_log_count("/manifests/multi: 3 blobs to preheat"), 1);
    ck_assert_int_eq(ph_log_count("/manifests/multi: 4 blobs to preheat") +
                             ph_log_count("no manifest for platform"),
                     1);
    ph_image_job("multi",
                 "\"username\":\"it\",\"password\":\"it-secret\",\"platform\":\"linux/s390x\"",
                 path, sizeof(path));
    e = ph_job_error(path);
    ck_assert_str_eq(strstr(e, ": no"), ": no manifest for platform linux/s390x in the index "
                                        "(it has: linux/arm64, linux/amd64)");
    free(e);
    /* Harbor's way: a registry token in the headers, no username */
    tok = ph_pull_token();
    snprintf(hdr, sizeof(hdr), "\"headers\":{\"Authorization\":\"Bearer %s\"}", tok);
    free(tok);
    ph_image_job("arm", hdr, path, sizeof(path));
    free(ph_job_error(path));
    ck_assert_int_eq(ph_log_count("/manifests/arm: 3 blobs to preheat"), 1);
    /* the password is in no log line and no database file */
    ck_assert_int_eq(ph_log_count("it-secret"), 0);
    ck_assert(!ph_db_has("it-secret"));
}

END_TEST

/* An image preheat of tag with extra args ends FAILURE with want in its reason. */
static void
ph_image_fails(const char *tag, const char *extra, const char *want)
{
    char path[64], *e;

    ph_image_job(tag, extra, path, sizeof(path));
    e = ph_job_error(path);
    ck_assert_msg(strstr(e, want) != NULL, "%s", e);
    free(e);
}

/* A wrong password, then no credentials: FAILURE with the registry's 401. */
static void
ph_expect_refused(void)
{
    ph_image_fails("v1", "\"username\":\"it\",\"password\":\"wrong-one\"",
                   "answered 401: UNAUTHORIZED");
    ph_image_fails("v1", "", "answered 401: UNAUTHORIZED");
}

/* A missing tag, a wrong password, no credentials: FAILURE with the registry's reason. */
START_TEST(test_image_failures)
{
    ph_image_fails("nope", "\"username\":\"it\",\"password\":\"it-secret\"",
                   "/manifests/nope answered 404: MANIFEST_UNKNOWN: manifest unknown");
    ph_expect_refused();
    /* the outbound policy: a denied registry address is never connected to (SSRF) */
    ph_restart("--job-deny=" PH_REG);
    ph_signin("root", "dragonfly", P.root, sizeof(P.root));
    ph_image_fails("v1", "\"username\":\"it\",\"password\":\"it-secret\"", "registry policy");
}

/* Bytes of blob GETs the registry's access log counts so far. */
static uint64_t
ph_registry_blob_bytes(void)
{
    char *out = NULL;
    uint64_t n;

    /* 127.0.0.1 - - [date] "GET /v2/<repo>/blobs/<digest> HTTP/1.1" <status> <bytes> ... */
    ck_assert_int_eq(it_shf(&out, 10,
                            "grep '\"GET /v2/" PH_REPO "/blobs/' %s | awk '{s += $10} END "
                            "{print s + 0}'",
                            P.reg.log_path),
                     0);
    n = strtoull(out, NULL, 10);
    free(out);
    return n;
}

/*
 * The whole path: a scheduler and a seed peer registered through manager.v2, an image
 * preheat by REST -> SUCCESS with every blob on the seed; then a peer fetches every blob
 * through P2P with no registry credentials (a back-to-source would get 401) and the
 * registry serves zero blob bytes more. Harbor's job (a registry token in its headers, on
 * /oapi/v1/jobs) succeeds the same way.
 */
START_TEST(test_preheat_e2e)
{
    struct it_proc sched, seed, peer;
    char path[64], sd[700], pd[700], sock[760], pat[128], hdr[1400], body[2400], *tok;
    const char *rpc = it_proc_ready_str(&P.mgr, "rpc");
    const cJSON *res, *t;
    uint64_t before;
    cJSON *job = NULL;
    int i;

    memset(&sched, 0, sizeof(sched));
    memset(&seed, 0, sizeof(seed));
    memset(&peer, 0, sizeof(peer));
    snprintf(sd, sizeof(sd), "%s/seed", P.dir);
    snprintf(pd, sizeof(pd), "%s/peer", P.dir);
    ck_assert_int_eq(it_df_start(&sched, P.dir, "scheduler", "scheduler", "--listen", "127.0.2.5:0",
                                 "--metrics-listen", "127.0.2.5:0", "--manager", rpc, "--hostname",
                                 "sched-a", "--plaintext", NULL),
                     0);
    ck_assert_int_eq(it_df_start(&seed, P.dir, "seed", "peer", "--seed", "--ip", "127.0.2.6",
                                 "--hostname", "seed-a", "--data-dir", sd, "--rpc-port", "0",
                                 "--upload-port", "0", "--metrics-port", "0", "--proxy-listen",
                                 "off", "--manager", rpc, "--back-to-source-allow", "127.0.2.0/24",
                                 "--plaintext", NULL),
                     0);
    /* the seed is active once its keepalive stream is open */
    for (i = 0; i < 150; i++) {
        cJSON_Delete(job);
        ph_image_job("v1", "\"username\":\"it\",\"password\":\"it-secret\"", path, sizeof(path));
        job = ph_wait_final(path, P.root);
        if (strcmp(ph_str(job, "state"), "SUCCESS") == 0)
            break;
        it_sleep_ms(100);
    }
    ck_assert_str_eq(ph_str(job, "state"), "SUCCESS");
    res = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetArrayItem(
                            cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetObjectItemCaseSensitive(job, "result"), "job_states"),
                            0),
                    "results"),
            0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "success_tasks")), 4);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "failure_tasks")), 0);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(res, "scheduler_cluster_id")->valueint, 1);
    t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "success_tasks"), 0);
    ck_assert_str_eq(ph_str(t, "hostname"), "seed-a");
    ck_assert_str_eq(ph_str(t, "ip"), "127.0.2.6");
    cJSON_Delete(job);
    /* a peer takes every blob from the seed: not one blob byte more from the registry */
    ck_assert_int_eq(it_df_start(&peer, P.dir, "peer", "peer", "--ip", "127.0.2.7", "--hostname",
                                 "peer-b", "--data-dir", pd, "--rpc-port", "0", "--upload-port",
                                 "0", "--metrics-port", "0", "--proxy-listen", "off", "--manager",
                                 rpc, "--plaintext", NULL),
                     0);
    snprintf(sock, sizeof(sock), "%s/dfdaemon.sock", pd);
    before = ph_registry_blob_bytes();
    ck_assert_uint_gt(before, 0);
    for (i = 0; i < 4; i++) {
        char *sum = NULL;

        for (int k = 0; k < 100 && access(sock, F_OK) != 0; k++)
            it_sleep_ms(50);
        ck_assert_int_eq(it_shf(NULL, 60,
                                "%s get --socket %s --no-progress -O %s/blob%d "
                                "'http://%s/v2/" PH_REPO "/blobs/%s' >/dev/null 2>&1",
                                it_bin(), sock, P.dir, i, P.reg_addr, P.blobs[i]),
                         0);
        ck_assert_int_eq(it_shf(&sum, 10, "sha256sum %s/blob%d | cut -c1-64", P.dir, i), 0);
        ck_assert(strncmp(sum, P.blobs[i] + 7, 64) == 0);
        free(sum);
    }
    ck_assert_uint_eq(ph_registry_blob_bytes(), before);
    /* Harbor 2.13's job: its registry token in the headers, a PAT, the arm64 image */
    tok = ph_pull_token();
    snprintf(hdr, sizeof(hdr), "{\"Authorization\":\"Bearer %s\"}", tok);
    free(tok);
    snprintf(body, sizeof(body),
             "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://%s/v2/" PH_REPO
             "/manifests/arm\",\"tag\":\"\",\"filtered_query_params\":\"\",\"headers\":%s,"
             "\"scope\":\"all_seed_peers\",\"concurrent_count\":0,\"timeout\":0},"
             "\"scheduler_cluster_ids\":[1]}",
             P.reg_addr, hdr);
    ph_pat("[\"job\"]", pat, sizeof(pat));
    job = ph_want("POST", "/oapi/v1/jobs", pat, body, 200);
    snprintf(path, sizeof(path), "/oapi/v1/jobs/%d",
             cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
    cJSON_Delete(job);
    job = ph_wait_final(path, pat);
    ck_assert_str_eq(ph_str(job, "state"), "SUCCESS");
    cJSON_Delete(job);
    ck_assert_int_eq(ph_log_count("/manifests/arm: 3 blobs to preheat"), 1);
    it_proc_kill(&peer);
    it_proc_kill(&seed);
    it_proc_kill(&sched);
    cJSON_Delete(peer.ready);
    cJSON_Delete(seed.ready);
    cJSON_Delete(sched.ready);
}

END_TEST

/* A Basic registry: the challenge answered with the job's credentials, or the reason. */
START_TEST(test_image_basic)
{
    ph_image_fails("multi", "\"username\":\"it\",\"password\":\"it-secret\"",
                   "candidate seed peers not found");
    ck_assert_int_eq(ph_log_count("/manifests/multi: 4 blobs to preheat") +
                             ph_log_count("/manifests/multi: 3 blobs to preheat"),
                     1);
    ph_expect_refused();
    ck_assert_int_eq(ph_log_count("it-secret"), 0);
}

END_TEST

/* A listening socket that never accepts: a registry that never answers. Returns its fd. */
static int
ph_black_hole(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, PH_HOLE, &a.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    return fd;
}

/* The job's timeout forces FAILURE; a restart fails what was running: never PENDING forever. */
START_TEST(test_timeout_and_restart)
{
    int port = 30000 + (int)(getpid() % 9000), fd = ph_black_hole(port);
    char body[512], path[64], *e;
    cJSON *job;

    snprintf(body, sizeof(body),
             "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://" PH_HOLE
             ":%d/v2/a/manifests/v1\",\"timeout\":1000000000}}",
             port);
    ph_create(body, path, sizeof(path));
    e = ph_job_error(path);
    ck_assert_str_eq(e, "timeout: the job did not end within 1 s");
    free(e);
    snprintf(body, sizeof(body),
             "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://" PH_HOLE
             ":%d/v2/a/manifests/v2\"}}",
             port);
    ph_create(body, path, sizeof(path));
    it_sleep_ms(300);
    job = ph_want("GET", path, P.root, NULL, 200);
    ck_assert_str_eq(ph_str(job, "state"), "PENDING");
    cJSON_Delete(job);
    ph_restart(NULL);
    ph_signin("root", "dragonfly", P.root, sizeof(P.root));
    e = ph_job_error(path);
    ck_assert_str_eq(e, "the manager restarted while the job ran; create it again");
    free(e);
    close(fd);
}

END_TEST

Suite *it_preheat_suite(void);

Suite *
it_preheat_suite(void)
{
    Suite *s = suite_create("it_preheat");
    TCase *tc = tcase_create("jobs");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_add_test(tc, test_jobs_rest);
    tcase_add_test(tc, test_jobs_rate_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("harbor");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, ph_setup, ph_teardown);
    tcase_add_test(tc, test_harbor_oapi);
    tcase_add_test(tc, test_harbor_legacy);
    tcase_add_test(tc, test_timeout_and_restart);
    suite_add_tcase(s, tc);
    tc = tcase_create("image");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, ph_registry_setup, ph_teardown);
    tcase_add_test(tc, test_image_resolution);
    tcase_add_test(tc, test_image_failures);
    tcase_add_test(tc, test_preheat_e2e);
    suite_add_tcase(s, tc);
    tc = tcase_create("basic");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, ph_registry_basic_setup, ph_teardown);
    tcase_add_test(tc, test_image_basic);
    suite_add_tcase(s, tc);
    return s;
}
