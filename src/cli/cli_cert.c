/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `dragonfly cert`: a cluster CA and host certificates with mbedtls (ECDSA P-256, SHA-256),
 * no openssl needed. A host certificate names its host and role the way net_tls reads them
 * (subject CN=<host>, OU=<role>, O=dragonfly), carries SANs for the host's DNS names and IPs
 * for other tools, and is good for both server and client auth. Files appear whole or not
 * at all: each is written to a temp file beside it, synced, then renamed; keys are 0600.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "df/df_conf.h"
#include "df/df_fs.h"
#include "df/net_tls.h"
#include "df/net_x509.h"
#include "df/roles.h"
#include "df/xmalloc.h"

#define CLI_CERT_SKEW     3600 /* not-before is backdated this much for clock skew */
#define CLI_CERT_DAY      86400
#define CLI_CERT_CA_DAYS  3650
#define CLI_CERT_DAYS     365
#define CLI_CERT_DAYS_MAX 36500
#define CLI_CERT_NAME_MAX 64
#define CLI_CERT_SANS_MAX 32 /* of each kind */
#define CLI_CERT_PEM_MAX  16384

struct cli_cert_config {
    char *dir;
    char *name;
    char *role;
    char *host;
    struct df_conf_list ip;
    struct df_conf_list dns;
    char *days; /* text: unset must differ from any number */
    char *not_after;
    char *out;
    bool force;
};

#define F(x) offsetof(struct cli_cert_config, x)

static const struct df_conf_entry cli_cert_ca_entries[] = {
        {.key = "dir",
         .type = DF_CONF_STRING,
         .offset = F(dir),
         .metavar = "DIR",
         .flags = DF_CONF_REQUIRED,
         .help = "where ca.crt and ca.key go (created 0700)"},
        {.key = "name",
         .type = DF_CONF_STRING,
         .offset = F(name),
         .def = "dragonfly cluster CA",
         .help = "the CA's common name"},
        {.key = "days",
         .type = DF_CONF_STRING,
         .offset = F(days),
         .metavar = "N",
         .help = "valid for this many days, 1..36500 (default 3650)"},
        {.key = "notAfter",
         .type = DF_CONF_STRING,
         .offset = F(not_after),
         .metavar = "YYYY-MM-DD[Thh:mm:ssZ]",
         .help = "valid until then (UTC) instead of --days"},
        {.key = "force",
         .type = DF_CONF_BOOL,
         .offset = F(force),
         .help = "replace an existing CA (every certificate it issued stops verifying)"},
};

static const struct df_conf_entry cli_cert_issue_entries[] = {
        {.key = "dir",
         .type = DF_CONF_STRING,
         .offset = F(dir),
         .metavar = "DIR",
         .flags = DF_CONF_REQUIRED,
         .help = "the CA's directory (ca.crt, ca.key)"},
        {.key = "role",
         .type = DF_CONF_STRING,
         .offset = F(role),
         .metavar = "peer|seed|scheduler|manager",
         .flags = DF_CONF_REQUIRED,
         .help = "what the host may act as"},
        {.key = "host",
         .type = DF_CONF_STRING,
         .offset = F(host),
         .metavar = "HOSTNAME",
         .flags = DF_CONF_REQUIRED,
         .help = "the host's name as it announces itself"},
        {.key = "ip", .type = DF_CONF_LIST, .offset = F(ip), .metavar = "IP", .help = "an IP SAN"},
        {.key = "dns",
         .type = DF_CONF_LIST,
         .offset = F(dns),
         .metavar = "NAME",
         .help = "a DNS SAN besides HOSTNAME"},
        {.key = "days",
         .type = DF_CONF_STRING,
         .offset = F(days),
         .metavar = "N",
         .help = "valid for this many days, 1..36500 (default 365)"},
        {.key = "notAfter",
         .type = DF_CONF_STRING,
         .offset = F(not_after),
         .metavar = "YYYY-MM-DD[Thh:mm:ssZ]",
         .help = "valid until then (UTC) instead of --days"},
        {.key = "out",
         .type = DF_CONF_STRING,
         .offset = F(out),
         .metavar = "PREFIX",
         .flags = DF_CONF_REQUIRED,
         .help = "write PREFIX.crt and PREFIX.key"},
        {.key = "force",
         .type = DF_CONF_BOOL,
         .offset = F(force),
         .help = "replace existing PREFIX.crt and PREFIX.key"},
};

