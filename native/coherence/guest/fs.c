/* fs.c - false sharing: N threads each increment their own counter.
 *   fs unpadded N ITERS : the counters are adjacent longs in ONE 64-byte line
 *   fs padded   N ITERS : each counter has its own 64-byte line
 * Expected from the coherence model: about one transfer per increment when
 * unpadded, on the line of fs_unpadded, by the increment's store (and its
 * load); none on fs_padded's lines. */
#include "common.h"

struct unpadded {
    volatile long c[MAX_THREADS];
};
struct padded_slot {
    volatile long c;
    char pad[CACHE_LINE - sizeof(long)];
};

struct unpadded fs_unpadded __attribute__((aligned(CACHE_LINE)));
struct padded_slot fs_padded[MAX_THREADS] __attribute__((aligned(CACHE_LINE)));

static long iters;
static int padded;

/* noinline: the increment has one address */
__attribute__((noinline)) static void bump_unpadded(long i, long n)
{
    for (long k = 0; k < n; k++) {
        fs_unpadded.c[i]++;
    }
}

__attribute__((noinline)) static void bump_padded(long i, long n)
{
    for (long k = 0; k < n; k++) {
        fs_padded[i].c++;
    }
}

static void *worker(void *arg)
{
    long i = (long)arg;
    pthread_barrier_wait(&start_barrier);
    if (padded) {
        bump_padded(i, iters);
    } else {
        bump_unpadded(i, iters);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    padded = argc > 1 && !strcmp(argv[1], "padded");
    int n = (int)arg_long(argc, argv, 2, 2);
    iters = arg_long(argc, argv, 3, 1000000);
    if (argc < 2 || (!padded && strcmp(argv[1], "unpadded")) || n < 1 || n > MAX_THREADS) {
        fprintf(stderr, "usage: fs unpadded|padded THREADS ITERS\n");
        return 2;
    }
    uint64_t ns = run_threads(n, worker);
    long sum = 0;
    for (int i = 0; i < n; i++) {
        sum += padded ? fs_padded[i].c : fs_unpadded.c[i];
    }
    print_result("fs", padded ? "padded" : "unpadded", n, n * iters, ns, sum == n * iters);
    return 0;
}
