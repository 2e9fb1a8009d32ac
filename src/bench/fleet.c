/* SPDX-License-Identifier: MIT */
/* src/bench/fleet.c - process control for benchmark fleets. */
#include "bench/fleet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/time.h"

int kv_fleet_init(struct kv_fleet *f)
{
    const char *tmp = getenv("TMPDIR");
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/kvbench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(f->dir) ? 0 : -errno;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void kv_fleet_cleanup(struct kv_fleet *f)
{
    kv_fleet_stop(f, 5000);
    if (f->dir[0] && !getenv("KVBENCH_KEEP_LOGS"))
        remove_dir(f->dir);
    f->dir[0] = '\0';
}

int kv_fleet_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int kv_fleet_spawn(struct kv_fleet *f, const char *name, int port, char *const argv[])
{
    struct kv_fleet_proc *p;
    char log[512];
    pid_t pid;
    int fd;

    if (f->n == KV_FLEET_MAX)
        return -ENOSPC;
    snprintf(log, sizeof(log), "%s/%s.log", f->dir, name);
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        setpgid(0, 0); /* its own group: a terminal's Ctrl-C reaches kvbench, which stops it */
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    if (pid < 0)
        return -errno;
    p = &f->procs[f->n++];
    p->pid = pid;
    p->port = port;
    snprintf(p->name, sizeof(p->name), "%s", name);
    return 0;
}

int kv_fleet_write(struct kv_fleet *f, const char *file, const char *text, char *path, size_t cap)
{
    FILE *out;
    snprintf(path, cap, "%s/%s", f->dir, file);
    out = fopen(path, "w");
    if (!out)
        return -errno;
    fputs(text, out);
    return fclose(out) == 0 ? 0 : -errno;
}

int kv_fleet_alive(struct kv_fleet *f, size_t i)
{
    int st;
    if (i >= f->n || f->procs[i].pid <= 0)
        return 0;
    if (waitpid(f->procs[i].pid, &st, WNOHANG) == f->procs[i].pid) {
        f->procs[i].pid = 0;
        return 0;
    }
    return 1;
}

void kv_fleet_stop(struct kv_fleet *f, unsigned grace_ms)
{
    uint64_t deadline = kv_time_ns() + (uint64_t)grace_ms * 1000000;
    size_t left;

    for (size_t i = 0; i < f->n; i++)
        if (f->procs[i].pid > 0)
            kill(f->procs[i].pid, SIGTERM);
    do {
        struct timespec ts = {0, 10 * 1000000};
        left = 0;
        for (size_t i = 0; i < f->n; i++)
            left += (size_t)kv_fleet_alive(f, i);
        if (left)
            nanosleep(&ts, NULL); /* polling child exits, bounded by the deadline */
    } while (left && kv_time_ns() < deadline);
    for (size_t i = 0; i < f->n; i++) {
        if (f->procs[i].pid > 0) {
            kv_warn("%s (pid %d) did not stop in %u ms: killed", f->procs[i].name,
                    (int)f->procs[i].pid, grace_ms);
            kill(f->procs[i].pid, SIGKILL);
            waitpid(f->procs[i].pid, NULL, 0);
            f->procs[i].pid = 0;
        }
    }
    f->n = 0;
}
