/* common.h - shared by the coherence plugin's guest test programs: threads
 * pinned one per CPU, started together, timed; one JSON line as the result
 * ("items" is the work `lseprof report` divides transfers by). */
#ifndef COMMON_H
#define COMMON_H
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>

#define CACHE_LINE 64
#define MAX_THREADS 8

static inline uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static pthread_barrier_t start_barrier;

static inline long arg_long(int argc, char **argv, int i, long def)
{
    return argc > i ? strtol(argv[i], NULL, 0) : def;
}

/* Starts n threads running fn((void *)i), thread i pinned to CPU i mod ncpu
 * (unpinned, the guest's scheduler often ran two workers on one vCPU for a
 * whole short run: nothing was shared between cores). Returns the ns from the
 * start barrier to the last join. */
static inline uint64_t run_threads(int n, void *(*fn)(void *))
{
    pthread_t th[MAX_THREADS];
    pthread_barrier_init(&start_barrier, NULL, (unsigned)n + 1);
    int ncpu = get_nprocs();
    for (long i = 0; i < n; i++) {
        pthread_attr_t a;
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(i % ncpu, &set);
        pthread_attr_init(&a);
        pthread_attr_setaffinity_np(&a, sizeof(set), &set);
        pthread_create(&th[i], &a, fn, (void *)i);
        pthread_attr_destroy(&a);
    }
    pthread_barrier_wait(&start_barrier);
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }
    return now_ns() - t0;
}

static inline void print_result(const char *test, const char *mode, int threads, long items,
                                uint64_t ns, int ok)
{
    printf("{\"test\": \"%s\", \"mode\": \"%s\", \"threads\": %d, \"items\": %ld, "
           "\"seconds\": %.6f, \"ok\": %s}\n",
           test, mode, threads, items, (double)ns / 1e9, ok ? "true" : "false");
}
#endif
