/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "df/rpc_codec.h"

struct frames {
    int n;
    uint8_t flags[8];
    char msg[8][64];
};

static int
collect_cb(uint8_t flags, const uint8_t *msg, size_t len, void *arg)
{
    struct frames *f = arg;

    ck_assert_int_lt(f->n, 8);
    ck_assert_uint_lt(len, 64);
    f->flags[f->n] = flags;
    memcpy(f->msg[f->n], msg, len);
    f->msg[f->n][len] = '\0';
    f->n++;
    return 0;
}

START_TEST(test_buf_bounded)
{
    struct rpc_codec_buf b;
    char out[16];

    rpc_codec_buf_init(&b, 8);
    ck_assert_int_eq(rpc_codec_buf_add(&b, "12345", 5), 0);
    ck_assert_int_eq(rpc_codec_buf_add(&b, "6789", 4), DF_ETOOBIG);
    ck_assert_uint_eq(rpc_codec_buf_len(&b), 5);
    ck_assert_uint_eq(rpc_codec_buf_take(&b, out, 3), 3);
    ck_assert_int_eq(memcmp(out, "123", 3), 0);
    /* consumed space is reused: 2 queued + 6 new = 8 = max */
    ck_assert_int_eq(rpc_codec_buf_add(&b, "abcdef", 6), 0);
    ck_assert_uint_eq(rpc_codec_buf_take(&b, out, sizeof(out)), 8);
    ck_assert_int_eq(memcmp(out, "45abcdef", 8), 0);
    ck_assert_uint_eq(rpc_codec_buf_len(&b), 0);
    rpc_codec_buf_reset(&b, 0);
    ck_assert_ptr_null(b.ptr);
}

END_TEST

START_TEST(test_envelope_roundtrip_split)
{
    struct rpc_codec_buf b;
    struct rpc_codec_reader r;
    struct frames f = {0};
    struct rpc_status st = {RPC_NOT_FOUND, "gone"};
    cJSON *m = cJSON_Parse("{\"message\":\"hi\"}");

    rpc_codec_buf_init(&b, 1024);
    ck_assert_int_eq(rpc_codec_encode(&b, m, true, 0), 0);
    ck_assert_int_eq(rpc_codec_encode_raw(&b, "", 0, true, 0), 0);
    ck_assert_int_eq(rpc_codec_encode_end(&b, &st), 0);
    ck_assert_uint_eq(b.ptr[0], 0);
    ck_assert_uint_eq(b.ptr[4], strlen("{\"message\":\"hi\"}"));
    /* feed byte by byte: every split point of header and body */
    rpc_codec_reader_init(&r, 128);
    for (size_t i = 0; i < b.len; i++)
        ck_assert_int_eq(rpc_codec_reader_feed(&r, b.ptr + i, 1, collect_cb, &f, NULL), 0);
    ck_assert(rpc_codec_reader_is_idle(&r));
    ck_assert_int_eq(f.n, 3);
    ck_assert_str_eq(f.msg[0], "{\"message\":\"hi\"}");
    ck_assert_str_eq(f.msg[1], "");
    ck_assert_uint_eq(f.flags[2], RPC_CODEC_FLAG_END);
    ck_assert_str_eq(f.msg[2], "{\"error\":{\"code\":\"not_found\",\"message\":\"gone\"}}");
    /* and all at once */
    memset(&f, 0, sizeof(f));
    ck_assert_int_eq(rpc_codec_reader_feed(&r, b.ptr, b.len, collect_cb, &f, NULL), 0);
    ck_assert_int_eq(f.n, 3);
    rpc_codec_reader_reset(&r);
    rpc_codec_buf_reset(&b, 0);
    cJSON_Delete(m);
}

END_TEST

