/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer's registry mirror with real clients: Debian's docker-registry (distribution 2.8)
 * on 127.0.0.x holds a three-layer image that skopeo pushed (an OCI layout built here with
 * tar, gzip and sha256sum); skopeo then pulls it through our proxy with a registries.conf
 * whose mirror is the proxy while the image's own registry is a closed port, so a success
 * proves the mirror served it. Blobs must come from P2P tasks (metrics, log), manifests pass
 * through, a corrupted blob never reaches the client as a success, and bad requests get
 * their status. containerd (its own root, state and socket here) pulls with `ctr images pull
 * --hosts-dir`, once with the X-Dragonfly-Registry header and once with the catch-all
 * _default hosts.toml, whose ns= parameter names an https registry.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "harness/harness.h"

#define MIRROR_IMAGE "test/img"

/*
 * The addresses of a run, derived from the test process's pid: 127.<2-251>.<0-255>.x and a
 * registry port in 20000-29999, so two runs at once (or processes a killed run left behind)
 * never meet on an address; other suites keep to 127.0.0.x.
 */
static struct {
    char reg_ip[20];   /* the registry */
    char reg[32];      /* reg_ip:port */
    char peer_ip[20];  /* the peer whose proxy the clients use */
    char closed[32];   /* the image's own location: nothing listens there */
    char sched_ip[20]; /* with MIRROR_SWARM */
    char seed_ip[20];
    char peer2_ip[20];
    char peer34_ip[2][20]; /* with MIRROR_SWARM4 */
    char token[32];        /* the token server, with MIRROR_TOKEN */
} A;

static void
mirror_addrs(void)
{
    unsigned pid = (unsigned)getpid(), b = 2 + pid % 250, c = (pid / 250) % 256;

    snprintf(A.reg_ip, sizeof(A.reg_ip), "127.%u.%u.10", b, c);
    snprintf(A.reg, sizeof(A.reg), "%s:%u", A.reg_ip, 20000 + pid % 10000);
    snprintf(A.peer_ip, sizeof(A.peer_ip), "127.%u.%u.11", b, c);
    snprintf(A.closed, sizeof(A.closed), "127.%u.%u.12:1", b, c);
    snprintf(A.sched_ip, sizeof(A.sched_ip), "127.%u.%u.13", b, c);
    snprintf(A.seed_ip, sizeof(A.seed_ip), "127.%u.%u.14", b, c);
    snprintf(A.peer2_ip, sizeof(A.peer2_ip), "127.%u.%u.15", b, c);
    snprintf(A.token, sizeof(A.token), "127.%u.%u.16:%u", b, c, 20000 + pid % 10000);
    snprintf(A.peer34_ip[0], sizeof(A.peer34_ip[0]), "127.%u.%u.17", b, c);
    snprintf(A.peer34_ip[1], sizeof(A.peer34_ip[1]), "127.%u.%u.18", b, c);
}

/* url ("http://" or "https://" and host) in a buffer of the caller's. */
static const char *
mirror_url(char *buf, size_t size, const char *scheme, const char *host)
{
    snprintf(buf, size, "%s://%s", scheme, host);
    return buf;
}

/* distribution 2.8 answers 404 to a client that does not accept OCI manifests */
#define OCI_ACCEPT "-H 'Accept: application/vnd.oci.image.manifest.v1+json'"

/*
 * Build an OCI layout with three gzip layers of random content (700 kB, 1.4 MB, 2.1 MB) and
 * print the manifest digest. $1: work dir, $2: layout dir.
 */
static const char mirror_image_sh[] =
        "set -eu\n"
        "W=$1; O=$2; mkdir -p \"$O/blobs/sha256\"\n"
        "blob() { d=$(sha256sum \"$1\" | cut -d' ' -f1); cp \"$1\" \"$O/blobs/sha256/$d\"; "
        "echo \"$d\"; }\n"
        "layers=''; diffs=''\n"
        "for i in 1 2 3; do\n"
        "  mkdir -p \"$W/l$i/d$i\"; head -c $((i * 700000)) /dev/urandom > \"$W/l$i/d$i/f$i\"\n"
        "  tar -C \"$W/l$i\" -cf \"$W/layer$i.tar\" \"d$i\"\n"
        "  gzip -n -c \"$W/layer$i.tar\" > \"$W/layer$i.tgz\"\n"
        "  diff=$(sha256sum \"$W/layer$i.tar\" | cut -d' ' -f1); d=$(blob \"$W/layer$i.tgz\")\n"
        "  s=$(stat -c %s \"$W/layer$i.tgz\")\n"
        "  layers=\"$layers${layers:+,}{\\\"mediaType\\\":\\\"application/"
        "vnd.oci.image.layer.v1.tar+gzip\\\",\\\"digest\\\":\\\"sha256:$d\\\",\\\"size\\\":$s}\"\n"
        "  diffs=\"$diffs${diffs:+,}\\\"sha256:$diff\\\"\"\n"
        "done\n"
        "printf '{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":"
        "{\"type\":\"layers\",\"diff_ids\":[%s]}}' \"$diffs\" > \"$W/config.json\"\n"
        "c=$(blob \"$W/config.json\"); cs=$(stat -c %s \"$W/config.json\")\n"
        "printf '{\"schemaVersion\":2,\"mediaType\":\"application/"
        "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/"
        "vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\",\"size\":%s},\"layers\":[%s]}' "
        "\"$c\" \"$cs\" \"$layers\" > \"$W/manifest.json\"\n"
        "m=$(blob \"$W/manifest.json\"); ms=$(stat -c %s \"$W/manifest.json\")\n"
        "printf '{\"imageLayoutVersion\":\"1.0.0\"}' > \"$O/oci-layout\"\n"
        "printf '{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
        "vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%s,\"annotations\":"
        "{\"org.opencontainers.image.ref.name\":\"v1\"}}]}' \"$m\" \"$ms\" > \"$O/index.json\"\n"
        "printf 'sha256:%s' \"$m\"\n";

static struct {
    char *dir;
    bool tls;         /* the registry serves https with a certificate of its own */
    const char *rate; /* the peer's download.rateLimit, NULL: none */
    const char *map;  /* the peer's proxy.registries entry, NULL: none */
    bool rate1;       /* proxy.requestRateLimit 1 */
    bool hijack;      /* proxy.hijackHTTPS for the registry's address, CA in hijack/ */
    bool pauth;       /* proxy.basicAuth MIRROR_PROXY_USER */
    char rule[200];   /* a proxy.rules entry in place of the default, "" for none */
    bool swarm;       /* a scheduler, a seed and a second peer; the peers use them */
    struct it_proc sched, seed, peer2;
    char sched_addr[64], proxy2[64], upload2[64], metrics2[64];
    bool swarm4; /* two more peers in the swarm */
    struct it_proc peer34[2];
    char proxy34[2][64], upload34[2][64], metrics34[2][64];
    bool debug; /* every daemon logs at debug level, all modules */
    struct it_proc reg, peer, ctd, token;
    char proxy[64], upload[64], metrics[64];
    char manifest[80]; /* sha256:<hex> of the pushed manifest */
} S;

