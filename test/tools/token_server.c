/* SPDX-License-Identifier: Apache-2.0 */
/*
 * token_server: the token endpoint of a registry's bearer-token auth (Docker's token spec),
 * for tests. docker-registry is configured with `auth.token` whose rootcertbundle is --cert;
 * a client the registry answered 401 (WWW-Authenticate: Bearer realm=<this>/token,...) asks
 * here with its basic credentials and gets {"token": ...}: a JWT (ES256, the certificate in
 * x5c) that grants the scope it asked for when the credentials are --user's, and nothing
 * otherwise (the registry then keeps answering 401). One request at a time on a blocking
 * socket: a test's handful of token requests needs no more.
 *
 * Usage: token_server --listen IP:PORT --key KEY.pem --cert CERT.pem --issuer ISS
 *        --service SVC --user NAME:PASSWORD
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "df/df_b64.h"
#include "df/df_digest.h"

#define TS_REQ_MAX   8192
#define TS_TOKEN_MAX 8192
#define TS_TTL       300 /* seconds a token is valid */

static struct {
    const char *listen, *key, *cert, *issuer, *service, *user;
    mbedtls_pk_context pk;
    mbedtls_x509_crt crt;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} T;

/* base64url of len bytes of p, without padding, into out (df_b64_encoded_size(len)). */
static char *
ts_b64url(const void *p, size_t len, char *out)
{
    char *c;

    df_b64_encode(p, len, out);
    for (c = out; *c != '\0' && *c != '='; c++) {
        if (*c == '+')
            *c = '-';
        else if (*c == '/')
            *c = '_';
    }
    *c = '\0';
    return out;
}

/* The value of query parameter name in q (percent-decoded) into out, or "" when absent. */
static void
ts_query_param(const char *q, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name), k = 0;
    const char *p = q;

    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            for (p += nlen + 1; *p != '\0' && *p != '&' && *p != ' ' && k + 1 < size; p++) {
                unsigned v;
                if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
                    out[k++] = (char)v;
                    p += 2;
                } else {
                    out[k++] = *p == '+' ? ' ' : *p;
                }
            }
            out[k] = '\0';
            return;
        }
        p = strchr(p, '&');
        p = p != NULL ? p + 1 : NULL;
    }
}

/*
 * The token for scope ("repository:NAME:ACTIONS", may be empty) granted or not, into out.
 * Returns 0, or -1 when signing failed.
 */
static int
ts_token(const char *scope, bool grant, char *out, size_t size)
{
    char header[3000], claims[2000], access[1000] = "", name[300] = "", actions[300] = "";
    char x5c[2000], enc_h[4100], enc_c[2700], sig_b64[100];
    uint8_t hash[DF_SHA256_LEN], sig[64];
    struct df_sha256 sha;
    mbedtls_mpi r, s;
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(T.pk);
    time_t now = time(NULL);
    const char *c1, *c2;
    int rv;

    /* repository:<name>:<actions>; the name may hold ':' only before the last one */
    if (grant && strncmp(scope, "repository:", 11) == 0 &&
        (c2 = strrchr(scope, ':')) > scope + 10) {
        c1 = scope + 11;
        snprintf(name, sizeof(name), "%.*s", (int)(c2 - c1), c1);
        for (const char *a = c2 + 1; *a != '\0';) {
            size_t n = strcspn(a, ",");
            snprintf(actions + strlen(actions), sizeof(actions) - strlen(actions), "%s\"%.*s\"",
                     actions[0] != '\0' ? "," : "", (int)n, a);
            a += n + (a[n] == ',');
        }
        snprintf(access, sizeof(access),
                 "{\"type\":\"repository\",\"name\":\"%s\",\"actions\":[%s]}", name, actions);
    }
    /* x5c is standard base64 (RFC 7515), not base64url */
    df_b64_encode(T.crt.raw.p, T.crt.raw.len, x5c);
    snprintf(header, sizeof(header), "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", x5c);
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,\"nbf\":%lld,"
             "\"iat\":%lld,\"jti\":\"%lld-%d\",\"access\":[%s]}",
             T.issuer, grant ? "it" : "", T.service, (long long)now + TS_TTL, (long long)now - 60,
             (long long)now, (long long)now, rand(), access);
    ts_b64url(header, strlen(header), enc_h);
    ts_b64url(claims, strlen(claims), enc_c);
    snprintf(out, size, "%s.%s", enc_h, enc_c);
    df_sha256_init(&sha);
    df_sha256_update(&sha, out, strlen(out));
    df_sha256_final(&sha, hash);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    rv = mbedtls_ecdsa_sign(&ec->grp, &r, &s, &ec->d, hash, sizeof(hash), mbedtls_ctr_drbg_random,
                            &T.drbg);
    /* JWS ES256 signature: r and s as 32-byte big-endian integers, side by side */
    if (rv == 0)
        rv = mbedtls_mpi_write_binary(&r, sig, 32);
    if (rv == 0)
        rv = mbedtls_mpi_write_binary(&s, sig + 32, 32);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    if (rv != 0)
        return -1;
    snprintf(out + strlen(out), size - strlen(out), ".%s", ts_b64url(sig, sizeof(sig), sig_b64));
    return 0;
}