#undef F

static const struct df_conf_spec cli_cert_ca_spec = {
        .cmd = "dragonfly cert ca",
        .summary = "Create a cluster CA: DIR/ca.crt and DIR/ca.key (ECDSA P-256). Keep ca.key "
                   "off the hosts; only `cert issue` needs it.",
        .entries = cli_cert_ca_entries,
        .n_entries = DF_NELEM(cli_cert_ca_entries),
        .size = sizeof(struct cli_cert_config),
};

static const struct df_conf_spec cli_cert_issue_spec = {
        .cmd = "dragonfly cert issue",
        .summary = "Issue a host certificate signed by the CA in DIR, naming the host (subject "
                   "CN) and its role (subject OU), for server and client auth.",
        .entries = cli_cert_issue_entries,
        .n_entries = DF_NELEM(cli_cert_issue_entries),
        .size = sizeof(struct cli_cert_config),
};

/* Everything one run holds; cli_cert_reset() frees it on every path. */
struct cli_cert {
    bool is_ca; /* `cert ca`, else `cert issue` */
    struct cli_cert_config cfg;
    enum net_tls_role role; /* issue: parsed --role */
    time_t not_before, not_after;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context key;    /* the new key */
    mbedtls_pk_context ca_key; /* issue: the CA's key */
    mbedtls_x509_crt ca;       /* issue: the CA's certificate */
    mbedtls_x509write_cert w;
    unsigned char pem_crt[CLI_CERT_PEM_MAX];
    unsigned char pem_key[CLI_CERT_PEM_MAX];
    char msg[600];
};

static void
cli_cert_init(struct cli_cert *c, bool is_ca)
{
    memset(c, 0, sizeof(*c));
    c->is_ca = is_ca;
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_pk_init(&c->key);
    mbedtls_pk_init(&c->ca_key);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509write_crt_init(&c->w);
}

static void
cli_cert_reset(struct cli_cert *c, const struct df_conf_spec *spec)
{
    mbedtls_platform_zeroize(c->pem_key, sizeof(c->pem_key));
    mbedtls_x509write_crt_free(&c->w);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_pk_free(&c->ca_key);
    mbedtls_pk_free(&c->key);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    df_conf_reset(spec, &c->cfg);
}

/* Fill c->msg with "what: mbedtls's reason" and return -1. */
static int
cli_cert_mbedtls_fail(struct cli_cert *c, const char *what, int mrv)
{
    char buf[160];

    mbedtls_strerror(mrv, buf, sizeof(buf));
    snprintf(c->msg, sizeof(c->msg), "%.400s: %s", what, buf);
    return -1;
}

static int cli_cert_fail(struct cli_cert *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int
cli_cert_fail(struct cli_cert *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDThh:mm:ssZ", UTC, to a time. */
static int
cli_cert_parse_time(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    time_t t;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    if (s[n] != '\0' &&
        (sscanf(s + n, "T%2d:%2d:%2dZ%n", &h, &mi, &sec, &n) != 3 || n != 10 || s[20] != '\0'))
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 59 || h < 0 || mi < 0 || sec < 0)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* timegm normalised a 31st that does not exist */
        return -1;
    *out = t;
    return 0;
}

/* t as people read it ("YYYY-MM-DD hh:mm UTC"). */
static const char *
cli_cert_fmt_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

/* The validity window from --days or --not-after into c. */
static int
cli_cert_check_validity(struct cli_cert *c)
{
    time_t now = time(NULL);
    long days = c->is_ca ? CLI_CERT_CA_DAYS : CLI_CERT_DAYS;
    char *end;

    if (c->cfg.days != NULL && c->cfg.not_after != NULL)
        return cli_cert_fail(c, "--days and --not-after exclude each other");
    if (c->cfg.days != NULL) {
        errno = 0;
        days = strtol(c->cfg.days, &end, 10);
        if (errno != 0 || end == c->cfg.days || *end != '\0' || days < 1 ||
            days > CLI_CERT_DAYS_MAX)
            return cli_cert_fail(c, "--days: expected 1..%d, got \"%s\"", CLI_CERT_DAYS_MAX,
                                 c->cfg.days);
    }
    c->not_before = now - CLI_CERT_SKEW;
    c->not_after = now + (time_t)days * CLI_CERT_DAY;
    if (c->cfg.not_after != NULL && cli_cert_parse_time(c->cfg.not_after, &c->not_after) != 0)
        return cli_cert_fail(c,
                             "--not-after: expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ, got "
                             "\"%s\"",
                             c->cfg.not_after);
    /* A not-after in the past (for tests of expiry) still needs a window before it. */
    if (c->not_after <= c->not_before)
        c->not_before = c->not_after - CLI_CERT_DAY;
    return 0;
}

/* A DNS SAN: the host rule without '_'. */
static bool
cli_cert_dns_is_valid(const char *s)
{
    return net_tls_host_is_valid(s) && strchr(s, '_') == NULL;
}

static int
cli_cert_rng_init(struct cli_cert *c)
{
    static const unsigned char pers[] = "dragonfly-cert";
    int mrv;

    mrv = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, pers,
                                sizeof(pers) - 1);
    if (mrv != 0)
        return cli_cert_mbedtls_fail(c, "seed the random generator", mrv);
    return 0;
}

