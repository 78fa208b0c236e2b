/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_connect's address check: the check sees every resolved address with its port, a
 * refusal fails the connect with the check's code and no packet reaches the listener, and the
 * address connected to is the address that was checked. Loopback only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "df/net_connect.h"
#include "df/net_listener.h"

static struct {
    struct event_base *base;
    struct evdns_base *dns;
    struct event *deadline;
    struct net_listener *l;
    int accepted, connects, connect_rv, checks;
    int refuse; /* what the check answers */
    struct sockaddr_storage seen;
    size_t seen_len;
    struct sockaddr_storage peer; /* getpeername of the connected socket */
    socklen_t peer_len;
} t;

static void
con_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopexit(t.base, NULL);
}

static void
con_setup(void)
{
    struct timeval tv = {10, 0};

    memset(&t, 0, sizeof(t));
    t.base = event_base_new();
    ck_assert_ptr_nonnull(t.base);
    t.dns = net_dns_new(t.base);
    ck_assert_ptr_nonnull(t.dns);
    t.deadline = evtimer_new(t.base, con_deadline_cb, NULL);
    evtimer_add(t.deadline, &tv);
    t.connect_rv = 1;
}

static void
con_teardown(void)
{
    net_listener_free(t.l);
    event_free(t.deadline);
    net_dns_free(t.dns);
    event_base_free(t.base);
}

static void
con_accept_cb(int fd, const struct sockaddr *peer, size_t peerlen, void *arg)
{
    (void)peer;
    (void)peerlen;
    (void)arg;
    t.accepted++;
    close(fd);
}

static int
con_check_cb(const struct sockaddr *sa, size_t salen, void *arg)
{
    ck_assert_ptr_eq(arg, &t);
    ck_assert_uint_le(salen, sizeof(t.seen));
    memcpy(&t.seen, sa, salen);
    t.seen_len = salen;
    t.checks++;
    return t.refuse;
}

static void
con_connect_cb(struct bufferevent *bev, int rv, void *arg)
{
    (void)arg;
    t.connects++;
    t.connect_rv = rv;
    if (bev != NULL) {
        t.peer_len = sizeof(t.peer);
        ck_assert_int_eq(
                getpeername(bufferevent_getfd(bev), (struct sockaddr *)&t.peer, &t.peer_len), 0);
        bufferevent_free(bev);
    }
    event_base_loopexit(t.base, NULL);
}

static void
con_listen(void)
{
    struct df_error err = {{0}};

    ck_assert_msg(net_listener_new(t.base, "127.0.0.1:0", 0, con_accept_cb, NULL, &t.l, &err) == 0,
                  "%s", err.msg);
}

/* The check saw 127.0.0.1 with the listener's port. */
static void
con_assert_seen_listener(void)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&t.seen;
    char ip[INET_ADDRSTRLEN];

    ck_assert_int_eq(in->sin_family, AF_INET);
    ck_assert_uint_eq(t.seen_len, sizeof(*in));
    ck_assert_str_eq(inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)), "127.0.0.1");
    ck_assert_uint_eq(ntohs(in->sin_port), net_listener_port(t.l));
}

/* A refused literal: the owner hears the check's code from the loop; nothing connects. */
START_TEST(test_refused_literal)
{
    t.refuse = DF_EPERM;
    con_listen();
    ck_assert_int_eq(net_connect_start_checked(t.base, t.dns, "127.0.0.1", net_listener_port(t.l),
                                               2000, con_check_cb, &t, con_connect_cb, NULL, NULL),
                     0);
    ck_assert_int_eq(t.connects, 0); /* never from inside the start call */
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, DF_EPERM);
    ck_assert_int_eq(t.checks, 1);
    con_assert_seen_listener();
    /* Give a stray connect time to arrive: none may. */
    {
        struct timeval tv = {0, 100000};
        event_base_loopexit(t.base, &tv);
        event_base_dispatch(t.base);
    }
    ck_assert_int_eq(t.accepted, 0);
}

END_TEST

