/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's database on store_sql: one sqlite file (WAL, synchronous=NORMAL: a crash
 * may lose the last commits, never corrupt the file) in a private data dir, because it holds
 * the JWT key and the password hashes. The migrations are append-only (entry i takes the
 * file from user_version i to i + 1, a newer file is refused by store_sql) and the statements
 * sit beside them, addressed by enum mgr_stmt.
 *
 * The loop and sqlite: every statement is prepared once and touches rows by primary key or
 * an index, lists are bounded by LIMIT, and writes are single statements or one short
 * transaction (BEGIN IMMEDIATE) of a few of them, so a request holds the loop for tens of
 * microseconds, not for a scan; the one slow thing, password hashing, runs on a worker.
 */
#include "mgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df_fs.h"
#include "df/df_time.h"
#include "df/log.h"
#include "df/store_sql.h"

#define MGR_USER_COLS \
    "id, created_at, updated_at, name, email, phone, avatar, location, bio, state, password"
#define MGR_USER_FILTER                                                               \
    " WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR email = ?2) AND (?3 IS NULL" \
    " OR location = ?3) AND (?4 IS NULL OR state = ?4)"
#define MGR_SC_COLS                                                                     \
    "id, created_at, updated_at, name, bio, config, client_config, seed_client_config," \
    " scopes, is_default"
#define MGR_SC_FILTER  " WHERE (?1 IS NULL OR name = ?1)"
#define MGR_SPC_COLS   "id, created_at, updated_at, name, bio, config"
#define MGR_PAT_COLS   "id, created_at, updated_at, name, bio, scopes, state, expired_at, user_id"
#define MGR_PAT_FILTER " WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR user_id = ?2)"
#define MGR_AUDIT_COLS \
    "id, created_at, actor_type, actor_name, event_type, operation, state, path, status_code, ip"
#define MGR_AUDIT_FILTER                                                                    \
    " WHERE (?1 IS NULL OR actor_type = ?1) AND (?2 IS NULL OR actor_name = ?2) AND (?3 IS" \
    " NULL OR event_type = ?3) AND (?4 IS NULL OR operation = ?4) AND (?5 IS NULL OR state" \
    " = ?5) AND (?6 IS NULL OR path = ?6) AND (?7 IS NULL OR status_code = ?7)"
#define MGR_CONFIG_COLS "id, created_at, updated_at, name, value, bio, user_id"
#define MGR_APP_COLS    "id, created_at, updated_at, name, url, bio, priority, user_id"
#define MGR_NOW_MS      "CAST(strftime('%s', 'now') AS INTEGER) * 1000"
#define MGR_JOIN_COLS   "id, created_at, role, scheduler_cluster_id, expired_at, user_id"
#define MGR_JOIN_FILTER \
    " WHERE (?1 IS NULL OR role = ?1) AND (?2 IS NULL OR scheduler_cluster_id = ?2)"
#define MGR_CERT_COLS                                                                   \
    "serial, created_at, host_name, role, scheduler_cluster_id, not_after, revoked_at," \
    " join_token_id"
#define MGR_CERT_FILTER                                                                   \
    " WHERE (?1 IS NULL OR host_name = ?1) AND (?2 IS NULL OR role = ?2) AND (?3 IS NULL" \
    " OR (revoked_at != 0) = (?3 = 'revoked'))"
/* The registry's clock in SQL (ms; julianday keeps the milliseconds strftime('%s') drops). */
#define MGR_REG_NOW "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
/* A host reads active while its keepalive stream is open and its last keepalive counts. */
#define MGR_REG_STATE                                                                  \
    "(CASE WHEN state = 'active' AND alive_until > " MGR_REG_NOW " THEN 'active' ELSE" \
    " 'inactive' END)"
/* An upsert's version and commit: a caller that sends none (sync_peers, an old host)
 * keeps the stored ones */
#define MGR_REG_KEEP_VERSION                                                             \
    " git_version = CASE excluded.git_version WHEN '' THEN git_version"                  \
    " ELSE excluded.git_version END, git_commit = CASE excluded.git_commit WHEN '' THEN" \
    " git_commit ELSE excluded.git_commit END"
/* A keepalive (or the end of its stream) of host ?1 at ip ?2 (NULL: any) in cluster ?3. */
#define MGR_REG_ALIVE(table, cluster)                                                  \
    "UPDATE " table " SET state = ?4, last_keep_alive_at = ?5, alive_until = ?6 WHERE" \
    " host_name = ?1 AND (?2 IS NULL OR ip = ?2) AND " cluster " = ?3"
#define MGR_SCHED_COLS                                                                                 \
    "id, created_at, updated_at, host_name, idc, location, ip, port, features, config, " MGR_REG_STATE \
    ", last_keep_alive_at, scheduler_cluster_id, git_version, git_commit"
#define MGR_SCHED_FILTER                                                                    \
    " WHERE (?1 IS NULL OR host_name = ?1) AND (?2 IS NULL OR idc = ?2) AND (?3 IS NULL OR" \
    " location = ?3) AND (?4 IS NULL OR ip = ?4) AND (?5 IS NULL OR " MGR_REG_STATE         \
    " = ?5) AND (?6 IS NULL OR scheduler_cluster_id = ?6)"
#define MGR_SEED_COLS                                                                      \
    "id, created_at, updated_at, host_name, type, idc, location, ip, port, download_port," \
    " object_storage_port, " MGR_REG_STATE ", last_keep_alive_at, seed_peer_cluster_id,"   \
    " git_version, git_commit"
#define MGR_SEED_FILTER                                                                            \
    " WHERE (?1 IS NULL OR host_name = ?1) AND (?2 IS NULL OR type = ?2) AND (?3 IS NULL OR"       \
    " idc = ?3) AND (?4 IS NULL OR location = ?4) AND (?5 IS NULL OR ip = ?5) AND (?6 IS"          \
    " NULL OR port = ?6) AND (?7 IS NULL OR download_port = ?7) AND (?8 IS NULL OR " MGR_REG_STATE \
    " = ?8) AND (?9 IS NULL OR seed_peer_cluster_id = ?9)"
/*
 * The REST rows of hosts carry their cluster as upstream preloads it: a join with the
 * cluster's columns renamed (c_*), so the host's own unqualified names stay unambiguous.
 */
#define MGR_SC_NESTED_COLS                                                        \
    "c_id, c_created_at, c_updated_at, c_name, c_bio, c_config, c_client_config," \
    " c_seed_client_config, c_scopes, c_is_default"
