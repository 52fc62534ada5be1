/* atomic.c - true sharing: N threads atomically increment
 *   atomic shared  N ITERS : one shared counter (atomic_shared)
 *   atomic private N ITERS : one counter per thread, each on its own line
 * with __atomic_fetch_add(..., __ATOMIC_RELAXED). The Makefile builds it as
 *   atomic-lse     -march=armv8.1-a                    inline LDADD
 *   atomic-llsc    -march=armv8-a -mno-outline-atomics LDXR/ADD/STXR loop
 *   atomic-outline -march=armv8-a -moutline-atomics    __aarch64_ldadd8_relax
 *                  (which takes its LSE path on a CPU with LSE) */
#include "common.h"

struct slot {
    long c;
    char pad[CACHE_LINE - sizeof(long)];
};

struct slot atomic_shared __attribute__((aligned(CACHE_LINE)));
struct slot atomic_private[MAX_THREADS] __attribute__((aligned(CACHE_LINE)));

static long iters;
static int shared;

__attribute__((noinline)) static void add_loop(long *p, long n)
{
    for (long k = 0; k < n; k++) {
        __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
    }
}

static void *worker(void *arg)
{
    long i = (long)arg;
    pthread_barrier_wait(&start_barrier);
    add_loop(shared ? &atomic_shared.c : &atomic_private[i].c, iters);
    return NULL;
}

int main(int argc, char **argv)
{
    shared = argc > 1 && !strcmp(argv[1], "shared");
    int n = (int)arg_long(argc, argv, 2, 2);
    iters = arg_long(argc, argv, 3, 1000000);
    if (argc < 2 || (!shared && strcmp(argv[1], "private")) || n < 1 || n > MAX_THREADS) {
        fprintf(stderr, "usage: atomic shared|private THREADS ITERS\n");
        return 2;
    }
    uint64_t ns = run_threads(n, worker);
    long sum = atomic_shared.c;
    for (int i = 0; i < n; i++) {
        sum += atomic_private[i].c;
    }
    print_result("atomic", shared ? "shared" : "private", n, n * iters, ns, sum == n * iters);
    return 0;
}
