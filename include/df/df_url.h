/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http/https URLs: a strict parser that normalises the way the WHATWG URL parser (Rust's
 * `url` crate, which Dragonfly's client uses) does for these schemes, and the canonical URL
 * that goes into a task id: the URL with filtered query parameters removed (Dragonfly's
 * default list of presigning parameters plus the caller's). Control characters, spaces,
 * backslashes, non-ASCII host names and bad ports are rejected with a message.
 */
#ifndef DF_DF_URL_H
#define DF_DF_URL_H

#include <stdbool.h>
#include <stdint.h>

#include "df/df_err.h"

/* Longest URL accepted, in bytes (DF_ETOOBIG above). */
#define DF_URL_MAX_LEN 16384

/* A parsed URL; every string is owned by the struct (df_url_reset frees them). */
struct df_url {
    char *scheme;      /* "http" or "https" */
    char *userinfo;    /* "user" or "user:password", percent-encoded; NULL if none */
    char *host;        /* lowercase name, dotted IPv4, or IPv6 without brackets */
    bool host_is_ipv6; /* host needs brackets in a URL or Host header */
    uint16_t port;     /* the explicit port, or 80/443 */
    char *path;        /* starts with '/', dot segments resolved, unsafe bytes %-encoded */
    char *query;       /* raw text after '?'; NULL when there is no '?' */
    char *fragment;    /* raw text after '#'; NULL if none. Never sent to an origin. */
};

/*
 * Canonical URL options. The default matches the Rust client's task id (v1.x): remaining
 * query parameters keep their order and are always re-serialised as
 * application/x-www-form-urlencoded. SORT matches the newer scheduler/client rule: stable
 * sort by key, Go url.QueryEscape escaping, segments with ';' dropped, and the URL left
 * byte-for-byte as given when the filter list is empty.
 */
#define DF_URL_CANON_SORT        0x1u /* sorted form, see above */
#define DF_URL_CANON_NO_DEFAULTS 0x2u /* filter only the caller's list */

/*
 * Parse the NUL-terminated s into *out (the caller releases it with df_url_reset). Returns
 * DF_EINVAL (DF_ETOOBIG over DF_URL_MAX_LEN) with a message in err; *out is untouched on
 * failure.
 */
int df_url_parse(const char *s, struct df_url *out, struct df_error *err);

/* Free the strings of u and zero it; u may be NULL or already reset. */
void df_url_reset(struct df_url *u);

/*
 * Serialise u normalised: scheme://[userinfo@]host[:port]path[?query], the port only when
 * not the scheme's default, plus "#fragment" when with_fragment. The caller frees it.
 */
char *df_url_to_str(const struct df_url *u, bool with_fragment);

/* The request target for an origin request: "path[?query]". The caller frees it. */
char *df_url_target_to_str(const struct df_url *u);

/* The Host header value: host (bracketed if IPv6) plus ":port" when not the default. */
char *df_url_authority_to_str(const struct df_url *u);

/* Dragonfly's default filtered query parameters as one '&'-separated string (static). */
const char *df_url_default_filtered_params(void);

/*
 * Build the canonical URL of url for a task id into *out (the caller frees it): the query
 * parameters named in Dragonfly's default list (unless DF_URL_CANON_NO_DEFAULTS) or in
 * filtered (an '&'-separated list of names, may be NULL) are removed, and a bare "/" path
 * loses its trailing slash. flags are DF_URL_CANON_*. Errors as df_url_parse; *out is
 * untouched on failure.
 */
int df_url_canonical_new(const char *url, const char *filtered, unsigned flags, char **out,
                         struct df_error *err);

#endif