#define MGR_SC_NESTED                                                                        \
    " LEFT JOIN (SELECT id AS c_id, created_at AS c_created_at, updated_at AS c_updated_at," \
    " name AS c_name, bio AS c_bio, config AS c_config, client_config AS c_client_config,"   \
    " seed_client_config AS c_seed_client_config, scopes AS c_scopes, is_default AS"         \
    " c_is_default FROM scheduler_clusters) ON c_id = scheduler_cluster_id"
#define MGR_SPC_NESTED_COLS "c_id, c_created_at, c_updated_at, c_name, c_bio, c_config"
#define MGR_SPC_NESTED                                                                       \
    " LEFT JOIN (SELECT id AS c_id, created_at AS c_created_at, updated_at AS c_updated_at," \
    " name AS c_name, bio AS c_bio, config AS c_config FROM seed_peer_clusters) ON c_id ="   \
    " seed_peer_cluster_id"
/* peers have no stream: alive_until is their last ListSchedulers plus a few refreshes */
#define MGR_PEER_STATE "(CASE WHEN alive_until > " MGR_REG_NOW " THEN 'active' ELSE 'inactive' END)"
#define MGR_PEER_COLS                                                                      \
    "id, created_at, updated_at, host_name, type, idc, location, ip, port, download_port," \
    " proxy_port, object_storage_port, " MGR_PEER_STATE ", os, platform, platform_family," \
    " platform_version, kernel_version, git_version, git_commit, build_platform,"          \
    " scheduler_cluster_id"
#define MGR_PEER_FILTER                                                                       \
    " WHERE (?1 IS NULL OR host_name = ?1) AND (?2 IS NULL OR type = ?2) AND (?3 IS NULL OR"  \
    " idc = ?3) AND (?4 IS NULL OR location = ?4) AND (?5 IS NULL OR ip = ?5) AND (?6 IS"     \
    " NULL OR port = ?6) AND (?7 IS NULL OR download_port = ?7) AND (?8 IS NULL OR"           \
    " proxy_port = ?8) AND (?9 IS NULL OR " MGR_PEER_STATE " = ?9) AND (?10 IS NULL OR os ="  \
    " ?10) AND (?11 IS NULL OR platform = ?11) AND (?12 IS NULL OR kernel_version = ?12) AND" \
    " (?13 IS NULL OR git_version = ?13) AND (?14 IS NULL OR git_commit = ?14) AND (?15 IS"   \
    " NULL OR scheduler_cluster_id = ?15)"
#define MGR_JOB_COLS                                                                \
    "id, created_at, updated_at, task_id, bio, type, state, args, result, user_id," \
    " scheduler_cluster_ids"
#define MGR_JOB_FILTER                                                                \
    " WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL" \
    " OR user_id = ?3)"

