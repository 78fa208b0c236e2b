/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers on plain socket bufferevents. libevent 2.1 reads at most 4 KiB per read event
 * (EVBUFFER_MAX_READ), which caps a fast body at a few hundred MB/s and costs two syscalls
 * per 4 KiB; net_bev_read_more() drains what the socket already holds in large reads.
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

#endif
