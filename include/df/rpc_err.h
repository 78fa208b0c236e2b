/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC status codes (the Connect protocol's, numbered as gRPC numbers them) and the one place
 * where DF_E* values, Connect codes and HTTP statuses are mapped onto each other. Errors on
 * the wire are {"code":"not_found","message":"..."}.
 */
#ifndef DF_RPC_ERR_H
#define DF_RPC_ERR_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "df/df_err.h"

enum rpc_code {
    RPC_OK = 0,
    RPC_CANCELED = 1,
    RPC_UNKNOWN = 2,
    RPC_INVALID_ARGUMENT = 3,
    RPC_DEADLINE_EXCEEDED = 4,
    RPC_NOT_FOUND = 5,
    RPC_ALREADY_EXISTS = 6,
    RPC_PERMISSION_DENIED = 7,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_FAILED_PRECONDITION = 9,
    RPC_ABORTED = 10,
    RPC_OUT_OF_RANGE = 11,
    RPC_UNIMPLEMENTED = 12,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14,
    RPC_DATA_LOSS = 15,
    RPC_UNAUTHENTICATED = 16,
};

#define RPC_ERR_MSG_MAX 512

/* The outcome of a call: a code and a one-line message ("" for RPC_OK). */
struct rpc_status {
    enum rpc_code code;
    char message[RPC_ERR_MSG_MAX];
};

/* The Connect name of a code ("invalid_argument"; "ok" for RPC_OK; "unknown" if out of range). */
const char *rpc_err_name(enum rpc_code code);

/* Parse a Connect code name into *out. Returns 0 or DF_EINVAL (out untouched). */
int rpc_err_parse_name(const char *name, enum rpc_code *out);

/* The HTTP status a Connect server answers a unary error with (200 for RPC_OK). */
int rpc_err_http_status(enum rpc_code code);

/* The code a client infers from an HTTP status when the body carries no Connect error. */
enum rpc_code rpc_err_from_http(int status);

/* The code for a DF_E* value (0 -> RPC_OK). */
enum rpc_code rpc_err_from_df(int err);

/* The DF_E* value for a code (RPC_OK -> 0). */
int rpc_err_to_df(enum rpc_code code);

/* Fill st with code and a formatted message. Returns code. st may be NULL. */
enum rpc_code rpc_err_set(struct rpc_status *st, enum rpc_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * Build the error object {"code":..,"message":..} (message omitted when NULL or empty). The
 * caller owns the result (cJSON_Delete); NULL on OOM.
 */
cJSON *rpc_err_to_json(enum rpc_code code, const char *message);

/*
 * Read an error object into st. An absent or unknown code becomes RPC_UNKNOWN, a missing
 * message "". Returns 0, or DF_EINVAL when obj is not an object (st then says so).
 */
int rpc_err_from_json(const cJSON *obj, struct rpc_status *st);

#endif
