/* SPDX-License-Identifier: Apache-2.0 */
/* Process and temp-dir helpers for integration tests; see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "df/df_json.h"

const char *
it_bin(void)
{
    const char *b = getenv("DF_BIN");

    return b != NULL ? b : "./dragonfly";
}

const char *
it_tool(const char *name, char *buf, size_t len)
{
    const char *d = getenv("DF_TOOLS");

    snprintf(buf, len, "%s/%s", d != NULL ? d : "build/release/test/tools", name);
    return buf;
}

char *
it_tmpdir(void)
{
    char tmpl[] = "/tmp/df-it-XXXXXX";
    char *d = mkdtemp(tmpl);

    return d != NULL ? strdup(d) : NULL;
}

void
it_rmtree(const char *dir)
{
    char cmd[600];

    if (dir == NULL || strncmp(dir, "/tmp/df-it-", 11) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", dir);
}

void
it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static cJSON *
it_read_json(const char *path)
{
    char buf[8192];
    cJSON *doc = NULL;
    ssize_t n;
    int fd = open(path, O_RDONLY);

    if (fd == -1)
        return NULL;
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n <= 0 || df_json_parse(buf, (size_t)n, NULL, &doc, NULL) != 0)
        return NULL;
    return doc;
}

/*
 * argv with --plaintext after the subcommand when it starts a dragonfly scheduler or peer
 * that names no tls.* flag (a plaintext test daemon), and with --proxy-listen 0 for a peer
 * that names no proxy listener and --metrics-port 0 for one that names no metrics port
 * (tests run side by side: the standard ports would clash); otherwise argv itself. Free the result
 * when it is not argv.
 */
static char *const *
it_argv_tls(char *const argv[])
{
    static char plaintext[] = "--plaintext", proxy[] = "--proxy-listen", any[] = "0";
    static char metrics[] = "--metrics-port";
    bool tls = false, has_proxy = false, has_metrics = false, is_peer;
    char **out;
    size_t n = 0, k = 0;

    if (argv[0] == NULL || argv[1] == NULL || strcmp(argv[0], it_bin()) != 0 ||
        (strcmp(argv[1], "scheduler") != 0 && strcmp(argv[1], "peer") != 0 &&
         strcmp(argv[1], "seed") != 0))
        return argv;
    is_peer = strcmp(argv[1], "scheduler") != 0;
    for (n = 2; argv[n] != NULL; n++) {
        if (strncmp(argv[n], "--tls-", 6) == 0 || strcmp(argv[n], plaintext) == 0)
            tls = true;
        if (strncmp(argv[n], proxy, sizeof(proxy) - 1) == 0)
            has_proxy = true;
        if (strncmp(argv[n], metrics, sizeof(metrics) - 1) == 0)
            has_metrics = true;
    }
    if (tls && ((has_proxy && has_metrics) || !is_peer))
        return argv;
    out = calloc(n + 6, sizeof(*out));
    if (out == NULL)
        return argv;
    out[k++] = argv[0];
    out[k++] = argv[1];
    if (!tls)
        out[k++] = plaintext;
    if (is_peer && !has_proxy) {
        out[k++] = proxy;
        out[k++] = any;
    }
    if (is_peer && !has_metrics) {
        out[k++] = metrics;
        out[k++] = any;
    }
    for (size_t i = 2; i <= n; i++)
        out[k++] = argv[i];
    return out;
}

int
it_proc_start(struct it_proc *p, const char *dir, const char *name, char *const argv_in[],
              const char *ready_file, int timeout_ms)
{
    char *const *argv = it_argv_tls(argv_in);
    pid_t parent = getpid();
    int fd, status, waited = 0;

    memset(p, 0, sizeof(*p));
    snprintf(p->log_path, sizeof(p->log_path), "%s/%s.log", dir, name);
    p->pid = fork();
    if (p->pid != 0 && argv != argv_in)
        free((void *)(uintptr_t)argv);
    if (p->pid == -1)
        return -1;
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd != -1) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (ready_file == NULL)
        return 0;
    while (waited < timeout_ms) {
        if ((p->ready = it_read_json(ready_file)) != NULL)
            return 0;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            fprintf(stderr, "harness: %s exited before ready (status %d)\n", name, status);
            it_proc_dump_log(p);
            return -1;
        }
        it_sleep_ms(10);
        waited += 10;
    }
    fprintf(stderr, "harness: %s not ready after %d ms\n", name, timeout_ms);
    it_proc_dump_log(p);
    it_proc_kill(p);
    return -1;
}

int
it_df_start(struct it_proc *p, const char *dir, const char *name, ...)
{
    char ready[700];
    const char *argv[44];
    const char *a;
    size_t n = 0;
    va_list ap;

    snprintf(ready, sizeof(ready), "%s/%s.ready", dir, name);
    unlink(ready);
    argv[n++] = it_bin();
    va_start(ap, name);
    while ((a = va_arg(ap, const char *)) != NULL && n < 41)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    argv[n] = NULL;
    return it_proc_start(p, dir, name, (char *const *)(uintptr_t)argv, ready, 15000);
}