/* A fresh P-256 key into c->key, its PEM into c->pem_key. */
static int
cli_cert_new_key(struct cli_cert *c)
{
    struct df_error err;
    int mrv;

    if (net_x509_key_new(&c->key, mbedtls_ctr_drbg_random, &c->drbg, &err) != 0)
        return cli_cert_fail(c, "%s", err.msg);
    if ((mrv = mbedtls_pk_write_key_pem(&c->key, c->pem_key, sizeof(c->pem_key))) != 0)
        return cli_cert_mbedtls_fail(c, "encode the key", mrv);
    return 0;
}

/* What every certificate gets (net_x509_set_common) for subject and c's validity window. */
static int
cli_cert_set_common(struct cli_cert *c, const char *subject)
{
    struct df_error err;

    if (net_x509_set_common(&c->w, &c->key, subject, c->not_before, c->not_after,
                            mbedtls_ctr_drbg_random, &c->drbg, &err) != 0)
        return cli_cert_fail(c, "%s", err.msg);
    return 0;
}

/* Sign what c->w holds into c->pem_crt. */
static int
cli_cert_sign(struct cli_cert *c)
{
    int mrv;

    mrv = mbedtls_x509write_crt_pem(&c->w, c->pem_crt, sizeof(c->pem_crt), mbedtls_ctr_drbg_random,
                                    &c->drbg);
    if (mrv != 0)
        return cli_cert_mbedtls_fail(c, "sign the certificate", mrv);
    return 0;
}

/*
 * Write data to a new temp file beside path with mode, synced. Returns the temp path (the
 * caller frees it and renames or unlinks the file), or NULL with c->msg set.
 */
