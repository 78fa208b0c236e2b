/* SPDX-License-Identifier: Apache-2.0 */
/*
 * get_image_distribution with real processes on 127.0.46.0/24 (this suite's): Debian's
 * docker-registry with Basic auth (htpasswd) holding a two-layer image pushed with curl, a
 * manager, a scheduler and a seed registered through it. Before a preheat no host holds a
 * layer; after one the answer lists the image's config and layers and the seed with every
 * one of them cached; an unknown tag answers the registry's reason; bad args 422; the
 * registry password is in no answer and not in the manager's log.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

#define ID_MGR   "127.0.46.1"
#define ID_REG   "127.0.46.2"
#define ID_SCHED "127.0.46.3"
#define ID_SEED  "127.0.46.4"
#define ID_USER  "it:it-secret"
#define ID_PASS  "it-secret"
#define ID_REPO  "demo/dist"
/* ID_USER's bcrypt entry */
#define ID_HTPASSWD "it:$2b$04$4L4OXZjcd8R.va.YiSkl9OFMq3S8wVAOche8E2kiKOJf.n.Bt.S8K\n"

/*
 * Push to registry $1 repository $2 (work dir $3, user $4) tag v1: two random gzip layers
 * and a config, an OCI manifest. Prints the config's and the layers' digests (hex).
 */
static const char id_image_sh[] =
        "set -eu\n"
        "R=$1; REPO=$2; W=$3; A=\"Authorization: Basic $(printf %s \"$4\" | base64)\"\n"
        "mkdir -p \"$W\"\n"
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
        "printf '{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
        "\"diff_ids\":[]}}' > \"$W/config.json\"\n"
        "c=$(push \"$W/config.json\"); cs=$(stat -c %s \"$W/config.json\"); echo \"$c\"\n"
        "layers=''\n"
        "for i in 1 2; do\n"
        "  head -c $((i * 200000)) /dev/urandom | gzip -n -c > \"$W/l$i.gz\"\n"
        "  d=$(push \"$W/l$i.gz\"); s=$(stat -c %s \"$W/l$i.gz\"); echo \"$d\"\n"
        "  layers=\"$layers${layers:+,}{\\\"mediaType\\\":\\\"application/vnd.oci.image.layer.v1."
        "tar+gzip\\\",\\\"digest\\\":\\\"sha256:$d\\\",\\\"size\\\":$s}\"\n"
        "done\n"
        "printf '{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json"
        "\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"sha256:%s\",\"size\":%s},\"layers\":[%s]}' \"$c\" \"$cs\" \"$layers\" > \"$W/m.json\"\n"
        "curl -sf -X PUT -H \"$A\" -H 'Content-Type: application/vnd.oci.image.manifest.v1+json'"
        " --data-binary @\"$W/m.json\" -o /dev/null \"http://$R/v2/$REPO/manifests/v1\"\n";

struct id {
    char *dir;
    struct it_proc reg, mgr, sched, seed;
    char rest[64], reg_addr[32];
    char auth[4200];   /* root's JWT */
    char blobs[3][72]; /* sha256:<hex> of the config and the layers */
};

static struct id D;

static cJSON *
id_want(const char *method, const char *path, const char *json, int want)
{
    char *out = NULL;
    int status = it_rest(D.rest, D.auth, method, path, json, &out);
    cJSON *doc;

    ck_assert_msg(status == want, "%s %s: %d %s, want %d", method, path, status, out, want);
    /* the registry password is never in an answer */
    ck_assert_ptr_null(strstr(out, ID_PASS));
    doc = cJSON_Parse(out);
    free(out);
    return doc;
}

static const char *
id_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    ck_assert_msg(cJSON_IsString(v), "%s: not a string", key);
    return v->valuestring;
}