static const char *const mgr_db_migrations[] = {
        /* 1: users and RBAC, scheduler and seed-peer clusters, with cluster-1 */
        "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) STRICT;"
        "CREATE TABLE users ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " name TEXT NOT NULL UNIQUE,"
        " email TEXT NOT NULL DEFAULT '', phone TEXT NOT NULL DEFAULT '',"
        " avatar TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',"
        " bio TEXT NOT NULL DEFAULT '',"
        " state TEXT NOT NULL DEFAULT 'enable' CHECK (state IN ('enable', 'disable')),"
        " password TEXT NOT NULL"
        ") STRICT;"
        "CREATE TABLE roles (name TEXT PRIMARY KEY NOT NULL) STRICT, WITHOUT ROWID;"
        "CREATE TABLE role_permissions ("
        " role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,"
        " object TEXT NOT NULL,"
        " action TEXT NOT NULL CHECK (action IN ('read', '*')),"
        " PRIMARY KEY (role, object, action)"
        ") STRICT, WITHOUT ROWID;"
        "CREATE TABLE user_roles ("
        " user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
        " role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,"
        " PRIMARY KEY (user_id, role)"
        ") STRICT, WITHOUT ROWID;"
        "CREATE TABLE scheduler_clusters ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " name TEXT NOT NULL UNIQUE, bio TEXT NOT NULL DEFAULT '',"
        " config TEXT NOT NULL, client_config TEXT NOT NULL, seed_client_config TEXT NOT NULL,"
        " scopes TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0"
        ") STRICT;"
        "CREATE TABLE seed_peer_clusters ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " name TEXT NOT NULL UNIQUE, bio TEXT NOT NULL DEFAULT '', config TEXT NOT NULL"
        ") STRICT;"
        "CREATE TABLE cluster_links ("
        " seed_peer_cluster_id INTEGER NOT NULL REFERENCES seed_peer_clusters (id)"
        " ON DELETE CASCADE,"
        " scheduler_cluster_id INTEGER NOT NULL REFERENCES scheduler_clusters (id)"
        " ON DELETE CASCADE,"
        " PRIMARY KEY (seed_peer_cluster_id, scheduler_cluster_id)"
        ") STRICT, WITHOUT ROWID;"
        "CREATE INDEX cluster_links_sc ON cluster_links (scheduler_cluster_id);"
        "INSERT INTO scheduler_clusters (id, created_at, updated_at, name, bio, config,"
        " client_config, seed_client_config, scopes, is_default) VALUES (1, " MGR_NOW_MS
        ", " MGR_NOW_MS ", 'cluster-1', '',"
        " '{\"candidate_parent_limit\":3,\"filter_parent_limit\":15,\"job_rate_limit\":10}',"
        " '{\"load_limit\":200}', '{}', '{}', 1);"
        "INSERT INTO seed_peer_clusters (id, created_at, updated_at, name, bio, config) VALUES"
        " (1, " MGR_NOW_MS ", " MGR_NOW_MS ", 'cluster-1', '', '{\"load_limit\":2000}');"
        "INSERT INTO cluster_links VALUES (1, 1);",
        /* 2: personal access tokens, kept as HMAC(pat key, token), never the token */
        "CREATE TABLE personal_access_tokens ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " name TEXT NOT NULL, bio TEXT NOT NULL DEFAULT '',"
        " token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
        " scopes TEXT NOT NULL,"
        " state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'inactive')),"
        " expired_at INTEGER NOT NULL,"
        " user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE"
        ") STRICT;"
        "CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_id);",
        /*
         * 3: the registry of schedulers, seed peers and peers. Liveness is not a sticky flag
         * (upstream's rows stay "active" after a crash, issues #3297, #1336): state says
         * whether the host's keepalive stream is open, alive_until (ms) when its last
         * keepalive stops counting, and a row reads active only while both hold.
         */
        "CREATE TABLE schedulers ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " host_name TEXT NOT NULL, idc TEXT NOT NULL DEFAULT '',"
        " location TEXT NOT NULL DEFAULT '', ip TEXT NOT NULL, port INTEGER NOT NULL,"
        " features TEXT NOT NULL, config TEXT NOT NULL DEFAULT '{}',"
        " state TEXT NOT NULL DEFAULT 'inactive' CHECK (state IN ('active', 'inactive')),"
        " last_keep_alive_at INTEGER NOT NULL DEFAULT 0,"
        " alive_until INTEGER NOT NULL DEFAULT 0,"
        " scheduler_cluster_id INTEGER NOT NULL REFERENCES scheduler_clusters (id)"
        " ON DELETE CASCADE,"
        " UNIQUE (host_name, ip, scheduler_cluster_id)"
        ") STRICT;"
        "CREATE INDEX schedulers_sc ON schedulers (scheduler_cluster_id);"
        "CREATE TABLE seed_peers ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " host_name TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'super',"
        " idc TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',"
        " ip TEXT NOT NULL, port INTEGER NOT NULL, download_port INTEGER NOT NULL DEFAULT 0,"
        " object_storage_port INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL DEFAULT 'inactive' CHECK (state IN ('active', 'inactive')),"
        " last_keep_alive_at INTEGER NOT NULL DEFAULT 0,"
        " alive_until INTEGER NOT NULL DEFAULT 0,"
        " seed_peer_cluster_id INTEGER NOT NULL REFERENCES seed_peer_clusters (id)"
        " ON DELETE CASCADE,"
        " UNIQUE (host_name, ip, seed_peer_cluster_id)"
        ") STRICT;"
        "CREATE INDEX seed_peers_spc ON seed_peers (seed_peer_cluster_id);"
        "CREATE TABLE peers ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " host_name TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'normal'"
        " CHECK (type IN ('normal', 'super')),"
        " idc TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '', ip TEXT NOT NULL,"
        " port INTEGER NOT NULL DEFAULT 0, download_port INTEGER NOT NULL DEFAULT 0,"
        " proxy_port INTEGER NOT NULL DEFAULT 0, object_storage_port INTEGER NOT NULL DEFAULT 0,"
        " os TEXT NOT NULL DEFAULT '', platform TEXT NOT NULL DEFAULT '',"
        " platform_family TEXT NOT NULL DEFAULT '', platform_version TEXT NOT NULL DEFAULT '',"
        " kernel_version TEXT NOT NULL DEFAULT '', git_version TEXT NOT NULL DEFAULT '',"
        " git_commit TEXT NOT NULL DEFAULT '', build_platform TEXT NOT NULL DEFAULT '',"
        " alive_until INTEGER NOT NULL DEFAULT 0,"
        " scheduler_cluster_id INTEGER NOT NULL REFERENCES scheduler_clusters (id)"
        " ON DELETE CASCADE,"
        " UNIQUE (host_name, ip, scheduler_cluster_id)"
        ") STRICT;"
        "CREATE INDEX peers_sc ON peers (scheduler_cluster_id);",
        /* 4: jobs (preheat, Harbor's too); args never hold a password or a secret header */
        "CREATE TABLE jobs ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " task_id TEXT NOT NULL, bio TEXT NOT NULL DEFAULT '', type TEXT NOT NULL,"
        " state TEXT NOT NULL CHECK (state IN ('PENDING', 'SUCCESS', 'FAILURE')),"
        " args TEXT NOT NULL, result TEXT NOT NULL DEFAULT '{}',"
        " user_id INTEGER NOT NULL DEFAULT 0,"
        " scheduler_cluster_ids TEXT NOT NULL DEFAULT '[]'"
        ") STRICT;"
        "CREATE INDEX jobs_state ON jobs (state);",
        /*
         * 5: the cluster CA. Join tokens are kept as HMAC(pat key, token) like PATs; a
         * certificate row outlives its token and its cluster (it is the record of what was
         * signed), and revoked_at (ms, 0: not revoked) is what hosts refuse by serial.
         */
        "CREATE TABLE join_tokens ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, created_at INTEGER NOT NULL,"
        " token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
        " role TEXT NOT NULL CHECK (role IN ('scheduler', 'seed', 'peer')),"
        " scheduler_cluster_id INTEGER NOT NULL REFERENCES scheduler_clusters (id)"
        " ON DELETE CASCADE,"
        " expired_at INTEGER NOT NULL, user_id INTEGER NOT NULL DEFAULT 0"
        ") STRICT;"
        "CREATE TABLE certificates ("
        " serial TEXT PRIMARY KEY, created_at INTEGER NOT NULL,"
        " host_name TEXT NOT NULL, role TEXT NOT NULL, scheduler_cluster_id INTEGER NOT NULL,"
        " not_after INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0,"
        " join_token_id INTEGER NOT NULL DEFAULT 0"
        ") STRICT, WITHOUT ROWID;"
        "CREATE INDEX certificates_host ON certificates (host_name, role);"
        "CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at != 0;",
        /* 6: the audit log (mgr_audit.c): who did what through the REST API; no body, no
         * query string (a ?token= is a secret), so nothing secret is ever in a row */
        "CREATE TABLE audits ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL,"
        " actor_type TEXT NOT NULL CHECK (actor_type IN ('UNKNOWN', 'USER', 'PAT')),"
        " actor_name TEXT NOT NULL DEFAULT '', event_type TEXT NOT NULL DEFAULT 'API',"
        " operation TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('SUCCESS', 'FAILURE')),"
        " path TEXT NOT NULL, status_code INTEGER NOT NULL, ip TEXT NOT NULL DEFAULT ''"
        ") STRICT;"
        "CREATE INDEX audits_created ON audits (created_at);",
        /* 7: configs (mgr_config.c), with upstream's row of the GC's TTLs (ns): audits 7 days,
         * jobs 6 hours (mgr_gc.c) */
        "CREATE TABLE configs ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " name TEXT NOT NULL UNIQUE, value TEXT NOT NULL, bio TEXT NOT NULL DEFAULT '',"
        " user_id INTEGER NOT NULL DEFAULT 0"
        ") STRICT;"
        "INSERT INTO configs (created_at, updated_at, name, value, bio, user_id) VALUES"
        " (" MGR_NOW_MS ", " MGR_NOW_MS ", 'gc',"
        " '{\"audit\":{\"ttl\":604800000000000},\"job\":{\"ttl\":21600000000000}}',"
        " 'the time to live of audit logs and jobs, in nanoseconds', 1);"
        "CREATE INDEX jobs_updated ON jobs (updated_at);",
        /* 8: applications (mgr_app.c): priority is upstream's JSON {value, urls:[{regex,
         * value}]}, '' for none; ListApplications answers the rows that have one */
        "CREATE TABLE applications ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
        " name TEXT NOT NULL UNIQUE, url TEXT NOT NULL, bio TEXT NOT NULL DEFAULT '',"
        " priority TEXT NOT NULL DEFAULT '', user_id INTEGER NOT NULL DEFAULT 0"
        ") STRICT;",
        /* 9: the version and commit schedulers and seed peers register with (peers have had
         * theirs since 3), under the names upstream's peer rows use */
        "ALTER TABLE schedulers ADD COLUMN git_version TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE schedulers ADD COLUMN git_commit TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE seed_peers ADD COLUMN git_version TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE seed_peers ADD COLUMN git_commit TEXT NOT NULL DEFAULT '';",
};