static int __attribute__((format(printf, 2, 3))) run(char **out, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return it_sh(cmd, out, 120);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* The value of metric name at the /metrics of the peer whose metrics address is addr. */
static uint64_t
metric_at(const char *addr, const char *name)
{
    char *out = NULL;
    uint64_t v = 0;

    ck_assert_int_eq(run(&out,
                         "curl -sS --max-time 10 http://%s/metrics | awk '$1 == \"%s\" "
                         "{ print $2 }'",
                         addr, name),
                     0);
    ck_assert_msg(sscanf(out, "%" SCNu64, &v) == 1, "metric %s: \"%s\"", name, out);
    free(out);
    return v;
}

/* The value of metric name at the (first) peer's /metrics. */
static uint64_t
metric(const char *name)
{
    return metric_at(S.metrics, name);
}

static void
mirror_peer_start_as(struct it_proc *p, const char *name, const char *ip, const char *mirror,
                     char *proxy, char *upload, char *metrics)
{
    char data[700], ca[700], ready[700], listen[64], hca[700], hkey[700], hhost[64];
    const char *argv[48] = {it_bin(),
                            "peer",
                            "--ip",
                            ip,
                            "--rpc-port",
                            "0",
                            "--upload-port",
                            "0",
                            "--proxy-listen",
                            listen,
                            "--data-dir",
                            data,
                            "--registry-mirror",
                            mirror,
                            IT_ALLOW_ORIGIN,
                            A.reg_ip,
                            "--log-debug",
                            "proxy",
                            "--ready-file",
                            ready};
    size_t n = 20;

    snprintf(data, sizeof(data), "%s/%s", S.dir, name);
    snprintf(ca, sizeof(ca), "%s/registry.crt", S.dir);
    snprintf(ready, sizeof(ready), "%s/%s.ready", S.dir, name);
    snprintf(listen, sizeof(listen), "%s:0", ip);
    if (S.rate != NULL) {
        argv[n++] = "--download-rate-limit";
        argv[n++] = S.rate;
    }
    if (S.tls) {
        argv[n++] = "--source-ca-file";
        argv[n++] = ca;
    }
    if (S.map != NULL) {
        argv[n++] = "--proxy-registry";
        argv[n++] = S.map;
    }
    if (S.rate1) {
        argv[n++] = "--proxy-request-rate-limit";
        argv[n++] = "1";
    }
    if (S.rule[0] != '\0') {
        argv[n++] = "--proxy-rule";
        argv[n++] = S.rule;
    }
    if (S.pauth) {
        argv[n++] = "--proxy-user";
        argv[n++] = "px";
        argv[n++] = "--proxy-password";
        argv[n++] = "px-secret";
    }
    if (S.hijack) {
        snprintf(hca, sizeof(hca), "%s/hijack/ca.crt", S.dir);
        snprintf(hkey, sizeof(hkey), "%s/hijack/ca.key", S.dir);
        /* the registry's address exactly: its dots are literal */
        snprintf(hhost, sizeof(hhost), "^%s$", A.reg_ip);
        for (char *c = hhost + strlen(hhost); c > hhost; c--) {
            if (*c == '.') {
                memmove(c + 1, c, strlen(c) + 1);
                *c = '\\';
            }
        }
        argv[n++] = "--proxy-hijack-cert";
        argv[n++] = hca;
        argv[n++] = "--proxy-hijack-key";
        argv[n++] = hkey;
        argv[n++] = "--proxy-hijack-host";
        argv[n++] = hhost;
    }
    if (S.debug) {
        argv[n++] = "--log-level";
        argv[n++] = "debug";
        argv[n++] = "--log-debug";
        argv[n++] = "all";
    }
    if (S.swarm) {
        argv[n++] = "--scheduler";
        argv[n++] = S.sched_addr;
        argv[n++] = "--announce-interval";
        argv[n++] = "1s";
    }
    argv[n] = NULL;
    ck_assert_int_eq(
            it_proc_start(p, S.dir, name, (char *const *)(uintptr_t)argv, ready, IT_READY_MS), 0);
    snprintf(proxy, 64, "%s", it_proc_ready_str(p, "proxy"));
    snprintf(upload, 64, "%s", it_proc_ready_str(p, "upload"));
    snprintf(metrics, 64, "%s", it_proc_ready_str(p, "metrics"));
    ck_assert_int_ne(proxy[0], '\0');
}

/* The peer (and with S.swarm the scheduler, the seed and the second peer before it). */
static void
mirror_peer_start(const char *mirror)
{
    char data[700], sched_listen[32];

    if (S.swarm) {
        snprintf(sched_listen, sizeof(sched_listen), "%s:0", A.sched_ip);
        /* with S.debug the debug flags end the lists, else the NULL before them does */
        ck_assert_int_eq(it_df_start(&S.sched, S.dir, "scheduler", "scheduler", "--listen",
                                     sched_listen, "--metrics-listen", sched_listen, "--seed-wait",
                                     "2s", S.debug ? "--log-level" : NULL, "debug", "--log-debug",
                                     "all", NULL),
                         0);
        snprintf(S.sched_addr, sizeof(S.sched_addr), "%s", it_proc_ready_str(&S.sched, "rpc"));
        snprintf(data, sizeof(data), "%s/seed", S.dir);
        ck_assert_int_eq(it_df_start(&S.seed, S.dir, "seed", "peer", "--seed", "--ip", A.seed_ip,
                                     "--rpc-port", "0", "--upload-port", "0", "--data-dir", data,
                                     "--scheduler", S.sched_addr, "--announce-interval", "1s",
                                     IT_ALLOW_ORIGIN, A.reg_ip, S.debug ? "--log-level" : NULL,
                                     "debug", "--log-debug", "all", NULL),
                         0);
        mirror_peer_start_as(&S.peer2, "peer2", A.peer2_ip, mirror, S.proxy2, S.upload2,
                             S.metrics2);
        for (int i = 0; S.swarm4 && i < 2; i++)
            mirror_peer_start_as(&S.peer34[i], i == 0 ? "peer3" : "peer4", A.peer34_ip[i], mirror,
                                 S.proxy34[i], S.upload34[i], S.metrics34[i]);
    }
    mirror_peer_start_as(&S.peer, "peer", A.peer_ip, mirror, S.proxy, S.upload, S.metrics);
}

/*
 * A registries.conf (name, in the test dir) for skopeo: the image's registry is the closed
 * port, its only mirror the proxy at proxy.
 */
static void
mirror_registries_conf(const char *name, const char *proxy)
{
    char path[700], conf[1000];

    snprintf(path, sizeof(path), "%s/%s", S.dir, name);
    snprintf(conf, sizeof(conf),
             "[[registry]]\nprefix = \"%s\"\nlocation = \"%s\"\ninsecure = true\n"
             "[[registry.mirror]]\nlocation = \"%s\"\ninsecure = true\n",
             A.closed, A.closed, proxy);
    write_file(path, conf);
}

/* The registry's options. */
#define MIRROR_TLS    0x1    /* https, with a certificate made here that the peer trusts */
#define MIRROR_AUTH   0x2    /* htpasswd basic auth: user MIRROR_USER */
#define MIRROR_SLOW   0x4    /* the peer downloads at 2 MiB/s */
#define MIRROR_MAP    0x8    /* proxy.registries maps ns=<registry> to its http:// origin */
#define MIRROR_RATE   0x10   /* the proxy takes 1 request/s */
#define MIRROR_SWARM  0x20   /* a scheduler, a seed and two peers */
#define MIRROR_AWAY   0x40   /* the peer's proxy.registryMirror.addr is the closed port */
#define MIRROR_HIJACK 0x80   /* the peer intercepts CONNECTs to the registry (its CA: hijack/) */
#define MIRROR_PAUTH  0x100  /* the proxy asks for MIRROR_PROXY_USER (proxy.basicAuth) */
#define MIRROR_TOKEN  0x200  /* bearer tokens from test/tools/token_server for MIRROR_USER */
#define MIRROR_RULE   0x400  /* rule {blobs, useTLS, redirect to the registry, filtered "x"} */
#define MIRROR_SWARM4 0x800  /* with MIRROR_SWARM: two more peers (peer3, peer4) */
#define MIRROR_DEBUG  0x1000 /* every daemon logs at debug level, all modules */

#define MIRROR_PROXY_USER     "px:px-secret"
#define MIRROR_PROXY_USER_B64 "cHg6cHgtc2VjcmV0" /* base64 of MIRROR_PROXY_USER */

#define MIRROR_USER     "it:it-secret"
#define MIRROR_USER_B64 "aXQ6aXQtc2VjcmV0" /* base64 of MIRROR_USER */
/* bcrypt of "it-secret" (cost 4), as htpasswd -B would write it */
#define MIRROR_HTPASSWD "it:$2b$04$4L4OXZjcd8R.va.YiSkl9OFMq3S8wVAOche8E2kiKOJf.n.Bt.S8K\n"

/*
 * The token server the registry trusts (its certificate is the registry's rootcertbundle),
 * granting MIRROR_USER what it asks for.
 */
static void
mirror_token_start(void)
{
    char tool[700], key[700], crt[700];
    const char *argv[] = {tool,          "--listen", A.token,     "--key",     key,
                          "--cert",      crt,        "--issuer",  "it-issuer", "--service",
                          "it-registry", "--user",   MIRROR_USER, NULL};
    int i;

    ck_assert_ptr_nonnull(it_tool("token_server", tool, sizeof(tool)));
    snprintf(key, sizeof(key), "%s/token.key", S.dir);
    snprintf(crt, sizeof(crt), "%s/token.crt", S.dir);
    ck_assert_int_eq(run(NULL,
                         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                         "-nodes -keyout %s -out %s -days 2 -subj /CN=it-token 2>/dev/null",
                         key, crt),
                     0);
    ck_assert_int_eq(
            it_proc_start(&S.token, S.dir, "token", (char *const *)(uintptr_t)argv, NULL, 0), 0);
    for (i = 0; i < 100; i++) {
        if (run(NULL, "curl -sf --max-time 2 -o /dev/null 'http://%s/token?scope='", A.token) == 0)
            break;
        it_sleep_ms(50);
    }
    ck_assert_msg(i < 100, "the token server did not answer on %s", A.token);
}

/*
 * A registry with the image pushed (opts: MIRROR_*), and a peer mirroring it (its
 * proxy.registryMirror.addr is the registry, or with MIRROR_AWAY the closed port).
 */
static void
mirror_up_opts(unsigned opts)
{
    bool tls = (opts & MIRROR_TLS) != 0, auth = (opts & MIRROR_AUTH) != 0;
    const char *rate = (opts & MIRROR_SLOW) != 0 ? "2MiB/s" : NULL;
    char path[700], *out = NULL, map[80], url[64];
    const char *argv[] = {"/usr/bin/docker-registry", "serve", path, NULL};
    int i;

    memset(&S, 0, sizeof(S));
    mirror_addrs();
    snprintf(map, sizeof(map), "%s=http://%s", A.reg, A.reg);
    ck_assert_msg(access("/usr/bin/docker-registry", X_OK) == 0 &&
                          access("/usr/bin/skopeo", X_OK) == 0,
                  "docker-registry and skopeo are needed (scripts/install-deps.sh)");
    S.dir = it_tmpdir();
    ck_assert_ptr_nonnull(S.dir);
    S.tls = tls;
    S.rate = rate;
    S.map = (opts & MIRROR_MAP) != 0 ? map : NULL;
    S.rate1 = (opts & MIRROR_RATE) != 0;
    S.hijack = (opts & MIRROR_HIJACK) != 0;
    S.pauth = (opts & MIRROR_PAUTH) != 0;
    if ((opts & MIRROR_RULE) != 0)
        snprintf(S.rule, sizeof(S.rule),
                 "{\"regex\": \"blobs/sha256.*\", \"useTLS\": true, \"redirect\": \"%s\", "
                 "\"filteredQueryParams\": [\"x\"]}",
                 A.reg);
    if (S.hijack)
        ck_assert_int_eq(
                run(NULL, "%s cert ca --dir %s/hijack --force >/dev/null", it_bin(), S.dir), 0);
    S.swarm = (opts & MIRROR_SWARM) != 0;
    S.swarm4 = (opts & MIRROR_SWARM4) != 0;
    S.debug = (opts & MIRROR_DEBUG) != 0;
    /* the name in the CN and a DNS SAN too: mbedtls matches an IP host only as a name */
    if (tls)
        ck_assert_int_eq(run(NULL,
                             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                             "-nodes -keyout %s/registry.key -out %s/registry.crt -days 2 "
                             "-subj /CN=%s -addext subjectAltName=IP:%s,DNS:%s 2>/dev/null",
                             S.dir, S.dir, A.reg_ip, A.reg_ip, A.reg_ip),
                         0);
    snprintf(path, sizeof(path), "%s/registry.yml", S.dir);
    {
        char yml[1400];
        snprintf(yml, sizeof(yml),
                 "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
                 "    rootdirectory: %s/regdata\n  delete:\n    enabled: true\nhttp:\n"
                 "  addr: %s\n",
                 S.dir, A.reg);
        if (tls)
            snprintf(yml + strlen(yml), sizeof(yml) - strlen(yml),
                     "  tls:\n    certificate: %s/registry.crt\n    key: %s/registry.key\n", S.dir,
                     S.dir);
        if (auth)
            snprintf(yml + strlen(yml), sizeof(yml) - strlen(yml),
                     "auth:\n  htpasswd:\n    realm: it\n    path: %s/htpasswd\n", S.dir);
        if ((opts & MIRROR_TOKEN) != 0)
            snprintf(yml + strlen(yml), sizeof(yml) - strlen(yml),
                     "auth:\n  token:\n    realm: http://%s/token\n    service: it-registry\n"
                     "    issuer: it-issuer\n    rootcertbundle: %s/token.crt\n",
                     A.token, S.dir);
        write_file(path, yml);
    }
    {
        char pw[700];
        snprintf(pw, sizeof(pw), "%s/htpasswd", S.dir);
        write_file(pw, MIRROR_HTPASSWD);
    }
    if ((opts & MIRROR_TOKEN) != 0)
        mirror_token_start();
    ck_assert_int_eq(
            it_proc_start(&S.reg, S.dir, "registry", (char *const *)(uintptr_t)argv, NULL, 0), 0);
    for (i = 0; i < 300; i++) {
        /* any answer (a token registry says 401 to everyone here) */
        if (run(NULL,
                "curl -sk --max-time 2 -u " MIRROR_USER " -o /dev/null -w '%%{http_code}' "
                "%s://%s/v2/ | grep -qv 000",
                tls ? "https" : "http", A.reg) == 0)
            break;
        it_sleep_ms(100);
    }
    if (i == 300)
        it_proc_dump_log(&S.reg);
    ck_assert_msg(i < 300, "the registry did not answer on %s", A.reg);
    snprintf(path, sizeof(path), "%s/image.sh", S.dir);
    write_file(path, mirror_image_sh);
    ck_assert_int_eq(run(&out, "sh %s/image.sh %s/work %s/layout", S.dir, S.dir, S.dir), 0);
    snprintf(S.manifest, sizeof(S.manifest), "%s", out);
    free(out);
    ck_assert_int_eq(strlen(S.manifest), 71);
    ck_assert_int_eq(run(NULL,
                         "skopeo --insecure-policy copy -q --dest-tls-verify=false %s "
                         "oci:%s/layout:v1 docker://%s/" MIRROR_IMAGE ":v1",
                         auth || (opts & MIRROR_TOKEN) != 0 ? "--dest-creds " MIRROR_USER : "",
                         S.dir, A.reg),
                     0);
    if ((opts & MIRROR_AWAY) != 0)
        mirror_peer_start(mirror_url(url, sizeof(url), "http", A.closed));
    else
        mirror_peer_start(mirror_url(url, sizeof(url), tls ? "https" : "http", A.reg));
    mirror_registries_conf("registries.conf", S.proxy);
}

static void
mirror_up(void)
{
    mirror_up_opts(0);
}

/* Stop everything; the peer must exit cleanly (0: no crash, no sanitizer report). */
static void
mirror_down(void)
{
    int status = it_proc_stop(&S.peer);

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        it_proc_dump_log(&S.peer);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer exit status %d", status);
    if (S.ctd.pid > 0)
        it_proc_stop(&S.ctd);
    if (S.token.pid > 0)
        it_proc_stop(&S.token);
    if (S.swarm) {
        for (int i = 0; S.swarm4 && i < 2; i++)
            it_proc_stop(&S.peer34[i]);
        it_proc_stop(&S.peer2);
        it_proc_stop(&S.seed);
        it_proc_stop(&S.sched);
    }
    it_proc_stop(&S.reg);
    it_rmtree(S.dir);
    free(S.dir);
}

/* skopeo copy of ref (after "docker://<closed>/" MIRROR_IMAGE) into the OCI layout dest, with
 * the flags in extra (credentials). */
static int
mirror_pull_as(const char *extra, const char *ref, const char *dest)
{
    return run(NULL,
               "skopeo --insecure-policy --registries-conf %s/registries.conf copy -q %s "
               "docker://%s/" MIRROR_IMAGE "%s oci:%s/%s:v1",
               S.dir, extra, A.closed, ref, S.dir, dest);
}

static int
mirror_pull(const char *ref, const char *dest)
{
    return mirror_pull_as("", ref, dest);
}

/* mirror_pull of :v1 with MIRROR_USER's credentials (an auth.json in the test dir). */
static int
mirror_pull_with_creds(const char *dest)
{
    char path[700], auth[300], flag[800];

    /* containers/image looks a mirror's credentials up by the mirror's host */
    snprintf(path, sizeof(path), "%s/auth.json", S.dir);
    snprintf(auth, sizeof(auth), "{\"auths\": {\"%s\": {\"auth\": \"%s\"}}}\n", S.proxy,
             MIRROR_USER_B64);
    write_file(path, auth);
    snprintf(flag, sizeof(flag), "--src-authfile %s", path);
    return mirror_pull_as(flag, ":v1", dest);
}

/* Every blob of the layout at dest is named by its sha256, and the pushed manifest is there. */
static void
assert_layout(const char *dest)
{
    char *out = NULL;

    ck_assert_int_eq(run(&out,
                         "cd %s/%s/blobs/sha256 && n=0 && for f in *; do "
                         "[ \"$(sha256sum < $f | cut -c1-64)\" = \"$f\" ] || exit 1; "
                         "n=$((n + 1)); done; echo $n",
                         S.dir, dest),
                     0);
    /* manifest, config and three layers */
    ck_assert_str_eq(out, "5\n");
    free(out);
    ck_assert_int_eq(run(NULL, "grep -q '\"%s\"' %s/%s/index.json", S.manifest, S.dir, dest), 0);
    ck_assert_int_eq(run(NULL, "test -e %s/%s/blobs/sha256/%s", S.dir, dest, S.manifest + 7), 0);
}

START_TEST(test_skopeo_pull)
{
    char ref[100];
    uint64_t p2p, bytes, hits;

    mirror_up();
    ck_assert_int_eq(mirror_pull(":v1", "by-tag"), 0);
    assert_layout("by-tag");
    /* the config and three layers came from P2P tasks, the manifest passed through */
    p2p = metric("dragonfly_peer_proxy_p2p_requests_total");
    bytes = metric("dragonfly_peer_proxy_p2p_bytes_total");
    ck_assert_uint_ge(p2p, 4);
    ck_assert_uint_ge(bytes, 4200000);
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_pass_requests_total"), 1);
    ck_assert_uint_eq(metric("dragonfly_peer_proxy_error_requests_total"), 0);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 4", S.dir), 0);

    /* by digest: the same blobs, now from the peer's cache */
    hits = metric("dragonfly_peer_cache_hits_total");
    snprintf(ref, sizeof(ref), "@%s", S.manifest);
    ck_assert_int_eq(mirror_pull(ref, "by-digest"), 0);
    assert_layout("by-digest");
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_p2p_requests_total"), p2p + 4);
    ck_assert_uint_gt(metric("dragonfly_peer_cache_hits_total"), hits);
    mirror_down();
}

END_TEST

/*
 * curl to url with args (the proxy's --proxy flag among them for a forward request): the
 * response headers (-D), lower-cased; the body is in body, the status in *code.
 */
static char *
mirror_curl_url(const char *args, const char *url, int *code)
{
    char *out = NULL;
    int c = 0;

    ck_assert_int_eq(run(&out,
                         "curl -sS --max-time 30 -o %s/body -D - %s -w 'code=%%{http_code}\\n' "
                         "'%s' | tr 'A-Z' 'a-z'",
                         S.dir, args, url),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "code="));
    ck_assert_int_eq(sscanf(strstr(out, "code="), "code=%d", &c), 1);
    *code = c;
    return out;
}