static char *
cli_cert_write_temp(struct cli_cert *c, const char *path, const unsigned char *data, mode_t mode)
{
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    size_t len = strlen((const char *)data), done = 0;
    bool created = false;
    ssize_t n;
    int fd;

    if ((fd = mkstemp(tmp)) == -1) {
        cli_cert_fail(c, "%s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    created = true;
    if (fchmod(fd, mode) != 0) {
        cli_cert_fail(c, "%s: chmod: %s", tmp, strerror(errno));
        goto fail;
    }
    while (done < len) {
        n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cli_cert_fail(c, "%s: write: %s", tmp, strerror(n < 0 ? errno : EIO));
            goto fail;
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0) {
        cli_cert_fail(c, "%s: fsync: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        cli_cert_fail(c, "%s: close: %s", tmp, strerror(errno));
        goto fail;
    }
    return tmp;
fail:
    if (fd != -1)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return NULL;
}

/* Rename tmp to path, replacing an existing file only when forced. */
static int
cli_cert_place(struct cli_cert *c, const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, c->cfg.force ? 0 : RENAME_NOREPLACE) == 0)
        return 0;
    return cli_cert_fail(c, "%s: %s", path,
                         errno == EEXIST ? "exists (use --force to replace it)" : strerror(errno));
}

/*
 * Put the key and certificate in place as a pair: both written to temp files first, the
 * key renamed before the certificate, and the key taken back if the certificate cannot
 * follow. Without force, an existing file is never replaced (RENAME_NOREPLACE).
 */
static int
cli_cert_write_pair(struct cli_cert *c, const char *crt_path, const char *key_path)
{
    char *tmp_crt = NULL, *tmp_key = NULL, *dir = NULL, *slash;
    bool key_placed = false, crt_placed = false;
    int rv = -1;

    if ((tmp_key = cli_cert_write_temp(c, key_path, c->pem_key, 0600)) == NULL ||
        (tmp_crt = cli_cert_write_temp(c, crt_path, c->pem_crt, 0644)) == NULL)
        goto out;
    if (cli_cert_place(c, tmp_key, key_path) != 0)
        goto out;
    key_placed = true;
    if (cli_cert_place(c, tmp_crt, crt_path) != 0)
        goto out;
    crt_placed = true;
    dir = xstrdup(crt_path);
    if ((slash = strrchr(dir, '/')) != NULL)
        *(slash == dir ? slash + 1 : slash) = '\0';
    /* The renames are durable once the directory is; a failure here loses nothing yet. */
    if (df_fs_fsync_dir(slash != NULL ? dir : ".") != 0) {
        cli_cert_fail(c, "%s: fsync directory: %s", dir, strerror(errno));
        goto out;
    }
    rv = 0;
out:
    /* A forced run has replaced the old key already: leaving the new one is all it can do. */
    if (key_placed && !crt_placed && !c->cfg.force)
        unlink(key_path);
    if (tmp_key != NULL) {
        unlink(tmp_key);
        free(tmp_key);
    }
    if (tmp_crt != NULL) {
        unlink(tmp_crt);
        free(tmp_crt);
    }
    free(dir);
    return rv;
}

/* Refuse before any work when a file is there already (the rename checks again). */
static int
cli_cert_check_absent(struct cli_cert *c, const char *path, const char *what)
{
    if (c->cfg.force || access(path, F_OK) != 0)
        return 0;
    return cli_cert_fail(c, "%s exists (use --force to replace %s)", path, what);
}

/* A CA name goes into the subject string as is: keep to characters that need no escaping. */
static bool
cli_cert_name_is_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > CLI_CERT_NAME_MAX || s[0] == ' ')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(" -_.:()", *s) != NULL))
            return false;
    return true;
}

static int
cli_cert_ca_run(struct cli_cert *c)
{
    char crt_path[PATH_MAX], key_path[PATH_MAX], subject[128], until[32];
    struct df_error err;
    int mrv;

    if ((size_t)snprintf(crt_path, sizeof(crt_path), "%s/ca.crt", c->cfg.dir) >= sizeof(crt_path) ||
        (size_t)snprintf(key_path, sizeof(key_path), "%s/ca.key", c->cfg.dir) >= sizeof(key_path))
        return cli_cert_fail(c, "--dir: path too long");
    if (cli_cert_check_absent(c, crt_path, "the CA") != 0 ||
        cli_cert_check_absent(c, key_path, "the CA") != 0)
        return -1;
    if (df_fs_dir_ensure_private(c->cfg.dir, &err) != 0)
        return cli_cert_fail(c, "%s", err.msg);
    snprintf(subject, sizeof(subject), "CN=%s,O=dragonfly", c->cfg.name);
    if (cli_cert_rng_init(c) != 0 || cli_cert_new_key(c) != 0 ||
        cli_cert_set_common(c, subject) != 0)
        return -1;
    mbedtls_x509write_crt_set_issuer_key(&c->w, &c->key);
    if ((mrv = mbedtls_x509write_crt_set_issuer_name(&c->w, subject)) != 0 ||
        (mrv = mbedtls_x509write_crt_set_basic_constraints(&c->w, 1, 0)) != 0 ||
        (mrv = mbedtls_x509write_crt_set_key_usage(&c->w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                                  MBEDTLS_X509_KU_CRL_SIGN)) != 0 ||
        (mrv = mbedtls_x509write_crt_set_authority_key_identifier(&c->w)) != 0)
        return cli_cert_mbedtls_fail(c, "build the CA certificate", mrv);
    if (cli_cert_sign(c) != 0 || cli_cert_write_pair(c, crt_path, key_path) != 0)
        return -1;
    printf("dragonfly cert: wrote %s and %s (CN=%s, valid until %s)\n", crt_path, key_path,
           c->cfg.name, cli_cert_fmt_time(c->not_after, until, sizeof(until)));
    return 0;
}