_Static_assert(DF_NELEM(mgr_db_migrations) == MGR_DB_SCHEMA_VERSION,
               "MGR_DB_SCHEMA_VERSION is the number of migrations");

static const char *const mgr_db_stmts[MGR_STMT__COUNT] = {
        [MGR_STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
        [MGR_STMT_META_PUT] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                              " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [MGR_STMT_USER_COUNT] = "SELECT count(*) FROM users",
        [MGR_STMT_USER_INSERT] =
                "INSERT INTO users (created_at, updated_at, name, email, phone, avatar, location,"
                " bio, state, password) VALUES (?1, ?1, ?2, coalesce(?3, ''), coalesce(?4, ''),"
                " coalesce(?5, ''), coalesce(?6, ''), coalesce(?7, ''), 'enable', ?8) RETURNING id",
        [MGR_STMT_USER_GET] = "SELECT " MGR_USER_COLS " FROM users WHERE id = ?1",
        [MGR_STMT_USER_BY_NAME] = "SELECT " MGR_USER_COLS " FROM users WHERE name = ?1",
        [MGR_STMT_USER_NAME_TAKEN] = "SELECT 1 FROM users WHERE name = ?1 AND id != ?2",
        [MGR_STMT_USER_LIST] = "SELECT " MGR_USER_COLS " FROM users" MGR_USER_FILTER
                               " ORDER BY id LIMIT ?5 OFFSET ?6",
        [MGR_STMT_USER_LIST_COUNT] = "SELECT count(*) FROM users" MGR_USER_FILTER,
        [MGR_STMT_USER_PATCH] =
                "UPDATE users SET email = coalesce(?2, email), phone = coalesce(?3, phone),"
                " avatar = coalesce(?4, avatar), location = coalesce(?5, location),"
                " bio = coalesce(?6, bio), updated_at = ?7 WHERE id = ?1",
        [MGR_STMT_USER_SET_PASSWORD] =
                "UPDATE users SET password = ?2, updated_at = ?3 WHERE id = ?1",
        [MGR_STMT_ROLE_INSERT] = "INSERT INTO roles (name) VALUES (?1) ON CONFLICT DO NOTHING",
        [MGR_STMT_ROLE_LIST] = "SELECT name FROM roles ORDER BY name",
        [MGR_STMT_ROLE_EXISTS] = "SELECT 1 FROM roles WHERE name = ?1",
        [MGR_STMT_ROLE_DELETE] = "DELETE FROM roles WHERE name = ?1",
        [MGR_STMT_PERM_INSERT] = "INSERT INTO role_permissions (role, object, action)"
                                 " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        [MGR_STMT_PERM_DELETE] =
                "DELETE FROM role_permissions WHERE role = ?1 AND object = ?2 AND action = ?3",
        [MGR_STMT_PERM_OF_ROLE] = "SELECT object, action FROM role_permissions WHERE role = ?1"
                                  " ORDER BY object, action",
        [MGR_STMT_USER_ROLE_ADD] =
                "INSERT INTO user_roles (user_id, role) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        [MGR_STMT_USER_ROLE_DELETE] = "DELETE FROM user_roles WHERE user_id = ?1 AND role = ?2",
        [MGR_STMT_USER_ROLES] = "SELECT role FROM user_roles WHERE user_id = ?1 ORDER BY role",
        [MGR_STMT_USER_CAN] = "SELECT 1 FROM users u JOIN user_roles ur ON ur.user_id = u.id"
                              " JOIN role_permissions rp ON rp.role = ur.role WHERE u.id = ?1"
                              " AND u.state = 'enable' AND rp.object = ?2 AND (rp.action = ?3 OR"
                              " rp.action = '*') LIMIT 1",
        [MGR_STMT_SC_INSERT] =
                "INSERT INTO scheduler_clusters (created_at, updated_at, name, bio, config,"
                " client_config, seed_client_config, scopes, is_default)"
                " VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        [MGR_STMT_SC_GET] = "SELECT " MGR_SC_COLS " FROM scheduler_clusters WHERE id = ?1",
        [MGR_STMT_SC_LIST] = "SELECT " MGR_SC_COLS " FROM scheduler_clusters" MGR_SC_FILTER
                             " ORDER BY id LIMIT ?2 OFFSET ?3",
        [MGR_STMT_SC_COUNT] = "SELECT count(*) FROM scheduler_clusters" MGR_SC_FILTER,
        [MGR_STMT_SC_UPDATE] =
                "UPDATE scheduler_clusters SET updated_at = ?2, name = coalesce(?3, name),"
                " bio = coalesce(?4, bio), config = coalesce(?5, config),"
                " client_config = coalesce(?6, client_config),"
                " seed_client_config = coalesce(?7, seed_client_config),"
                " scopes = coalesce(?8, scopes), is_default = coalesce(?9, is_default)"
                " WHERE id = ?1",
        [MGR_STMT_SC_DELETE] = "DELETE FROM scheduler_clusters WHERE id = ?1",
        [MGR_STMT_SC_CLEAR_DEFAULT] =
                "UPDATE scheduler_clusters SET is_default = 0 WHERE id != ?1 AND is_default = 1",
        [MGR_STMT_SPC_INSERT] = "INSERT INTO seed_peer_clusters (created_at, updated_at, name,"
                                " bio, config) VALUES (?1, ?1, ?2, ?3, ?4) RETURNING id",
        [MGR_STMT_SPC_GET] = "SELECT " MGR_SPC_COLS " FROM seed_peer_clusters WHERE id = ?1",
        [MGR_STMT_SPC_LIST] = "SELECT " MGR_SPC_COLS " FROM seed_peer_clusters" MGR_SC_FILTER
                              " ORDER BY id LIMIT ?2 OFFSET ?3",
        [MGR_STMT_SPC_COUNT] = "SELECT count(*) FROM seed_peer_clusters" MGR_SC_FILTER,
        [MGR_STMT_SPC_UPDATE] =
                "UPDATE seed_peer_clusters SET updated_at = ?2, name = coalesce(?3, name),"
                " bio = coalesce(?4, bio), config = coalesce(?5, config) WHERE id = ?1",
        [MGR_STMT_SPC_DELETE] = "DELETE FROM seed_peer_clusters WHERE id = ?1",
        [MGR_STMT_LINK_PUT] = "INSERT INTO cluster_links (seed_peer_cluster_id,"
                              " scheduler_cluster_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        [MGR_STMT_LINK_OF_SC] = "SELECT seed_peer_cluster_id FROM cluster_links"
                                " WHERE scheduler_cluster_id = ?1 ORDER BY seed_peer_cluster_id"
                                " LIMIT 1",
        [MGR_STMT_LINK_OF_SPC] = "SELECT scheduler_cluster_id FROM cluster_links"
                                 " WHERE seed_peer_cluster_id = ?1 ORDER BY scheduler_cluster_id",
        [MGR_STMT_SC_NAME_TAKEN] = "SELECT 1 FROM scheduler_clusters WHERE name = ?1 AND id != ?2",
        [MGR_STMT_SPC_NAME_TAKEN] = "SELECT 1 FROM seed_peer_clusters WHERE name = ?1 AND id != ?2",
        [MGR_STMT_PAT_INSERT] =
                "INSERT INTO personal_access_tokens (created_at, updated_at, name, bio, token_hash,"
                " scopes, state, expired_at, user_id) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                " RETURNING id",
        [MGR_STMT_PAT_GET] = "SELECT " MGR_PAT_COLS " FROM personal_access_tokens WHERE id = ?1",
        [MGR_STMT_PAT_LIST] = "SELECT " MGR_PAT_COLS " FROM personal_access_tokens" MGR_PAT_FILTER
                              " ORDER BY id LIMIT ?3 OFFSET ?4",
        [MGR_STMT_PAT_COUNT] = "SELECT count(*) FROM personal_access_tokens" MGR_PAT_FILTER,
        [MGR_STMT_PAT_UPDATE] =
                "UPDATE personal_access_tokens SET updated_at = ?2, bio = coalesce(?3, bio),"
                " scopes = coalesce(?4, scopes), state = coalesce(?5, state),"
                " expired_at = coalesce(?6, expired_at), user_id = coalesce(?7, user_id)"
                " WHERE id = ?1",
        [MGR_STMT_PAT_DELETE] = "DELETE FROM personal_access_tokens WHERE id = ?1",
        /* a token of a disabled user is no token */
        [MGR_STMT_PAT_BY_HASH] =
                "SELECT t.state, t.expired_at, t.scopes FROM personal_access_tokens t"
                " JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1 AND u.state = 'enable'",
        [MGR_STMT_LINK_DELETE_SC] = "DELETE FROM cluster_links WHERE scheduler_cluster_id = ?1",
        /* the registry (mgr_registry.c) */
        [MGR_STMT_SCHED_UPSERT] =
                "INSERT INTO schedulers (created_at, updated_at, host_name, idc, location, ip,"
                " port, features, config, last_keep_alive_at, scheduler_cluster_id, git_version,"
                " git_commit) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?1, ?9, ?10, ?11)"
                " ON CONFLICT (host_name, ip, scheduler_cluster_id) DO UPDATE SET"
                " updated_at = ?1, idc = excluded.idc, location = excluded.location,"
                " port = excluded.port, features = excluded.features, config = excluded.config,"
                " last_keep_alive_at = ?1," MGR_REG_KEEP_VERSION " RETURNING id",
        [MGR_STMT_SCHED_ALIVE] = MGR_REG_ALIVE("schedulers", "scheduler_cluster_id"),
        [MGR_STMT_SCHED_GET] = "SELECT " MGR_SCHED_COLS ", " MGR_SC_NESTED_COLS
                               " FROM schedulers" MGR_SC_NESTED " WHERE id = ?1",
        [MGR_STMT_SCHED_LIST] =
                "SELECT " MGR_SCHED_COLS ", " MGR_SC_NESTED_COLS
                " FROM schedulers" MGR_SC_NESTED MGR_SCHED_FILTER " ORDER BY id LIMIT ?7 OFFSET ?8",
        [MGR_STMT_SCHED_COUNT] = "SELECT count(*) FROM schedulers" MGR_SCHED_FILTER,
        [MGR_STMT_SCHED_COUNT_ALL] = "SELECT count(*) FROM schedulers",
        [MGR_STMT_SCHED_DELETE] = "DELETE FROM schedulers WHERE id = ?1",
        [MGR_STMT_SCHED_OF_SC] =
                "SELECT " MGR_SCHED_COLS " FROM schedulers WHERE"
                " (?1 IS NULL OR scheduler_cluster_id = ?1) AND (?2 IS NULL OR " MGR_REG_STATE
                " = 'active') ORDER BY id",
        [MGR_STMT_SEED_UPSERT] =
                "INSERT INTO seed_peers (created_at, updated_at, host_name, type, idc, location,"
                " ip, port, download_port, object_storage_port, last_keep_alive_at,"
                " seed_peer_cluster_id, git_version, git_commit) VALUES (?1, ?1, ?2, ?3, ?4, ?5,"
                " ?6, ?7, ?8, ?9, ?1, ?10, ?11, ?12)"
                " ON CONFLICT (host_name, ip, seed_peer_cluster_id) DO UPDATE SET"
                " updated_at = ?1, type = excluded.type, idc = excluded.idc,"
                " location = excluded.location, port = excluded.port,"
                " download_port = excluded.download_port,"
                " object_storage_port = excluded.object_storage_port, last_keep_alive_at = ?1," MGR_REG_KEEP_VERSION
                " RETURNING id",
        [MGR_STMT_SEED_ALIVE] = MGR_REG_ALIVE("seed_peers", "seed_peer_cluster_id"),
        [MGR_STMT_SEED_GET] = "SELECT " MGR_SEED_COLS ", " MGR_SPC_NESTED_COLS
                              " FROM seed_peers" MGR_SPC_NESTED " WHERE id = ?1",
        [MGR_STMT_SEED_LIST] = "SELECT " MGR_SEED_COLS ", " MGR_SPC_NESTED_COLS
                               " FROM seed_peers" MGR_SPC_NESTED MGR_SEED_FILTER
                               " ORDER BY id LIMIT ?10 OFFSET ?11",
        [MGR_STMT_SEED_COUNT] = "SELECT count(*) FROM seed_peers" MGR_SEED_FILTER,
        [MGR_STMT_SEED_COUNT_ALL] = "SELECT count(*) FROM seed_peers",
        [MGR_STMT_SEED_DELETE] = "DELETE FROM seed_peers WHERE id = ?1",
        [MGR_STMT_SEED_DELETE_KEY] = "DELETE FROM seed_peers WHERE host_name = ?1 AND (?2 IS NULL"
                                     " OR ip = ?2) AND seed_peer_cluster_id = ?3",
        [MGR_STMT_SEED_OF_SPC] = "SELECT " MGR_SEED_COLS " FROM seed_peers WHERE (?1 IS NULL OR"
                                 " seed_peer_cluster_id = ?1) AND (?2 IS NULL OR " MGR_REG_STATE
                                 " = 'active') ORDER BY id",
        [MGR_STMT_PEER_UPSERT] =
                "INSERT INTO peers (created_at, updated_at, host_name, type, idc, location, ip,"
                " port, download_port, proxy_port, git_version, git_commit, alive_until,"
                " scheduler_cluster_id) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                " ?12, ?13) ON CONFLICT (host_name, ip, scheduler_cluster_id) DO UPDATE SET"
                " updated_at = ?1, type = excluded.type, idc = excluded.idc,"
                " location = excluded.location, port = excluded.port,"
                " download_port = excluded.download_port,"
                /* sync_peers knows no proxy port or version: it keeps the peer's own */
                " proxy_port = CASE excluded.proxy_port WHEN 0 THEN proxy_port"
                " ELSE excluded.proxy_port END," MGR_REG_KEEP_VERSION
                ", alive_until = excluded.alive_until RETURNING id",
        [MGR_STMT_PEER_GET] = "SELECT " MGR_PEER_COLS ", " MGR_SC_NESTED_COLS
                              " FROM peers" MGR_SC_NESTED " WHERE id = ?1",
        [MGR_STMT_PEER_LIST] =
                "SELECT " MGR_PEER_COLS ", " MGR_SC_NESTED_COLS
                " FROM peers" MGR_SC_NESTED MGR_PEER_FILTER " ORDER BY id LIMIT ?16 OFFSET ?17",
        [MGR_STMT_PEER_COUNT] = "SELECT count(*) FROM peers" MGR_PEER_FILTER,
        [MGR_STMT_PEER_COUNT_ALL] = "SELECT count(*) FROM peers",
        [MGR_STMT_PEER_DELETE] = "DELETE FROM peers WHERE id = ?1",
        [MGR_STMT_PEER_OF_SC] = "SELECT " MGR_PEER_COLS " FROM peers WHERE (?1 IS NULL OR"
                                " scheduler_cluster_id = ?1) AND (?2 IS NULL OR " MGR_PEER_STATE
                                " = 'active') ORDER BY id",
        [MGR_STMT_JOB_INSERT] =
                "INSERT INTO jobs (created_at, updated_at, task_id, bio, type, state, args,"
                " result, user_id, scheduler_cluster_ids) VALUES (?1, ?1, ?2, ?3, ?4, 'PENDING',"
                " ?5, ?6, ?7, ?8) RETURNING id",
        [MGR_STMT_JOB_GET] = "SELECT " MGR_JOB_COLS " FROM jobs WHERE id = ?1",
        [MGR_STMT_JOB_LIST] = "SELECT " MGR_JOB_COLS " FROM jobs" MGR_JOB_FILTER
                              " ORDER BY id DESC LIMIT ?4 OFFSET ?5",
        [MGR_STMT_JOB_COUNT] = "SELECT count(*) FROM jobs" MGR_JOB_FILTER,
        [MGR_STMT_JOB_PATCH] = "UPDATE jobs SET updated_at = ?2, bio = coalesce(?3, bio),"
                               " user_id = coalesce(?4, user_id) WHERE id = ?1",
        [MGR_STMT_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
        /* a final state is final: only a PENDING row moves */
        [MGR_STMT_JOB_SET] = "UPDATE jobs SET updated_at = ?2, state = ?3, result = ?4"
                             " WHERE id = ?1 AND state = 'PENDING'",
        /* the actor's name as the row is written: a USER's from its id, a PAT's from its
         * hash; neither found (a bad token) is UNKNOWN */
        [MGR_STMT_AUDIT_INSERT] =
                "INSERT INTO audits (created_at, actor_type, actor_name, operation, state, path,"
                " status_code, ip) SELECT ?1, CASE WHEN n IS NULL THEN 'UNKNOWN' ELSE ?2 END,"
                " coalesce(n, ''), ?3, ?4, ?5, ?6, ?7 FROM (SELECT CASE ?2 WHEN 'USER' THEN"
                " (SELECT name FROM users WHERE id = ?8) WHEN 'PAT' THEN (SELECT name FROM"
                " personal_access_tokens WHERE token_hash = ?9) END AS n)",
        [MGR_STMT_AUDIT_LIST] = "SELECT " MGR_AUDIT_COLS " FROM audits" MGR_AUDIT_FILTER
                                " ORDER BY id DESC LIMIT ?8 OFFSET ?9",
        [MGR_STMT_AUDIT_COUNT] = "SELECT count(*) FROM audits" MGR_AUDIT_FILTER,
        [MGR_STMT_AUDIT_COUNT_ALL] = "SELECT count(*) FROM audits",
        [MGR_STMT_CONFIG_INSERT] = "INSERT INTO configs (created_at, updated_at, name, value,"
                                   " bio, user_id) VALUES (?1, ?1, ?2, ?3, ?4, ?5) RETURNING id",
        [MGR_STMT_CONFIG_GET] = "SELECT " MGR_CONFIG_COLS " FROM configs WHERE id = ?1",
        [MGR_STMT_CONFIG_BY_NAME] = "SELECT " MGR_CONFIG_COLS " FROM configs WHERE name = ?1",
        [MGR_STMT_CONFIG_LIST] = "SELECT " MGR_CONFIG_COLS " FROM configs WHERE (?1 IS NULL OR"
                                 " name = ?1) ORDER BY id LIMIT ?2 OFFSET ?3",
        [MGR_STMT_CONFIG_COUNT] = "SELECT count(*) FROM configs WHERE (?1 IS NULL OR name = ?1)",
        [MGR_STMT_CONFIG_UPDATE] = "UPDATE configs SET updated_at = ?2, name = coalesce(?3, name),"
                                   " value = coalesce(?4, value), bio = coalesce(?5, bio),"
                                   " user_id = coalesce(?6, user_id) WHERE id = ?1",
        [MGR_STMT_CONFIG_DELETE] = "DELETE FROM configs WHERE id = ?1",
        [MGR_STMT_CONFIG_NAME_TAKEN] = "SELECT 1 FROM configs WHERE name = ?1 AND id != ?2",
        [MGR_STMT_APP_INSERT] = "INSERT INTO applications (created_at, updated_at, name, url,"
                                " bio, priority, user_id) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6)"
                                " RETURNING id",
        [MGR_STMT_APP_GET] = "SELECT " MGR_APP_COLS " FROM applications WHERE id = ?1",
        [MGR_STMT_APP_LIST] = "SELECT " MGR_APP_COLS " FROM applications WHERE (?1 IS NULL OR"
                              " name = ?1) ORDER BY id LIMIT ?2 OFFSET ?3",
        [MGR_STMT_APP_COUNT] = "SELECT count(*) FROM applications WHERE (?1 IS NULL OR name = ?1)",
        [MGR_STMT_APP_UPDATE] = "UPDATE applications SET updated_at = ?2, name = coalesce(?3,"
                                " name), url = coalesce(?4, url), bio = coalesce(?5, bio),"
                                " priority = coalesce(?6, priority), user_id = coalesce(?7,"
                                " user_id) WHERE id = ?1",
        [MGR_STMT_APP_DELETE] = "DELETE FROM applications WHERE id = ?1",
        [MGR_STMT_APP_NAME_TAKEN] = "SELECT 1 FROM applications WHERE name = ?1 AND id != ?2",
        /* ListApplications: the rows with a priority, bounded like any list */
        [MGR_STMT_APP_PRIORITIZED] = "SELECT " MGR_APP_COLS " FROM applications WHERE"
                                     " priority != '' ORDER BY id LIMIT ?1",
        /* the GC (mgr_gc.c): rows older than a cut (ms); an unfinished job is never removed */
        [MGR_STMT_GC_AUDITS] = "DELETE FROM audits WHERE created_at < ?1",
        [MGR_STMT_GC_JOBS] = "DELETE FROM jobs WHERE updated_at < ?1 AND state != 'PENDING'",
        [MGR_STMT_JOB_PENDING] = "SELECT id, task_id, created_at FROM jobs WHERE state = 'PENDING'"
                                 " ORDER BY id",
        [MGR_STMT_JOIN_INSERT] = "INSERT INTO join_tokens (created_at, token_hash, role,"
                                 " scheduler_cluster_id, expired_at, user_id)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        [MGR_STMT_JOIN_GET] = "SELECT " MGR_JOIN_COLS " FROM join_tokens WHERE id = ?1",
        [MGR_STMT_JOIN_LIST] = "SELECT " MGR_JOIN_COLS " FROM join_tokens" MGR_JOIN_FILTER
                               " ORDER BY id LIMIT ?3 OFFSET ?4",
        [MGR_STMT_JOIN_COUNT] = "SELECT count(*) FROM join_tokens" MGR_JOIN_FILTER,
        [MGR_STMT_JOIN_DELETE] = "DELETE FROM join_tokens WHERE id = ?1",
        [MGR_STMT_JOIN_BY_HASH] = "SELECT id, role, scheduler_cluster_id, expired_at"
                                  " FROM join_tokens WHERE token_hash = ?1",
        [MGR_STMT_CERT_INSERT] = "INSERT INTO certificates (serial, created_at, host_name, role,"
                                 " scheduler_cluster_id, not_after, join_token_id)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [MGR_STMT_CERT_GET] = "SELECT " MGR_CERT_COLS " FROM certificates WHERE serial = ?1",
        [MGR_STMT_CERT_LIST] = "SELECT " MGR_CERT_COLS " FROM certificates" MGR_CERT_FILTER
                               " ORDER BY created_at DESC, serial LIMIT ?4 OFFSET ?5",
        [MGR_STMT_CERT_COUNT] = "SELECT count(*) FROM certificates" MGR_CERT_FILTER,
        [MGR_STMT_CERT_REVOKE] = "UPDATE certificates SET revoked_at = ?2"
                                 " WHERE serial = ?1 AND revoked_at = 0",
        /* a revoked certificate past its not_after is refused by its date anyway */
        [MGR_STMT_CERT_REVOKED] = "SELECT serial FROM certificates WHERE revoked_at != 0"
                                  " AND not_after > ?1 ORDER BY serial",
        /* renewal: the cluster of a host's newest certificate that is still good */
        [MGR_STMT_CERT_OF_HOST] = "SELECT scheduler_cluster_id FROM certificates"
                                  " WHERE host_name = ?1 AND role = ?2 AND revoked_at = 0"
                                  " AND not_after > ?3 ORDER BY created_at DESC LIMIT 1",
};

static const struct store_sql_schema mgr_db_schema = {
        .name = "manager db",
        .migrations = mgr_db_migrations,
        .n_migrations = DF_NELEM(mgr_db_migrations),
        .stmts = mgr_db_stmts,
        .n_stmts = MGR_STMT__COUNT,
};

sqlite3_stmt *
mgr_db_stmt(struct store_sql *db, enum mgr_stmt slot)
{
    struct df_error err;
    sqlite3_stmt *st;

    if (store_sql_stmt(db, slot, &st, &err) != 0) {
        log_warnx("manager: db: statement %d: %s", (int)slot, err.msg);
        return NULL;
    }
    return st;
}

int
mgr_db_step(struct store_sql *db, sqlite3_stmt *st)
{
    struct df_error err;
    int rv;

    /* a constraint (a unique name taken) is the client's conflict, not our failure */
    if ((rv = store_sql_step(db, st, &err)) == DF_EINVAL)
        return DF_EEXIST;
    if (rv < 0)
        log_warnx("manager: db: %s", err.msg);
    return rv;
}

int
mgr_db_name_check(struct store_sql *db, enum mgr_stmt slot, const char *name, int64_t id)
{
    sqlite3_stmt *st;
    int rv;

    if (name == NULL)
        return 0;
    if ((st = mgr_db_stmt(db, slot)) == NULL)
        return DF_EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    rv = mgr_db_step(db, st);
    sqlite3_reset(st);
    return rv == STORE_SQL_ROW ? DF_EEXIST : rv < 0 ? rv : 0;
}

int
mgr_db_run(struct store_sql *db, sqlite3_stmt *st)
{
    int rv = mgr_db_step(db, st);

    sqlite3_reset(st);
    return rv < 0 ? rv : 0;
}

void
mgr_db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

const char *
mgr_db_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    return s != NULL ? (const char *)s : "";
}

