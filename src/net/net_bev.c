/* SPDX-License-Identifier: Apache-2.0 */
/* Large reads into a socket bufferevent's input, writes without a write event; see net_bev.h. */
#include "df/net_bev.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "df/net_tls.h"

#define NET_BEV_READ_CHUNK (256 * 1024)

/* Read into in while the socket has data, up to the watermark high (0: none) or max. */
static size_t
net_bev_read_loop(struct evbuffer *in, evutil_socket_t fd, size_t high, size_t max)
{
    struct evbuffer_iovec vec[2];
    size_t added = 0, len, want;
    ssize_t n;
    int nvec;

    for (;;) {
        len = evbuffer_get_length(in);
        want = high != 0 ? (high > len ? high - len : 0) : max - added;
        if (want > max - added)
            want = max - added;
        if (want > NET_BEV_READ_CHUNK)
            want = NET_BEV_READ_CHUNK;
        if (want == 0)
            return added;
        nvec = evbuffer_reserve_space(in, (ev_ssize_t)want, vec, 2);
        if (nvec <= 0)
            return added;
        if (vec[0].iov_len >= want) {
            vec[0].iov_len = want;
            nvec = 1;
        } else if (nvec == 2 && vec[0].iov_len + vec[1].iov_len > want)
            vec[1].iov_len = want - vec[0].iov_len;
        do
            n = readv(fd, (struct iovec *)vec, nvec);
        while (n == -1 && errno == EINTR);
        if (n <= 0) {
            evbuffer_commit_space(in, vec, 0);
            return added;
        }
        /* Commit exactly n bytes across the reserved vectors. */
        if ((size_t)n <= vec[0].iov_len) {
            vec[0].iov_len = (size_t)n;
            nvec = 1;
        } else
            vec[1].iov_len = (size_t)n - vec[0].iov_len;
        if (evbuffer_commit_space(in, vec, nvec) != 0)
            return added;
        added += (size_t)n;
        if ((size_t)n < want)
            return added; /* the socket is drained */
    }
}

size_t
net_bev_read_more(struct bufferevent *bev, size_t max)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t low = 0, high = 0, added;
    evutil_socket_t fd;

    if (net_tls_is_tls(bev) || (fd = bufferevent_getfd(bev)) < 0)
        return 0;
    bufferevent_getwatermark(bev, EV_READ, &low, &high);
    /* libevent keeps a socket bufferevent's input frozen at its end between its own reads. */
    evbuffer_unfreeze(in, 0);
    added = net_bev_read_loop(in, fd, high, max);
    evbuffer_freeze(in, 0);
    return added;
}

void
net_bev_write_now(struct bufferevent *bev, struct evbuffer *staged)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    evutil_socket_t fd;

    if (evbuffer_get_length(out) == 0 && !net_tls_is_tls(bev) &&
        bufferevent_get_underlying(bev) == NULL && (fd = bufferevent_getfd(bev)) >= 0)
        (void)evbuffer_write(staged, fd);
    evbuffer_add_buffer(out, staged);
}