/* mirror_curl_url of path at the proxy (a mirror request). */
static char *
mirror_curl(const char *args, const char *path, int *code)
{
    char url[800];

    snprintf(url, sizeof(url), "http://%s%s", S.proxy, path);
    return mirror_curl_url(args, url, code);
}

/* mirror_curl_url of url through the proxy as a forward proxy (--proxy). */
static char *
mirror_curl_via(const char *args, const char *url, int *code)
{
    char all[1200];

    snprintf(all, sizeof(all), "--proxy http://%s %s", S.proxy, args);
    return mirror_curl_url(all, url, code);
}

START_TEST(test_pass_through)
{
    char *h, want[120], path[300];
    int code;

    mirror_up();
    /* the API ping and a manifest by tag, with two Accept lines, pass through */
    h = mirror_curl("", "/v2/", &code);
    ck_assert_int_eq(code, 200);
    ck_assert_ptr_nonnull(strstr(h, "docker-distribution-api-version: registry/2.0"));
    free(h);
    h = mirror_curl("-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "
                    "-H 'Accept: application/vnd.oci.image.manifest.v1+json'",
                    "/v2/" MIRROR_IMAGE "/manifests/v1", &code);
    ck_assert_int_eq(code, 200);
    snprintf(want, sizeof(want), "docker-content-digest: %s", S.manifest);
    ck_assert_msg(strstr(h, want) != NULL, "%s", h);
    ck_assert_ptr_nonnull(strstr(h, "content-type: application/vnd.oci.image.manifest.v1+json"));
    ck_assert_ptr_null(strstr(h, "x-dragonfly-task-id"));
    free(h);
    ck_assert_int_eq(
            run(NULL, "test \"$(sha256sum < %s/body | cut -c1-64)\" = %s", S.dir, S.manifest + 7),
            0);
    /* HEAD: the length without a body */
    h = mirror_curl("-I " OCI_ACCEPT, "/v2/" MIRROR_IMAGE "/manifests/v1", &code);
    ck_assert_int_eq(code, 200);
    ck_assert_ptr_nonnull(strstr(h, "content-length: "));
    free(h);
    /* the registry's own errors, with their bodies */
    h = mirror_curl("", "/v2/" MIRROR_IMAGE "/manifests/nope", &code);
    ck_assert_int_eq(code, 404);
    free(h);
    ck_assert_int_eq(run(NULL, "grep -q MANIFEST_UNKNOWN %s/body", S.dir), 0);
    /* a blob the registry does not have is not a P2P task: its 404 passes through */
    h = mirror_curl("",
                    "/v2/" MIRROR_IMAGE "/blobs/sha256:"
                    "0000000000000000000000000000000000000000000000000000000000000000",
                    &code);
    ck_assert_int_eq(code, 404);
    ck_assert_ptr_null(strstr(h, "x-dragonfly-task-id"));
    free(h);
    /* a blob through P2P: the task's headers and the registry's */
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/manifests/%s", S.manifest);
    h = mirror_curl(OCI_ACCEPT, path, &code);
    ck_assert_int_eq(code, 200);
    free(h);
    ck_assert_int_eq(
            run(NULL, "grep -o 'sha256:[0-9a-f]*' %s/body | tail -1 > %s/layer", S.dir, S.dir), 0);
    ck_assert_int_eq(
            run(NULL,
                "curl -sS --max-time 30 -D %s/lh -o %s/lb http://%s/v2/" MIRROR_IMAGE
                "/blobs/$(cat %s/layer) && grep -qi '^x-dragonfly-task-id: [0-9a-f]\\{64\\}' %s/lh "
                "&& grep -qi '^x-dragonfly-server-ip: %s' %s/lh && "
                "grep -qi '^docker-content-digest: ' %s/lh && "
                "test sha256:$(sha256sum < %s/lb | cut -c1-64) = $(cat %s/layer)",
                S.dir, S.dir, S.proxy, S.dir, S.dir, A.peer_ip, S.dir, S.dir, S.dir, S.dir),
            0);
    /* what the mirror refuses, and why */
    h = mirror_curl("-X POST", "/v2/" MIRROR_IMAGE "/blobs/uploads/", &code);
    ck_assert_int_eq(code, 405);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: proxy"));
    ck_assert_ptr_nonnull(strstr(h, "allow: get, head"));
    free(h);
    h = mirror_curl("", "/other", &code);
    ck_assert_int_eq(code, 404);
    free(h);
    h = mirror_curl("-H 'X-Dragonfly-Registry: ftp://x'", "/v2/", &code);
    ck_assert_int_eq(code, 400);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: proxy"));
    free(h);
    ck_assert_int_eq(run(NULL, "grep -q 'X-Dragonfly-Registry: ' %s/body", S.dir), 0);
    /* still serving */
    h = mirror_curl("", "/v2/", &code);
    ck_assert_int_eq(code, 200);
    free(h);
    mirror_down();
}