/* Run a statement of slot with up to three text parameters to its end. */
static int
mgr_db_exec3(struct store_sql *db, enum mgr_stmt slot, const char *a, const char *b, const char *c)
{
    sqlite3_stmt *st = mgr_db_stmt(db, slot);

    if (st == NULL)
        return DF_EIO;
    mgr_db_bind_text(st, 1, a);
    mgr_db_bind_text(st, 2, b);
    mgr_db_bind_text(st, 3, c);
    return mgr_db_run(db, st);
}

/* The secret stored under name (the JWT key, the PAT key), made once from getrandom(). */
static int
mgr_db_secret(struct store_sql *db, const char *name, uint8_t key[MGR_JWT_KEY_LEN],
              struct df_error *err)
{
    sqlite3_stmt *st = mgr_db_stmt(db, MGR_STMT_META_GET);
    int rv;

    if (st == NULL)
        return df_error_set(err, DF_EIO, "manager db: cannot read the %s", name);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rv = mgr_db_step(db, st);
    if (rv == STORE_SQL_ROW && sqlite3_column_bytes(st, 0) == MGR_JWT_KEY_LEN) {
        memcpy(key, sqlite3_column_blob(st, 0), MGR_JWT_KEY_LEN);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rv < 0)
        return df_error_set(err, rv, "manager db: cannot read the %s", name);
    if (mgr_auth_random(key, MGR_JWT_KEY_LEN) != 0)
        return df_error_set(err, DF_EIO, "manager db: no entropy for the %s", name);
    if ((st = mgr_db_stmt(db, MGR_STMT_META_PUT)) == NULL)
        return df_error_set(err, DF_EIO, "manager db: cannot store the %s", name);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, key, MGR_JWT_KEY_LEN, SQLITE_STATIC);
    if ((rv = mgr_db_run(db, st)) < 0)
        return df_error_set(err, rv, "manager db: cannot store the %s", name);
    log_info("manager: generated a new %s", name);
    return 0;
}

