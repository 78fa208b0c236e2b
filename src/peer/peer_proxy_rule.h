/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the proxy decides from a request alone, with no I/O: which registry a mirror request
 * (origin-form "/v2/...") goes to, the URL it becomes there, and whether that URL is one the
 * rules send through a P2P task. Pure functions, unit-tested on their own.
 */
#ifndef PEER_PROXY_RULE_H
#define PEER_PROXY_RULE_H

#include <regex.h>
#include <stdbool.h>

#include "df/df_conf.h"
#include "df/df_err.h"

struct peer_proxy_rule_set;

/* One of proxy.rules: URLs its regex matches become P2P tasks, with these changes. */
struct peer_proxy_rule {
    regex_t re;
    bool compiled;
    bool use_tls;   /* useTLS: an http:// URL is fetched over https */
    char *redirect; /* redirect: host[:port] fetched from instead of the URL's; NULL: none */
    char *filtered; /* filteredQueryParams, '&'-separated ("" for none); NULL: the default */
};

/*
 * Compile proxy.rules: each entry a regex (POSIX extended, unanchored: "blobs/sha256.*"
 * matches anywhere in the URL) or a rule object's JSON text ({"regex": ..., "useTLS": bool,
 * "redirect": "host[:port]", "filteredQueryParams": [names]}). Returns 0 and *out (free with
 * peer_proxy_rule_set_free), or DF_EINVAL with a message in err naming the bad one.
 */
int peer_proxy_rule_set_new(const struct df_conf_list *rules, struct peer_proxy_rule_set **out,
                            struct df_error *err);

/* The same for plain regexes of config key key (named in the message). */
int peer_proxy_rule_set_new_for(const char *key, const struct df_conf_list *regexes,
                                struct peer_proxy_rule_set **out, struct df_error *err);

/* Free rs; NULL is a no-op. */
void peer_proxy_rule_set_free(struct peer_proxy_rule_set *rs);

/* The first of rs's rules that matches url (the URL without its query and fragment), or NULL. */
const struct peer_proxy_rule *peer_proxy_rule_set_match(const struct peer_proxy_rule_set *rs,
                                                        const char *url);

/* True when one of rs's rules matches url. */
bool peer_proxy_rule_set_is_match(const struct peer_proxy_rule_set *rs, const char *url);

/*
 * url with r's useTLS and redirect applied (the scheme, then the authority; path and query
 * kept). Returns 0 and *out (the caller frees it), or DF_EINVAL with a message in err.
 */
int peer_proxy_rule_apply(const struct peer_proxy_rule *r, const char *url, char **out,
                          struct df_error *err);

/*
 * The upstream of a mirror request, in the order of precedence: the X-Dragonfly-Registry
 * header value (registry, may be NULL), containerd's ns= query parameter (query: the raw
 * query or NULL), then the configured mirror (may be NULL). An ns= value that one of
 * registries ("ns=origin" entries, may be NULL) names goes to that origin; any other gets
 * https:// prepended (docker.io means registry-1.docker.io, as it does for containerd).
 * Returns 0 and *out ("scheme://host[:port]", the caller frees it), or DF_EINVAL with a
 * message in err when the chosen value is not an http(s) origin, or when none is given.
 */
int peer_proxy_rule_upstream(const char *registry, const char *query,
                             const struct df_conf_list *registries, const char *mirror, char **out,
                             struct df_error *err);

/*
 * Check the entries of registries ("ns=origin", origin a bare http(s) origin). 0, or
 * DF_EINVAL with a message in err naming the bad entry.
 */
int peer_proxy_rule_registries_check(const struct df_conf_list *registries, struct df_error *err);

/*
 * The URL of path[?query] at upstream (as peer_proxy_rule_upstream gives it), normalised;
 * *bare gets the same URL without the query (what rules match). Returns 0 with both (the
 * caller frees them), or DF_EINVAL / DF_ETOOBIG with a message in err.
 */
int peer_proxy_rule_url_new(const char *upstream, const char *path, const char *query, char **out,
                            char **bare, struct df_error *err);

#endif
