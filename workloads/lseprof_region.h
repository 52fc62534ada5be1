/*
 * lseprof_region.h: mark a program's measured region for a profiler.
 *
 * lseprof's region protocol (docs/time.md) is perf's own control-FIFO protocol
 * (`perf record -D -1 --control fifo:CTL,ACK`). A profiler that wants the region
 * only sets LSEPROF_REGION_CTL and LSEPROF_REGION_ACK to two FIFOs. The program
 * writes "enable\n" to the first when its measured region begins and
 * "disable\n" when it ends, and after each reads the line "ack" from the
 * second: then the profiler records (has stopped). Without the variables every
 * call does nothing and returns 0.
 *
 * Header only, C99 and POSIX, no allocation:
 *
 *     #include "lseprof_region.h"
 *     struct lseprof_region r;
 *     if (lseprof_region_open(&r) != 0) { perror("lseprof region"); return 2; }
 *     lseprof_region_enable(&r);
 *     timed_work();
 *     lseprof_region_disable(&r);
 *     lseprof_region_close(&r);
 *
 * Each function returns 0, or -1 with errno set (EPROTO: an answer other than
 * "ack").
 */
#ifndef LSEPROF_REGION_H
#define LSEPROF_REGION_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef EPROTO
#define EPROTO EIO
#endif

struct lseprof_region {
    int ctl; /* the command FIFO, written; -1 without a profiler */
    int ack; /* the answer FIFO, read */
};

/* Connects to the FIFOs the environment names (a no-op region without them). */
static inline int lseprof_region_open(struct lseprof_region *r) {
    const char *ctl = getenv("LSEPROF_REGION_CTL");
    const char *ack = getenv("LSEPROF_REGION_ACK");
    r->ctl = r->ack = -1;
    if (!ctl || !*ctl || !ack || !*ack)
        return 0;
    /* The command FIFO first, then the answer FIFO: the order the profiler opens
       its ends in (each open waits for the other side). */
    r->ctl = open(ctl, O_WRONLY | O_CLOEXEC);
    if (r->ctl < 0)
        return -1;
    r->ack = open(ack, O_RDONLY | O_CLOEXEC);
    if (r->ack < 0) {
        int saved = errno;
        close(r->ctl);
        r->ctl = -1;
        errno = saved;
        return -1;
    }
    return 0;
}

static inline int lseprof_region_send_(struct lseprof_region *r, const char *command) {
    char answer[16];
    size_t len = strlen(command), got = 0;
    if (r->ctl < 0)
        return 0;
    if (write(r->ctl, command, len) != (ssize_t)len)
        return -1;
    /* One line back: read it byte by byte (it is short, and nothing else follows). */
    while (got < sizeof answer - 1) {
        ssize_t n = read(r->ack, answer + got, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (answer[got] == '\n')
            break;
        if (answer[got] == '\0') /* perf itself sends a NUL after "ack\n" */
            continue;
        got++;
    }
    answer[got] = '\0';
    if (strcmp(answer, "ack") != 0) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

/* The measured region begins: returns once the profiler records. */
static inline int lseprof_region_enable(struct lseprof_region *r) {
    return lseprof_region_send_(r, "enable\n");
}

/* The measured region ends: returns once the profiler has stopped recording. */
static inline int lseprof_region_disable(struct lseprof_region *r) {
    return lseprof_region_send_(r, "disable\n");
}

static inline void lseprof_region_close(struct lseprof_region *r) {
    if (r->ctl >= 0)
        close(r->ctl);
    if (r->ack >= 0)
        close(r->ack);
    r->ctl = r->ack = -1;
}

#endif /* LSEPROF_REGION_H */