END_TEST

/* The upstream from the header or ns=, with a configured mirror that cannot answer. */
START_TEST(test_upstream_choice)
{
    char *h, args[300], path[300];
    int code;

    mirror_up_opts(MIRROR_AWAY);
    /* the configured mirror cannot be reached: a 502 that says so */
    h = mirror_curl("", "/v2/", &code);
    ck_assert_int_eq(code, 502);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: backend"));
    free(h);
    /* X-Dragonfly-Registry wins */
    snprintf(args, sizeof(args), OCI_ACCEPT " -H 'X-Dragonfly-Registry: http://%s'", A.reg);
    h = mirror_curl(args, "/v2/" MIRROR_IMAGE "/manifests/v1", &code);
    ck_assert_int_eq(code, 200);
    free(h);
    /* ns= (a scheme given) wins over the mirror */
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/manifests/v1?ns=http%%3A%%2F%%2F%s", A.reg);
    h = mirror_curl(OCI_ACCEPT, path, &code);
    ck_assert_int_eq(code, 200);
    free(h);
    /* containerd's bare ns= means https: the plain-HTTP registry fails the handshake */
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/manifests/v1?ns=%s", A.reg);
    h = mirror_curl(OCI_ACCEPT, path, &code);
    ck_assert_int_eq(code, 502);
    free(h);
    /* skopeo through the proxy with only the header form is not possible: it sends none */
    mirror_down();
}

END_TEST

/*
 * A blob whose bytes no longer match its digest (changed in the registry's storage, same
 * length): the client never gets it as a success, the peer says why, and once the registry
 * is repaired the blob is fetched again and served.
 */
START_TEST(test_corrupt_blob)
{
    char *out = NULL, layer[80], data[900];

    mirror_up();
    ck_assert_int_eq(run(&out, "ls -S %s/layout/blobs/sha256 | head -1", S.dir), 0);
    ck_assert_int_eq(strlen(out), 65);
    snprintf(layer, sizeof(layer), "%.64s", out);
    free(out);
    snprintf(data, sizeof(data), "%s/regdata/docker/registry/v2/blobs/sha256/%.2s/%s/data", S.dir,
             layer, layer);
    ck_assert_int_eq(run(NULL,
                         "cp %s %s/good && printf 'XXXXXXXX' | dd of=%s bs=1 seek=1000000 "
                         "conv=notrunc status=none",
                         data, S.dir, data),
                     0);
    /* curl fails (a truncated body), never a complete wrong one */
    ck_assert_int_ne(run(NULL,
                         "curl -sSf --max-time 30 -o %s/bad http://%s/v2/" MIRROR_IMAGE
                         "/blobs/sha256:%s",
                         S.dir, S.proxy, layer),
                     0);
    ck_assert_int_ne(run(NULL, "test \"$(sha256sum < %s/bad | cut -c1-64)\" = %s", S.dir, layer),
                     0);
    ck_assert_int_eq(run(NULL, "grep -q 'digest mismatch' %s/peer.log", S.dir), 0);
    /* skopeo fails too */
    ck_assert_int_ne(mirror_pull(":v1", "bad-pull"), 0);
    /* repaired: fetched again (nothing wrong stayed cached) and served */
    ck_assert_int_eq(run(NULL, "cp %s/good %s", S.dir, data), 0);
    ck_assert_int_eq(mirror_pull(":v1", "good-pull"), 0);
    assert_layout("good-pull");
    mirror_down();
}

END_TEST

/*
 * A registry with basic auth: the 401 and its WWW-Authenticate reach the client, which then
 * pulls with its credentials (forwarded to the registry, for the P2P tasks too). A blob the
 * peer holds is still refused to a client without them: the registry decides, not the cache.
 */
START_TEST(test_auth)
{
    char *h, *out = NULL, path[700];
    int code;

    mirror_up_opts(MIRROR_AUTH);
    ck_assert_int_ne(mirror_pull(":v1", "anonymous"), 0);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 0", S.dir), 0);
    ck_assert_int_eq(mirror_pull_with_creds("with-creds"), 0);
    assert_layout("with-creds");
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 4", S.dir), 0);
    /* the biggest layer is in the peer's cache now; without credentials it is still 401 */
    ck_assert_int_eq(run(&out, "ls -S %s/layout/blobs/sha256 | head -1", S.dir), 0);
    ck_assert_int_eq(strlen(out), 65);
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/sha256:%.64s", out);
    free(out);
    h = mirror_curl("", path, &code);
    ck_assert_int_eq(code, 401);
    ck_assert_ptr_nonnull(strstr(h, "www-authenticate: basic realm=\"it\""));
    ck_assert_ptr_null(strstr(h, "x-dragonfly-task-id"));
    free(h);
    h = mirror_curl("-u it:wrong", path, &code);
    ck_assert_int_eq(code, 401);
    free(h);
    /* with them: from the cache */
    h = mirror_curl("-u " MIRROR_USER, path, &code);
    ck_assert_int_eq(code, 200);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-task-download-finished: true"));
    free(h);
    ck_assert_int_eq(run(NULL, "test sha256:$(sha256sum < %s/body | cut -c1-64) = %s", S.dir,
                         strrchr(path, '/') + 1),
                     0);
    /* credentials never reach the log */
    ck_assert_int_eq(run(NULL, "! grep -q '" MIRROR_USER_B64 "' %s/peer.log", S.dir), 0);
    mirror_down();
}

END_TEST

/* The biggest layer's digest ("sha256:<hex>"). */
static void
mirror_big_layer(char *out, size_t size)
{
    char *ls = NULL;

    ck_assert_int_eq(run(&ls, "ls -S %s/layout/blobs/sha256 | head -1", S.dir), 0);
    ck_assert_int_eq(strlen(ls), 65);
    snprintf(out, size, "sha256:%.64s", ls);
    free(ls);
}

/* HEADs of blobs the peer sent the registry (its User-Agent, in the access log). */
static int
registry_blob_heads(void)
{
    char *out = NULL;
    int n = -1;

    ck_assert_int_eq(run(&out,
                         "awk '$6 == \"\\\"HEAD\" && $7 ~ /blobs\\/sha256:/ && "
                         "$NF == \"\\\"dragonfly\\\"\" { n++ } END { print n + 0 }' "
                         "%s/registry.log",
                         S.dir),
                     0);
    ck_assert_int_eq(sscanf(out, "%d", &n), 1);
    free(out);
    return n;
}

/* A curl of the blob at path (a mirror request) with args answers code, and the registry saw
 * heads more blob HEADs from the peer meanwhile. */
static void
assert_blob_checked(const char *args, const char *path, int code, int heads)
{
    int before = registry_blob_heads(), got;
    char *h = mirror_curl(args, path, &got);

    ck_assert_msg(got == code, "%s %s: %d, not %d", args, path, got, code);
    if (code == 401) {
        ck_assert_ptr_nonnull(strstr(h, "www-authenticate: basic realm=\"it\""));
        ck_assert_ptr_null(strstr(h, "x-dragonfly-task-id"));
    }
    free(h);
    ck_assert_int_eq(registry_blob_heads() - before, heads);
}

/*
 * The registry's permission check is remembered (proxy.registryAuthCacheTTL, 60 s by
 * default) per blob and credentials: a second pull by the same client sends the registry no
 * blob HEAD; an anonymous client after it still gets the registry's 401, checked each time
 * (refusals are not remembered), and so does a client with other credentials.
 */
START_TEST(test_auth_cache)
{
    char layer[80], path[300];
    int heads;

    mirror_up_opts(MIRROR_AUTH);
    ck_assert_int_eq(mirror_pull_with_creds("first"), 0);
    assert_layout("first");
    /* the config and three layers, each checked once */
    heads = registry_blob_heads();
    ck_assert_int_eq(heads, 4);
    ck_assert_int_eq(mirror_pull_with_creds("second"), 0);
    assert_layout("second");
    ck_assert_int_eq(registry_blob_heads(), heads);
    mirror_big_layer(layer, sizeof(layer));
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/%s", layer);
    /* the same credentials from curl: the same key, no HEAD */
    assert_blob_checked("-u " MIRROR_USER, path, 200, 0);
    ck_assert_int_eq(
            run(NULL, "test sha256:$(sha256sum < %s/body | cut -c1-64) = %s", S.dir, layer), 0);
    assert_blob_checked("", path, 401, 1);
    assert_blob_checked("", path, 401, 1);
    assert_blob_checked("-u it:other", path, 401, 1);
    assert_blob_checked("-u it:other", path, 401, 1);
    /* and the accepted client is still served without asking */
    assert_blob_checked("-u " MIRROR_USER, path, 200, 0);
    /* the peer's count: 4 + 4 HEADs (the first pull, then the refusals), 4 + 2 spared */
    ck_assert_uint_eq(metric("dragonfly_peer_proxy_registry_checks_total"), 8);
    ck_assert_uint_eq(metric("dragonfly_peer_proxy_registry_check_hits_total"), 6);
    ck_assert_int_eq(run(NULL, "! grep -q '" MIRROR_USER_B64 "' %s/peer.log", S.dir), 0);
    mirror_down();
}