/* An allowed address is connected to, and it is the address that was checked. */
START_TEST(test_allowed_is_connected)
{
    con_listen();
    ck_assert_int_eq(net_connect_start_checked(t.base, t.dns, "127.0.0.1", net_listener_port(t.l),
                                               2000, con_check_cb, &t, con_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, 0);
    ck_assert_int_eq(t.checks, 1);
    con_assert_seen_listener();
    ck_assert_uint_eq(t.peer_len, t.seen_len);
    ck_assert_int_eq(memcmp(&t.peer, &t.seen, t.seen_len), 0);
}

END_TEST

/* A name (from /etc/hosts through evdns) is checked as the address it resolved to. */
START_TEST(test_name_checked_resolved)
{
    t.refuse = DF_EPERM;
    con_listen();
    ck_assert_int_eq(net_connect_start_checked(t.base, t.dns, "localhost", net_listener_port(t.l),
                                               2000, con_check_cb, &t, con_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, DF_EPERM);
    ck_assert_int_ge(t.checks, 1);
    ck_assert_int_eq(t.accepted, 0);
    ck_assert(t.seen.ss_family == AF_INET || t.seen.ss_family == AF_INET6);
}

END_TEST

/* A unix path goes through the check too, as an AF_UNIX address. */
START_TEST(test_unix_checked)
{
    t.refuse = DF_EPERM;
    ck_assert_int_eq(net_connect_start_checked(t.base, t.dns, "unix:/nonexistent/df.sock", 0, 2000,
                                               con_check_cb, &t, con_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, DF_EPERM);
    ck_assert_int_eq(t.seen.ss_family, AF_UNIX);
}

END_TEST

/*
 * An unknown name fails as DNS before any check. The resolver's only nameserver is a closed
 * port on loopback, so the test asks nobody outside the machine.
 */
START_TEST(test_dns_failure)
{
    struct evdns_base *dns = evdns_base_new(t.base, 0);

    ck_assert_ptr_nonnull(dns);
    ck_assert_int_eq(evdns_base_nameserver_ip_add(dns, "127.0.0.1:9"), 0);
    ck_assert_int_eq(evdns_base_set_option(dns, "timeout:", "0.2"), 0);
    ck_assert_int_eq(evdns_base_set_option(dns, "attempts:", "1"), 0);
    ck_assert_int_eq(net_connect_start_checked(t.base, dns, "no-such-host.invalid", 80, 2000,
                                               con_check_cb, &t, con_connect_cb, NULL, NULL),
                     0);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connect_rv, DF_EDNS);
    ck_assert_int_eq(t.checks, 0);
    net_dns_free(dns);
}

END_TEST

/* Cancel while the answer is pending in the loop: no callback. */
START_TEST(test_cancel_after_refusal)
{
    struct net_connect *c = NULL;
    struct timeval tv = {0, 100000};

    t.refuse = DF_EPERM;
    ck_assert_int_eq(net_connect_start_checked(t.base, t.dns, "127.0.0.1", 9, 2000, con_check_cb,
                                               &t, con_connect_cb, NULL, &c),
                     0);
    net_connect_cancel(c);
    event_base_loopexit(t.base, &tv);
    event_base_dispatch(t.base);
    ck_assert_int_eq(t.connects, 0);
}

END_TEST

Suite *test_net_connect_suite(void);

Suite *
test_net_connect_suite(void)
{
    Suite *s = suite_create("net_connect");
    TCase *tc = tcase_create("check");

    tcase_add_checked_fixture(tc, con_setup, con_teardown);
    tcase_set_timeout(tc, 15);
    tcase_add_test(tc, test_refused_literal);
    tcase_add_test(tc, test_allowed_is_connected);
    tcase_add_test(tc, test_name_checked_resolved);
    tcase_add_test(tc, test_unix_checked);
    tcase_add_test(tc, test_dns_failure);
    tcase_add_test(tc, test_cancel_after_refusal);
    suite_add_tcase(s, tc);
    return s;
}