int
it_cache_task_id(const char *data_dir, char id[65])
{
    char *out = NULL;
    int rv = -1;

    if (it_shf(&out, 10, "ls %s/content/tasks/*/ | head -1", data_dir) == 0 && out != NULL &&
        strlen(out) >= 64) {
        memcpy(id, out, 64);
        id[64] = '\0';
        rv = 0;
    }
    free(out);
    return rv;
}

int
it_temp_count(const char *dir)
{
    char *out = NULL;
    int n = -1;

    if (it_shf(&out, 10, "ls -a %s | grep -c dragonfly- || true", dir) == 0 && out != NULL)
        n = atoi(out);
    free(out);
    return n;
}

const char *
it_proc_ready_str(const struct it_proc *p, const char *key)
{
    const char *s = NULL;

    if (df_json_get_str(p->ready, key, &s, NULL) != 0)
        return NULL;
    return s;
}

int
it_proc_stop(struct it_proc *p)
{
    int status = -1;

    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        /* A clean stop under ASan on a loaded machine can take seconds: wait long, since it
         * costs nothing when the process exits at once. */
        for (int i = 0; i < IT_STOP_MS / 10; i++) {
            if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                p->pid = 0;
                break;
            }
            it_sleep_ms(10);
        }
        if (p->pid > 0) {
            fprintf(stderr, "harness: pid %d ignored SIGTERM, killing\n", (int)p->pid);
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            p->pid = 0;
        }
    }
    DF_FREE(p->ready, cJSON_Delete);
    return status;
}

void
it_proc_kill(struct it_proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    DF_FREE(p->ready, cJSON_Delete);
}

void
it_proc_dump_log(const struct it_proc *p)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(p->log_path, "r");

    if (f == NULL)
        return;
    fprintf(stderr, "---- %s ----\n", p->log_path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
}

int
it_sh(const char *cmd, char **out, int timeout_s)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int pfd[2], status = -1, flags;
    time_t deadline = time(NULL) + timeout_s;
    pid_t pid;
    ssize_t n;

    if (buf == NULL || pipe(pfd) == -1) {
        free(buf);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    flags = fcntl(pfd[0], F_GETFL);
    fcntl(pfd[0], F_SETFL, flags | O_NONBLOCK);
    for (;;) {
        n = read(pfd[0], buf + len, cap - len - 1);
        if (n > 0) {
            len += (size_t)n;
            if (cap - len < 1024) {
                char *nb = realloc(buf, cap * 2);
                if (nb == NULL)
                    break;
                buf = nb;
                cap *= 2;
            }
            continue;
        }
        if (n == 0)
            break;
        if (time(NULL) > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        it_sleep_ms(5);
    }
    close(pfd[0]);
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        ;
    buf[len] = '\0';
    if (out != NULL)
        *out = buf;
    else
        free(buf);
    if (time(NULL) > deadline && !(WIFEXITED(status)))
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
it_shf(char **out, int timeout_s, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(cmd))
        return -1;
    return it_sh(cmd, out, timeout_s);
}

bool
it_log_wait(const struct it_proc *p, const char *text, int ms)
{
    for (int waited = 0; waited <= ms; waited += 200) {
        if (it_shf(NULL, 10, "grep -q -F '%s' %s", text, p->log_path) == 0)
            return true;
        it_sleep_ms(200);
    }
    return false;
}

int
it_rest(const char *rest, const char *token, const char *method, const char *path, const char *body,
        char **out)
{
    char *text = NULL, *nl;
    int status = 0;

    if (out != NULL)
        *out = NULL;
    if (it_shf(&text, 30,
               "curl -s -g -X %s -H 'Authorization: Bearer %s' %s%s%s -w '\\n%%{http_code}' "
               "'http://%s%s'",
               method, token, body != NULL ? "-H 'Content-Type: application/json' -d '" : "",
               body != NULL ? body : "", body != NULL ? "'" : "", rest, path) != 0) {
        free(text);
        return -1;
    }
    if ((nl = strrchr(text, '\n')) != NULL) {
        status = atoi(nl + 1);
        *nl = '\0';
    }
    if (out != NULL)
        *out = text;
    else
        free(text);
    return status;
}

int
it_gen(const char *size, int seed, const char *path)
{
    char tool[512];

    return it_shf(NULL, 120, "%s --gen %s --seed %d > %s", it_tool("origin", tool, sizeof(tool)),
                  size, seed, path);
}

int
it_origin_bytes(const char *addr, const char *target, uint64_t *out)
{
    char *body = NULL;
    cJSON *doc = NULL;
    const cJSON *t;
    uint64_t v = 0;
    int rv = -1;

    if (it_shf(&body, 10, "curl -sS --max-time 10 'http://%s/_stats'", addr) != 0 || body == NULL ||
        df_json_parse(body, strlen(body), NULL, &doc, NULL) != 0)
        goto out;
    t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "targets"), target);
    if (t != NULL)
        df_json_get_u64(t, "bytes", &v, NULL);
    *out = v;
    rv = 0;
out:
    cJSON_Delete(doc);
    free(body);
    return rv;
}

bool
it_write(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *f;
    bool ok;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "w")) == NULL)
        return false;
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}