END_TEST

/*
 * A registry with bearer tokens (test/tools/token_server, which the registry trusts): the
 * registry's 401 with "WWW-Authenticate: Bearer realm=..." reaches the client, which gets a
 * token from the realm with its credentials and pulls through the mirror (the token is
 * forwarded, for the P2P tasks' checks too); an anonymous client's token grants nothing, so
 * it never gets a blob the peer holds.
 */
START_TEST(test_token_auth)
{
    char layer[80], path[300], *h;
    int code;

    mirror_up_opts(MIRROR_TOKEN);
    ck_assert_int_ne(mirror_pull(":v1", "anonymous"), 0);
    ck_assert_int_eq(mirror_pull_with_creds("with-token"), 0);
    assert_layout("with-token");
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 4", S.dir), 0);
    ck_assert_int_eq(run(NULL, "grep -q 'granted' %s/token.log", S.dir), 0);
    /* a cached blob, asked for without a token: the registry's bearer challenge */
    mirror_big_layer(layer, sizeof(layer));
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/%s", layer);
    h = mirror_curl("", path, &code);
    ck_assert_int_eq(code, 401);
    ck_assert_msg(strstr(h, "www-authenticate: bearer realm=") != NULL, "%s", h);
    ck_assert_ptr_null(strstr(h, "x-dragonfly-task-id"));
    free(h);
    mirror_down();
}

END_TEST

/*
 * A 12 MiB blob (12 pieces) fetched at 2 MiB/s: the client's first bytes arrive while the
 * task is still running (streamed as pieces are verified, not once the whole blob is in),
 * and the whole body matches.
 */
START_TEST(test_streams)
{
    char *out = NULL, hex[65];
    int i;

    mirror_up_opts(MIRROR_SLOW);
    /* upload the blob with the registry API: start a session, then PUT it with its digest */
    ck_assert_int_eq(run(&out,
                         "head -c 12582912 /dev/urandom > %s/big && sha256sum < %s/big | "
                         "cut -c1-64",
                         S.dir, S.dir),
                     0);
    snprintf(hex, sizeof(hex), "%.64s", out);
    free(out);
    ck_assert_int_eq(
            run(NULL,
                "loc=$(curl -sS --max-time 30 -X POST -D - -o /dev/null "
                "http://%s/v2/" MIRROR_IMAGE "/blobs/uploads/ | "
                "tr -d '\\r' | sed -n 's/^[Ll]ocation: //p') && "
                "case $loc in *\\?*) sep='&';; *) sep='?';; esac && "
                "curl -sSf --max-time 60 -X PUT -H 'Content-Type: application/octet-stream' "
                "--data-binary @%s/big \"$loc${sep}digest=sha256:%s\" -o /dev/null",
                A.reg, S.dir, hex),
            0);
    ck_assert_int_eq(run(NULL,
                         "(curl -sS --max-time 120 -o %s/got http://%s/v2/" MIRROR_IMAGE
                         "/blobs/sha256:%s; echo $? > %s/got.rc) >/dev/null 2>&1 &",
                         S.dir, S.proxy, hex, S.dir),
                     0);
    /* a second client of the same task leaves after its first bytes: the others go on */
    ck_assert_int_eq(run(NULL,
                         "curl -sS --max-time 120 http://%s/v2/" MIRROR_IMAGE
                         "/blobs/sha256:%s 2>/dev/null | head -c 1000 | wc -c | grep -qx 1000",
                         S.proxy, hex),
                     0);
    for (i = 0; i < 1200; i++) {
        if (run(NULL, "test -s %s/got", S.dir) == 0)
            break;
        it_sleep_ms(50);
    }
    ck_assert_msg(i < 1200, "no byte of the blob arrived");
    /* the first bytes are out and the task is not done */
    ck_assert_int_eq(run(NULL,
                         "grep 'new (proxy)' %s/peer.log | grep -q . && "
                         "! grep -q 'done: 12582912 bytes' %s/peer.log",
                         S.dir, S.dir),
                     0);
    for (i = 0; i < 1200; i++) {
        if (run(NULL, "test -s %s/got.rc", S.dir) == 0)
            break;
        it_sleep_ms(50);
    }
    ck_assert_int_eq(run(NULL,
                         "test $(cat %s/got.rc) = 0 && test $(sha256sum < %s/got | "
                         "cut -c1-64) = %s && grep -q 'done: 12582912 bytes' %s/peer.log",
                         S.dir, S.dir, hex, S.dir),
                     0);
    mirror_down();
}

END_TEST

/* The body curl saved is the blob digest ("sha256:<hex>") names. */
static void
assert_body_is(const char *digest)
{
    ck_assert_int_eq(
            run(NULL, "test sha256:$(sha256sum < %s/body | cut -c1-64) = %s", S.dir, digest), 0);
}

/* The image's manifest by tag through the forward proxy (scheme: of the registry) passes
 * through. */
static void
assert_manifest_via(const char *scheme, const char *args)
{
    char url[300], all[900], *h;
    int code;

    snprintf(url, sizeof(url), "%s://%s/v2/" MIRROR_IMAGE "/manifests/v1", scheme, A.reg);
    snprintf(all, sizeof(all), "%s " OCI_ACCEPT, args);
    h = mirror_curl_via(all, url, &code);
    ck_assert_int_eq(code, 200);
    ck_assert_ptr_null(strstr(h, "x-dragonfly-task-id"));
    free(h);
    assert_body_is(S.manifest);
}

/* A mirror request for path is served from the cache of the only task the peer made. */
static void
assert_from_the_one_task(const char *path)
{
    char *h;
    int code;

    h = mirror_curl("", path, &code);
    ck_assert_int_eq(code, 200);
    ck_assert_msg(strstr(h, "x-dragonfly-task-download-finished: true") != NULL, "%s", h);
    free(h);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 1", S.dir), 0);
}

/*
 * The listener as a plain-HTTP forward proxy (HTTP_PROXY): absolute-form requests follow the
 * mirror's rules (a blob through a P2P task, a manifest passed through), other methods are
 * refused, and a request that is neither form gets a 400.
 */
START_TEST(test_forward_proxy)
{
    char layer[80], url[300], *h;
    int code;

    mirror_up();
    mirror_big_layer(layer, sizeof(layer));
    snprintf(url, sizeof(url), "http://%s/v2/" MIRROR_IMAGE "/blobs/%s", A.reg, layer);
    h = mirror_curl_via("", url, &code);
    ck_assert_int_eq(code, 200);
    ck_assert_msg(strstr(h, "x-dragonfly-task-id: ") != NULL, "%s", h);
    free(h);
    assert_body_is(layer);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 1", S.dir), 0);
    /* the same blob as a mirror request is the same task: served from the cache */
    snprintf(url, sizeof(url), "/v2/" MIRROR_IMAGE "/blobs/%s", layer);
    assert_from_the_one_task(url);
    /* a manifest passes through */
    assert_manifest_via("http", "");
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_pass_requests_total"), 1);
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_pass_bytes_total"), 400); /* the manifest */
    /* no body is forwarded: other methods are refused, and say so */
    snprintf(url, sizeof(url), "http://%s/v2/" MIRROR_IMAGE "/blobs/uploads/", A.reg);
    h = mirror_curl_via("-X POST -d x", url, &code);
    ck_assert_int_eq(code, 405);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: proxy"));
    free(h);
    /* an origin outside the back-to-source policy (the peer's own address) */
    snprintf(url, sizeof(url), "http://%s/metrics", S.upload);
    h = mirror_curl_via("", url, &code);
    ck_assert_int_eq(code, 502);
    free(h);
    ck_assert_int_eq(run(NULL, "grep -q 'back-to-source' %s/body", S.dir), 0);
    mirror_down();
}

END_TEST

/* The proxy answers a CONNECT to hostport with status want (and no tunnel). */
static void
assert_connect_status(const char *hostport, const char *want)
{
    char *out = NULL;

    ck_assert_int_eq(run(&out,
                         "curl -sS --max-time 30 --proxy http://%s -o /dev/null "
                         "-w '%%{http_connect}' https://%s/ 2>/dev/null; true",
                         S.proxy, hostport),
                     0);
    ck_assert_msg(strcmp(out, want) == 0, "CONNECT %s: %s, want %s", hostport, out, want);
    free(out);
}

/*
 * CONNECT to the TLS registry with interception on: the client trusts our CA (a leaf minted for
 * the registry's address), blobs go through P2P tasks, manifests pass through, a POST inside
 * is refused.
 */
/*
 * The status line goes out as soon as the task's length is known, before any piece: an
 * origin (the test tool, on the registry's address) answers the peer's probe and then stalls
 * every ranged fetch after one byte, so no piece is ever verified; the client still gets
 * 200 with the task's headers and no byte of the body by the time it gives up.
 */
START_TEST(test_status_first)
{
    struct it_proc origin;
    char tool[512], ready[700], listen[64], url[300], *h, *out = NULL;
    const char *argv[] = {
            it_tool("origin", tool, sizeof(tool)), "--listen", listen, "--ready-file", ready, NULL};

    mirror_up();
    snprintf(ready, sizeof(ready), "%s/origin.ready", S.dir);
    snprintf(listen, sizeof(listen), "%s:0", A.reg_ip);
    ck_assert_int_eq(it_proc_start(&origin, S.dir, "origin", (char *const *)(uintptr_t)argv, ready,
                                   IT_READY_MS),
                     0);
    snprintf(url, sizeof(url), "http://%s/gen/8388608?seed=7&stall_after=1",
             it_proc_ready_str(&origin, "http"));
    /* curl gives up (28) with the headers in hand: no piece, yet the response started */
    ck_assert_int_eq(run(&out,
                         "curl -sS --max-time 5 --proxy http://%s -H 'X-Dragonfly-Use-P2P: true' "
                         "-D %s/head -o %s/body '%s' 2>/dev/null; echo rc=$?; "
                         "tr 'A-Z' 'a-z' < %s/head",
                         S.proxy, S.dir, S.dir, url, S.dir),
                     0);
    h = out;
    ck_assert_msg(strstr(h, "http/1.1 200") != NULL, "%s", h);
    ck_assert_msg(strstr(h, "content-length: 8388608") != NULL, "%s", h);
    ck_assert_msg(strstr(h, "x-dragonfly-task-id: ") != NULL, "%s", h);
    ck_assert_msg(strstr(h, "rc=28") != NULL, "%s", h);
    ck_assert_int_eq(run(NULL, "test ! -s %s/body", S.dir), 0);
    ck_assert_int_eq(run(NULL, "! grep -q 'piece 0 recorded' %s/peer.log", S.dir), 0);
    free(out);
    it_proc_stop(&origin);
    mirror_down();
}