/* First start: user root (id 1) with the initial password, roles root and guest. */
static int
mgr_db_seed_root(struct store_sql *db, unsigned iterations, struct df_error *err)
{
    const char *pw = getenv(MGR_ROOT_ENV);
    char hash[MGR_PW_HASH_MAX];
    sqlite3_stmt *st;
    size_t len;
    int rv;

    if (pw == NULL)
        pw = MGR_ROOT_PASSWORD;
    else if ((len = strlen(pw)) < 8 || len > 20)
        return df_error_set(err, DF_EINVAL, "%s must have 8 to 20 characters, not %zu",
                            MGR_ROOT_ENV, len);
    if ((rv = mgr_pw_hash_new(pw, iterations, hash)) != 0)
        return df_error_set(err, rv, "cannot hash the root password: %s", df_strerror(rv));
    if ((st = mgr_db_stmt(db, MGR_STMT_USER_INSERT)) == NULL)
        return df_error_set(err, DF_EIO, "manager db: cannot add user root");
    sqlite3_bind_int64(st, 1, df_time_wall_ms());
    sqlite3_bind_text(st, 2, MGR_ROOT_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, hash, -1, SQLITE_STATIC);
    if ((rv = mgr_db_run(db, st)) < 0)
        return df_error_set(err, rv, "manager db: cannot add user root");
    log_info("manager: first start: created user root");
    return 0;
}

