/* SPDX-License-Identifier: MIT */
/* src/bench/fleet.h - starts and stops the processes of a benchmark fleet.
 *
 * `kvbench compare` gives every target a fresh fleet: N kvsim processes with cold caches and the
 * target in front of them (kvroute with a policy, HAProxy, nginx), each on a free loopback port,
 * each logging to its own file in a scratch folder. kv_fleet_stop() sends SIGTERM to all, waits
 * for them with a deadline, then SIGKILLs what is left, so no run leaves processes behind.
 */
#ifndef KV_BENCH_FLEET_H
#define KV_BENCH_FLEET_H

#include <stddef.h>
#include <sys/types.h>

#define KV_FLEET_MAX 64

struct kv_fleet_proc {
    pid_t pid;
    int port;
    char name[32];
};

struct kv_fleet {
    struct kv_fleet_proc procs[KV_FLEET_MAX];
    size_t n;
    char dir[256]; /* scratch folder for configs and logs */
};

/* Creates the scratch folder under $TMPDIR (or /tmp). Returns 0 or -errno. */
int kv_fleet_init(struct kv_fleet *f);
/* Stops every process, then removes the scratch folder. */
void kv_fleet_cleanup(struct kv_fleet *f);
/* A free TCP port on 127.0.0.1 (bound then released; a tiny race is accepted). */
int kv_fleet_free_port(void);
/* Starts <argv> (argv[0] is looked up in PATH) with stdout and stderr to <dir>/<name>.log; the
 * process serves on <port> (0 if it serves nothing). Returns 0 or -errno. */
int kv_fleet_spawn(struct kv_fleet *f, const char *name, int port, char *const argv[]);
/* Writes <text> to <dir>/<file> and puts its path in <path>. Returns 0 or -errno. */
int kv_fleet_write(struct kv_fleet *f, const char *file, const char *text, char *path, size_t cap);
/* Stops every process (SIGTERM, up to <grace_ms>, then SIGKILL). */
void kv_fleet_stop(struct kv_fleet *f, unsigned grace_ms);
/* True if process <i> is still running. */
int kv_fleet_alive(struct kv_fleet *f, size_t i);

#endif /* KV_BENCH_FLEET_H */
