/* SPDX-License-Identifier: Apache-2.0 */
/* The command line as a user meets it: help, version, unknown subcommands and flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness/harness.h"

static int
run(const char *args, char **out)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", it_bin(), args);
    return it_sh(cmd, out, 10);
}

START_TEST(test_help_lists_subcommands)
{
    char *out = NULL;

    ck_assert_int_eq(run("--help", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: dragonfly <subcommand>"));
    ck_assert_ptr_nonnull(strstr(out, "version"));
    free(out);
}

END_TEST

/* The design card's names: seed is peer --seed with the seed ports, dfget is get. */
START_TEST(test_seed_and_dfget_aliases)
{
    char *out = NULL;

    ck_assert_int_eq(run("--help", &out), 0);
    ck_assert_msg(strstr(out, "\n  seed ") != NULL && strstr(out, "\n  dfget ") != NULL, "%s", out);
    free(out);
    /* (plaintext chosen: a daemon without a certificate that others reach needs it) */
    ck_assert_int_eq(run("seed --plaintext --check-config", &out), 0);
    ck_assert_msg(strstr(out, "\"seed\":\ttrue") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"rpcPort\":\t65006") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"uploadPort\":\t65008") != NULL, "%s", out);
    free(out);
    /* flags still win over the seed defaults */
    ck_assert_int_eq(run("seed --plaintext --no-seed --check-config", &out), 0);
    ck_assert_msg(strstr(out, "\"seed\":\tfalse") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"rpcPort\":\t65000") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(run("peer --plaintext --check-config", &out), 0);
    ck_assert_msg(strstr(out, "\"seed\":\tfalse") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(run("seed --help", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: dragonfly seed"));
    free(out);
    ck_assert_int_eq(run("dfget --help", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: dragonfly get"));
    free(out);
    /* dfget parses like get: the same usage error */
    ck_assert_int_eq(run("dfget", &out), 2);
    ck_assert_msg(strstr(out, "a URL is required") != NULL, "%s", out);
    free(out);
}

END_TEST

START_TEST(test_help_subcommand_and_short_version)
{
    char *out = NULL, *want = NULL;

    ck_assert_int_eq(run("help get", &out), 0);
    ck_assert_int_eq(run("get --help", &want), 0);
    ck_assert_str_eq(out, want);
    free(out);
    free(want);
    ck_assert_int_eq(run("help peer", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: dragonfly peer"));
    free(out);
    ck_assert_int_eq(run("help", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: dragonfly <subcommand>"));
    free(out);
    ck_assert_int_eq(run("help frobnicate", &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown subcommand 'frobnicate'"));
    free(out);
    ck_assert_int_eq(run("-V", &out), 0);
    ck_assert_int_eq(run("version", &want), 0);
    ck_assert_str_eq(out, want);
    free(out);
    free(want);
    ck_assert_int_eq(run("-V --bogus", &out), 2);
    free(out);
}

END_TEST

START_TEST(test_version)
{
    char *out = NULL;

    ck_assert_int_eq(run("version", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "dragonfly "));
    ck_assert_ptr_nonnull(strstr(out, "libevent 2.1"));
    ck_assert_ptr_nonnull(strstr(out, "nghttp2"));
    ck_assert_ptr_nonnull(strstr(out, "mbedtls  2.28"));
    ck_assert_ptr_nonnull(strstr(out, "sqlite3"));
    ck_assert_ptr_nonnull(strstr(out, "xxhash"));
    ck_assert_ptr_nonnull(strstr(out, "cjson"));
    free(out);
}

END_TEST

START_TEST(test_unknown_is_usage_error)
{
    char *out = NULL;

    ck_assert_int_eq(run("frobnicate", &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown subcommand 'frobnicate'"));
    free(out);
    ck_assert_int_eq(run("version --bogus", &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown flag"));
    free(out);
    ck_assert_int_eq(run("", &out), 2);
    free(out);
}

END_TEST

START_TEST(test_binary_is_static)
{
    char cmd[600], *out = NULL;

    /* The sanitizer build is dynamic by necessity; only the release binary must be static. */
    if (getenv("DF_SANITIZE") != NULL)
        return;
    snprintf(cmd, sizeof(cmd), "file -L %s", it_bin());
    ck_assert_int_eq(it_sh(cmd, &out, 10), 0);
    ck_assert_ptr_nonnull(strstr(out, "statically linked"));
    free(out);
}

END_TEST

Suite *it_cli_suite(void);

Suite *
it_cli_suite(void)
{
    Suite *s = suite_create("it_cli");
    TCase *tc = tcase_create("cli");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_help_lists_subcommands);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_seed_and_dfget_aliases);
    tcase_add_test(tc, test_help_subcommand_and_short_version);
    tcase_add_test(tc, test_unknown_is_usage_error);
    tcase_add_test(tc, test_binary_is_static);
    suite_add_tcase(s, tc);
    return s;
}