/* Every start: roles root and guest on every group, and user root has role root. */
static int
mgr_db_grant(struct store_sql *db, const char *const *groups, size_t n)
{
    sqlite3_stmt *st;
    int rv;

    if ((rv = mgr_db_exec3(db, MGR_STMT_ROLE_INSERT, "root", NULL, NULL)) != 0 ||
        (rv = mgr_db_exec3(db, MGR_STMT_ROLE_INSERT, "guest", NULL, NULL)) != 0)
        return rv;
    for (size_t i = 0; i < n; i++) {
        if ((rv = mgr_db_exec3(db, MGR_STMT_PERM_INSERT, "root", groups[i], "*")) != 0 ||
            (rv = mgr_db_exec3(db, MGR_STMT_PERM_INSERT, "guest", groups[i], "read")) != 0)
            return rv;
    }
    if ((st = mgr_db_stmt(db, MGR_STMT_USER_BY_NAME)) == NULL)
        return DF_EIO;
    sqlite3_bind_text(st, 1, MGR_ROOT_NAME, -1, SQLITE_STATIC);
    rv = mgr_db_step(db, st);
    if (rv == STORE_SQL_ROW) {
        char id[24];

        snprintf(id, sizeof(id), "%lld", (long long)sqlite3_column_int64(st, 0));
        sqlite3_reset(st);
        return mgr_db_exec3(db, MGR_STMT_USER_ROLE_ADD, id, "root", NULL);
    }
    sqlite3_reset(st);
    return rv < 0 ? rv : 0;
}

