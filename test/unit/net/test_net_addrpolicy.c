/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_addrpolicy: the built-in denied classes (v4, v6, v4-mapped v6), allow and deny lists of
 * CIDRs and host patterns with their precedence, prefix edges, the host's own addresses, and
 * every rejected list entry.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>

#include "df/net_addrpolicy.h"

/* Check host/ip against p: 0 or DF_EPERM (err kept for the message). */
static int
check(const struct net_addrpolicy *p, const char *host, const char *ip, struct df_error *err)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;

    memset(&in, 0, sizeof(in));
    memset(&in6, 0, sizeof(in6));
    if (inet_pton(AF_INET, ip, &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        return net_addrpolicy_check(p, host, (struct sockaddr *)&in, sizeof(in), err);
    }
    ck_assert_msg(inet_pton(AF_INET6, ip, &in6.sin6_addr) == 1, "bad test address %s", ip);
    in6.sin6_family = AF_INET6;
    return net_addrpolicy_check(p, host, (struct sockaddr *)&in6, sizeof(in6), err);
}

static struct net_addrpolicy *
policy(const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny)
{
    struct net_addrpolicy *p = NULL;
    struct df_error err = {{0}};

    ck_assert_msg(net_addrpolicy_new(allow, nallow, deny, ndeny, &p, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* With empty lists: what is denied by default and what is not. */
static const struct {
    const char *ip;
    bool denied;
} builtin_cases[] = {
        {"127.0.0.1", true},
        {"127.255.255.255", true},
        {"127.0.0.211", true},
        {"128.0.0.1", false},
        {"126.255.255.255", false},
        {"169.254.169.254", true},
        {"169.254.0.0", true},
        {"169.255.0.1", false},
        {"169.253.255.255", false},
        {"0.0.0.0", true},
        {"0.255.255.255", true},
        {"1.0.0.0", false},
        {"224.0.0.1", true},
        {"239.255.255.255", true},
        {"223.255.255.255", false},
        {"255.255.255.255", true},
        {"10.1.2.3", false},
        {"192.168.1.1", false},
        {"93.184.216.34", false},
        {"::1", true},
        {"::", true},
        {"::2", true}, /* IPv4-compatible (deprecated) */
        {"fe80::1", true},
        {"febf:ffff::1", true},
        {"fec0::1", false},
        {"ff02::1", true},
        {"2001:db8::1", false},
        {"fd00::1", false},
        {"::ffff:127.0.0.1", true}, /* v4-mapped: checked as the IPv4 it carries */
        {"::ffff:169.254.169.254", true},
        {"::ffff:7f00:2", true},
        {"::ffff:8.8.8.8", false},
        {"::fffe:127.0.0.1", false}, /* not mapped: an ordinary IPv6 address */
};

START_TEST(test_builtin)
{
    struct net_addrpolicy *p = policy(NULL, 0, NULL, 0);
    struct df_error err = {{0}};
    int rv = check(p, NULL, builtin_cases[_i].ip, &err);

    ck_assert_msg(rv == (builtin_cases[_i].denied ? DF_EPERM : 0), "%s: rv %d (%s)",
                  builtin_cases[_i].ip, rv, err.msg);
    if (builtin_cases[_i].denied)
        ck_assert_msg(strstr(err.msg, "backToSource.allow") != NULL, "%s", err.msg);
    net_addrpolicy_free(p);
}

END_TEST

START_TEST(test_messages)
{
    const char *deny[] = {"10.0.0.0/8"};
    struct net_addrpolicy *p = policy(NULL, 0, deny, 1);
    struct df_error err = {{0}};

    ck_assert_int_eq(check(p, "metadata.internal", "169.254.169.254", &err), DF_EPERM);
    ck_assert_str_eq(err.msg, "metadata.internal (169.254.169.254) is a link-local address "
                              "(cloud metadata lives here): not reachable for another host's "
                              "request unless in backToSource.allow");
    ck_assert_int_eq(check(p, NULL, "::ffff:127.0.0.9", &err), DF_EPERM);
    ck_assert_str_eq(err.msg, "127.0.0.9 is a loopback address: not reachable for "
                              "another host's request unless in backToSource.allow");
    ck_assert_int_eq(check(p, "10.9.8.7", "10.9.8.7", &err), DF_EPERM);
    ck_assert_str_eq(err.msg, "10.9.8.7 is denied by backToSource.deny entry "
                              "'10.0.0.0/8'");
    net_addrpolicy_free(p);
}

END_TEST

/* Allow opens default-denied addresses; prefixes end exactly where they say. */
START_TEST(test_allow_cidr)
{
    const char *allow[] = {"127.0.0.40/31", "127.0.0.2,::1", "fe80::/16,169.254.0.0/31"};
    struct net_addrpolicy *p = policy(allow, DF_NELEM(allow), NULL, 0);
    struct df_error err = {{0}};

    ck_assert_int_eq(check(p, NULL, "127.0.0.40", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.41", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.39", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "127.0.0.42", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "127.0.0.2", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.3", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "::ffff:127.0.0.2", &err), 0); /* mapped = the v4 */
    ck_assert_int_eq(check(p, NULL, "::1", &err), 0);
    ck_assert_int_eq(check(p, NULL, "::2", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "fe80:0:ffff::1", &err), 0);
    ck_assert_int_eq(check(p, NULL, "fe81::1", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "169.254.0.1", &err), 0);
    ck_assert_int_eq(check(p, NULL, "169.254.0.2", &err), DF_EPERM);
    net_addrpolicy_free(p);
}

END_TEST

/* /0 and full-length prefixes, and a mapped CIDR written in IPv6 form. */
START_TEST(test_prefix_edges)
{
    const char *all[] = {"0.0.0.0/0"};
    const char *all6[] = {"::/0"};
    const char *mapped[] = {"::ffff:127.0.0.0/120"};
    const char *one[] = {"127.0.0.5/32", "::1/128"};
    const char *odd[] = {"127.0.0.128/25"};
    struct net_addrpolicy *p;
    struct df_error err = {{0}};

    p = policy(all, 1, NULL, 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.1", &err), 0);
    ck_assert_int_eq(check(p, NULL, "::ffff:169.254.169.254", &err), 0);
    ck_assert_int_eq(check(p, NULL, "::1", &err), DF_EPERM); /* v4 /0 is not all of v6 */
    net_addrpolicy_free(p);

    p = policy(all6, 1, NULL, 0);
    ck_assert_int_eq(check(p, NULL, "::1", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.1", &err), 0); /* ::/0 holds mapped v4 too */
    net_addrpolicy_free(p);

    p = policy(mapped, 1, NULL, 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.255", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.1.0", &err), DF_EPERM);
    net_addrpolicy_free(p);

    p = policy(one, 2, NULL, 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.5", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.4", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "127.0.0.6", &err), DF_EPERM);
    net_addrpolicy_free(p);

    p = policy(odd, 1, NULL, 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.127", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "127.0.0.128", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.255", &err), 0);
    net_addrpolicy_free(p);
}

END_TEST

/* Deny wins over allow, for names and addresses; deny also closes addresses open by default. */
START_TEST(test_deny_wins)
{
    const char *allow[] = {"127.0.0.0/8", "*.example.com", "10.0.0.0/8"};
    const char *deny[] = {"127.0.0.9", "secret.example.com", "10.0.0.0/16"};
    struct net_addrpolicy *p = policy(allow, DF_NELEM(allow), deny, DF_NELEM(deny));
    struct df_error err = {{0}};

    ck_assert_int_eq(check(p, NULL, "127.0.0.8", &err), 0);
    ck_assert_int_eq(check(p, NULL, "127.0.0.9", &err), DF_EPERM);
    ck_assert_int_eq(check(p, "a.example.com", "127.0.0.9", &err), DF_EPERM);
    ck_assert_int_eq(check(p, "secret.example.com", "93.184.216.34", &err), DF_EPERM);
    ck_assert_str_eq(err.msg, "secret.example.com (93.184.216.34) is denied by "
                              "backToSource.deny entry 'secret.example.com'");
    ck_assert_int_eq(check(p, NULL, "10.0.255.1", &err), DF_EPERM);
    ck_assert_int_eq(check(p, NULL, "10.1.0.1", &err), 0);
    ck_assert_int_eq(check(p, NULL, "8.8.8.8", &err), 0);
    net_addrpolicy_free(p);
}

END_TEST

/* Host patterns: exact (any case, trailing dot) and "*." for names strictly below. */
START_TEST(test_host_patterns)
{
    const char *allow[] = {"origin.test", "*.corp.test", "Mixed.Case.TEST."};
    struct net_addrpolicy *p = policy(allow, DF_NELEM(allow), NULL, 0);
    struct df_error err = {{0}};

    ck_assert_int_eq(check(p, "origin.test", "127.0.0.2", &err), 0);
    ck_assert_int_eq(check(p, "ORIGIN.test.", "127.0.0.2", &err), 0);
    ck_assert_int_eq(check(p, "xorigin.test", "127.0.0.2", &err), DF_EPERM);
    ck_assert_int_eq(check(p, "origin.test.evil", "127.0.0.2", &err), DF_EPERM);
    ck_assert_int_eq(check(p, "a.corp.test", "127.0.0.2", &err), 0);
    ck_assert_int_eq(check(p, "a.b.corp.test", "::1", &err), 0);
    ck_assert_int_eq(check(p, "corp.test", "127.0.0.2", &err), DF_EPERM);
    ck_assert_int_eq(check(p, "evilcorp.test", "127.0.0.2", &err), DF_EPERM);
    ck_assert_int_eq(check(p, ".corp.test", "127.0.0.2", &err), DF_EPERM);
    ck_assert_int_eq(check(p, "mixed.case.test", "127.0.0.2", &err), 0);
    /* A name pattern never matches an address by itself. */
    ck_assert_int_eq(check(p, NULL, "127.0.0.2", &err), DF_EPERM);
    ck_assert_int_eq(check(p, "127.0.0.2", "127.0.0.2", &err), DF_EPERM);
    net_addrpolicy_free(p);
}

END_TEST

/* Every address of the host's own interfaces is denied by default, and allowable. */
START_TEST(test_own_addresses)
{
    struct ifaddrs *ifa = NULL;
    char ip[INET6_ADDRSTRLEN];
    struct net_addrpolicy *p = policy(NULL, 0, NULL, 0), *open;
    struct df_error err = {{0}};
    const char *allow[1];
    int seen = 0;

    ck_assert_int_eq(getifaddrs(&ifa), 0);
    for (struct ifaddrs *i = ifa; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (i->ifa_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, ip,
                      sizeof(ip));
        else if (i->ifa_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, ip,
                      sizeof(ip));
        else
            continue;
        ck_assert_msg(check(p, NULL, ip, &err) == DF_EPERM, "own address %s allowed", ip);
        allow[0] = ip;
        open = policy(allow, 1, NULL, 0);
        ck_assert_msg(check(open, NULL, ip, &err) == 0, "%s", err.msg);
        net_addrpolicy_free(open);
        seen++;
    }
    freeifaddrs(ifa);
    if (seen == 0)
        fprintf(stderr, "test_own_addresses: no non-loopback interface; only lo checked\n");
    net_addrpolicy_free(p);
}

END_TEST

static const struct {
    const char *entry;
    const char *msg;
} bad_entries[] = {
        {"10.0.0.1/8", "allow: 10.0.0.1/8: host bits set past the prefix length"},
        {"10.0.0.0/33", "allow: 10.0.0.0/33: bad prefix length (0-32)"},
        {"::/129", "allow: ::/129: bad prefix length (0-128)"},
        {"10.0.0.0/", "allow: 10.0.0.0/: bad prefix length (0-32)"},
        {"10.0.0.0/-1", "allow: 10.0.0.0/-1: bad prefix length (0-32)"},
        {"10.0.0.0/8x", "allow: 10.0.0.0/8x: bad prefix length (0-32)"},
        {"fe80::1/10", "allow: fe80::1/10: host bits set past the prefix length"},
        {"", "allow: '': expected a CIDR, an address or a host name"},
        {"*.", "allow: '*.': expected a CIDR, an address or a host name"},
        {"a..b", "allow: 'a..b': empty label in host name"},
        {"http://x", "allow: 'http://x': expected a CIDR, an address, a host name or *.name"},
        {"a.*.b", "allow: 'a.*.b': expected a CIDR, an address, a host name or *.name"},
        {"*", "allow: '*': expected a CIDR, an address, a host name or *.name"},
        {"10.0.0.0/8,", "allow: '': expected a CIDR, an address or a host name"},
        {"a,,b", "allow: '': expected a CIDR, an address or a host name"},
        {"a, b", "allow: ' b': expected a CIDR, an address, a host name or *.name"},
        {"fe80::1%eth0", "allow: 'fe80::1%eth0': expected a CIDR, an address, a host name or "
                         "*.name"},
};

START_TEST(test_bad_entries)
{
    struct net_addrpolicy *p = NULL;
    struct df_error err = {{0}};
    const char *v[] = {"127.0.0.1", bad_entries[_i].entry};

    ck_assert_int_eq(net_addrpolicy_new(v, 2, NULL, 0, &p, &err), DF_EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(err.msg, bad_entries[_i].msg);
    /* The same entry in the deny list is named as such. */
    ck_assert_int_eq(net_addrpolicy_new(NULL, 0, v, 2, &p, &err), DF_EINVAL);
    ck_assert_ptr_null(p);
    ck_assert(strncmp(err.msg, "deny: ", 6) == 0);
}

END_TEST

START_TEST(test_not_ip)
{
    struct net_addrpolicy *p = policy(NULL, 0, NULL, 0);
    struct sockaddr sa;
    struct df_error err = {{0}};

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    ck_assert_int_eq(net_addrpolicy_check(p, "x", &sa, sizeof(sa), &err), DF_EPERM);
    /* A truncated sockaddr is not read past its length. */
    sa.sa_family = AF_INET6;
    ck_assert_int_eq(net_addrpolicy_check(p, "x", &sa, sizeof(sa), &err), DF_EPERM);
    net_addrpolicy_free(p);
    net_addrpolicy_free(NULL);
}

END_TEST

Suite *test_net_addrpolicy_suite(void);

Suite *
test_net_addrpolicy_suite(void)
{
    Suite *s = suite_create("net_addrpolicy");
    TCase *tc = tcase_create("check");
    TCase *tl = tcase_create("lists");

    tcase_add_loop_test(tc, test_builtin, 0, (int)DF_NELEM(builtin_cases));
    tcase_add_test(tc, test_messages);
    tcase_add_test(tc, test_own_addresses);
    tcase_add_test(tc, test_not_ip);
    tcase_add_test(tl, test_allow_cidr);
    tcase_add_test(tl, test_prefix_edges);
    tcase_add_test(tl, test_deny_wins);
    tcase_add_test(tl, test_host_patterns);
    tcase_add_loop_test(tl, test_bad_entries, 0, (int)DF_NELEM(bad_entries));
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tl);
    return s;
}
