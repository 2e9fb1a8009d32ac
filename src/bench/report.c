/* SPDX-License-Identifier: MIT */
/* src/bench/report.c - aggregates and prints kvbench results. */
#include "bench/report.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "bench/stats.h"

void kv_report_finish(struct kv_report_row *row, struct kv_runner_result *res, double prefill_ms,
                      double decode_ms)
{
    double work[KV_REPORT_MAX_BACKENDS], reqs[KV_REPORT_MAX_BACKENDS], hits = 0, queries = 0;
    double gen = 0;

    for (size_t i = 0; i < row->n_backends; i++) {
        struct kv_report_backend *b = &row->be[i];
        double uncached = b->prompt_tokens - b->hits;
        b->work_ms = (uncached > 0 ? uncached : 0) * prefill_ms + b->gen_tokens * decode_ms;
        work[i] = b->work_ms;
        reqs[i] = b->requests;
        hits += b->hits;
        queries += b->queries;
        gen += b->gen_tokens;
    }
    row->hit_rate = kv_stats_hit_rate(hits, queries);
    row->work_max_mean = kv_stats_max_over_mean(work, row->n_backends);
    row->req_max_mean = kv_stats_max_over_mean(reqs, row->n_backends);
    row->work_cv = kv_stats_cv(work, row->n_backends);
    row->ttft_mean = kv_stats_mean(&res->ttft);
    row->ttft_p50 = kv_stats_pct(&res->ttft, 50);
    row->ttft_p90 = kv_stats_pct(&res->ttft, 90);
    row->ttft_p99 = kv_stats_pct(&res->ttft, 99);
    for (int q = 0; q <= 100; q++)
        row->ttft_q[q] = kv_stats_pct(&res->ttft, q);
    row->itl_p50 = kv_stats_pct(&res->itl, 50);
    row->itl_p99 = kv_stats_pct(&res->itl, 99);
    row->e2e_p50 = kv_stats_pct(&res->e2e, 50);
    row->e2e_p99 = kv_stats_pct(&res->e2e, 99);
    row->ok = res->ok;
    row->errors = res->errors + res->cancelled;
    row->wall_s = res->wall_s;
    /* Throughput in model time: wall time x scale is the model time the run took. */
    if (res->wall_s > 0 && row->time_scale > 0) {
        row->req_per_s = (double)res->ok / (res->wall_s * row->time_scale);
        row->tok_per_s = (gen > 0 ? gen : (double)res->output_tokens) /
                         (res->wall_s * row->time_scale);
    }
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

void kv_report_table(FILE *out, const struct kv_report_row *rows, size_t n, const char *workload)
{
    fprintf(out, "\nworkload: %s", workload);
    if (n && rows[0].time_scale != 1)
        fprintf(out, "  (latencies in model time: wall time x %.0f)", rows[0].time_scale);
    fprintf(out, "\n%-22s %7s %7s %7s %8s %8s %9s %9s %9s %8s %8s %6s\n", "target", "hit",
            "hit/pool", "pool/id", "work max", "req max", "TTFT mean", "TTFT p50", "TTFT p99",
            "req/s", "tok/s", "errors");
    fprintf(out, "%-22s %7s %7s %7s %8s %8s %9s %9s %9s %8s %8s %6s\n", "", "", "", "", "/mean",
            "/mean", "ms", "ms", "ms", "", "", "");
    for (size_t i = 0; i < n; i++) {
        const struct kv_report_row *r = &rows[i];
        fprintf(out,
                "%-22s %6.1f%% %7.3f %7.3f %8.3f %8.3f %9.1f %9.1f %9.1f %8.2f %8.1f %6llu\n",
                r->target, 100 * r->hit_rate, ratio(r->hit_rate, r->pooled),
                ratio(r->pooled, r->ideal), r->work_max_mean, r->req_max_mean,
                1000 * r->ttft_mean, 1000 * r->ttft_p50, 1000 * r->ttft_p99, r->req_per_s,
                r->tok_per_s, r->errors);
    }
    if (n)
        fprintf(out, "references: pooled %.1f%%, ideal %.1f%% (offline, same requests)\n",
                100 * rows[0].pooled, 100 * rows[0].ideal);
}

void kv_report_json(FILE *out, const struct kv_report_row *rows, size_t n, const char *workload)
{
    fprintf(out, "{\"workload\":\"%s\",\"targets\":[", workload);
    for (size_t i = 0; i < n; i++) {
        const struct kv_report_row *r = &rows[i];
        fprintf(out,
                "%s{\"target\":\"%s\",\"hit_rate\":%.6f,\"pooled\":%.6f,\"ideal\":%.6f,"
                "\"hit_over_pooled\":%.6f,\"pooled_over_ideal\":%.6f,\"work_max_mean\":%.6f,"
                "\"req_max_mean\":%.6f,\"work_cv\":%.6f,\"ttft_mean_s\":%.6f,\"ttft_p50_s\":%.6f,"
                "\"ttft_p90_s\":%.6f,\"ttft_p99_s\":%.6f,\"itl_p50_s\":%.6f,\"itl_p99_s\":%.6f,"
                "\"e2e_p50_s\":%.6f,\"e2e_p99_s\":%.6f,\"req_per_s\":%.6f,\"tok_per_s\":%.6f,"
                "\"ok\":%llu,\"errors\":%llu,\"wall_s\":%.3f,\"time_scale\":%g,\"backends\":[",
                i ? "," : "", r->target, r->hit_rate, r->pooled, r->ideal,
                ratio(r->hit_rate, r->pooled), ratio(r->pooled, r->ideal), r->work_max_mean,
                r->req_max_mean, r->work_cv, r->ttft_mean, r->ttft_p50, r->ttft_p90, r->ttft_p99,
                r->itl_p50, r->itl_p99, r->e2e_p50, r->e2e_p99, r->req_per_s, r->tok_per_s, r->ok,
                r->errors, r->wall_s, r->time_scale);
        for (size_t b = 0; b < r->n_backends; b++)
            fprintf(out,
                    "%s{\"queries\":%.0f,\"hits\":%.0f,\"prompt_tokens\":%.0f,\"gen_tokens\":%.0f,"
                    "\"requests\":%.0f,\"preemptions\":%.0f,\"work_ms\":%.3f}",
                    b ? "," : "", r->be[b].queries, r->be[b].hits, r->be[b].prompt_tokens,
                    r->be[b].gen_tokens, r->be[b].requests, r->be[b].preemptions, r->be[b].work_ms);
        fprintf(out, "]}");
    }
    fprintf(out, "]}\n");
}

/* Writes <s> as a gnuplot single-quoted string: a quote inside is doubled. */
static void put_quoted(FILE *gp, const char *s)
{
    fputc('\'', gp);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', gp);
        if (*s != '\n')
            fputc(*s, gp);
    }
    fputc('\'', gp);
}