START_TEST(test_reader_limit)
{
    struct rpc_codec_reader r;
    struct frames f = {0};
    struct df_error err;
    uint8_t hdr[5];

    rpc_codec_reader_init(&r, 16);
    rpc_codec_put_header(hdr, 0, 17);
    ck_assert_int_eq(rpc_codec_reader_feed(&r, hdr, 5, collect_cb, &f, &err), DF_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceeds the limit of 16"));
    rpc_codec_reader_reset(&r);
    rpc_codec_put_header(hdr, 0, 0xffffffffu);
    ck_assert_int_eq(rpc_codec_reader_feed(&r, hdr, 3, collect_cb, &f, &err), 0);
    ck_assert(!rpc_codec_reader_is_idle(&r));
    ck_assert_int_eq(rpc_codec_reader_feed(&r, hdr + 3, 2, collect_cb, &f, &err), DF_ETOOBIG);
    rpc_codec_reader_reset(&r);
}

END_TEST

START_TEST(test_decode_limits)
{
    struct rpc_codec_limits lim = {.max_msg_bytes = 32, .max_depth = 3};
    struct df_error err;
    cJSON *doc = NULL;
    const char *deep = "{\"a\":{\"b\":{\"c\":{}}}}";

    ck_assert_int_eq(rpc_codec_decode((const uint8_t *)"{\"a\":1}", 7, &lim, &doc, &err), 0);
    cJSON_Delete(doc);
    ck_assert_int_eq(rpc_codec_decode((const uint8_t *)"", 0, &lim, &doc, &err), 0);
    ck_assert(cJSON_IsObject(doc));
    cJSON_Delete(doc);
    doc = NULL;
    ck_assert_int_eq(rpc_codec_decode((const uint8_t *)"{\"a\":", 5, &lim, &doc, &err), DF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "malformed"));
    ck_assert_int_eq(rpc_codec_decode((const uint8_t *)"[1]", 3, &lim, &doc, &err), DF_EINVAL);
    ck_assert_str_eq(err.msg, "message must be a JSON object");
    ck_assert_int_eq(rpc_codec_decode((const uint8_t *)deep, strlen(deep), &lim, &doc, &err),
                     DF_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "nesting"));
    ck_assert_int_eq(rpc_codec_decode((const uint8_t *)"{\"a\":\"0123456789012345678901234567\"}",
                                      36, &lim, &doc, &err),
                     DF_ETOOBIG);
    ck_assert_ptr_null(doc);
}

END_TEST

START_TEST(test_decode_end)
{
    struct rpc_status st;
    const char *e = "{\"error\":{\"code\":\"deadline_exceeded\",\"message\":\"late\"},"
                    "\"metadata\":{\"x\":[\"1\"]}}";

    ck_assert_int_eq(rpc_codec_decode_end((const uint8_t *)"{}", 2, NULL, &st, NULL), 0);
    ck_assert_int_eq(st.code, RPC_OK);
    ck_assert_int_eq(rpc_codec_decode_end((const uint8_t *)e, strlen(e), NULL, &st, NULL), 0);
    ck_assert_int_eq(st.code, RPC_DEADLINE_EXCEEDED);
    ck_assert_str_eq(st.message, "late");
    ck_assert_int_eq(rpc_codec_decode_end((const uint8_t *)"{\"error\":3}", 11, NULL, &st, NULL),
                     DF_EINVAL);
}

END_TEST

START_TEST(test_encode_large)
{
    struct rpc_codec_buf b;
    cJSON *m = cJSON_CreateObject();
    char *big = malloc(10000);

    memset(big, 'x', 9999);
    big[9999] = '\0';
    cJSON_AddStringToObject(m, "message", big);
    rpc_codec_buf_init(&b, 8192);
    /* over the stack buffer and over max: refused, b unchanged */
    ck_assert_int_eq(rpc_codec_encode(&b, m, true, 0), DF_ETOOBIG);
    ck_assert_uint_eq(rpc_codec_buf_len(&b), 0);
    b.max = 1 << 20;
    ck_assert_int_eq(rpc_codec_encode(&b, m, false, 0), 0);
    ck_assert_uint_eq(rpc_codec_buf_len(&b), 9999 + strlen("{\"message\":\"\"}"));
    rpc_codec_buf_reset(&b, 0);
    cJSON_Delete(m);
    free(big);
}

END_TEST

Suite *test_rpc_codec_suite(void);

Suite *
test_rpc_codec_suite(void)
{
    Suite *s = suite_create("rpc_codec");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_buf_bounded);
    tcase_add_test(tc, test_envelope_roundtrip_split);
    tcase_add_test(tc, test_reader_limit);
    tcase_add_test(tc, test_decode_limits);
    tcase_add_test(tc, test_decode_end);
    tcase_add_test(tc, test_encode_large);
    suite_add_tcase(s, tc);
    return s;
}