/* Load DIR/ca.crt and DIR/ca.key and check that they are a CA and its key. */
static int
cli_cert_load_ca(struct cli_cert *c)
{
    char crt_path[PATH_MAX], key_path[PATH_MAX];
    struct df_error err;

    if ((size_t)snprintf(crt_path, sizeof(crt_path), "%s/ca.crt", c->cfg.dir) >= sizeof(crt_path) ||
        (size_t)snprintf(key_path, sizeof(key_path), "%s/ca.key", c->cfg.dir) >= sizeof(key_path))
        return cli_cert_fail(c, "--dir: path too long");
    if (access(crt_path, R_OK) != 0)
        return cli_cert_fail(c, "%s: %s (create a CA with `dragonfly cert ca --dir %s`)", crt_path,
                             strerror(errno), c->cfg.dir);
    if (net_x509_ca_load(&c->ca, &c->ca_key, crt_path, key_path, &err) != 0)
        return cli_cert_fail(c, "%s", err.msg);
    return 0;
}

/*
 * subjectAltName: dNSName HOSTNAME (when it is a DNS name) and each --dns, iPAddress each
 * --ip. No extension when there is none.
 */
static int
cli_cert_set_san(struct cli_cert *c)
{
    const char *dns[CLI_CERT_SANS_MAX + 1];
    size_t ndns = 0;
    struct df_error err;
    int rv;

    if (cli_cert_dns_is_valid(c->cfg.host))
        dns[ndns++] = c->cfg.host;
    for (size_t i = 0; i < c->cfg.dns.n && ndns < DF_NELEM(dns); i++)
        dns[ndns++] = c->cfg.dns.v[i];
    rv = net_x509_set_san(&c->w, dns, ndns, (const char *const *)c->cfg.ip.v, c->cfg.ip.n, &err);
    if (rv == DF_EINVAL)
        return cli_cert_fail(c, "--ip: %s", err.msg);
    if (rv != 0)
        return cli_cert_fail(c, "%s", err.msg);
    return 0;
}