/* The first entry of list path whose state is active, waited for up to 30 s. */
static void
id_wait_active(const char *path)
{
    cJSON *doc;
    bool ok;

    for (int i = 0; i < 300; i++) {
        doc = id_want("GET", path, NULL, 200);
        ok = cJSON_GetArraySize(doc) >= 1 &&
             strcmp(id_str(cJSON_GetArrayItem(doc, 0), "state"), "active") == 0;
        cJSON_Delete(doc);
        if (ok)
            return;
        it_sleep_ms(100);
    }
    ck_abort_msg("%s: none active after 30 s", path);
}

static void
id_setup(void)
{
    char yml[1200], cfg[700], dd[700], *out = NULL, *line, *save = NULL;
    const char *rargv[] = {"/usr/bin/docker-registry", "serve", cfg, NULL};
    const char *rpc;
    int i, n = 0;
    cJSON *doc;

    memset(&D, 0, sizeof(D));
    D.dir = it_tmpdir();
    ck_assert_msg(access("/usr/bin/docker-registry", X_OK) == 0,
                  "docker-registry is needed (scripts/install-deps.sh)");
    snprintf(D.reg_addr, sizeof(D.reg_addr), ID_REG ":%d", 20000 + (int)(getpid() % 9000));
    snprintf(cfg, sizeof(cfg), "%s/registry.yml", D.dir);
    snprintf(yml, sizeof(yml),
             "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    "
             "rootdirectory: %s/regdata\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n    "
             "realm: it\n    path: %s/htpasswd\n",
             D.dir, D.reg_addr, D.dir);
    ck_assert(it_write(D.dir, "registry.yml", yml));
    ck_assert(it_write(D.dir, "htpasswd", ID_HTPASSWD));
    ck_assert(it_write(D.dir, "image.sh", id_image_sh));
    ck_assert_int_eq(
            it_proc_start(&D.reg, D.dir, "registry", (char *const *)(uintptr_t)rargv, NULL, 0), 0);
    for (i = 0; i < 300; i++) {
        if (it_shf(NULL, 10,
                   "curl -s --max-time 2 -o /dev/null -w '%%{http_code}' http://%s/v2/ | "
                   "grep -q 401",
                   D.reg_addr) == 0)
            break;
        it_sleep_ms(100);
    }
    ck_assert_msg(i < 300, "the registry did not answer");
    ck_assert_int_eq(it_shf(&out, 120, "sh %s/image.sh %s " ID_REPO " %s/work " ID_USER, D.dir,
                            D.reg_addr, D.dir),
                     0);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        ck_assert_int_lt(n, 3);
        snprintf(D.blobs[n++], sizeof(D.blobs[0]), "sha256:%s", line);
    }
    free(out);
    ck_assert_int_eq(n, 3);

    snprintf(dd, sizeof(dd), "%s/mgr", D.dir);
    ck_assert_int_eq(it_df_start(&D.mgr, D.dir, "manager", "manager", "--listen", ID_MGR ":0",
                                 "--rpc-listen", ID_MGR ":0", "--data-dir", dd,
                                 "--auth-password-iterations", "1000", "--job-allow",
                                 "127.0.46.0/24", NULL),
                     0);
    snprintf(D.rest, sizeof(D.rest), "%s", it_proc_ready_str(&D.mgr, "rest"));
    rpc = it_proc_ready_str(&D.mgr, "rpc");
    doc = id_want("POST", "/api/v1/users/signin", "{\"name\":\"root\",\"password\":\"dragonfly\"}",
                  200);
    snprintf(D.auth, sizeof(D.auth), "%s", id_str(doc, "token"));
    cJSON_Delete(doc);
    ck_assert_int_eq(it_df_start(&D.sched, D.dir, "scheduler", "scheduler", "--listen",
                                 ID_SCHED ":0", "--metrics-listen", ID_SCHED ":0", "--manager", rpc,
                                 "--hostname", "id-sched", NULL),
                     0);
    snprintf(dd, sizeof(dd), "%s/seed", D.dir);
    ck_assert_int_eq(it_df_start(&D.seed, D.dir, "seed", "peer", "--seed", "--ip", ID_SEED,
                                 "--hostname", "id-seed", "--data-dir", dd, "--rpc-port", "0",
                                 "--upload-port", "0", "--metrics-port", "0", "--proxy-listen",
                                 "off", "--manager", rpc, IT_ALLOW_ORIGIN, ID_REG, NULL),
                     0);
    id_wait_active("/api/v1/schedulers");
    id_wait_active("/api/v1/seed-peers");
}

