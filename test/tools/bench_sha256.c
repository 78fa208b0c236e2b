/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 throughput of each available implementation on one buffer (default 64 MiB), and
 * of the best one hashing its two halves side by side (df_sha256_update_x2):
 *   bench_sha256 [MiB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df/df_digest.h"

static double
now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    static const enum df_sha256_impl impls[] = {DF_SHA256_IMPL_MBEDTLS, DF_SHA256_IMPL_SHANI};

    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64, len = mib << 20;
    unsigned char *buf = malloc(len);
    char hex[DF_SHA256_HEX_LEN + 1];
    uint8_t md[DF_SHA256_LEN];
    struct df_sha256 ctx;
    double t0, best;

    if (buf == NULL || len == 0)
        return 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
        if (!df_sha256_impl_is_available(impls[i])) {
            printf("%-8s unavailable on this CPU\n", df_sha256_impl_name(impls[i]));
            continue;
        }
        best = 1e9;
        for (int rep = 0; rep < 3; rep++) {
            t0 = now_sec();
            df_sha256_init_impl(&ctx, impls[i]);
            df_sha256_update(&ctx, buf, len);
            df_sha256_final(&ctx, md);
            t0 = now_sec() - t0;
            if (t0 < best)
                best = t0;
        }
        df_hex_encode(md, sizeof(md), hex);
        printf("%-8s %4zu MiB  %8.1f MB/s  %.16s...\n", df_sha256_impl_name(impls[i]), mib,
               (double)len / best / 1e6, hex);
    }
    /* two halves side by side, as two pieces hashed by one job */
    best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        struct df_sha256 other;
        uint8_t md2[DF_SHA256_LEN];

        t0 = now_sec();
        df_sha256_init(&ctx);
        df_sha256_init(&other);
        df_sha256_update_x2(&ctx, buf, &other, buf + len / 2, len / 2);
        df_sha256_final(&ctx, md);
        df_sha256_final(&other, md2);
        t0 = now_sec() - t0;
        if (t0 < best)
            best = t0;
    }
    printf("%-8s %4zu MiB  %8.1f MB/s  (two halves at once, %s)\n", "x2", mib,
           (double)(len / 2 * 2) / best / 1e6, df_sha256_impl_name(df_sha256_impl_best()));
    free(buf);
    return 0;
}