END_TEST

START_TEST(test_connect)
{
    char layer[80], url[300], args[1000], *h, *out = NULL;
    int code;

    mirror_up_opts(MIRROR_TLS | MIRROR_HIJACK);
    mirror_big_layer(layer, sizeof(layer));
    /* intercepted: our CA verifies, the registry's own does not */
    snprintf(url, sizeof(url), "https://%s/v2/" MIRROR_IMAGE "/blobs/%s", A.reg, layer);
    snprintf(args, sizeof(args), "--cacert %s/hijack/ca.crt", S.dir);
    h = mirror_curl_via(args, url, &code);
    ck_assert_int_eq(code, 200);
    ck_assert_msg(strstr(h, "x-dragonfly-task-id: ") != NULL, "%s", h);
    free(h);
    assert_body_is(layer);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 1", S.dir), 0);
    ck_assert_int_ne(run(NULL,
                         "curl -sS --max-time 30 --proxy http://%s --cacert %s/registry.crt "
                         "-o /dev/null %s",
                         S.proxy, S.dir, url),
                     0);
    assert_manifest_via("https", args);
    snprintf(url, sizeof(url), "https://%s/v2/" MIRROR_IMAGE "/manifests/v1", A.reg);
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_hijack_requests_total"), 2);
    ck_assert_uint_eq(metric("dragonfly_peer_proxy_tunnel_requests_total"), 0);
    /* a POST inside is refused like any other, and the connection keeps serving */
    ck_assert_int_eq(run(&out,
                         "o='--max-time 30 --proxy http://%s --cacert %s/hijack/ca.crt -o "
                         "/dev/null -w %%{http_code},'; curl -sS $o -X POST -d x %s --next $o "
                         "-H 'Accept: application/vnd.oci.image.manifest.v1+json' %s",
                         S.proxy, S.dir, url, url),
                     0);
    ck_assert_msg(strcmp(out, "405,200,") == 0, "%s", out);
    free(out);
    /* a connection minted for the registry cannot reach a host that is not intercepted */
    snprintf(args, sizeof(args), "--cacert %s/hijack/ca.crt -H 'Host: other.example'", S.dir);
    h = mirror_curl_via(args, url, &code);
    ck_assert_int_eq(code, 421);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: proxy"));
    free(h);
    mirror_down();
}

END_TEST

/*
 * CONNECT with no interception configured: a blind tunnel, the client verifies the registry's
 * own certificate and skopeo-like reads work; a CONNECT to an address the back-to-source
 * policy refuses (the peer's own upload port) gets 403 and no connection.
 */
START_TEST(test_connect_blind)
{
    char url[300], *out = NULL;

    mirror_up_opts(MIRROR_TLS);
    snprintf(url, sizeof(url), "https://%s/v2/" MIRROR_IMAGE "/manifests/v1", A.reg);
    ck_assert_int_eq(
            run(&out,
                "curl -sS --max-time 30 --proxy http://%s --cacert %s/registry.crt " OCI_ACCEPT
                " -o %s/body -w '%%{http_connect} %%{http_code}' %s",
                S.proxy, S.dir, S.dir, url),
            0);
    ck_assert_msg(strcmp(out, "200 200") == 0, "%s", out);
    free(out);
    assert_body_is(S.manifest);
    ck_assert_uint_eq(metric("dragonfly_peer_proxy_tunnel_requests_total"), 1);
    ck_assert_uint_gt(metric("dragonfly_peer_proxy_tunnel_bytes_total"), 1000);
    ck_assert_uint_eq(metric("dragonfly_peer_proxy_hijack_requests_total"), 0);
    assert_connect_status(S.upload, "403");
    ck_assert_int_eq(run(NULL, "grep -q 'back-to-source policy' %s/peer.log", S.dir), 0);
    mirror_down();
}

END_TEST

/*
 * podman pull with the same registries.conf (the image's registry a closed port, its mirror
 * our proxy), podman's storage (vfs) and run state in the test dir: the image podman stored
 * has the pushed manifest's digest, and its blobs came through P2P tasks. Skipped, saying so,
 * when podman is not installed or cannot run here.
 */
START_TEST(test_podman_pull)
{
    char pod[900], *out = NULL;

    if (access("/usr/bin/podman", X_OK) != 0) {
        printf("test_podman_pull: skipped: /usr/bin/podman is not installed\n");
        return;
    }
    mirror_up();
    snprintf(pod, sizeof(pod),
             "CONTAINERS_REGISTRIES_CONF=%s/registries.conf podman --root %s/pod/root "
             "--runroot %s/pod/run --tmpdir %s/pod/tmp --storage-driver vfs --events-backend "
             "none --cgroup-manager cgroupfs",
             S.dir, S.dir, S.dir, S.dir);
    if (run(&out, "mkdir -p %s/pod/tmp && %s images -q 2>&1", S.dir, pod) != 0) {
        printf("test_podman_pull: skipped: podman cannot run here: %s\n", out);
        free(out);
        mirror_down();
        return;
    }
    free(out);
    ck_assert_int_eq(run(NULL, "%s pull -q %s/" MIRROR_IMAGE ":v1 >/dev/null", pod, A.closed), 0);
    ck_assert_int_eq(run(&out, "%s image inspect --format '{{.Digest}}' %s/" MIRROR_IMAGE ":v1",
                         pod, A.closed),
                     0);
    ck_assert_msg(strncmp(out, S.manifest, strlen(S.manifest)) == 0, "%s vs %s", out, S.manifest);
    free(out);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 4", S.dir), 0);
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_p2p_requests_total"), 4);
    mirror_down();
}

END_TEST

/*
 * The body curl saved is bytes [start, start + len) of the blob hex names, and the response
 * headers h said so with a 206.
 */
static void
assert_range(const char *h, const char *hex, uint64_t start, uint64_t len, uint64_t total)
{
    char want[120];

    snprintf(want, sizeof(want), "content-range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
             start + len - 1, total);
    ck_assert_msg(strstr(h, want) != NULL, "want %s in %s", want, h);
    ck_assert_int_eq(run(NULL,
                         "dd if=%s/layout/blobs/sha256/%s bs=1M iflag=skip_bytes,count_bytes "
                         "skip=%" PRIu64 " count=%" PRIu64 " status=none | cmp - %s/body",
                         S.dir, hex, start, len, S.dir),
                     0);
}

/*
 * Range on a P2P blob: 206 with Content-Range and exactly those bytes, while the task runs
 * (the whole blob is still fetched and checked against its digest) and from the cache
 * (straight from the data file checked whole, until that file changes); a suffix range; an
 * unsatisfiable one gets 416 with "bytes * /size".
 */
START_TEST(test_range)
{
    char layer[80], path[300], id[65], *h, *p, *out = NULL;
    uint64_t size = 0;
    int code;

    mirror_up();
    mirror_big_layer(layer, sizeof(layer));
    ck_assert_int_eq(run(&out, "stat -c %%s %s/layout/blobs/sha256/%s", S.dir, layer + 7), 0);
    ck_assert_int_eq(sscanf(out, "%" SCNu64, &size), 1);
    free(out);
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/%s", layer);
    h = mirror_curl("-r 1000-1999", path, &code);
    ck_assert_int_eq(code, 206);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-task-id: "));
    assert_range(h, layer + 7, 1000, 1000, size);
    free(h);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 1", S.dir), 0);
    /* the whole blob was fetched and verified: the next ranges come from the cache */
    h = mirror_curl("-r 5-", path, &code);
    ck_assert_int_eq(code, 206);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-task-download-finished: true"));
    assert_range(h, layer + 7, 5, size - 5, size);
    free(h);
    h = mirror_curl("-r -100", path, &code);
    ck_assert_int_eq(code, 206);
    assert_range(h, layer + 7, size - 100, 100, size);
    ck_assert_ptr_nonnull(p = strstr(h, "x-dragonfly-task-id: "));
    ck_assert_int_eq(sscanf(p, "x-dragonfly-task-id: %64[0-9a-f]", id), 1);
    free(h);
    /* checked whole once, those two came straight from the data file */
    ck_assert_int_eq(run(NULL,
                         "test $(grep -c 'served from the verified data file' %s/peer.log) -eq 2",
                         S.dir),
                     0);
    h = mirror_curl("-r 99999999-", path, &code);
    ck_assert_int_eq(code, 416);
    snprintf(path, sizeof(path), "content-range: bytes */%" PRIu64, size);
    ck_assert_msg(strstr(h, path) != NULL, "%s", h);
    free(h);
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 1", S.dir), 0);
    /* a byte of that file changed under the peer: it is hashed again, and the client gets
     * the blob (refetched) or a short body, never other bytes of the full length */
    ck_assert_int_eq(run(NULL,
                         "printf X | dd of=%s/peer/content/tasks/%.3s/%s bs=1 seek=7 "
                         "conv=notrunc status=none",
                         S.dir, id, id),
                     0);
    h = mirror_curl("", path, &code);
    free(h);
    ck_assert_int_eq(run(NULL,
                         "cmp -s %s/body %s/layout/blobs/sha256/%s || "
                         "test $(stat -c %%s %s/body) -lt %" PRIu64,
                         S.dir, S.dir, layer + 7, S.dir, size),
                     0);
    ck_assert_int_eq(run(NULL,
                         "test $(grep -c 'served from the verified data file' %s/peer.log) -eq 2",
                         S.dir),
                     0);
    mirror_down();
}

END_TEST

/* The X-Dragonfly-Task-ID in the headers h (lower-cased) into id. */
static void
task_id_of(const char *h, char id[65])
{
    const char *p = strstr(h, "x-dragonfly-task-id: ");

    ck_assert_msg(p != NULL, "no task id in %s", h);
    ck_assert_int_eq(sscanf(p, "x-dragonfly-task-id: %64[0-9a-f]", id), 1);
}