static int
cli_cert_issue_run(struct cli_cert *c)
{
    char crt_path[PATH_MAX], key_path[PATH_MAX], subject[NET_TLS_HOST_MAX + 64];
    char until[32], ca_until[32];
    struct df_error err;
    time_t ca_na;
    int mrv;

    if ((size_t)snprintf(crt_path, sizeof(crt_path), "%s.crt", c->cfg.out) >= sizeof(crt_path) ||
        (size_t)snprintf(key_path, sizeof(key_path), "%s.key", c->cfg.out) >= sizeof(key_path))
        return cli_cert_fail(c, "--out: path too long");
    if (cli_cert_check_absent(c, crt_path, "it") != 0 ||
        cli_cert_check_absent(c, key_path, "it") != 0 || cli_cert_load_ca(c) != 0)
        return -1;
    ca_na = net_x509_time_get(&c->ca.valid_to);
    if (c->not_after > ca_na)
        return cli_cert_fail(c,
                             "the certificate would outlive the CA (valid until %s): "
                             "use fewer --days",
                             cli_cert_fmt_time(ca_na, ca_until, sizeof(ca_until)));
    snprintf(subject, sizeof(subject), "CN=%s,OU=%s,O=dragonfly", c->cfg.host,
             net_tls_role_name(c->role));
    if (cli_cert_rng_init(c) != 0 || cli_cert_new_key(c) != 0 ||
        cli_cert_set_common(c, subject) != 0)
        return -1;
    mbedtls_x509write_crt_set_issuer_key(&c->w, &c->ca_key);
    if (net_x509_set_issuer(&c->w, &c->ca, &err) != 0)
        return cli_cert_fail(c, "%s/ca.crt: %s", c->cfg.dir, err.msg);
    if ((mrv = mbedtls_x509write_crt_set_basic_constraints(&c->w, 0, -1)) != 0 ||
        (mrv = mbedtls_x509write_crt_set_key_usage(&c->w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) !=
                0 ||
        (mrv = mbedtls_x509write_crt_set_authority_key_identifier(&c->w)) != 0)
        return cli_cert_mbedtls_fail(c, "build the certificate", mrv);
    if (net_x509_set_eku(&c->w, true, &err) != 0)
        return cli_cert_fail(c, "%s", err.msg);
    if (cli_cert_set_san(c) != 0 || cli_cert_sign(c) != 0 ||
        cli_cert_write_pair(c, crt_path, key_path) != 0)
        return -1;
    printf("dragonfly cert: wrote %s and %s (%s %s, valid until %s)\n", crt_path, key_path,
           net_tls_role_name(c->role), c->cfg.host,
           cli_cert_fmt_time(c->not_after, until, sizeof(until)));
    return 0;
}

/* Everything about the flags that can be told before touching a file (a usage error). */
static int
cli_cert_check_args(struct cli_cert *c)
{
    unsigned char addr[16];

    if (cli_cert_check_validity(c) != 0)
        return -1;
    if (c->is_ca) {
        if (!cli_cert_name_is_valid(c->cfg.name))
            return cli_cert_fail(c, "--name: expected 1..%d letters, digits, spaces and -_.:()",
                                 CLI_CERT_NAME_MAX);
        return 0;
    }
    if (net_tls_role_parse(c->cfg.role, &c->role) != 0)
        return cli_cert_fail(c, "--role: expected peer, seed, scheduler or manager, got \"%s\"",
                             c->cfg.role);
    if (!net_tls_host_is_valid(c->cfg.host))
        return cli_cert_fail(c, "--host: expected 1..%d letters, digits and .-_, got \"%s\"",
                             NET_TLS_HOST_MAX, c->cfg.host);
    if (c->cfg.ip.n > CLI_CERT_SANS_MAX || c->cfg.dns.n > CLI_CERT_SANS_MAX)
        return cli_cert_fail(c, "at most %d --ip and %d --dns", CLI_CERT_SANS_MAX,
                             CLI_CERT_SANS_MAX);
    for (size_t i = 0; i < c->cfg.ip.n; i++)
        if (net_x509_ip_parse(c->cfg.ip.v[i], addr) == 0)
            return cli_cert_fail(c, "--ip: expected an IP address, got \"%s\"", c->cfg.ip.v[i]);
    for (size_t i = 0; i < c->cfg.dns.n; i++)
        if (!cli_cert_dns_is_valid(c->cfg.dns.v[i]))
            return cli_cert_fail(c, "--dns: expected a DNS name, got \"%s\"", c->cfg.dns.v[i]);
    return 0;
}

/* `dragonfly cert --help`. */
static void
cli_cert_usage(FILE *f)
{
    fprintf(f, "usage: dragonfly cert ca --dir DIR [--name NAME] [--days N] [--force]\n"
               "       dragonfly cert issue --dir DIR --role peer|seed|scheduler|manager "
               "--host HOSTNAME\n"
               "                  [--ip IP ...] [--dns NAME ...] [--days N] --out PREFIX "
               "[--force]\n"
               "       dragonfly cert ca|issue --help\n\n"
               "Create a cluster CA and issue host certificates for mutual TLS between "
               "roles.\n");
}

int
cli_cert_main(int argc, char **argv)
{
    const struct df_conf_spec *spec;
    struct df_conf_args args;
    struct df_error err;
    struct cli_cert c;
    int rv;

    if (argc < 2 || argv[1][0] == '-') {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);

        if (!help) {
            fprintf(stderr, "dragonfly cert: expected a command, ca or issue (see --help)\n");
            return 2;
        }
        cli_cert_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "ca") == 0) {
        spec = &cli_cert_ca_spec;
    } else if (strcmp(argv[1], "issue") == 0) {
        spec = &cli_cert_issue_spec;
    } else {
        fprintf(stderr, "dragonfly cert: unknown command '%s' (expected ca or issue)\n", argv[1]);
        return 2;
    }
    cli_cert_init(&c, spec == &cli_cert_ca_spec);
    memset(&args, 0, sizeof(args));
    if (df_conf_load(spec, &c.cfg, argc - 1, argv + 1, &args, &err) != 0) {
        fprintf(stderr, "%s: %s\n", spec->cmd, err.msg);
        rv = 2;
        goto out;
    }
    if (args.help) {
        df_conf_usage(spec, stdout);
        rv = 0;
        goto out;
    }
    if (args.check_config) {
        fprintf(stderr, "%s: --check-config: not for this command\n", spec->cmd);
        rv = 2;
        goto out;
    }
    if (cli_cert_check_args(&c) != 0) {
        fprintf(stderr, "%s: %s\n", spec->cmd, c.msg);
        rv = 2;
        goto out;
    }
    rv = (c.is_ca ? cli_cert_ca_run(&c) : cli_cert_issue_run(&c)) == 0 ? 0 : 1;
    if (rv != 0)
        fprintf(stderr, "%s: %s\n", spec->cmd, c.msg);
out:
    df_conf_args_reset(&args);
    cli_cert_reset(&c, spec);
    return rv;
}
