/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's pure decisions: which upstream a mirror request goes to (header, then ns=,
 * then the configured mirror), the URL it becomes, and which URLs the rules send to P2P.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../../src/peer/peer_proxy_rule.h"

/* The upstream for (registry, query, mirror), or NULL with the error in err. */
static char *
upstream(const char *registry, const char *query, const char *mirror, struct df_error *err)
{
    char *out = NULL;

    char r1[] = "lab:5000=http://10.0.0.9:5000", r2[] = "docker.io=https://mirror.example";
    char *v[] = {r1, r2};
    struct df_conf_list registries = {v, 2};

    if (peer_proxy_rule_upstream(registry, query, &registries, mirror, &out, err) != 0) {
        ck_assert_ptr_null(out);
        return NULL;
    }
    return out;
}

static void
assert_upstream(const char *registry, const char *query, const char *mirror, const char *want)
{
    struct df_error err;
    char *got = upstream(registry, query, mirror, &err);

    ck_assert_msg(got != NULL, "%s", err.msg);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(test_upstream_order)
{
    /* the header wins over ns= and the mirror; ns= over the mirror */
    assert_upstream("http://10.0.0.1:5000", "ns=ghcr.io", "https://mirror.example",
                    "http://10.0.0.1:5000");
    assert_upstream(NULL, "ns=ghcr.io", "https://mirror.example", "https://ghcr.io");
    assert_upstream(NULL, NULL, "https://mirror.example/", "https://mirror.example");
    assert_upstream(NULL, "n=1&x=ns=no", "https://mirror.example", "https://mirror.example");
    /* containerd's ns: %-encoded ports */
    assert_upstream(NULL, "a=b&ns=127.0.0.1%3A5000", NULL, "https://127.0.0.1:5000");
    assert_upstream(NULL, "ns=http%3A%2F%2F127.0.0.1%3A5000", NULL, "http://127.0.0.1:5000");
    /* configured registries: an ns they name goes where they say */
    assert_upstream(NULL, "ns=lab%3A5000", NULL, "http://10.0.0.9:5000");
    assert_upstream(NULL, "ns=docker.io", NULL, "https://mirror.example");
    assert_upstream(NULL, "ns=lab", NULL, "https://lab");
    assert_upstream("https://h.example", "ns=lab%3A5000", NULL, "https://h.example");
    /* default ports are dropped, hosts lower-cased */
    assert_upstream("HTTPS://Registry.Example:443", NULL, NULL, "https://registry.example");
}

END_TEST

START_TEST(test_upstream_refused)
{
    static const char *const bad_registry[] = {
            "ftp://x",
            "https://u:p@registry.example",
            "https://registry.example/v2",
            "https://registry.example?a=b",
            "registry.example",
            "",
    };
    static const char *const bad_query[] = {"ns=", "ns=%zz", "ns=a%2", "ns=a%20b", "ns=a/b"};
    struct df_error err;

    for (size_t i = 0; i < sizeof(bad_registry) / sizeof(bad_registry[0]); i++) {
        ck_assert_msg(upstream(bad_registry[i], NULL, "https://m.example", &err) == NULL, "%s",
                      bad_registry[i]);
        ck_assert_msg(strstr(err.msg, "X-Dragonfly-Registry") != NULL, "%s", err.msg);
    }
    for (size_t i = 0; i < sizeof(bad_query) / sizeof(bad_query[0]); i++)
        ck_assert_msg(upstream(NULL, bad_query[i], "https://m.example", &err) == NULL, "%s",
                      bad_query[i]);
    ck_assert_ptr_null(upstream(NULL, NULL, NULL, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "no upstream"));
    ck_assert_ptr_null(upstream(NULL, NULL, "https://m.example/path", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "proxy.registryMirror.addr"));
}

END_TEST

START_TEST(test_registries)
{
    char good1[] = "ghcr.io=https://ghcr.io", good2[] = "lab:5000=http://10.0.0.9:5000/";
    char bad1[] = "ghcr.io", bad2[] = "=https://x", bad3[] = "x=https://x/path",
         bad4[] = "x=ftp://x";
    char *good[] = {good1, good2}, *bad[] = {bad1, bad2, bad3, bad4};
    struct df_conf_list l = {good, 2};
    struct df_error err;
    char *out = NULL;

    ck_assert_int_eq(peer_proxy_rule_registries_check(&l, &err), 0);
    for (size_t i = 0; i < 4; i++) {
        l.v = &bad[i];
        l.n = 1;
        ck_assert_msg(peer_proxy_rule_registries_check(&l, &err) == DF_EINVAL, "%s", bad[i]);
        ck_assert_msg(strstr(err.msg, "proxy.registries") != NULL, "%s", err.msg);
    }
    /* without registries docker.io is containerd's registry-1.docker.io */
    ck_assert_int_eq(peer_proxy_rule_upstream(NULL, "ns=docker.io", NULL, NULL, &out, &err), 0);
    ck_assert_str_eq(out, "https://registry-1.docker.io");
    free(out);
}

END_TEST

START_TEST(test_url)
{
    struct df_error err;
    char *url = NULL, *bare = NULL;

    ck_assert_int_eq(peer_proxy_rule_url_new("https://r.example", "/v2/a/b/blobs/sha256:00",
                                             "ns=r.example", &url, &bare, &err),
                     0);
    ck_assert_str_eq(url, "https://r.example/v2/a/b/blobs/sha256:00?ns=r.example");
    ck_assert_str_eq(bare, "https://r.example/v2/a/b/blobs/sha256:00");
    free(url);
    free(bare);
    ck_assert_int_eq(
            peer_proxy_rule_url_new("http://r.example:5000", "/v2/", NULL, &url, &bare, &err), 0);
    ck_assert_str_eq(url, "http://r.example:5000/v2/");
    ck_assert_str_eq(bare, url);
    free(url);
    free(bare);
    url = bare = NULL;
    ck_assert_int_ne(peer_proxy_rule_url_new("http://r.example", "v2/", NULL, &url, &bare, &err),
                     0);
    ck_assert_int_ne(
            peer_proxy_rule_url_new("http://r.example", "/v2/a b", NULL, &url, &bare, &err), 0);
    ck_assert_ptr_null(url);
    ck_assert_ptr_null(bare);
}

END_TEST

START_TEST(test_rules)
{
    char r1[] = "blobs/sha256.*", r2[] = "^https://a\\.example/", r3[] = "/manifests/sha256:";
    char r4[] = "ok", r5[] = "(unclosed";
    char *def[] = {r1}, *two[] = {r2, r3}, *bad[] = {r4, r5};
    struct df_conf_list l;
    struct peer_proxy_rule_set *rs = NULL;
    struct df_error err;

    l.v = def;
    l.n = 1;
    ck_assert_int_eq(peer_proxy_rule_set_new(&l, &rs, &err), 0);
    ck_assert(peer_proxy_rule_set_is_match(rs, "https://r.example/v2/a/blobs/sha256:00"));
    ck_assert(!peer_proxy_rule_set_is_match(rs, "https://r.example/v2/a/manifests/v1"));
    ck_assert(!peer_proxy_rule_set_is_match(rs, "https://r.example/v2/"));
    peer_proxy_rule_set_free(rs);

    l.v = two;
    l.n = 2;
    ck_assert_int_eq(peer_proxy_rule_set_new(&l, &rs, &err), 0);
    ck_assert(peer_proxy_rule_set_is_match(rs, "https://a.example/v2/x/blobs/sha256:00"));
    ck_assert(peer_proxy_rule_set_is_match(rs, "https://b.example/v2/x/manifests/sha256:00"));
    ck_assert(!peer_proxy_rule_set_is_match(rs, "https://b.example/v2/x/blobs/sha256:00"));
    peer_proxy_rule_set_free(rs);

    /* no rules: nothing goes P2P */
    l.n = 0;
    ck_assert_int_eq(peer_proxy_rule_set_new(&l, &rs, &err), 0);
    ck_assert(!peer_proxy_rule_set_is_match(rs, "https://a.example/v2/x/blobs/sha256:00"));
    peer_proxy_rule_set_free(rs);

    rs = NULL;
    l.v = bad;
    l.n = 2;
    ck_assert_int_eq(peer_proxy_rule_set_new(&l, &rs, &err), DF_EINVAL);
    ck_assert_ptr_null(rs);
    ck_assert_msg(strstr(err.msg, "(unclosed") != NULL, "%s", err.msg);
    peer_proxy_rule_set_free(NULL);
}

END_TEST

/* Rule objects: each field's effect, and each malformed one refused with its name. */
START_TEST(test_rule_objects)
{
    char o1[] = "{\"regex\":\"blobs/sha256.*\",\"useTLS\":true,\"redirect\":\"m.example:5000\","
                "\"filteredQueryParams\":[\"X-Amz-Date\",\"sig\"]}",
         o2[] = "{\"regex\":\"/files/\",\"filteredQueryParams\":[]}", r3[] = "plain";
    char *three[] = {o1, o2, r3};
    static const char *const bad[][2] = {
            {"{\"useTLS\":true}", "needs a regex"},
            {"{\"regex\":\"x\",\"usetls\":true}", "\"usetls\""},
            {"{\"regex\":\"x\",\"useTLS\":\"yes\"}", "\"useTLS\""},
            {"{\"regex\":\"x\",\"redirect\":\"h.example/path\"}", "\"redirect\""},
            {"{\"regex\":\"x\",\"filteredQueryParams\":[\"a&b\"]}", "filteredQueryParams"},
            {"{\"regex\":\"(x\"}", "(x"},
            {"{not json", "not a JSON object"},
    };
    const struct peer_proxy_rule *r;
    struct df_conf_list l = {three, 3};
    struct peer_proxy_rule_set *rs = NULL;
    struct df_error err;
    char *url = NULL, text[200], *one[] = {text};

    ck_assert_msg(peer_proxy_rule_set_new(&l, &rs, &err) == 0, "%s", err.msg);
    r = peer_proxy_rule_set_match(rs, "http://r.example/v2/a/blobs/sha256:00");
    ck_assert_ptr_nonnull(r);
    ck_assert(r->use_tls);
    ck_assert_str_eq(r->filtered, "X-Amz-Date&sig");
    ck_assert_int_eq(
            peer_proxy_rule_apply(r, "http://r.example/v2/a/blobs/sha256:00?x=1", &url, &err), 0);
    ck_assert_str_eq(url, "https://m.example:5000/v2/a/blobs/sha256:00?x=1");
    free(url);
    r = peer_proxy_rule_set_match(rs, "http://o.example/files/a");
    ck_assert_ptr_nonnull(r);
    ck_assert(!r->use_tls);
    ck_assert_ptr_null(r->redirect);
    ck_assert_str_eq(r->filtered, "");
    ck_assert_int_eq(peer_proxy_rule_apply(r, "http://o.example/files/a", &url, &err), 0);
    ck_assert_str_eq(url, "http://o.example/files/a");
    free(url);
    r = peer_proxy_rule_set_match(rs, "http://o.example/plain");
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(r->filtered); /* a plain regex keeps the default filters */
    ck_assert_ptr_null(peer_proxy_rule_set_match(rs, "http://o.example/other"));
    peer_proxy_rule_set_free(rs);

    l.v = one;
    l.n = 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s", bad[i][0]);
        rs = NULL;
        ck_assert_int_eq(peer_proxy_rule_set_new(&l, &rs, &err), DF_EINVAL);
        ck_assert_ptr_null(rs);
        ck_assert_msg(strstr(err.msg, bad[i][1]) != NULL, "%s: %s", bad[i][0], err.msg);
    }
    /* hijackHTTPS.hosts take regexes only: an object's text is a bad regex there */
    snprintf(text, sizeof(text), "{\"regex\":\"x\"}");
    rs = NULL;
    ck_assert_int_eq(peer_proxy_rule_set_new_for("proxy.hijackHTTPS.hosts", &l, &rs, &err),
                     DF_EINVAL);
    ck_assert_ptr_null(rs);
    ck_assert_msg(strstr(err.msg, "proxy.hijackHTTPS.hosts") != NULL, "%s", err.msg);
}

END_TEST

Suite *test_peer_proxy_rule_suite(void);

Suite *
test_peer_proxy_rule_suite(void)
{
    Suite *s = suite_create("peer_proxy_rule");
    TCase *tc = tcase_create("upstream");

    tcase_add_test(tc, test_upstream_order);
    tcase_add_test(tc, test_upstream_refused);
    tcase_add_test(tc, test_registries);
    tcase_add_test(tc, test_url);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, test_rules);
    tcase_add_test(tc, test_rule_objects);
    suite_add_tcase(s, tc);
    return s;
}