/* GET path at the proxy with the curl arguments args: 200, the blob hex, its task id. */
static void
get_blob(const char *args, const char *path, const char *hex, char id[65])
{
    char *h;
    int code;

    h = mirror_curl(args, path, &code);
    ck_assert_msg(code == 200, "%s: %d\n%s", args, code, h);
    task_id_of(h, id);
    free(h);
    ck_assert_int_eq(run(NULL, "cmp -s %s/body %s/layout/blobs/sha256/%s", S.dir, S.dir, hex), 0);
}

/*
 * The request headers of the contracts' table. Priority: 1 and 2 allow no origin fetch, so
 * a blob this peer does not hold is 403 (1) or 404 (2) with X-Dragonfly-Error-Type: proxy,
 * and served once it holds it; a value that does not parse is the default 6. Tag and
 * Application are part of the task id; Filtered-Query-Params (a comma list) leaves those
 * query parameters out of it.
 */
START_TEST(test_request_headers)
{
    char layer[80], path[300], path2[320], id0[65], id[65], id2[65], *h;
    int code;

    mirror_up();
    mirror_big_layer(layer, sizeof(layer));
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/%s", layer);
    h = mirror_curl("-H 'X-Dragonfly-Priority: 1'", path, &code);
    ck_assert_int_eq(code, 403);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: proxy"));
    free(h);
    h = mirror_curl("-H 'X-Dragonfly-Priority: 2'", path, &code);
    ck_assert_int_eq(code, 404);
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: proxy"));
    free(h);
    ck_assert_uint_eq(metric("dragonfly_peer_source_bytes_total"), 0);
    get_blob("-H 'X-Dragonfly-Priority: high'", path, layer + 7, id0);
    get_blob("-H 'X-Dragonfly-Priority: 1'", path, layer + 7, id);
    ck_assert_str_eq(id, id0);
    /* tag and application: other tasks, the same again for the same value */
    get_blob("-H 'X-Dragonfly-Tag: a'", path, layer + 7, id);
    ck_assert_str_ne(id, id0);
    get_blob("-H 'X-Dragonfly-Tag: a'", path, layer + 7, id2);
    ck_assert_str_eq(id2, id);
    get_blob("-H 'X-Dragonfly-Application: app'", path, layer + 7, id2);
    ck_assert_str_ne(id2, id0);
    ck_assert_str_ne(id2, id);
    /* filtered query parameters: x and y out of the id; without the header, in it */
    snprintf(path2, sizeof(path2), "%s?x=1&y=2", path);
    get_blob("-H 'X-Dragonfly-Filtered-Query-Params: x, y'", path2, layer + 7, id);
    snprintf(path2, sizeof(path2), "%s?x=3&y=4", path);
    get_blob("-H 'X-Dragonfly-Filtered-Query-Params: x,y'", path2, layer + 7, id2);
    ck_assert_str_eq(id2, id);
    get_blob("", path2, layer + 7, id2);
    ck_assert_str_ne(id2, id);
    mirror_down();
}

END_TEST

/*
 * A rule object: the mirror's upstream is a closed plain-HTTP port, and the rule sends blobs
 * over https (useTLS) to the registry (redirect), leaving the query parameter x out of the
 * task id (filteredQueryParams): a blob is served from a P2P task, twice with different x
 * and one task; a manifest, which no rule matches, still goes to the closed port.
 */
START_TEST(test_rule_object)
{
    char layer[80], path[300], *h;
    int code;

    mirror_up_opts(MIRROR_AWAY | MIRROR_TLS | MIRROR_RULE);
    mirror_big_layer(layer, sizeof(layer));
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/%s?x=1", layer);
    h = mirror_curl("", path, &code);
    ck_assert_int_eq(code, 200);
    ck_assert_msg(strstr(h, "x-dragonfly-task-id: ") != NULL, "%s", h);
    free(h);
    assert_body_is(layer);
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/%s?x=2", layer);
    assert_from_the_one_task(path);
    h = mirror_curl(OCI_ACCEPT, "/v2/" MIRROR_IMAGE "/manifests/v1", &code);
    ck_assert_int_eq(code, 502);
    free(h);
    mirror_down();
}

END_TEST

/*
 * proxy.basicAuth: every request without the credentials (or with wrong ones) gets 407 and
 * Proxy-Authenticate, mirror and forward requests alike; with them it is served; the
 * password never reaches the log.
 */
START_TEST(test_proxy_auth)
{
    char url[300], *h;
    int code;

    mirror_up_opts(MIRROR_PAUTH);
    h = mirror_curl("", "/v2/", &code);
    ck_assert_int_eq(code, 407);
    ck_assert_ptr_nonnull(strstr(h, "proxy-authenticate: basic realm=\"dragonfly\""));
    ck_assert_ptr_nonnull(strstr(h, "x-dragonfly-error-type: proxy"));
    free(h);
    h = mirror_curl("-H 'Proxy-Authorization: Basic " MIRROR_PROXY_USER_B64 "'", "/v2/", &code);
    ck_assert_int_eq(code, 200);
    free(h);
    snprintf(url, sizeof(url), "http://%s/v2/", A.reg);
    h = mirror_curl_via("--proxy-user px:wrong", url, &code);
    ck_assert_int_eq(code, 407);
    free(h);
    h = mirror_curl_via("--proxy-user " MIRROR_PROXY_USER, url, &code);
    ck_assert_int_eq(code, 200);
    free(h);
    /* CONNECT too */
    assert_connect_status(A.reg, "407");
    ck_assert_int_eq(
            run(NULL, "! grep -q 'px-secret\\|" MIRROR_PROXY_USER_B64 "' %s/peer.log", S.dir), 0);
    mirror_down();
}

END_TEST

/* Over proxy.requestRateLimit: 429 with X-Dragonfly-Error-Type, and serving again later. */
START_TEST(test_rate_limit)
{
    char *out = NULL, urls[4000] = "";
    int n429 = 0, n404 = 0, typed = 0, code;
    char *h;

    mirror_up_opts(MIRROR_RATE);
    for (int i = 0; i < 20; i++)
        snprintf(urls + strlen(urls), sizeof(urls) - strlen(urls), " http://%s/other", S.proxy);
    /* every answer is ours (404 for the path, or 429), each with its error type */
    ck_assert_int_eq(run(&out, "curl -sS --max-time 60 -D - -o /dev/null%s | tr 'A-Z' 'a-z'", urls),
                     0);
    for (char *l = out; l != NULL && *l != '\0';
         l = strchr(l, '\n') != NULL ? strchr(l, '\n') + 1 : NULL) {
        n429 += strncmp(l, "http/1.1 429", 12) == 0;
        n404 += strncmp(l, "http/1.1 404", 12) == 0;
        typed += strncmp(l, "x-dragonfly-error-type: proxy", 29) == 0;
    }
    free(out);
    ck_assert_int_eq(n429 + n404, 20);
    ck_assert_int_eq(typed, 20);
    ck_assert_int_ge(n429, 1);
    ck_assert_int_ge(n404, 1);
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_error_requests_total"), 20);
    /* a second's worth of tokens later it serves again */
    it_sleep_ms(2500);
    h = mirror_curl("", "/v2/", &code);
    ck_assert_int_eq(code, 200);
    free(h);
    mirror_down();
}

END_TEST

/* Body bytes the registry sent for blob hex (GETs in its access log). */
static uint64_t
registry_blob_bytes(const char *hex)
{
    char *out = NULL;
    uint64_t v = 0;

    ck_assert_int_eq(run(&out,
                         "awk '$6 == \"\\\"GET\" && $7 ~ /blobs\\/sha256:%s/ { n += $10 } END "
                         "{ print n + 0 }' %s/registry.log",
                         hex, S.dir),
                     0);
    ck_assert_int_eq(sscanf(out, "%" SCNu64, &v), 1);
    free(out);
    return v;
}

/*
 * Each blob of the pushed image (config and layers) left the registry about once, whatever
 * the number of clients: at least its size and at most 1.05 x, by the registry's access log.
 */
static void
assert_blobs_sent_once(void)
{
    char *out = NULL, *sz;
    uint64_t size, sent;

    ck_assert_int_eq(
            run(&out, "cd %s/layout/blobs/sha256 && ls | grep -v %s", S.dir, S.manifest + 7), 0);
    for (char *l = out, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
        *nl = '\0';
        sz = NULL;
        size = 0;
        ck_assert_int_eq(run(&sz, "stat -c %%s %s/layout/blobs/sha256/%s", S.dir, l), 0);
        ck_assert_int_eq(sscanf(sz, "%" SCNu64, &size), 1);
        free(sz);
        ck_assert_uint_gt(size, 0);
        sent = registry_blob_bytes(l);
        ck_assert_msg(sent >= size && sent * 100 <= size * 105,
                      "blob %.12s: %" PRIu64 " bytes from the registry for %" PRIu64, l, sent,
                      size);
    }
    free(out);
}

/*
 * With a scheduler and a seed: two peers' mirrors serve the same image to two skopeo pulls
 * at once; the seed alone goes to the registry, and each blob's bytes leave the registry
 * about once (<= 1.05 x) although two clients pulled it. Then X-Dragonfly-Priority: 3 on a
 * new task sends the peer to the registry itself.
 */
START_TEST(test_swarm)
{
    char layer[80], path[300], id[65];

    mirror_up_opts(MIRROR_SWARM);
    /* the second client's registries.conf names the second peer's proxy */
    mirror_registries_conf("registries2.conf", S.proxy2);
    ck_assert_int_eq(run(NULL,
                         "skopeo --insecure-policy --registries-conf %s/registries.conf copy -q "
                         "docker://%s/" MIRROR_IMAGE ":v1 oci:%s/one:v1 & a=$!; "
                         "skopeo --insecure-policy --registries-conf %s/registries2.conf copy -q "
                         "docker://%s/" MIRROR_IMAGE ":v1 oci:%s/two:v1 & b=$!; "
                         "wait $a && wait $b",
                         S.dir, A.closed, S.dir, S.dir, A.closed, S.dir),
                     0);
    assert_layout("one");
    assert_layout("two");
    /* the peers got their bytes from the swarm; the seed went to the registry */
    ck_assert_uint_eq(metric_at(S.metrics, "dragonfly_peer_source_bytes_total"), 0);
    ck_assert_uint_eq(metric_at(S.metrics2, "dragonfly_peer_source_bytes_total"), 0);
    ck_assert_uint_ge(metric_at(S.metrics, "dragonfly_peer_p2p_bytes_total") +
                              metric_at(S.metrics2, "dragonfly_peer_p2p_bytes_total"),
                      2 * 4200000);
    assert_blobs_sent_once();
    /* priority 3: for a task new to the swarm the peer goes to the origin itself */
    mirror_big_layer(layer, sizeof(layer));
    snprintf(path, sizeof(path), "/v2/" MIRROR_IMAGE "/blobs/%s?p=3", layer);
    get_blob("-H 'X-Dragonfly-Priority: 3'", path, layer + 7, id);
    ck_assert_uint_ge(metric_at(S.metrics, "dragonfly_peer_source_bytes_total"), 2100000);
    mirror_down();
}

