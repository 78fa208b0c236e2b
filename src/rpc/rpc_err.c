/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connect status codes: names, the HTTP status table of the Connect protocol (after its
 * RFC 003: canceled 499, deadline_exceeded 504, failed_precondition 400, unimplemented 501)
 * and the reverse mapping clients use when a response carries no Connect error body.
 */
#include "df/rpc_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int http;
} rpc_err_table[] = {
        [RPC_OK] = {"ok", 200},
        [RPC_CANCELED] = {"canceled", 499},
        [RPC_UNKNOWN] = {"unknown", 500},
        [RPC_INVALID_ARGUMENT] = {"invalid_argument", 400},
        [RPC_DEADLINE_EXCEEDED] = {"deadline_exceeded", 504},
        [RPC_NOT_FOUND] = {"not_found", 404},
        [RPC_ALREADY_EXISTS] = {"already_exists", 409},
        [RPC_PERMISSION_DENIED] = {"permission_denied", 403},
        [RPC_RESOURCE_EXHAUSTED] = {"resource_exhausted", 429},
        [RPC_FAILED_PRECONDITION] = {"failed_precondition", 400},
        [RPC_ABORTED] = {"aborted", 409},
        [RPC_OUT_OF_RANGE] = {"out_of_range", 400},
        [RPC_UNIMPLEMENTED] = {"unimplemented", 501},
        [RPC_INTERNAL] = {"internal", 500},
        [RPC_UNAVAILABLE] = {"unavailable", 503},
        [RPC_DATA_LOSS] = {"data_loss", 500},
        [RPC_UNAUTHENTICATED] = {"unauthenticated", 401},
};

const char *
rpc_err_name(enum rpc_code code)
{
    if ((unsigned)code >= DF_NELEM(rpc_err_table))
        return "unknown";
    return rpc_err_table[code].name;
}

int
rpc_err_parse_name(const char *name, enum rpc_code *out)
{
    /* "ok" is not an error code on the wire. */
    for (size_t i = 1; name != NULL && i < DF_NELEM(rpc_err_table); i++) {
        if (strcmp(name, rpc_err_table[i].name) == 0) {
            *out = (enum rpc_code)i;
            return 0;
        }
    }
    return DF_EINVAL;
}

int
rpc_err_http_status(enum rpc_code code)
{
    if ((unsigned)code >= DF_NELEM(rpc_err_table))
        return 500;
    return rpc_err_table[code].http;
}

enum rpc_code
rpc_err_from_http(int status)
{
    /* The Connect spec's table for responses without a Connect error body. */
    switch (status) {
    case 200:
        return RPC_OK;
    case 400:
        return RPC_INTERNAL;
    case 401:
        return RPC_UNAUTHENTICATED;
    case 403:
        return RPC_PERMISSION_DENIED;
    case 404:
        return RPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return RPC_UNAVAILABLE;
    default:
        return RPC_UNKNOWN;
    }
}

enum rpc_code
rpc_err_from_df(int err)
{
    switch (err) {
    case DF_OK:
        return RPC_OK;
    case DF_EINVAL:
    case DF_EPROTO:
        return RPC_INVALID_ARGUMENT;
    case DF_ETOOBIG:
    case DF_ELIMIT:
    case DF_ENOSPC:
    case DF_ENOMEM:
        return RPC_RESOURCE_EXHAUSTED;
    case DF_ETIMEDOUT:
        return RPC_DEADLINE_EXCEEDED;
    case DF_ENOTFOUND:
        return RPC_NOT_FOUND;
    case DF_EEXIST:
        return RPC_ALREADY_EXISTS;
    case DF_EPERM:
        return RPC_PERMISSION_DENIED;
    case DF_ECANCELED:
        return RPC_CANCELED;
    case DF_EAGAIN:
    case DF_EUNAVAIL:
    case DF_ECLOSED:
    case DF_ECONNECT:
    case DF_EDNS:
    case DF_ETLS:
        return RPC_UNAVAILABLE;
    case DF_EDIGEST:
        return RPC_DATA_LOSS;
    case DF_EIO:
    case DF_EINTERNAL:
        return RPC_INTERNAL;
    default:
        return RPC_UNKNOWN;
    }
}

int
rpc_err_to_df(enum rpc_code code)
{
    switch (code) {
    case RPC_OK:
        return 0;
    case RPC_CANCELED:
        return DF_ECANCELED;
    case RPC_INVALID_ARGUMENT:
    case RPC_OUT_OF_RANGE:
    case RPC_FAILED_PRECONDITION:
        return DF_EINVAL;
    case RPC_DEADLINE_EXCEEDED:
        return DF_ETIMEDOUT;
    case RPC_NOT_FOUND:
    case RPC_UNIMPLEMENTED:
        return DF_ENOTFOUND;
    case RPC_ALREADY_EXISTS:
    case RPC_ABORTED:
        return DF_EEXIST;
    case RPC_PERMISSION_DENIED:
    case RPC_UNAUTHENTICATED:
        return DF_EPERM;
    case RPC_RESOURCE_EXHAUSTED:
        return DF_ELIMIT;
    case RPC_UNAVAILABLE:
        return DF_EUNAVAIL;
    case RPC_DATA_LOSS:
        return DF_EDIGEST;
    case RPC_INTERNAL:
    case RPC_UNKNOWN:
    default:
        return DF_EINTERNAL;
    }
}

enum rpc_code
rpc_err_set(struct rpc_status *st, enum rpc_code code, const char *fmt, ...)
{
    va_list ap;

    if (st == NULL)
        return code;
    st->code = code;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof(st->message), fmt, ap);
    va_end(ap);
    return code;
}

cJSON *
rpc_err_to_json(enum rpc_code code, const char *message)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    if (cJSON_AddStringToObject(o, "code", rpc_err_name(code)) == NULL ||
        (message != NULL && message[0] != '\0' &&
         cJSON_AddStringToObject(o, "message", message) == NULL)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int
rpc_err_from_json(const cJSON *obj, struct rpc_status *st)
{
    const cJSON *code, *msg;

    if (!cJSON_IsObject(obj)) {
        rpc_err_set(st, RPC_UNKNOWN, "malformed error: not a JSON object");
        return DF_EINVAL;
    }
    code = cJSON_GetObjectItemCaseSensitive(obj, "code");
    msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
    st->code = RPC_UNKNOWN;
    if (cJSON_IsString(code))
        rpc_err_parse_name(code->valuestring, &st->code);
    snprintf(st->message, sizeof(st->message), "%s", cJSON_IsString(msg) ? msg->valuestring : "");
    return 0;
}
