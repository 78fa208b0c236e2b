/* SPDX-License-Identifier: Apache-2.0 */
/* net_addr: every accepted address form, every rejection, and formatting back to text. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>

#include "df/net_addr.h"

static const struct {
    const char *in;
    uint16_t default_port;
    const char *host;
    uint16_t port;
    bool is_unix;
} addr_good[] = {
        {"127.0.0.1:80", 0, "127.0.0.1", 80, false},
        {"127.0.0.1:0", 0, "127.0.0.1", 0, false},
        {"0.0.0.0:65535", 0, "0.0.0.0", 65535, false},
        {"[::1]:8080", 0, "::1", 8080, false},
        {"[fe80::1%lo]:1", 0, "fe80::1%lo", 1, false},
        {"[::]:443", 0, "::", 443, false},
        {":65000", 0, "", 65000, false},
        {"localhost:65002", 0, "localhost", 65002, false},
        {"dragonfly.test:1", 0, "dragonfly.test", 1, false},
        {"example.com", 443, "example.com", 443, false},
        {"[::1]", 80, "::1", 80, false},
        {"10.0.0.1:9", 80, "10.0.0.1", 9, false},
        {"unix:/run/dragonfly/dfdaemon.sock", 0, "/run/dragonfly/dfdaemon.sock", 0, true},
        {"unix:/x", 65000, "/x", 0, true},
};

START_TEST(test_parse_good)
{
    struct net_addr a;
    struct df_error err = {{0}};

    memset(&a, 0xa5, sizeof(a));
    ck_assert_msg(net_addr_parse(addr_good[_i].in, addr_good[_i].default_port, &a, &err) == 0,
                  "%s: %s", addr_good[_i].in, err.msg);
    ck_assert_str_eq(a.host, addr_good[_i].host);
    ck_assert_uint_eq(a.port, addr_good[_i].port);
    ck_assert(a.is_unix == addr_good[_i].is_unix);
}

END_TEST

static const struct {
    const char *in;
    uint16_t default_port;
    const char *msg;
} addr_bad[] = {
        {"example.com", 0, "expected host:port"},
        {"", 0, "expected host:port"},
        {"[::1]", 0, "expected host:port"},
        {"h:", 0, "bad port"},
        {"h:abc", 0, "bad port"},
        {"h:80x", 0, "bad port"},
        {"h:65536", 0, "bad port"},
        {"h:-1", 0, "bad port"},
        {"h:99999999999999999999", 0, "bad port"},
        {"::1:80", 0, "write IPv6 as [addr]:port"},
        {"::1", 80, "write IPv6 as [addr]:port"},
        {"[::1:80", 0, "missing ']'"},
        {"[::1]80", 0, "junk after ']'"},
        {"[::1]:", 0, "bad port"},
        {"bad host:1", 0, "bad character"},
        {"a/b:1", 0, "bad character"},
        {"user@h:1", 0, "bad character"},
        {"tab\there:1", 0, "bad character"},
        {"unix:relative.sock", 0, "unix:/absolute/path"},
        {"unix:", 0, "unix:/absolute/path"},
};

START_TEST(test_parse_bad)
{
    struct net_addr a, before;
    struct df_error err = {{0}};

    memset(&a, 0x5a, sizeof(a));
    before = a;
    ck_assert_int_eq(net_addr_parse(addr_bad[_i].in, addr_bad[_i].default_port, &a, &err),
                     DF_EINVAL);
    ck_assert_msg(strstr(err.msg, addr_bad[_i].msg) != NULL, "%s: %s", addr_bad[_i].in, err.msg);
    ck_assert_msg(strstr(err.msg, addr_bad[_i].in) != NULL, "message names the address: %s",
                  err.msg);
    /* The out-param is untouched on failure. */
    ck_assert_mem_eq(&a, &before, sizeof(a));
}

END_TEST

START_TEST(test_parse_lengths)
{
    char s[400], path[200];
    struct net_addr a;
    struct df_error err;

    memset(s, 'a', 255);
    memcpy(s + 255, ":1", 3);
    ck_assert_int_eq(net_addr_parse(s, 0, &a, &err), 0);
    ck_assert_uint_eq(strlen(a.host), 255);
    memset(s, 'a', 256);
    memcpy(s + 256, ":1", 3);
    ck_assert_int_eq(net_addr_parse(s, 0, &a, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "too long"));

    /* sun_path holds 108 bytes including the NUL. */
    path[0] = '/';
    memset(path + 1, 'p', 106);
    path[107] = '\0';
    snprintf(s, sizeof(s), "unix:%s", path);
    ck_assert_int_eq(net_addr_parse(s, 0, &a, &err), 0);
    ck_assert_str_eq(a.host, path);
    snprintf(s, sizeof(s), "unix:%sq", path);
    ck_assert_int_eq(net_addr_parse(s, 0, &a, &err), DF_EINVAL);
    /* err may be NULL. */
    ck_assert_int_eq(net_addr_parse("nope", 0, &a, NULL), DF_EINVAL);
}

END_TEST

START_TEST(test_format)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct sockaddr sa;
    char buf[128];

    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = htons(65002);
    inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
    ck_assert_str_eq(net_addr_format((struct sockaddr *)&in, sizeof(in), buf, sizeof(buf)),
                     "127.0.0.2:65002");

    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    ck_assert_str_eq(net_addr_format((struct sockaddr *)&in6, sizeof(in6), buf, sizeof(buf)),
                     "[::1]:443");

    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, "/tmp/s.sock", 12);
    ck_assert_str_eq(net_addr_format((struct sockaddr *)&un,
                                     offsetof(struct sockaddr_un, sun_path) + 11, buf, sizeof(buf)),
                     "unix:/tmp/s.sock");

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_APPLETALK;
    ck_assert_str_eq(net_addr_format(&sa, sizeof(sa), buf, sizeof(buf)), "unknown");

    /* Truncates to the buffer and stays NUL-terminated. */
    ck_assert_str_eq(net_addr_format((struct sockaddr *)&in, sizeof(in), buf, 6), "127.0");
}

END_TEST

START_TEST(test_is_loopback)
{
    ck_assert(net_addr_is_loopback("127.0.0.1"));
    ck_assert(net_addr_is_loopback("127.255.0.9"));
    ck_assert(net_addr_is_loopback("::1"));
    ck_assert(net_addr_is_loopback("::ffff:127.0.0.5"));
    ck_assert(!net_addr_is_loopback(""));
    ck_assert(!net_addr_is_loopback("0.0.0.0"));
    ck_assert(!net_addr_is_loopback("128.0.0.1"));
    ck_assert(!net_addr_is_loopback("10.0.0.1"));
    ck_assert(!net_addr_is_loopback("::"));
    ck_assert(!net_addr_is_loopback("::ffff:10.0.0.1"));
    ck_assert(!net_addr_is_loopback("localhost"));
}

END_TEST

Suite *test_net_addr_suite(void);

Suite *
test_net_addr_suite(void)
{
    Suite *s = suite_create("net_addr");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, test_parse_good, 0, (int)(sizeof(addr_good) / sizeof(addr_good[0])));
    tcase_add_loop_test(tc, test_parse_bad, 0, (int)(sizeof(addr_bad) / sizeof(addr_bad[0])));
    tcase_add_test(tc, test_parse_lengths);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_is_loopback);
    suite_add_tcase(s, tc);
    return s;
}