/* Are the request's basic credentials --user's? */
static bool
ts_is_user(const char *req)
{
    char want[300], *v = strcasestr(req, "\r\nAuthorization: Basic ");
    size_t n;

    if (v == NULL)
        return false;
    v += strlen("\r\nAuthorization: Basic ");
    n = strcspn(v, "\r\n");
    df_b64_encode((const uint8_t *)T.user, strlen(T.user), want);
    return n == strlen(want) && strncmp(v, want, n) == 0;
}

static void
ts_reply(int fd, int status, const char *body)
{
    char head[300];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status,
                     status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                                     : "Error",
                     strlen(body));

    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
        perror("token_server: write");
}

static void
ts_serve(int fd)
{
    static char req[TS_REQ_MAX + 1], token[TS_TOKEN_MAX], body[2 * TS_TOKEN_MAX + 100];
    char scope[600];
    size_t got = 0;
    ssize_t n;
    bool user;

    while (got < TS_REQ_MAX && (n = read(fd, req + got, TS_REQ_MAX - got)) > 0) {
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[got] = '\0';
    if (strncmp(req, "GET /token", 10) != 0) {
        ts_reply(fd, 404, "{\"error\":\"not the token endpoint\"}");
        return;
    }
    ts_query_param(strchr(req, '?') != NULL ? strchr(req, '?') + 1 : NULL, "scope", scope,
                   sizeof(scope));
    user = ts_is_user(req);
    if (ts_token(scope, user, token, sizeof(token)) != 0) {
        ts_reply(fd, 500, "{\"error\":\"cannot sign\"}");
        return;
    }
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"access_token\":\"%s\",\"expires_in\":%d}",
             token, token, TS_TTL);
    ts_reply(fd, 200, body);
    printf("token_server: scope \"%s\": %s\n", scope, user ? "granted" : "anonymous");
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    static const char pers[] = "token_server";
    struct sockaddr_in sa;
    char host[64], *colon;
    int lfd, fd, one = 1;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char **dst = strcmp(argv[i], "--listen") == 0    ? &T.listen
                           : strcmp(argv[i], "--key") == 0     ? &T.key
                           : strcmp(argv[i], "--cert") == 0    ? &T.cert
                           : strcmp(argv[i], "--issuer") == 0  ? &T.issuer
                           : strcmp(argv[i], "--service") == 0 ? &T.service
                           : strcmp(argv[i], "--user") == 0    ? &T.user
                                                               : NULL;
        if (dst == NULL) {
            fprintf(stderr, "token_server: unknown option %s\n", argv[i]);
            return 2;
        }
        *dst = argv[i + 1];
    }
    if (T.listen == NULL || T.key == NULL || T.cert == NULL || T.issuer == NULL ||
        T.service == NULL || T.user == NULL) {
        fprintf(stderr, "usage: token_server --listen IP:PORT --key KEY --cert CERT --issuer ISS "
                        "--service SVC --user NAME:PASSWORD\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    mbedtls_pk_init(&T.pk);
    mbedtls_x509_crt_init(&T.crt);
    mbedtls_entropy_init(&T.entropy);
    mbedtls_ctr_drbg_init(&T.drbg);
    if (mbedtls_pk_parse_keyfile(&T.pk, T.key, NULL) != 0 ||
        mbedtls_pk_get_type(&T.pk) != MBEDTLS_PK_ECKEY ||
        mbedtls_x509_crt_parse_file(&T.crt, T.cert) != 0 ||
        mbedtls_ctr_drbg_seed(&T.drbg, mbedtls_entropy_func, &T.entropy,
                              (const unsigned char *)pers, sizeof(pers)) != 0) {
        fprintf(stderr, "token_server: cannot load the EC key %s or the certificate %s\n", T.key,
                T.cert);
        return 1;
    }
    snprintf(host, sizeof(host), "%s", T.listen);
    if ((colon = strrchr(host, ':')) == NULL) {
        fprintf(stderr, "token_server: --listen wants IP:PORT\n");
        return 2;
    }
    *colon = '\0';
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        (lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0) {
        perror("token_server: listen");
        return 1;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (;;) {
        struct timeval tv = {5, 0}; /* a client that sends nothing does not hold the server */

        if ((fd = accept(lfd, NULL, NULL)) < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ts_serve(fd);
        close(fd);
    }
}
