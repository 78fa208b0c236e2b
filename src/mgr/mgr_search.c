/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The searcher: which scheduler clusters a peer is offered, best first. The score is
 * upstream's (D:manager/searcher/searcher.go): 0.3 CIDR + 0.3 hostname + 0.25 IDC +
 * 0.14 location + 0.01 default. Any match outweighs the default bonus, so a cluster whose
 * scopes match nothing is never offered before one that matches; among equal scores the
 * default cluster, then the lower id, comes first (upstream's sort is not stable, so its
 * order among ties varies from call to call). Pure: the caller reads the clusters.
 */
#include "mgr.h"

#include <arpa/inet.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df/df_json.h"

#define MGR_SEARCH_CIDR      0.3
#define MGR_SEARCH_HOSTNAME  0.3
#define MGR_SEARCH_IDC       0.25
#define MGR_SEARCH_LOCATION  0.14
#define MGR_SEARCH_DEFAULT   0.01
#define MGR_SEARCH_MAX_ELEMS 5

/* An address as 16 bytes (IPv4 as IPv4-mapped IPv6) and whether it was IPv4. */
static bool
mgr_search_addr(const char *s, uint8_t out[16], bool *v4)
{
    struct in_addr a4;

    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, &a4) == 1) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, s, out) != 1)
        return false;
    /* an IPv4-mapped address is the IPv4 address it carries */
    *v4 = memcmp(out, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
    return true;
}

/* True when ip is inside cidr ("10.0.0.0/8", "fd00::/8"); a malformed cidr matches nothing. */
bool
mgr_search_cidr_match(const char *cidr, const char *ip)
{
    uint8_t net[16], addr[16];
    bool net4, addr4;
    char buf[64];
    char *slash, *end;
    long bits;

    if (strlen(cidr) >= sizeof(buf) || !mgr_search_addr(ip, addr, &addr4))
        return false;
    strcpy(buf, cidr);
    if ((slash = strchr(buf, '/')) == NULL)
        return false;
    *slash = '\0';
    bits = strtol(slash + 1, &end, 10);
    if (*end != '\0' || end == slash + 1 || !mgr_search_addr(buf, net, &net4) || net4 != addr4 ||
        bits < 0 || bits > (net4 ? 32 : 128))
        return false;
    if (net4)
        bits += 96;
    for (long i = 0; i < bits; i++) {
        uint8_t m = (uint8_t)(0x80 >> (i % 8));

        if ((net[i / 8] & m) != (addr[i / 8] & m))
            return false;
    }
    return true;
}

/* IDC: equal, or equal to one "|"-element of the scope (case-insensitive). */
static double
mgr_search_idc(const char *scope, const char *idc)
{
    size_t n = strlen(idc);
    const char *p = scope, *bar;

    if (*scope == '\0' || *idc == '\0')
        return 0;
    for (;;) {
        bar = strchr(p, '|');
        if ((size_t)((bar != NULL ? bar : p + strlen(p)) - p) == n && strncasecmp(p, idc, n) == 0)
            return 1;
        if (bar == NULL)
            return 0;
        p = bar + 1;
    }
}

/* Location: the leading "|"-elements equal (at most 5) over 5; all of it equal is 1. */
static double
mgr_search_location(const char *scope, const char *loc)
{
    const char *a = scope, *b = loc, *ea, *eb;
    int score = 0;

    if (*scope == '\0' || *loc == '\0')
        return 0;
    if (strcasecmp(scope, loc) == 0)
        return 1;
    while (score < MGR_SEARCH_MAX_ELEMS) {
        ea = strchr(a, '|');
        eb = strchr(b, '|');
        ea = ea != NULL ? ea : a + strlen(a);
        eb = eb != NULL ? eb : b + strlen(b);
        if (ea - a != eb - b || strncasecmp(a, b, (size_t)(ea - a)) != 0)
            break;
        score++;
        if (*ea == '\0' || *eb == '\0')
            break;
        a = ea + 1;
        b = eb + 1;
    }
    return (double)score / MGR_SEARCH_MAX_ELEMS;
}

/* 1 when any string of the array key of scopes satisfies fn(item, arg). */
static double
mgr_search_any(const cJSON *scopes, const char *key, bool (*fn)(const char *, const char *),
               const char *arg)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(scopes, key), *it;

    if (arg == NULL || *arg == '\0' || !cJSON_IsArray(arr))
        return 0;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && fn(it->valuestring, arg))
            return 1;
    }
    return 0;
}

/* Go's regexp.MatchString, as POSIX extended: a pattern that does not compile matches nothing. */
static bool
mgr_search_regex_match(const char *pattern, const char *hostname)
{
    regex_t re;
    bool ok;

    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    ok = regexec(&re, hostname, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static const char *
mgr_search_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

double
mgr_search_score(const char *scopes, bool is_default, const struct mgr_search_host *h)
{
    cJSON *doc = scopes != NULL ? cJSON_Parse(scopes) : NULL;
    double score = is_default ? MGR_SEARCH_DEFAULT : 0;

    if (cJSON_IsObject(doc)) {
        score += MGR_SEARCH_CIDR * mgr_search_any(doc, "cidrs", mgr_search_cidr_match, h->ip);
        score += MGR_SEARCH_HOSTNAME *
                 mgr_search_any(doc, "hostnames", mgr_search_regex_match, h->hostname);
        score += MGR_SEARCH_IDC *
                 mgr_search_idc(mgr_search_str(doc, "idc"), h->idc != NULL ? h->idc : "");
        score += MGR_SEARCH_LOCATION * mgr_search_location(mgr_search_str(doc, "location"),
                                                           h->location != NULL ? h->location : "");
    }
    cJSON_Delete(doc);
    return score;
}

static int
mgr_search_cmp(const void *a, const void *b)
{
    const struct mgr_search_item *x = a, *y = b;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void
mgr_search_sort(struct mgr_search_item *v, size_t n, const struct mgr_search_host *h)
{
    for (size_t i = 0; i < n; i++)
        v[i].score = mgr_search_score(v[i].scopes, v[i].is_default, h);
    qsort(v, n, sizeof(*v), mgr_search_cmp);
}