END_TEST

/*
 * A scheduler, a seed and four peers; four skopeo clients, each through its own peer's
 * mirror, pull the same image at once: every layout holds the pushed manifest and blobs
 * whose names are their sha256, each blob left the registry about once (<= 1.05 x), and no
 * peer but through the swarm got a byte of it.
 */
START_TEST(test_swarm4)
{
    const char *metrics[4];
    char name[32], dest[16];
    uint64_t p2p = 0;

    mirror_up_opts(MIRROR_SWARM | MIRROR_SWARM4);
    metrics[0] = S.metrics;
    metrics[1] = S.metrics2;
    metrics[2] = S.metrics34[0];
    metrics[3] = S.metrics34[1];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "registries%d.conf", i);
        mirror_registries_conf(name, i == 0 ? S.proxy : i == 1 ? S.proxy2 : S.proxy34[i - 2]);
    }
    ck_assert_int_eq(run(NULL,
                         "for i in 0 1 2 3; do skopeo --insecure-policy --registries-conf "
                         "%s/registries$i.conf copy -q docker://%s/" MIRROR_IMAGE
                         ":v1 oci:%s/pull$i:v1 & eval p$i=$!; done; "
                         "wait $p0 && wait $p1 && wait $p2 && wait $p3",
                         S.dir, A.closed, S.dir),
                     0);
    for (int i = 0; i < 4; i++) {
        snprintf(dest, sizeof(dest), "pull%d", i);
        assert_layout(dest);
        ck_assert_uint_eq(metric_at(metrics[i], "dragonfly_peer_source_bytes_total"), 0);
        p2p += metric_at(metrics[i], "dragonfly_peer_p2p_bytes_total");
    }
    ck_assert_uint_ge(p2p, 4 * 4200000);
    assert_blobs_sent_once();
    mirror_down();
}

END_TEST

/*
 * A registry with basic auth and a swarm: the peer's register carries the client's
 * Authorization to the scheduler, which hands it to the seed it sends to the registry; the
 * seed fetches every blob with it (the peer takes nothing from the registry itself), and the
 * credential is in no log (all at debug level) and nowhere in the daemons' data dirs.
 */
START_TEST(test_swarm_auth)
{
    mirror_up_opts(MIRROR_SWARM | MIRROR_AUTH | MIRROR_DEBUG);
    ck_assert_int_eq(mirror_pull_with_creds("with-creds"), 0);
    assert_layout("with-creds");
    ck_assert_uint_eq(metric("dragonfly_peer_source_bytes_total"), 0);
    ck_assert_uint_ge(metric("dragonfly_peer_p2p_bytes_total"), 4200000);
    assert_blobs_sent_once();
    /* the seed did go to the registry, and the logs are there to be searched */
    ck_assert_int_eq(run(NULL, "grep -q 'back to source' %s/seed.log", S.dir), 0);
    ck_assert_int_eq(run(NULL,
                         "cd %s && ! grep -rl -e '" MIRROR_USER_B64 "' -e 'it-secret' peer.log "
                         "peer2.log seed.log scheduler.log peer peer2 seed",
                         S.dir),
                     0);
    mirror_down();
}

END_TEST

/* containerd with its own root, state and socket in the test dir; hosts.toml under hosts/. */
static void
ctd_start(void)
{
    char path[700], conf[1600];
    const char *argv[] = {"/usr/bin/containerd", "--config", path, NULL};
    int i;

    ck_assert_msg(access("/usr/bin/containerd", X_OK) == 0 && access("/usr/bin/ctr", X_OK) == 0,
                  "containerd is needed (scripts/install-deps.sh)");
    snprintf(conf, sizeof(conf),
             "version = 2\nroot = \"%s/ctd/root\"\nstate = \"%s/ctd/state\"\n"
             "disabled_plugins = [\"io.containerd.grpc.v1.cri\", "
             "\"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", "
             "\"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\"]\n"
             "[grpc]\n  address = \"%s/ctd.sock\"\n[ttrpc]\n  address = \"%s/ctd-ttrpc.sock\"\n",
             S.dir, S.dir, S.dir, S.dir);
    snprintf(path, sizeof(path), "%s/containerd.toml", S.dir);
    write_file(path, conf);
    ck_assert_int_eq(
            it_proc_start(&S.ctd, S.dir, "containerd", (char *const *)(uintptr_t)argv, NULL, 0), 0);
    for (i = 0; i < 300; i++) {
        if (run(NULL, "ctr -a %s/ctd.sock version >/dev/null 2>&1", S.dir) == 0)
            break;
        it_sleep_ms(100);
    }
    if (i == 300)
        it_proc_dump_log(&S.ctd);
    ck_assert_msg(i < 300, "containerd did not start");
}

/* hosts.toml for host (a directory name: "_default" or host:port) sending to our proxy. */
static void
ctd_hosts(const char *host, const char *header)
{
    char path[700], text[1000];

    ck_assert_int_eq(run(NULL, "mkdir -p '%s/hosts/%s'", S.dir, host), 0);
    snprintf(text, sizeof(text),
             "server = \"http://%s\"\n[host.\"http://%s\"]\n"
             "capabilities = [\"pull\", \"resolve\"]\n",
             A.closed, S.proxy);
    if (header != NULL)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "[host.\"http://%s\".header]\nX-Dragonfly-Registry = \"%s\"\n", S.proxy, header);
    snprintf(path, sizeof(path), "%s/hosts/%s/hosts.toml", S.dir, host);
    write_file(path, text);
}

/* ctr images pull of ref, then the image must be listed with the pushed manifest. */
static void
ctd_pull(const char *ref)
{
    ck_assert_int_eq(run(NULL,
                         "ctr -a %s/ctd.sock -n it images pull --hosts-dir %s/hosts "
                         "--snapshotter native %s >%s/ctr.out 2>&1 || { cat %s/ctr.out >&2; "
                         "exit 1; }",
                         S.dir, S.dir, ref, S.dir, S.dir),
                     0);
    ck_assert_int_eq(
            run(NULL, "ctr -a %s/ctd.sock -n it images ls | grep -q '%s'", S.dir, S.manifest), 0);
    /* the config and three layers through P2P tasks of this peer */
    ck_assert_int_eq(run(NULL, "test $(grep -c 'new (proxy)' %s/peer.log) -eq 4", S.dir), 0);
    ck_assert_uint_ge(metric("dragonfly_peer_proxy_p2p_requests_total"), 4);
}

/* ctd_pull of the image at its registry's own name (the _default hosts.toml forms). */
static void
ctd_pull_from_registry(void)
{
    char ref[100];

    snprintf(ref, sizeof(ref), "%s/" MIRROR_IMAGE ":v1", A.reg);
    ctd_pull(ref);
}

/*
 * containerd, hosts.toml with the X-Dragonfly-Registry header: the image's host is a closed
 * port, and so is the peer's configured mirror; only the header names the registry.
 */
START_TEST(test_containerd_header)
{
    char reg[64], ref[100];

    mirror_up_opts(MIRROR_AWAY);
    ctd_start();
    ctd_hosts(A.closed, mirror_url(reg, sizeof(reg), "http", A.reg));
    snprintf(ref, sizeof(ref), "%s/" MIRROR_IMAGE ":v1", A.closed);
    ctd_pull(ref);
    mirror_down();
}

END_TEST

/*
 * containerd, catch-all _default/hosts.toml with no header: containerd sends ns=<registry>
 * and the peer goes to https://<registry> (an https registry here, its certificate trusted
 * by the peer). containerd's fallback server is a closed port.
 */
START_TEST(test_containerd_ns)
{
    mirror_up_opts(MIRROR_AWAY | MIRROR_TLS);
    ctd_start();
    ctd_hosts("_default", NULL);
    ctd_pull_from_registry();
    mirror_down();
}

END_TEST

/*
 * The same _default form with a plain-HTTP registry: proxy.registries says where its ns goes
 * (without it, https:// would be tried).
 */
START_TEST(test_containerd_ns_registries)
{
    mirror_up_opts(MIRROR_AWAY | MIRROR_MAP);
    ctd_start();
    ctd_hosts("_default", NULL);
    ctd_pull_from_registry();
    mirror_down();
}

END_TEST

Suite *it_mirror_suite(void);

Suite *
it_mirror_suite(void)
{
    Suite *s = suite_create("it_mirror");
    TCase *tc = tcase_create("skopeo");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_skopeo_pull);
    tcase_add_test(tc, test_pass_through);
    tcase_add_test(tc, test_upstream_choice);
    tcase_add_test(tc, test_corrupt_blob);
    tcase_add_test(tc, test_auth);
    tcase_add_test(tc, test_streams);
    tcase_add_test(tc, test_rate_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("authcache");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_auth_cache);
    suite_add_tcase(s, tc);
    tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_forward_proxy);
    tcase_add_test(tc, test_status_first);
    tcase_add_test(tc, test_connect);
    tcase_add_test(tc, test_connect_blind);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_request_headers);
    tcase_add_test(tc, test_proxy_auth);
    tcase_add_test(tc, test_rule_object);
    suite_add_tcase(s, tc);
    tc = tcase_create("token");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_token_auth);
    suite_add_tcase(s, tc);
    tc = tcase_create("podman");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_podman_pull);
    suite_add_tcase(s, tc);
    tc = tcase_create("swarm");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_swarm);
    tcase_add_test(tc, test_swarm_auth);
    tcase_add_test(tc, test_swarm4);
    suite_add_tcase(s, tc);
    tc = tcase_create("containerd");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_containerd_header);
    tcase_add_test(tc, test_containerd_ns);
    tcase_add_test(tc, test_containerd_ns_registries);
    suite_add_tcase(s, tc);
    return s;
}