static void
id_teardown(void)
{
    struct it_proc *all[] = {&D.seed, &D.sched, &D.mgr, &D.reg};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i]->pid > 0)
            it_proc_stop(all[i]);
        cJSON_Delete(all[i]->ready);
    }
    it_rmtree(D.dir);
    free(D.dir);
}

/* POST get_image_distribution of tag with extra args (a JSON fragment), expecting want. */
static cJSON *
id_dist(const char *tag, const char *extra, int want)
{
    char body[2048];

    snprintf(body, sizeof(body),
             "{\"type\":\"get_image_distribution\",\"args\":{\"url\":\"http://%s/v2/" ID_REPO
             "/manifests/%s\",\"username\":\"it\",\"password\":\"" ID_PASS "\"%s%s}}",
             D.reg_addr, tag, *extra != '\0' ? "," : "", extra);
    return id_want("POST", "/api/v1/jobs", body, want);
}

/* The image's layer URLs of an answer hold every blob, in the manifest's order. */
static void
id_check_layers(const cJSON *doc)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(doc, "image"), "layers");
    char want[200];

    ck_assert_int_eq(cJSON_GetArraySize(layers), 3);
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof(want), "http://%s/v2/" ID_REPO "/blobs/%s", D.reg_addr, D.blobs[i]);
        ck_assert_str_eq(id_str(cJSON_GetArrayItem(layers, i), "url"), want);
    }
}

START_TEST(test_distribution_after_preheat)
{
    char body[1024], path[64];
    const cJSON *seed, *cached;
    cJSON *doc, *job;
    int i;

    /* nothing preheated: the image's layers, no host */
    doc = id_dist("v1", "", 200);
    id_check_layers(doc);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "peers")), 0);
    cJSON_Delete(doc);

    snprintf(body, sizeof(body),
             "{\"type\":\"preheat\",\"args\":{\"type\":\"image\",\"url\":\"http://%s/v2/" ID_REPO
             "/manifests/v1\",\"username\":\"it\",\"password\":\"" ID_PASS "\"}}",
             D.reg_addr);
    job = id_want("POST", "/api/v1/jobs", body, 200);
    snprintf(path, sizeof(path), "/api/v1/jobs/%d",
             cJSON_GetObjectItemCaseSensitive(job, "id")->valueint);
    for (i = 0; i < 600; i++) {
        cJSON_Delete(job);
        job = id_want("GET", path, NULL, 200);
        if (strcmp(id_str(job, "state"), "PENDING") != 0)
            break;
        it_sleep_ms(100);
    }
    ck_assert_str_eq(id_str(job, "state"), "SUCCESS");
    cJSON_Delete(job);

    /* the seed holds every blob, in scheduler cluster 1 */
    doc = id_dist("v1", "\"concurrent_layer_count\":1", 200);
    id_check_layers(doc);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "peers")), 1);
    seed = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "peers"), 0);
    ck_assert_str_eq(id_str(seed, "ip"), ID_SEED);
    ck_assert_str_eq(id_str(seed, "hostname"), "id-seed");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(seed, "scheduler_cluster_id")->valueint, 1);
    cached = cJSON_GetObjectItemCaseSensitive(seed, "cached_layers");
    ck_assert_int_eq(cJSON_GetArraySize(cached), 3);
    for (i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(strstr(id_str(cJSON_GetArrayItem(cached, i), "url"), D.blobs[i]));
    cJSON_Delete(doc);
    /* no job row was written for either answer: the preheat is the only job */
    doc = id_want("GET", "/api/v1/jobs", NULL, 200);
    ck_assert_int_eq(cJSON_GetArraySize(doc), 1);
    cJSON_Delete(doc);
}

