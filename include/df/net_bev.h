/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers on plain socket bufferevents. libevent 2.1 reads at most 4 KiB per read event
 * (EVBUFFER_MAX_READ), which caps a fast body at a few hundred MB/s and costs two syscalls
 * per 4 KiB; net_bev_read_more() drains what the socket already holds in large reads.
 * Writes go out when the socket is writable, through a write event armed and disarmed
 * (two epoll_ctl calls) around each burst; net_bev_write_now() spares a small whole answer
 * that round trip.
 */
#ifndef DF_NET_BEV_H
#define DF_NET_BEV_H

#include <stddef.h>

struct bufferevent;

/*
 * From a read callback: read what the socket holds into bev's input, up to its read high
 * watermark (or max bytes when there is none), in reads of up to 256 KiB. Does nothing for
 * bufferevents without a socket of their own (TLS, pairs). Never reports EOF or errors:
 * libevent sees them on its next read. Returns the bytes added.
 */
size_t net_bev_read_more(struct bufferevent *bev, size_t max);

struct evbuffer;

/*
 * Move staged to bev's output, writing to the socket at once what it takes when nothing is
 * queued before it on a socket of bev's own (not TLS, not a pair); the rest, or everything
 * otherwise, is appended to the output and goes out as usual. A write error is left for
 * libevent's own write to meet and report. staged is empty on return.
 */
void net_bev_write_now(struct bufferevent *bev, struct evbuffer *staged);

#endif