/* Warn while user root can still sign in with the password everyone knows. */
static void
mgr_db_warn_default(struct store_sql *db)
{
    sqlite3_stmt *st = mgr_db_stmt(db, MGR_STMT_USER_BY_NAME);
    bool is_default = false;

    if (st == NULL)
        return;
    sqlite3_bind_text(st, 1, MGR_ROOT_NAME, -1, SQLITE_STATIC);
    if (mgr_db_step(db, st) == STORE_SQL_ROW)
        is_default = mgr_pw_is_match(MGR_ROOT_PASSWORD, mgr_db_col_text(st, 10));
    sqlite3_reset(st);
    if (is_default)
        log_warnx("manager: user root still has the default password: change it "
                  "(POST /api/v1/users/1/reset_password)");
}

int
mgr_db_open(const char *dir, unsigned kdf_iterations, const char *const *groups, size_t n,
            uint8_t key[MGR_JWT_KEY_LEN], uint8_t pat_key[MGR_JWT_KEY_LEN], struct store_sql **out,
            struct df_error *err)
{
    struct store_sql *db = NULL;
    sqlite3_stmt *st;
    char path[4096];
    int64_t users = 0;
    int rv;

    if ((rv = df_fs_dir_ensure_private(dir, err)) != 0)
        return rv;
    if ((size_t)snprintf(path, sizeof(path), "%s/manager.db", dir) >= sizeof(path))
        return df_error_set(err, DF_EINVAL, "data dir %s: path too long", dir);
    if ((rv = store_sql_open(path, &mgr_db_schema, &db, err)) != 0)
        return rv;
    if ((rv = store_sql_begin(db, err)) != 0)
        goto out;
    if ((st = mgr_db_stmt(db, MGR_STMT_USER_COUNT)) == NULL) {
        rv = df_error_set(err, DF_EIO, "%s: cannot count users", path);
        goto rollback;
    }
    if (mgr_db_step(db, st) == STORE_SQL_ROW)
        users = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (users == 0 && (rv = mgr_db_seed_root(db, kdf_iterations, err)) != 0)
        goto rollback;
    if ((rv = mgr_db_secret(db, "jwt_key", key, err)) != 0 ||
        (rv = mgr_db_secret(db, "pat_key", pat_key, err)) != 0)
        goto rollback;
    if ((rv = mgr_db_grant(db, groups, n)) != 0) {
        df_error_set(err, rv, "%s: cannot grant the roles their permissions", path);
        goto rollback;
    }
    if ((rv = store_sql_commit(db, err)) != 0)
        goto rollback;
    mgr_db_warn_default(db);
    *out = db;
    return 0;
rollback:
    store_sql_rollback(db);
out:
    store_sql_close(db);
    return rv;
}