END_TEST

START_TEST(test_refusals)
{
    char body[1024];
    cJSON *doc;
    int cid;
    char *log = NULL;

    /* an unknown tag: the registry's own reason */
    doc = id_dist("nope", "", 404);
    ck_assert_ptr_nonnull(strstr(id_str(doc, "message"), "manifest unknown"));
    cJSON_Delete(doc);
    /* bad args: 422 with the validator's words */
    doc = id_want("POST", "/api/v1/jobs",
                  "{\"type\":\"get_image_distribution\",\"args\":{\"url\":\"http://" ID_REG
                  ":1/v2/a/manifests/v1\",\"concurrent_layer_count\":101}}",
                  422);
    ck_assert_ptr_nonnull(strstr(id_str(doc, "errors"), "concurrent_layer_count"));
    cJSON_Delete(doc);
    doc = id_want("POST", "/api/v1/jobs", "{\"type\":\"get_image_distribution\",\"args\":{}}", 422);
    ck_assert_str_eq(id_str(doc, "errors"), "args.url: required");
    cJSON_Delete(doc);
    doc = id_want("POST", "/api/v1/jobs",
                  "{\"type\":\"get_image_distribution\",\"args\":{\"url\":\"http://" ID_REG
                  "/a/b\"}}",
                  422);
    cJSON_Delete(doc);
    doc = id_want("POST", "/api/v1/jobs",
                  "{\"type\":\"get_image_distribution\",\"scheduler_cluster_ids\":[99],\"args\":"
                  "{\"url\":\"http://" ID_REG "/v2/a/manifests/v1\"}}",
                  404);
    cJSON_Delete(doc);
    /* a cluster without a scheduler: skipped beside one that has one, alone a 500 */
    doc = id_want("POST", "/api/v1/clusters",
                  "{\"name\":\"empty\",\"scopes\":{},\"scheduler_cluster_config\":{"
                  "\"candidate_parent_limit\":3,\"filter_parent_limit\":15},"
                  "\"seed_peer_cluster_config\":{\"load_limit\":2000},"
                  "\"peer_cluster_config\":{\"load_limit\":200},\"is_default\":false}",
                  200);
    cid = cJSON_GetObjectItemCaseSensitive(doc, "scheduler_cluster_id")->valueint;
    cJSON_Delete(doc);
    for (int with_one = 0; with_one < 2; with_one++) {
        snprintf(body, sizeof(body),
                 "{\"type\":\"get_image_distribution\",\"scheduler_cluster_ids\":[%s%d],"
                 "\"args\":{\"url\":\"http://%s/v2/" ID_REPO "/manifests/v1\",\"username\":"
                 "\"it\",\"password\":\"" ID_PASS "\"}}",
                 with_one ? "1," : "", cid, D.reg_addr);
        doc = id_want("POST", "/api/v1/jobs", body, with_one ? 200 : 500);
        if (with_one)
            id_check_layers(doc);
        else
            ck_assert_str_eq(id_str(doc, "message"), "candidate schedulers not found");
        cJSON_Delete(doc);
    }
    /* the manager kept serving, and its log never held the password */
    doc = id_want("GET", "/api/v1/schedulers", NULL, 200);
    cJSON_Delete(doc);
    ck_assert_int_eq(it_shf(&log, 10, "cat %s/*.log", D.dir), 0);
    ck_assert_ptr_null(strstr(log, ID_PASS));
    free(log);
}

END_TEST

Suite *it_imgdist_suite(void);

Suite *
it_imgdist_suite(void)
{
    Suite *s = suite_create("it_imgdist");
    TCase *tc = tcase_create("imgdist");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, id_setup, id_teardown);
    tcase_add_test(tc, test_distribution_after_preheat);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return s;
}
