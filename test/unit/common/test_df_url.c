/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/df_url.h"

/* Parse s, serialise it without the fragment, compare. */
static void
check_norm(const char *s, const char *want)
{
    struct df_url u;
    struct df_error err = {{0}};
    char *got;

    ck_assert_msg(df_url_parse(s, &u, &err) == 0, "%s: %s", s, err.msg);
    got = df_url_to_str(&u, false);
    ck_assert_str_eq(got, want);
    free(got);
    df_url_reset(&u);
}

static void
check_bad(const char *s, const char *msg_part)
{
    struct df_url u = {0};
    struct df_error err = {{0}};

    ck_assert_msg(df_url_parse(s, &u, &err) != 0, "accepted %s", s);
    ck_assert_msg(strstr(err.msg, msg_part) != NULL, "%s: message \"%s\" lacks \"%s\"", s, err.msg,
                  msg_part);
    ck_assert_ptr_null(u.host);
}

static void
check_canon(const char *url, const char *filtered, unsigned flags, const char *want)
{
    struct df_error err = {{0}};
    char *got = NULL;

    ck_assert_msg(df_url_canonical_new(url, filtered, flags, &got, &err) == 0, "%s: %s", url,
                  err.msg);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(test_parse_fields)
{
    struct df_url u;
    struct df_error err;
    char *s;

    ck_assert_int_eq(df_url_parse("HTTPS://User:p%40ss@Example.COM:8443/a/b?x=1&y#frag", &u, &err),
                     0);
    ck_assert_str_eq(u.scheme, "https");
    ck_assert_str_eq(u.userinfo, "User:p%40ss");
    ck_assert_str_eq(u.host, "example.com");
    ck_assert(!u.host_is_ipv6);
    ck_assert_uint_eq(u.port, 8443);
    ck_assert_str_eq(u.path, "/a/b");
    ck_assert_str_eq(u.query, "x=1&y");
    ck_assert_str_eq(u.fragment, "frag");
    s = df_url_target_to_str(&u);
    ck_assert_str_eq(s, "/a/b?x=1&y");
    free(s);
    s = df_url_authority_to_str(&u);
    ck_assert_str_eq(s, "example.com:8443");
    free(s);
    s = df_url_to_str(&u, true);
    ck_assert_str_eq(s, "https://User:p%40ss@example.com:8443/a/b?x=1&y#frag");
    free(s);
    df_url_reset(&u);
    df_url_reset(&u);

    ck_assert_int_eq(df_url_parse("http://h", &u, &err), 0);
    ck_assert_uint_eq(u.port, 80);
    ck_assert_str_eq(u.path, "/");
    ck_assert_ptr_null(u.query);
    ck_assert_ptr_null(u.fragment);
    ck_assert_ptr_null(u.userinfo);
    df_url_reset(&u);

    ck_assert_int_eq(df_url_parse("https://[2001:DB8::1]:9000/x", &u, &err), 0);
    ck_assert(u.host_is_ipv6);
    ck_assert_str_eq(u.host, "2001:db8::1");
    s = df_url_authority_to_str(&u);
    ck_assert_str_eq(s, "[2001:db8::1]:9000");
    free(s);
    df_url_reset(&u);
}

END_TEST

START_TEST(test_normalise)
{
    check_norm("http://a.com:80/", "http://a.com/");
    check_norm("https://a.com:443", "https://a.com/");
    check_norm("http://a.com:443/", "http://a.com:443/");
    check_norm("http://a.com:0080/x", "http://a.com/x");
    check_norm("http://a.com:/x", "http://a.com/x");
    check_norm("http://a.com?q", "http://a.com/?q");
    check_norm("http://a.com/a/./b/../c", "http://a.com/a/c");
    check_norm("http://a.com/a/b/..", "http://a.com/a/");
    check_norm("http://a.com/a/%2E/b/%2e%2E/c/.", "http://a.com/a/c/");
    check_norm("http://a.com/../../x", "http://a.com/x");
    check_norm("http://a.com//x//", "http://a.com//x//");
    check_norm("http://a.com/\xe4\xb8\xad{}\"", "http://a.com/%E4%B8%AD%7B%7D%22");
    check_norm("http://a.com/%41%zz", "http://a.com/%41%zz");
    check_norm("http://a.com/p?a=\"<x>'", "http://a.com/p?a=%22%3Cx%3E%27");
    check_norm("http://u:@a.com/", "http://u@a.com/");
    check_norm("http://@a.com/", "http://a.com/");
    check_norm("http://a@b@c.com/", "http://a%40b@c.com/");
    check_norm("http://0x7f.1/", "http://127.0.0.1/");
    check_norm("http://2130706433/", "http://127.0.0.1/");
    check_norm("http://0177.0.0.01/", "http://127.0.0.1/");
    check_norm("http://10.1.2.3./", "http://10.1.2.3/");
    check_norm("http://1.2.0x/", "http://1.2.0.0/");
    check_norm("http://[::ffff:1.2.3.4]/", "http://[::ffff:102:304]/");
    check_norm("http://[0:0:1:0:0:0:0:1]/", "http://[0:0:1::1]/");
    check_norm("http://[1:0:0:2:0:0:0:3]/", "http://[1:0:0:2::3]/");
    check_norm("http://[1:0:2:0:3:0:4:0]/", "http://[1:0:2:0:3:0:4:0]/");
    check_norm("http://[::]:8080/", "http://[::]:8080/");
    check_norm("http://a-b_c.example/", "http://a-b_c.example/");
}

END_TEST

START_TEST(test_reject)
{
    char *big = malloc(DF_URL_MAX_LEN + 16);

    check_bad("ftp://a.com/", "not http or https");
    check_bad("a.com/x", "expected http");
    check_bad("http:/a.com", "expected http");
    check_bad("http://a.com/a b", "space at offset 14");
    check_bad("http://a.com/\x01", "control character");
    check_bad("http://a.com/\x7f", "control character");
    check_bad("http://a.com/x\ty", "control");
    check_bad("http://a.com\\x", "backslash");
    check_bad("http://", "empty host");
    check_bad("http:///x", "empty host");
    check_bad("http://u@/x", "empty host");
    check_bad("http://:80/x", "empty host");
    check_bad("http://a.com:99999/", "out of range");
    check_bad("http://a.com:65536/", "out of range");
    check_bad("http://a.com:0/", "out of range");
    check_bad("http://a.com:8a/", "bad port");
    check_bad("http://a.com:-1/", "bad port");
    check_bad("http://a.com:184467440737095516170/", "bad port");
    check_bad("http://::1/", "brackets");
    check_bad("http://[::1/", "IPv6");
    check_bad("http://[::g]/", "invalid IPv6");
    check_bad("http://[fe80::1%25eth0]/", "invalid IPv6");
    check_bad("http://[::1]x/", "IPv6");
    check_bad("http://1.2.3.256/", "IPv4");
    check_bad("http://1.2.3.4.5/", "IPv4");
    check_bad("http://4294967296/", "IPv4");

    check_bad("http://a.09/", "IPv4");
    check_bad("http://a..1/", "IPv4");
    check_bad("http://\xc3\xa9.com/", "punycode");
    check_bad("http://a%41.com/", "'%'");
    check_bad("http://a^b.com/", "'^'");
    check_bad("http://a|b/", "'|'");

    ck_assert_ptr_nonnull(big);
    memcpy(big, "http://a/", 9);
    memset(big + 9, 'x', DF_URL_MAX_LEN);
    big[DF_URL_MAX_LEN + 9] = '\0';
    check_bad(big, "longer than");
    free(big);
}

END_TEST

START_TEST(test_canonical_keep_order)
{
    const unsigned nd = DF_URL_CANON_NO_DEFAULTS;

    check_canon("https://example.com/file.txt?z=9&b=2&a=1", "z", nd,
                "https://example.com/file.txt?b=2&a=1");
    check_canon("https://example.com/file.txt?b=2&a=1&b=1", "c", nd,
                "https://example.com/file.txt?b=2&a=1&b=1");
    check_canon("https://example.com?foo=foo", "foo", nd, "https://example.com");
    check_canon("https://example.com/", NULL, nd, "https://example.com");
    check_canon("https://example.com/#x/", NULL, nd, "https://example.com/#x");
    check_canon("https://example.com/?", NULL, nd, "https://example.com");
    check_canon("https://example.com/?&&", NULL, nd, "https://example.com");
    check_canon("https://example.com/?a=1", NULL, nd, "https://example.com/?a=1");
    check_canon("http://www.xx.yy/path?u=f&x=y&m=z&x=s#size", "x&m", nd,
                "http://www.xx.yy/path?u=f#size");
    /* re-serialised as x-www-form-urlencoded: '*' kept, '~' and '/' escaped, bare key gets '=' */
    check_canon("https://EXAMPLE.com:443/a/./b/../c?k=a%20b&m=x*y&n=c~d&p=a/b&flag&e=", NULL, nd,
                "https://example.com/a/c?k=a+b&m=x*y&n=c%7Ed&p=a%2Fb&flag=&e=");
    check_canon("http://h/p?q=1+1&r=%2B&s=%zz&t=%e4%b8%ad", NULL, nd,
                "http://h/p?q=1+1&r=%2B&s=%25zz&t=%E4%B8%AD");
    /* invalid UTF-8 becomes U+FFFD, one per maximal invalid subsequence */
    check_canon("http://h/p?a=%ff%e4%b8x", NULL, nd, "http://h/p?a=%EF%BF%BD%EF%BF%BDx");
    /* the key is matched after decoding */
    check_canon("http://h/p?%6Es=default&a=1", NULL, 0, "http://h/p?a=1");
    /* the defaults apply unless NO_DEFAULTS, the caller's list adds to them */
    check_canon("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&versionId=3&"
                "X-Amz-Signature=abc&X-Amz-Credential=x%2Fy&ns=docker.io",
                NULL, 0, "https://b.s3.amazonaws.com/k?versionId=3");
    check_canon("https://b/k?Signature=s&Expires=1&OSSAccessKeyId=k&q-ak=1&v=1", "v", 0,
                "https://b/k");
    check_canon("https://b/k?Signature=s&v=1", "&&v&", nd, "https://b/k?Signature=s");
    /* ';' is not a separator in this form */
    check_canon("https://b/k?a=1;x&b=2", "", nd, "https://b/k?a=1%3Bx&b=2");
}

END_TEST

START_TEST(test_canonical_sorted)
{
    const unsigned s = DF_URL_CANON_SORT | DF_URL_CANON_NO_DEFAULTS;
    struct df_error err;
    char *out = NULL;

    check_canon("https://example.com/file.txt?z=9&b=2&a=1", "z", s,
                "https://example.com/file.txt?a=1&b=2");
    check_canon("https://example.com/file.txt?b=2&a=1&b=1", "c", s,
                "https://example.com/file.txt?a=1&b=2&b=1");
    check_canon("https://example.com?foo=foo", "foo", s, "https://example.com");
    check_canon("https://example.com/file.txt?k=a%20b&m=x*y&n=c~d", "none", s,
                "https://example.com/file.txt?k=a+b&m=x%2Ay&n=c~d");
    check_canon("http://www.xx.yy/path?u=f&x=y&m=z&x=s#size", "x&m", s,
                "http://www.xx.yy/path?u=f#size");
    check_canon("https://example.com/file.txt?a=1;x&b=2", "none", s,
                "https://example.com/file.txt?b=2");
    /* nothing to filter: the URL exactly as given (but still validated) */
    check_canon("http://www.xx.yy/path?u=f&x=y&m=z&x=s#size", NULL, s,
                "http://www.xx.yy/path?u=f&x=y&m=z&x=s#size");
    check_canon("HTTP://A.com:80/", "", s, "HTTP://A.com:80/");
    ck_assert_int_eq(df_url_canonical_new("http://a b/", NULL, s, &out, &err), DF_EINVAL);
    ck_assert_ptr_null(out);
    /* with the defaults */
    check_canon("https://b/k?z=1&X-Amz-Date=2&a=2", NULL, DF_URL_CANON_SORT, "https://b/k?a=2&z=1");
}

END_TEST

START_TEST(test_default_list)
{
    const char *l = df_url_default_filtered_params();

    ck_assert_ptr_nonnull(strstr(l, "X-Amz-Signature&"));
    ck_assert_ptr_nonnull(strstr(l, "&X-Goog-Signature&"));
    ck_assert_ptr_nonnull(strstr(l, "&q-sign-algorithm&"));
    ck_assert_ptr_nonnull(strstr(l, "&x-cos-security-token&"));
    ck_assert_ptr_nonnull(strstr(l, "&X-Obs-Security-Token&"));
    ck_assert_str_eq(l + strlen(l) - 3, "&ns");
}

END_TEST

Suite *test_df_url_suite(void);

Suite *
test_df_url_suite(void)
{
    Suite *s = suite_create("df_url");
    TCase *tp = tcase_create("parse");
    TCase *tc = tcase_create("canonical");

    tcase_add_test(tp, test_parse_fields);
    tcase_add_test(tp, test_normalise);
    tcase_add_test(tp, test_reject);
    suite_add_tcase(s, tp);
    tcase_add_test(tc, test_canonical_keep_order);
    tcase_add_test(tc, test_canonical_sorted);
    tcase_add_test(tc, test_default_list);
    suite_add_tcase(s, tc);
    return s;
}