/* Inline data blocks ($ttft<i>, $work) so one gnuplot script holds everything. */
static void plot_data(FILE *gp, const struct kv_report_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(gp, "$ttft%zu << EOD\n", i);
        for (int q = 0; q <= 100; q++)
            fprintf(gp, "%.6f %.2f\n", 1000 * rows[i].ttft_q[q], q / 100.0);
        fprintf(gp, "EOD\n");
    }
    fprintf(gp, "$work << EOD\n");
    for (size_t i = 0; i < n; i++) {
        double total = 0;
        for (size_t b = 0; b < rows[i].n_backends; b++)
            total += rows[i].be[b].work_ms;
        for (size_t b = 0; b < rows[i].n_backends; b++)
            fprintf(gp, "%zu %zu %.6f\n", i, b, total > 0 ? rows[i].be[b].work_ms / total : 0);
        fprintf(gp, "\n");
    }
    fprintf(gp, "EOD\n");
}

int kv_report_plot(const char *path, const struct kv_report_row *rows, size_t n,
                   const char *workload)
{
    FILE *gp;
    int st;

    if (n == 0)
        return -EINVAL;
    gp = popen("gnuplot", "w");
    if (!gp)
        return -errno;
    plot_data(gp, rows, n);
    fprintf(gp, "set terminal pngcairo size 1400,560 font ',10'\nset output ");
    put_quoted(gp, path);
    fprintf(gp, "\nset multiplot layout 1,2 title 'kvbench: ' . ");
    put_quoted(gp, workload);
    fprintf(gp, " . '%s'\nset grid\n"
                "set key bottom right\nset logscale x\nset xlabel 'TTFT (ms%s)'\n"
                "set ylabel 'fraction of requests'\nset yrange [0:1]\n"
                "set title 'Time to first token'\nplot ",
            rows[0].time_scale != 1 ? " (model time)" : "",
            rows[0].time_scale != 1 ? ", model time" : "");
    for (size_t i = 0; i < n; i++) {
        fprintf(gp, "%s$ttft%zu using 1:2 with lines lw 2 title ", i ? ", " : "", i);
        put_quoted(gp, rows[i].target);
    }
    fprintf(gp, "\nunset logscale x\nset xlabel 'target'\nset ylabel 'share of the work'\n"
                "set yrange [0:*]\nset title 'Work per backend (even = 1/N)'\n"
                "set xtics rotate by -30\nset xtics (");
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", gp);
        put_quoted(gp, rows[i].target);
        fprintf(gp, " %zu", i);
    }
    fprintf(gp, ")\nset xrange [-0.5:%zu.5]\nunset key\n"
                "plot $work using ($1 + ($2 - %zu / 2.0) * 0.8 / %zu):3 with points pt 7 ps 1.2, "
                "%g with lines dt 2 lc rgb 'gray'\nunset multiplot\n",
            n - 1, rows[0].n_backends, rows[0].n_backends ? rows[0].n_backends : 1,
            rows[0].n_backends ? 1.0 / (double)rows[0].n_backends : 0);
    st = pclose(gp);
    return st == 0 ? 0 : (st < 0 ? -errno : -EIO);
}
