/*
 * coherence.c - lseprof's QEMU TCG plugin: "perf c2c without SPE".
 *
 * A cache-coherence (MESI-style) model over the memory accesses of an emulated
 * aarch64 machine (qemu-system-aarch64 10.0, TCG with MTTCG). Each vCPU is one
 * core with an unbounded private cache; each 64-byte line of *physical* memory
 * has one state word (sharers, owner, dirty). Per line, and per (line,
 * instruction, data address, size, kind, cpu), it counts:
 *   - ownership transfers: a store (or LSE atomic / store-exclusive, one
 *     read-for-ownership) by a core that does not own the line while another
 *     core holds a copy; a load of a line another core holds Modified;
 *   - hitm: the transfers that took a dirty line from another core;
 *   - invalidations: copies in other cores removed by a store or RMW;
 *   - accesses by kind, from the instruction's encoding (classify.h): LSE
 *     atomic, load/store exclusive, plain load, plain store.
 * No timing, no capacity or conflict misses, no prefetchers, no L2/L3
 * topology: see docs/architecture.md ("cache lines between cores").
 *
 * Loaded by `lseprof vm run --coherence` (profiler/lseprof/emulation/vm/
 * coherence.py) as
 *   qemu-system-aarch64 ... -plugin libcoherence.so,out=FILE[,key=value...]
 * Options:
 *   out=PATH        output file (required); snapshots go to PATH.tmp, renamed
 *                   over PATH, so PATH always holds one whole snapshot
 *   filter=proc|user|all   what is counted (default proc):
 *                   proc : EL0 accesses of the followed processes (below)
 *                   user : every EL0 access
 *                   all  : every access, kernel included
 *   pid=N           follow the process whose thread N runs at EL0
 *   flush=SECONDS   snapshot interval (default 5; 0 = only at exit)
 *   lines=N         at most N L records (default 5000)
 *   top=N           D (detail) records for the first N lines (default 20)
 *   line_bits=N, detail_bits=N   log2 of the line table / per-vCPU detail
 *                   table slots (defaults 20 / 16; 22 / 20 with filter=all)
 *   details=shared|xfer|all   detail records for lines touched by >= 2 cores
 *                   (default), for lines with a transfer, or for every line
 *   mem=on|null|off cost breakdown for benchmarks: "null" registers the
 *                   memory callbacks but returns at once; "off" none
 *   quantum=N       lockstep: no running vCPU starts its next N-instruction
 *                   quantum before every other running vCPU finished the
 *                   current one (waits bounded by quantum_wait_us, default
 *                   2000); 0 = free-running (default)
 *   quantum_mode=lockstep|rr   rr: one vCPU at a time, switching every
 *                   quantum: a reproducible interleaving, run serially
 *
 * Which processes are followed (filter=proc). The guest executes one of three
 * unallocated HINT encodings, NOPs on every Armv8/v9 core (classify.h):
 *   HINT #125  follow the executing thread's process *tree*: its address
 *              space now, the program it execs next, and every process it or
 *              a followed thread creates (clone/clone3 return the child's
 *              tid, read at the caller's next return to EL0). lseprof's guest
 *              helper (guest/coh-exec.c) runs it, then execs the command.
 *   HINT #126  count the executing process (its address space) from now on;
 *   HINT #127  stop counting it (a region of interest in a program).
 * A process is its address space: TTBR0_EL1's base address. A thread is its
 * tid: Debian's arm64 kernel (CONFIG_PID_IN_CONTEXTIDR) writes it to
 * CONTEXTIDR_EL1 at every context switch.
 *
 * Why the design looks like this:
 *  - No global lock. A line's MESI state (sharers, owner, dirty, and the
 *    "ever touched" mask) is one 64-bit word updated with compare-and-swap;
 *    re-reading a held line or re-writing a line held Modified writes nothing.
 *    Transfers and invalidations, which come with a state change, are relaxed
 *    atomic adds on the line's entry; per-access counters are single-writer
 *    increments in per-vCPU arrays, summed when a snapshot is written (a
 *    locked add per access cost a third of the callback). One global mutex
 *    around the model made the run 2-7x slower (measured, see
 *    benchmarks/bench_coherence.py).
 *  - Per-instruction details go to per-vCPU tables (single writer); a cold
 *    slot is recycled under a seqlock when a probe window is full.
 *  - The instruction's kind and address travel in the memory callback's user
 *    data (A64 instructions are 4-byte aligned: bits 1:0 hold the kind).
 *  - LSE atomics and store-exclusives reach plugins as a read callback then a
 *    write callback (QEMU's atomic_trace_rmw_post): the plugin registers the
 *    read only and models it as one read-for-ownership.
 *  - Filtering costs almost nothing: kernel TBs (VA bit 55: TTBR1 half) carry
 *    an inline "store 1" into a per-vCPU scoreboard word; user TBs carry a
 *    conditional callback that fires only when it is set, i.e. at the first
 *    user TB after kernel code ran. That callback reads PSTATE, TTBR0_EL1,
 *    CONTEXTIDR_EL1 (and, for followed threads, SP and X0) and caches a
 *    per-vCPU "count me" flag that the memory callback tests first.
 *
 * Output: a text file (format 1), one tab-separated record per line; see
 * profiler/lseprof/readers/coherence/ for the reader and the record list.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qemu_plugin_v4.h"

#include "classify.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

/* The API level we insist on at run time. Normally the one of the header we
 * were built against; the Makefile's "refusal test" overrides it. */
#ifndef EXPECT_PLUGIN_API
#define EXPECT_PLUGIN_API QEMU_PLUGIN_VERSION
#endif
#ifndef BUILT_QEMU_VERSION
#define BUILT_QEMU_VERSION "unknown"
#endif

#define FORMAT_VERSION 1
#define LINE_SHIFT 6
#define MAX_CPUS 24          /* sharers and ever masks are 24 bits wide */
#define MAX_PROBE 64
#define DETAIL_PROBE 32
#define DETAIL_EVICT_MAX 8   /* detail slots with n <= this may be recycled */
#define MAX_ROOTS 512          /* address spaces followed in one run */
#define TASK_BITS 13           /* followed threads: 8192-slot table */
#define SYS_CLONE 220
#define SYS_CLONE3 435
#define LCACHE 64            /* per-vCPU direct-mapped line-pointer cache */

/* ------------------------------------------------------------------ */
/* Line state word:
 *   bits  0..23  sharers: cores holding a valid copy (S, E or M)
 *   bits 24..47  ever: cores that ever accessed the line (for "shared line")
 *   bits 48..53  owner+1: core holding the line E or M (0 = none)
 *   bit  56      dirty: owner holds it M (else E)
 */
#define ST_SH(s)    ((uint32_t)((s) & 0xffffffu))
#define ST_EVER(s)  ((uint32_t)(((s) >> 24) & 0xffffffu))
#define ST_OWN(s)   ((int)(((s) >> 48) & 0x3f) - 1)
#define ST_DIRTY(s) ((int)(((s) >> 56) & 1))

static inline uint64_t st_make(uint32_t sh, uint32_t ever, int own, int dirty)
{
    return (uint64_t)sh | ((uint64_t)ever << 24) |
           ((uint64_t)(own + 1) << 48) | ((uint64_t)dirty << 56);
}

/* Shared per-line entry: only the state word and the (rare) coherence
 * events. The per-access counters live in per-vCPU arrays (vcnt_t) indexed
 * by the same slot number: a locked add per access on a shared entry cost
 * about a third of the callback's time (perf, fs padded). */
typedef struct {
    uint64_t key;        /* line number + 1; 0 = free slot */
    uint64_t state;
    uint64_t transfers;
    uint64_t hitm;
    uint64_t inval;
    uint64_t pad[3];
} __attribute__((aligned(64))) line_t;

/* per-vCPU, per-line-slot access counters: single writer, no atomics */
typedef struct {
    uint64_t loads, stores, atomics, excl;
} vcnt_t;

typedef struct {
    uint64_t key;        /* line byte address + 1; 0 = free (published last) */
    uint64_t ipc;        /* instruction vaddr */
    uint64_t dva;        /* data vaddr */
    uint16_t kind;       /* record kind, see RK_* */
    uint16_t size;       /* access size in bytes */
    uint32_t tid;        /* last tid seen doing it */
    uint64_t n, xfer, inval;
    uint64_t seq;        /* seqlock: odd while the slot is being recycled */
} __attribute__((aligned(64))) detail_t;

enum { RK_LOAD, RK_STORE, RK_ATOMIC, RK_EXCL_LD, RK_EXCL_ST, RK_N };
static const char *rk_name[RK_N] = { "load", "store", "atomic", "excl_ld",
                                     "excl_st" };

typedef struct {
    uint64_t line;
    line_t *p;
} lcache_t;

typedef struct {
    detail_t *p;
} dcache_t;
#define DCACHE 256           /* per-vCPU direct-mapped detail-record cache */

typedef struct {
    /* read and written only by this vCPU's thread on the hot path */
    bool match;          /* count this vCPU's current accesses */
    bool el0;
    uint32_t tid;
    uint64_t root;       /* TTBR0_EL1 BADDR at last kernel->user transition */
    uint64_t callbacks, counted, transitions, markers, dropped_lines,
             dropped_details, evicted_details, quanta, sync_waits,
             sync_timeouts;
    uint64_t epoch;      /* quanta completed (read by other vCPUs) */
    struct qemu_plugin_register *r_cpsr, *r_ttbr0, *r_ctxid, *r_x0, *r_x8, *r_sp;
    GByteArray *buf;
    detail_t *det;
    vcnt_t *cnt;         /* [lines_mask + 1], indexed by line slot */
    lcache_t lc[LCACHE];
    dcache_t dc[DCACHE];
} __attribute__((aligned(64))) vcpu_t;

enum filter_mode { F_ALL, F_USER, F_PROC };
static const char *filter_name[] = { "all", "user", "proc" };

/* configuration */
static char *cfg_out;
static enum filter_mode cfg_filter = F_PROC;
static bool cfg_filter_set;
static long cfg_pid = -1;
static double cfg_flush = 5.0;
static long cfg_lines = 5000, cfg_top = 20;
static int cfg_line_bits = -1, cfg_detail_bits = -1;
enum { DET_ALL, DET_SHARED, DET_XFER };
static const char *details_name[] = { "all", "shared", "xfer" };
static int cfg_details = -1;
static long cfg_quantum, cfg_quantum_wait_us = 2000;
static bool cfg_quantum_rr;
static enum { MEM_ON, MEM_NULL, MEM_OFF } cfg_mem = MEM_ON;

/* run-time info */
static int api_min, api_cur, n_vcpus_max;
static const char *target_name = "?";
static vcpu_t *vcpus;
static line_t *lines;
static uint64_t lines_mask;
static int lines_shift;
static uint64_t lines_used;
static uint64_t detail_mask;
static struct qemu_plugin_scoreboard *sb;
static qemu_plugin_u64 need_check;    /* per vCPU: 1 after a kernel TB ran */
static qemu_plugin_u64 icount;        /* per vCPU: insns in current quantum */
static uint64_t active_mask;          /* vCPUs not idle (quantum mode) */
static bool regs_ok = true;

/* registered processes (TTBR0 roots) */
static GMutex roots_lock;
static uint64_t roots[MAX_ROOTS];
static uint32_t roots_tid[MAX_ROOTS];
static const char *roots_how[MAX_ROOTS];
static int n_roots;
static int n_active_roots;   /* quanta are kept only while a process is followed */
static uint64_t dropped_roots;

/* Followed threads, by tid: an open-addressing table whose keys (tid + 1) are
 * claimed under tasks_lock and never removed, read without a lock. A thread's
 * fields are written by the vCPU that runs it (one at a time). */
typedef struct {
    uint32_t key;        /* tid + 1; 0 = free */
    uint32_t parent;     /* the tid that created it (0: followed by a marker) */
    uint32_t pending;    /* 1: it called clone/clone3; x0 is the child's tid */
    uint32_t pad;
    uint64_t root;       /* the address space it last ran in at EL0 (0: not yet) */
    uint64_t sp_lo, sp_hi;   /* lowest and highest SP seen at a return to EL0 */
} task_t;
static task_t tasks[1u << TASK_BITS];
static GMutex tasks_lock;
static uint64_t n_tasks, dropped_tasks;

/* snapshot thread */
static pthread_t flusher;
static bool flusher_started;
static GMutex snap_lock;
static GMutex stop_lock;
static GCond stop_cond;
static bool stop_flag;
static uint64_t snap_seq;
static struct timespec t_start;

/* TTBR0_EL1: BADDR is bits [47:1]; [63:48] is the ASID (Linux keeps the
 * ASID in TTBR1 because TCR_EL1.A1=1, but mask it anyway), bit 0 is CnP. */
#define TTBR_BADDR_MASK 0x0000fffffffffffeull

/* no -mpopcnt on baseline x86-64: avoid the libgcc call on the hot path */
static inline int popcount32(uint32_t x)
{
    int n = 0;
    while (x) {
        x &= x - 1;
        n++;
    }
    return n;
}

static inline uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* ------------------------------------------------------------------ */
/* line table */

static line_t *line_get(vcpu_t *v, uint64_t line)
{
    lcache_t *c = &v->lc[line & (LCACHE - 1)];
    if (c->p && c->line == line) {
        return c->p;
    }
    uint64_t key = line + 1;
    uint64_t i = (line * 0x9e3779b97f4a7c15ull) >> lines_shift;
    for (int probe = 0; probe < MAX_PROBE; probe++, i = (i + 1) & lines_mask) {
        line_t *e = &lines[i];
        uint64_t k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
        if (k == 0) {
            uint64_t exp = 0;
            if (__atomic_compare_exchange_n(&e->key, &exp, key, false,
                                            __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                __atomic_fetch_add(&lines_used, 1, __ATOMIC_RELAXED);
                k = key;
            } else {
                k = exp;
            }
        }
        if (k == key) {
            c->line = line;
            c->p = e;
            return e;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* per-vCPU detail table (single writer) */

static void detail_add(vcpu_t *v, uint64_t laddr, uint64_t ipc, uint64_t dva,
                       unsigned kind, unsigned size, int xfer, int inval)
{
    uint64_t key = laddr + 1;
    dcache_t *c = &v->dc[((ipc >> 2) ^ (dva >> 3)) & (DCACHE - 1)];
    detail_t *e = c->p;
    if (e && e->key == key && e->ipc == ipc && e->dva == dva &&
        e->kind == kind && e->size == size) {
        goto found;
    }
    uint64_t h = hash64(laddr ^ (ipc * 0x9e3779b97f4a7c15ull) ^
                        (dva * 0xc2b2ae3d27d4eb4full) ^ kind ^ (size << 8));
    uint64_t i = h & detail_mask;
    detail_t *victim = NULL;
    for (int probe = 0; probe < DETAIL_PROBE; probe++, i = (i + 1) & detail_mask) {
        e = &v->det[i];
        if (e->key == 0) {
            e->ipc = ipc;
            e->dva = dva;
            e->kind = kind;
            e->size = size;
            e->tid = v->tid;
            __atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
        } else if (e->key != key || e->ipc != ipc || e->dva != dva ||
                   e->kind != kind || e->size != size) {
            if (!victim || e->n < victim->n) {
                victim = e;
            }
            continue;
        }
        c->p = e;
        goto found;
    }
    /* Full neighbourhood: recycle the coldest slot if it is cold enough, so
     * that a table filled early (boot, page copies) does not lock out the
     * hot pairs that come later. The snapshot thread may be reading the
     * slot: bracket the rewrite with a seqlock. */
    if (victim && victim->n <= DETAIL_EVICT_MAX) {
        e = victim;
        __atomic_store_n(&e->seq, e->seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&e->key, key, __ATOMIC_RELAXED);
        e->ipc = ipc;
        e->dva = dva;
        e->kind = kind;
        e->size = size;
        e->tid = v->tid;
        __atomic_store_n(&e->n, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&e->xfer, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&e->inval, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&e->seq, e->seq + 1, __ATOMIC_RELEASE);
        v->evicted_details++;
        c->p = e;
        goto found;
    }
    v->dropped_details++;
    return;
found:
    /* single writer: plain read, relaxed store (no lock prefix) */
    __atomic_store_n(&e->n, e->n + 1, __ATOMIC_RELAXED);
    if (xfer) {
        __atomic_store_n(&e->xfer, e->xfer + xfer, __ATOMIC_RELAXED);
    }
    if (inval) {
        __atomic_store_n(&e->inval, e->inval + inval, __ATOMIC_RELAXED);
    }
    e->tid = v->tid;
}

#define BUMP(x) __atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)
#define RL(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)

/* ------------------------------------------------------------------ */
/* the coherence model */

static inline void access_line(unsigned int cpu, vcpu_t *v, uint64_t pa,
                               uint64_t ipc, uint64_t dva, unsigned kind,
                               bool is_store, qemu_plugin_meminfo_t info)
{
    uint64_t line = pa >> LINE_SHIFT;
    line_t *L = line_get(v, line);
    if (!L) {
        v->dropped_lines++;
        return;
    }
    /* RMWs are one read-for-ownership; only their read callback arrives */
    bool rfo = is_store || kind == K_ATOMIC || kind == K_EXCL_ST;
    uint32_t me = 1u << cpu;
    int xfer = 0, hitm = 0, inval = 0;
    uint64_t old = __atomic_load_n(&L->state, __ATOMIC_RELAXED), nw;

    for (;;) {
        uint32_t sh = ST_SH(old), ever = ST_EVER(old) | me;
        int own = ST_OWN(old), dirty = ST_DIRTY(old);
        xfer = hitm = inval = 0;
        if (!rfo) {
            if (sh & me) {
                nw = old;                       /* read hit (S, E or M) */
            } else if (own >= 0) {              /* another core has E or M */
                if (dirty) {
                    xfer = hitm = 1;            /* M -> S,S: dirty transfer */
                }
                nw = st_make(sh | me, ever, -1, 0);
            } else if (sh) {
                nw = st_make(sh | me, ever, -1, 0);     /* join sharers */
            } else {
                nw = st_make(me, ever, cpu, 0);         /* I -> E */
            }
        } else {
            if (own == (int)cpu) {
                nw = dirty ? old : st_make(me, ever, cpu, 1); /* E -> M silent */
            } else {
                uint32_t others = sh & ~me;
                if (others) {
                    xfer = 1;
                    inval = popcount32(others);
                    hitm = (own >= 0 && dirty);
                }
                nw = st_make(me, ever, cpu, 1);
            }
        }
        if (nw == old) {
            break;
        }
        if (__atomic_compare_exchange_n(&L->state, &old, nw, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            break;
        }
    }

    if (xfer) {
        __atomic_fetch_add(&L->transfers, 1, __ATOMIC_RELAXED);
        if (hitm) {
            __atomic_fetch_add(&L->hitm, 1, __ATOMIC_RELAXED);
        }
        if (inval) {
            __atomic_fetch_add(&L->inval, inval, __ATOMIC_RELAXED);
        }
    }
    unsigned rk;
    vcnt_t *cn = &v->cnt[L - lines];
    switch (kind) {
    case K_ATOMIC:
        BUMP(cn->atomics);
        rk = RK_ATOMIC;
        break;
    case K_EXCL_LD:
        BUMP(cn->excl);
        rk = RK_EXCL_LD;
        break;
    case K_EXCL_ST:
        BUMP(cn->excl);
        rk = RK_EXCL_ST;
        break;
    default:
        if (is_store) {
            BUMP(cn->stores);
            rk = RK_STORE;
        } else {
            BUMP(cn->loads);
            rk = RK_LOAD;
        }
    }
    v->counted++;
    uint32_t ever = ST_EVER(nw);
    if (cfg_details == DET_ALL ||
        (cfg_details == DET_SHARED && (ever & (ever - 1)) != 0) ||  /* >=2 cores */
        (cfg_details == DET_XFER && (xfer || RL(L->transfers) != 0))) {
        detail_add(v, line << LINE_SHIFT, ipc, dva, rk,
                   1u << qemu_plugin_mem_size_shift(info), xfer, inval);
    }
}

#ifdef COHERENCE_GLOBAL_LOCK
/* comparison build only (make libcoherence-globallock.so): one mutex around
 * the whole model, the design NOTES.md measured at 8x/35x */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
#endif

static void mem_cb(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                   uint64_t vaddr, void *udata)
{
    vcpu_t *v = &vcpus[vcpu_index];
    v->callbacks++;
    if (!v->match || cfg_mem == MEM_NULL) {
        return;
    }
    struct qemu_plugin_hwaddr *hw = qemu_plugin_get_hwaddr(info, vaddr);
    if (!hw || qemu_plugin_hwaddr_is_io(hw)) {
        return;
    }
    uint64_t pa = qemu_plugin_hwaddr_phys_addr(hw);
    uintptr_t u = (uintptr_t)udata;
#ifdef COHERENCE_GLOBAL_LOCK
    pthread_mutex_lock(&global_lock);
#endif
    access_line(vcpu_index, v, pa, u & ~(uintptr_t)3, vaddr, u & 3,
                qemu_plugin_mem_is_store(info), info);
#ifdef COHERENCE_GLOBAL_LOCK
    pthread_mutex_unlock(&global_lock);
#endif
}

/* ------------------------------------------------------------------ */
/* process identification */

static uint64_t read_reg(vcpu_t *v, struct qemu_plugin_register *r)
{
    uint64_t x = 0;
    if (!r) {
        return 0;
    }
    g_byte_array_set_size(v->buf, 0);
    int n = qemu_plugin_read_register(r, v->buf);
    if (n > 0) {
        memcpy(&x, v->buf->data, n < 8 ? n : 8);   /* target (LE) order */
    }
    return x;
}

static bool root_registered(uint64_t root)
{
    int n = __atomic_load_n(&n_roots, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++) {
        if (__atomic_load_n(&roots[i], __ATOMIC_RELAXED) == root) {
            return true;
        }
    }
    return false;
}

/* A root registered by following a tree counts only the threads of the tree:
 * when the process exits its page-table page is freed and may come back as
 * another process's root (seen: the init shell's next command got it). */
static bool root_is_tree(uint64_t root)
{
    int n = __atomic_load_n(&n_roots, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++) {
        if (__atomic_load_n(&roots[i], __ATOMIC_RELAXED) == root) {
            return roots_how[i][0] != 'm';      /* "follow", "tree", "pid" */
        }
    }
    return false;
}

/* the tid that registered an active root, or 0 */
static uint32_t root_registrar(uint64_t root)
{
    int n = __atomic_load_n(&n_roots, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++) {
        if (__atomic_load_n(&roots[i], __ATOMIC_RELAXED) == root) {
            return __atomic_load_n(&roots_tid[i], __ATOMIC_RELAXED);
        }
    }
    return 0;
}

/* make every vCPU re-evaluate its filter at its next user-half TB */
static void recheck_all(void)
{
    for (int i = 0; i < n_vcpus_max; i++) {
        qemu_plugin_u64_set(need_check, i, 1);
    }
}

static void root_add(uint64_t root, uint32_t tid, const char *how)
{
    bool added = false;
    g_mutex_lock(&roots_lock);
    if (!root_registered(root)) {
        if (n_roots < MAX_ROOTS) {
            roots[n_roots] = root;
            roots_tid[n_roots] = tid;
            roots_how[n_roots] = how;
            __atomic_store_n(&n_roots, n_roots + 1, __ATOMIC_RELEASE);
            __atomic_add_fetch(&n_active_roots, 1, __ATOMIC_RELEASE);
            added = true;
        } else {
            dropped_roots++;
        }
    }
    g_mutex_unlock(&roots_lock);
    if (added) {
        recheck_all();
    }
}

static void root_del(uint64_t root)
{
    bool removed = false;
    g_mutex_lock(&roots_lock);
    for (int i = 0; i < n_roots; i++) {
        if (roots[i] == root) {
            /* keep the slot (and its P record) but make it unmatchable:
             * BADDR never has bit 63 set */
            __atomic_store_n(&roots[i], root | (1ull << 63), __ATOMIC_RELEASE);
            __atomic_sub_fetch(&n_active_roots, 1, __ATOMIC_RELEASE);
            removed = true;
        }
    }
    g_mutex_unlock(&roots_lock);
    if (removed) {
        recheck_all();
    }
}

static task_t *task_find(uint32_t tid)
{
    uint32_t mask = (1u << TASK_BITS) - 1, key = tid + 1;
    for (uint32_t i = (tid * 2654435761u) & mask, probe = 0; probe <= mask;
         probe++, i = (i + 1) & mask) {
        uint32_t k = __atomic_load_n(&tasks[i].key, __ATOMIC_ACQUIRE);
        if (k == key) {
            return &tasks[i];
        }
        if (k == 0) {
            return NULL;
        }
    }
    return NULL;
}

/* follow thread `tid` (created by `parent`, 0 for none); the entry, or NULL
 * when the table is full */
static task_t *task_add(uint32_t tid, uint32_t parent)
{
    uint32_t mask = (1u << TASK_BITS) - 1, key = tid + 1;
    task_t *found = NULL;
    g_mutex_lock(&tasks_lock);
    for (uint32_t i = (tid * 2654435761u) & mask, probe = 0; probe <= mask;
         probe++, i = (i + 1) & mask) {
        if (tasks[i].key == key) {
            found = &tasks[i];
            break;
        }
        if (tasks[i].key == 0 && n_tasks < (mask + 1) / 2) {
            tasks[i].parent = parent;
            tasks[i].sp_lo = UINT64_MAX;
            __atomic_store_n(&tasks[i].key, key, __ATOMIC_RELEASE);
            n_tasks++;
            found = &tasks[i];
            break;
        }
    }
    if (!found) {
        dropped_tasks++;
    }
    g_mutex_unlock(&tasks_lock);
    return found;
}

static void refresh_identity(vcpu_t *v)
{
    uint64_t cpsr = read_reg(v, v->r_cpsr);
    v->el0 = ((cpsr >> 2) & 3) == 0;            /* PSTATE.EL */
    v->root = read_reg(v, v->r_ttbr0) & TTBR_BADDR_MASK;
    v->tid = (uint32_t)read_reg(v, v->r_ctxid);
}

static void update_match(vcpu_t *v)
{
    switch (cfg_filter) {
    case F_ALL:
        v->match = true;
        break;
    case F_USER:
        v->match = v->el0;
        break;
    case F_PROC:
        v->match = v->el0 && root_registered(v->root) &&
                   (!root_is_tree(v->root) || task_find(v->tid) != NULL);
        break;
    }
}

/* A followed thread is back at EL0: collect the child its clone created, note
 * its stack, and follow the address space it runs in (a new one after exec;
 * the one it left is dropped if this thread registered it). */
static void follow_task(vcpu_t *v, task_t *t)
{
    if (__atomic_load_n(&t->pending, __ATOMIC_ACQUIRE)) {
        int64_t child = (int64_t)read_reg(v, v->r_x0);
        __atomic_store_n(&t->pending, 0, __ATOMIC_RELAXED);
        if (child > 0 && child < (1ll << 30)) {
            task_add((uint32_t)child, v->tid);
        }
    }
    uint64_t old = t->root;
    if (old != v->root) {
        __atomic_store_n(&t->root, v->root, __ATOMIC_RELAXED);
        /* a new program (exec): its stack is elsewhere */
        __atomic_store_n(&t->sp_lo, UINT64_MAX, __ATOMIC_RELAXED);
        __atomic_store_n(&t->sp_hi, 0, __ATOMIC_RELAXED);
        root_add(v->root, v->tid, "tree");
        if (old != 0 && root_registrar(old) == v->tid) {
            root_del(old);       /* exec: the old image is gone */
        }
    }
    uint64_t sp = read_reg(v, v->r_sp);
    if (sp < t->sp_lo) {
        __atomic_store_n(&t->sp_lo, sp, __ATOMIC_RELAXED);
    }
    if (sp > t->sp_hi) {
        __atomic_store_n(&t->sp_hi, sp, __ATOMIC_RELAXED);
    }
}

/* conditional TB callback: first user-half TB after kernel code ran */
static void user_entry_cb(unsigned int vcpu_index, void *udata)
{
    vcpu_t *v = &vcpus[vcpu_index];
    qemu_plugin_u64_set(need_check, vcpu_index, 0);
    v->transitions++;
    refresh_identity(v);
    if (v->el0 && cfg_filter == F_PROC) {
        task_t *t = task_find(v->tid);
        if (!t && cfg_pid >= 0 && v->tid == (uint32_t)cfg_pid) {
            t = task_add(v->tid, 0);            /* the pid= thread */
            root_add(v->root, v->tid, "pid");
        } else if (!t && root_registered(v->root) && !root_is_tree(v->root)) {
            t = task_add(v->tid, 0);            /* a thread of a marked process */
        }
        if (t) {
            follow_task(v, t);
        }
    }
    update_match(v);
}

/* svc #0 in user code: a followed thread that calls clone/clone3 gets the
 * child's tid in x0 when it returns (collected by follow_task) */
static void svc_cb(unsigned int vcpu_index, void *udata)
{
    vcpu_t *v = &vcpus[vcpu_index];
    uint64_t nr = read_reg(v, v->r_x8);
    if (nr != SYS_CLONE && nr != SYS_CLONE3) {
        return;
    }
    /* v->tid is current: a context switch goes through the kernel, and the
     * return to EL0 refreshed it */
    task_t *t = task_find(v->tid);
    if (!t) {
        return;
    }
    __atomic_store_n(&t->pending, 1, __ATOMIC_RELEASE);
}

static void marker_cb(unsigned int vcpu_index, void *udata)
{
    vcpu_t *v = &vcpus[vcpu_index];
    uint32_t which = (uint32_t)(uintptr_t)udata;
    v->markers++;
    refresh_identity(v);
    if (!v->el0) {
        return;
    }
    if (which == A64_MARK_FOLLOW) {
        task_t *t = task_add(v->tid, 0);
        root_add(v->root, v->tid, "follow");
        if (t) {
            __atomic_store_n(&t->root, v->root, __ATOMIC_RELAXED);
        }
    } else if (which == A64_MARK_BEGIN) {
        root_add(v->root, v->tid, "marker");
    } else {
        root_del(v->root);
    }
    update_match(v);
}

/* ------------------------------------------------------------------ */
/* experimental lockstep quanta */

static uint64_t max_other_epoch(unsigned int self)
{
    uint64_t m = 0;
    for (int i = 0; i < n_vcpus_max; i++) {
        uint64_t e = __atomic_load_n(&vcpus[i].epoch, __ATOMIC_ACQUIRE);
        if ((unsigned)i != self && e > m) {
            m = e;
        }
    }
    return m;
}

/* round-robin token (quantum_mode=rr): the vCPU allowed to run */
static int rr_token;

static void rr_pass(unsigned int from)
{
    uint64_t act = __atomic_load_n(&active_mask, __ATOMIC_ACQUIRE);
    for (int k = 1; k <= n_vcpus_max; k++) {
        int j = (from + k) % n_vcpus_max;
        if (act >> j & 1) {
            __atomic_store_n(&rr_token, j, __ATOMIC_RELEASE);
            return;
        }
    }
}

static bool wait_timed_out(vcpu_t *v, unsigned spins, struct timespec *t0)
{
    if (spins == 0) {
        v->sync_waits++;
        clock_gettime(CLOCK_MONOTONIC, t0);
    }
    if ((spins & 63) == 63) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long us = (t.tv_sec - t0->tv_sec) * 1000000 +
                  (t.tv_nsec - t0->tv_nsec) / 1000;
        if (us > cfg_quantum_wait_us) {
            v->sync_timeouts++;
            return true;
        }
        sched_yield();
    } else {
        __builtin_ia32_pause();
    }
    return false;
}

static void quantum_cb(unsigned int vcpu_index, void *udata)
{
    vcpu_t *v = &vcpus[vcpu_index];
    qemu_plugin_u64_set(icount, vcpu_index, 0);
    if (cfg_filter == F_PROC && !__atomic_load_n(&n_active_roots, __ATOMIC_ACQUIRE)) {
        return;     /* booting, or nothing followed yet: no reason to slow down */
    }
    uint64_t e = __atomic_add_fetch(&v->epoch, 1, __ATOMIC_ACQ_REL);
    v->quanta++;
    if (cfg_quantum_rr) {
        /* one vCPU at a time: hand the token on, wait until it comes back
         * (or its holder went idle, or the bounded wait expires) */
        struct timespec t0 = { 0 };
        rr_pass(vcpu_index);
        for (unsigned spins = 0;; spins++) {
            int tok = __atomic_load_n(&rr_token, __ATOMIC_ACQUIRE);
            uint64_t act = __atomic_load_n(&active_mask, __ATOMIC_ACQUIRE);
            if (tok == (int)vcpu_index || !(act >> tok & 1)) {
                __atomic_store_n(&rr_token, vcpu_index, __ATOMIC_RELEASE);
                return;
            }
            if (wait_timed_out(v, spins, &t0)) {
                return;
            }
        }
    }
    /* wait while some other running vCPU has not finished quantum e-1 */
    struct timespec t0 = { 0 }, t;
    for (unsigned spins = 0;; spins++) {
        uint64_t act = __atomic_load_n(&active_mask, __ATOMIC_ACQUIRE);
        bool behind = false;
        for (int i = 0; i < n_vcpus_max && !behind; i++) {
            if ((unsigned)i != vcpu_index && (act >> i & 1) &&
                __atomic_load_n(&vcpus[i].epoch, __ATOMIC_ACQUIRE) < e) {
                behind = true;
            }
        }
        if (!behind) {
            return;
        }
        if (spins == 0) {
            v->sync_waits++;
            clock_gettime(CLOCK_MONOTONIC, &t0);
        }
        if ((spins & 63) == 63) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            long us = (t.tv_sec - t0.tv_sec) * 1000000 +
                      (t.tv_nsec - t0.tv_nsec) / 1000;
            if (us > cfg_quantum_wait_us) {
                v->sync_timeouts++;
                return;
            }
            sched_yield();   /* 2 host cores: let the laggard run */
        } else {
            __builtin_ia32_pause();
        }
    }
}

static void vcpu_idle_cb(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    __atomic_fetch_and(&active_mask, ~(1ull << vcpu_index), __ATOMIC_ACQ_REL);
    if (cfg_quantum_rr &&
        __atomic_load_n(&rr_token, __ATOMIC_ACQUIRE) == (int)vcpu_index) {
        rr_pass(vcpu_index);
    }
}

static void vcpu_resume_cb(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    /* rejoin at the front: nobody should wait for quanta it slept through */
    vcpu_t *v = &vcpus[vcpu_index];
    uint64_t m = max_other_epoch(vcpu_index);
    if (m > v->epoch) {
        __atomic_store_n(&v->epoch, m, __ATOMIC_RELEASE);
    }
    __atomic_fetch_or(&active_mask, 1ull << vcpu_index, __ATOMIC_ACQ_REL);
}

/* ------------------------------------------------------------------ */
/* translation */

static void tb_trans_cb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t tbva = qemu_plugin_tb_vaddr(tb);
    /* VA bit 55 selects TTBR1 (kernel) vs TTBR0 (user) on aarch64. Note that
     * a user address can be >= 2^47 (48-bit VA: user space ends at 2^48;
     * the stack and vdso live up there), so "< 2^47" is not the test. */
    bool kernel_half = (tbva >> 55) & 1;
    size_t n = qemu_plugin_tb_n_insns(tb);

    if (cfg_quantum > 0) {
        qemu_plugin_register_vcpu_tb_exec_cond_cb(
            tb, quantum_cb, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_COND_GE,
            icount, (uint64_t)cfg_quantum, NULL);
        qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(
            tb, QEMU_PLUGIN_INLINE_ADD_U64, icount, n);
    }
    if (kernel_half) {
        qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(
            tb, QEMU_PLUGIN_INLINE_STORE_U64, need_check, 1);
        if (cfg_filter != F_ALL) {
            return;
        }
    } else {
        qemu_plugin_register_vcpu_tb_exec_cond_cb(
            tb, user_entry_cb, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_COND_NE,
            need_check, 0, NULL);
    }

    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t w = 0;
        if (qemu_plugin_insn_data(insn, &w, sizeof(w)) != sizeof(w)) {
            continue;
        }
        uint64_t va = qemu_plugin_insn_vaddr(insn);
        if (!kernel_half &&
            (w == A64_MARK_FOLLOW || w == A64_MARK_BEGIN || w == A64_MARK_END)) {
            qemu_plugin_register_vcpu_insn_exec_cb(
                insn, marker_cb, QEMU_PLUGIN_CB_R_REGS, (void *)(uintptr_t)w);
            continue;
        }
        if (!kernel_half && w == A64_SVC0 && cfg_filter == F_PROC) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, svc_cb, QEMU_PLUGIN_CB_R_REGS,
                                                   NULL);
        }
        if (cfg_mem == MEM_OFF) {
            continue;
        }
        int kind = classify_a64(w);
        enum qemu_plugin_mem_rw rw =
            (kind == K_ATOMIC || kind == K_EXCL_ST) ? QEMU_PLUGIN_MEM_R
                                                    : QEMU_PLUGIN_MEM_RW;
        qemu_plugin_register_vcpu_mem_cb(insn, mem_cb, QEMU_PLUGIN_CB_NO_REGS,
                                         rw, (void *)(uintptr_t)(va | kind));
    }
}

static void vcpu_init_cb(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    vcpu_t *v = &vcpus[vcpu_index];
    v->buf = g_byte_array_new();
    v->det = g_malloc0(sizeof(detail_t) * (detail_mask + 1));
    /* calloc: only pages holding touched slots get backed */
    v->cnt = calloc(lines_mask + 1, sizeof(vcnt_t));
    if (!v->cnt) {
        fprintf(stderr, "coherence: out of memory for vCPU %u\n", vcpu_index);
        abort();
    }
    v->match = (cfg_filter == F_ALL);
    if (cfg_quantum > 0) {
        __atomic_fetch_or(&active_mask, 1ull << vcpu_index, __ATOMIC_ACQ_REL);
    }
    qemu_plugin_u64_set(need_check, vcpu_index, 1);

    g_autoptr(GArray) regs = qemu_plugin_get_registers();
    for (guint i = 0; regs && i < regs->len; i++) {
        qemu_plugin_reg_descriptor *d =
            &g_array_index(regs, qemu_plugin_reg_descriptor, i);
        if (!strcmp(d->name, "cpsr")) {
            v->r_cpsr = d->handle;
        } else if (!strcmp(d->name, "TTBR0_EL1")) {
            v->r_ttbr0 = d->handle;
        } else if (!strcmp(d->name, "CONTEXTIDR_EL1")) {
            v->r_ctxid = d->handle;
        } else if (!strcmp(d->name, "x0")) {
            v->r_x0 = d->handle;
        } else if (!strcmp(d->name, "x8")) {
            v->r_x8 = d->handle;
        } else if (!strcmp(d->name, "sp")) {
            v->r_sp = d->handle;
        }
    }
    if (!v->r_cpsr || !v->r_ttbr0 || !v->r_ctxid || !v->r_x0 || !v->r_x8 || !v->r_sp) {
        if (vcpu_index == 0) {
            fprintf(stderr, "coherence: warning: registers missing "
                    "(cpsr %s, TTBR0_EL1 %s, CONTEXTIDR_EL1 %s, x0 %s, x8 %s, sp %s): "
                    "processes cannot be followed\n",
                    v->r_cpsr ? "ok" : "MISSING", v->r_ttbr0 ? "ok" : "MISSING",
                    v->r_ctxid ? "ok" : "MISSING", v->r_x0 ? "ok" : "MISSING",
                    v->r_x8 ? "ok" : "MISSING", v->r_sp ? "ok" : "MISSING");
        }
        regs_ok = false;
    }
}

/* ------------------------------------------------------------------ */
/* output */

typedef struct {
    uint64_t laddr, transfers, hitm, inval, loads, stores, atomics, excl;
    uint32_t sh, ever;
} lrec_t;

static int lrec_cmp(const void *a, const void *b)
{
    const lrec_t *x = a, *y = b;
    if (x->transfers != y->transfers) {
        return x->transfers < y->transfers ? 1 : -1;
    }
    if (x->inval != y->inval) {
        return x->inval < y->inval ? 1 : -1;
    }
    uint64_t ax = x->loads + x->stores + x->atomics + x->excl;
    uint64_t ay = y->loads + y->stores + y->atomics + y->excl;
    if (ax != ay) {
        return ax < ay ? 1 : -1;
    }
    return x->laddr < y->laddr ? -1 : x->laddr > y->laddr;
}

typedef struct {
    int rank;
    int cpu;
    detail_t d;
} drec_t;

static int drec_cmp(const void *a, const void *b)
{
    const drec_t *x = a, *y = b;
    if (x->rank != y->rank) {
        return x->rank - y->rank;
    }
    if (x->d.xfer != y->d.xfer) {
        return x->d.xfer < y->d.xfer ? 1 : -1;
    }
    if (x->d.n != y->d.n) {
        return x->d.n < y->d.n ? 1 : -1;
    }
    return x->cpu - y->cpu;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double elapsed_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t_start.tv_sec) + (t.tv_nsec - t_start.tv_nsec) / 1e9;
}


static void write_snapshot(bool final)
{
    g_mutex_lock(&snap_lock);
    uint64_t seq = ++snap_seq;
    char *tmp = g_strdup_printf("%s.tmp", cfg_out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "coherence: cannot write %s: %s\n", tmp,
                strerror(errno));
        g_free(tmp);
        g_mutex_unlock(&snap_lock);
        return;
    }
    static char fbuf[1 << 16];
    setvbuf(f, fbuf, _IOFBF, sizeof(fbuf));

    /* gather lines */
    size_t cap = 1024, n = 0;
    lrec_t *rec = g_new(lrec_t, cap);
    uint64_t tot[8] = { 0 };   /* transfers hitm inval loads stores atomics excl lines */
    for (uint64_t i = 0; i <= lines_mask; i++) {
        line_t *e = &lines[i];
        uint64_t k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
        if (!k) {
            continue;
        }
        lrec_t r = {
            .laddr = (k - 1) << LINE_SHIFT,
            .transfers = RL(e->transfers), .hitm = RL(e->hitm),
            .inval = RL(e->inval),
        };
        for (int c = 0; c < n_vcpus_max; c++) {
            vcnt_t *cn = vcpus[c].cnt ? &vcpus[c].cnt[i] : NULL;
            if (cn) {
                r.loads += RL(cn->loads);
                r.stores += RL(cn->stores);
                r.atomics += RL(cn->atomics);
                r.excl += RL(cn->excl);
            }
        }
        uint64_t s = RL(e->state);
        r.sh = ST_SH(s);
        r.ever = ST_EVER(s);
        tot[0] += r.transfers; tot[1] += r.hitm; tot[2] += r.inval;
        tot[3] += r.loads; tot[4] += r.stores; tot[5] += r.atomics;
        tot[6] += r.excl; tot[7]++;
        if (r.transfers || r.inval || (r.ever & (r.ever - 1)) != 0) {
            if (n == cap) {
                cap *= 2;
                rec = g_renew(lrec_t, rec, cap);
            }
            rec[n++] = r;
        }
    }
    qsort(rec, n, sizeof(*rec), lrec_cmp);

    uint64_t cb = 0, counted = 0, trans = 0, marks = 0, dl = 0, dd = 0;
    uint64_t qn = 0, qw = 0, qt = 0, de = 0;
    for (int i = 0; i < n_vcpus_max; i++) {
        de += RL(vcpus[i].evicted_details);
        qn += RL(vcpus[i].quanta);
        qw += RL(vcpus[i].sync_waits);
        qt += RL(vcpus[i].sync_timeouts);
        cb += RL(vcpus[i].callbacks);
        counted += RL(vcpus[i].counted);
        trans += RL(vcpus[i].transitions);
        marks += RL(vcpus[i].markers);
        dl += RL(vcpus[i].dropped_lines);
        dd += RL(vcpus[i].dropped_details);
    }

    fprintf(f, "# lseprof-coherence format %d (tab-separated records; "
            "profiler/lseprof/readers/coherence/ reads it)\n", FORMAT_VERSION);
    fprintf(f, "H\tformat=%d\tplugin=coherence\tqemu_built=%s\tapi_built=%d"
            "\tapi_running_min=%d\tapi_running_cur=%d\ttarget=%s\tvcpus=%d"
            "\tline_bytes=%d\tfilter=%s\tpid=%ld\tdetails=%s\tsnapshot=%" PRIu64
            "\twall_s=%.3f\n",
            FORMAT_VERSION, BUILT_QEMU_VERSION, QEMU_PLUGIN_VERSION, api_min,
            api_cur, target_name, n_vcpus_max, 1 << LINE_SHIFT,
            filter_name[cfg_filter], cfg_pid,
            details_name[cfg_details], seq, elapsed_s());
    fprintf(f, "T\taccesses=%" PRIu64 "\tloads=%" PRIu64 "\tstores=%" PRIu64
            "\tatomics=%" PRIu64 "\texcl=%" PRIu64 "\ttransfers=%" PRIu64
            "\thitm=%" PRIu64 "\tinvalidations=%" PRIu64 "\tlines=%" PRIu64
            "\tlines_listed=%zu\tcallbacks=%" PRIu64 "\ttransitions=%" PRIu64
            "\tmarkers=%" PRIu64 "\tdropped_lines=%" PRIu64
            "\tdropped_details=%" PRIu64 "\tevicted_details=%" PRIu64
            "\tquantum_mode=%s\tquantum=%ld\tquanta=%" PRIu64
            "\tsync_waits=%" PRIu64 "\tsync_timeouts=%" PRIu64
            "\ttasks=%" PRIu64 "\tdropped_tasks=%" PRIu64 "\tdropped_roots=%" PRIu64
            "\tregisters=%s\n",
            counted, tot[3], tot[4], tot[5], tot[6], tot[0], tot[1], tot[2],
            tot[7], n < (size_t)cfg_lines ? n : (size_t)cfg_lines, cb, trans,
            marks, dl, dd, de, cfg_quantum_rr ? "rr" : "lockstep",
            cfg_quantum, qn, qw, qt, RL(n_tasks), RL(dropped_tasks), RL(dropped_roots),
            regs_ok ? "ok" : "missing");
    int nr = __atomic_load_n(&n_roots, __ATOMIC_ACQUIRE);
    for (int i = 0; i < nr; i++) {
        uint64_t r = RL(roots[i]);
        fprintf(f, "P\troot=0x%" PRIx64 "\ttid=%u\thow=%s\tactive=%d\n",
                (uint64_t)(r & ~(1ull << 63)), roots_tid[i], roots_how[i], !(r >> 63));
    }
    for (uint32_t i = 0; i < (1u << TASK_BITS); i++) {
        task_t *t = &tasks[i];
        uint32_t k = __atomic_load_n(&t->key, __ATOMIC_ACQUIRE);
        uint64_t lo = RL(t->sp_lo), hi = RL(t->sp_hi);
        if (k == 0) {
            continue;
        }
        fprintf(f, "U\ttid=%u\tparent=%u\troot=0x%" PRIx64 "\tsp_lo=0x%" PRIx64
                "\tsp_hi=0x%" PRIx64 "\n", k - 1, t->parent, RL(t->root),
                lo == UINT64_MAX ? 0 : lo, hi);
    }
    fprintf(f, "#L\tline_paddr\ttransfers\thitm\tinvalidations\tloads\tstores"
            "\tatomics\texcl\tholders\tever\n");
    size_t nl = n < (size_t)cfg_lines ? n : (size_t)cfg_lines;
    for (size_t i = 0; i < nl; i++) {
        lrec_t *r = &rec[i];
        fprintf(f, "L\t0x%" PRIx64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
                "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
                "\t0x%x\t0x%x\n", r->laddr, r->transfers, r->hitm, r->inval,
                r->loads, r->stores, r->atomics, r->excl, r->sh, r->ever);
    }

    /* details for the top lines */
    size_t nt = nl < (size_t)cfg_top ? nl : (size_t)cfg_top;
    uint64_t *top = g_new(uint64_t, nt ? nt : 1);
    int *rank_of = g_new(int, nt ? nt : 1);
    for (size_t i = 0; i < nt; i++) {
        top[i] = rec[i].laddr;
    }
    qsort(top, nt, sizeof(uint64_t), u64_cmp);
    for (size_t i = 0; i < nt; i++) {
        for (size_t j = 0; j < nt; j++) {
            if (rec[j].laddr == top[i]) {
                rank_of[i] = (int)j;
            }
        }
    }
    size_t dcap = 1024, dn = 0;
    drec_t *dr = g_new(drec_t, dcap);
    for (int c = 0; nt && c < n_vcpus_max; c++) {
        detail_t *t = vcpus[c].det;
        if (!t) {
            continue;
        }
        for (uint64_t i = 0; i <= detail_mask; i++) {
            uint64_t s1 = __atomic_load_n(&t[i].seq, __ATOMIC_ACQUIRE);
            uint64_t k = __atomic_load_n(&t[i].key, __ATOMIC_ACQUIRE);
            if (!k || (s1 & 1)) {
                continue;
            }
            uint64_t la = k - 1;
            uint64_t *hit = bsearch(&la, top, nt, sizeof(uint64_t), u64_cmp);
            if (!hit) {
                continue;
            }
            if (dn == dcap) {
                dcap *= 2;
                dr = g_renew(drec_t, dr, dcap);
            }
            dr[dn].rank = rank_of[hit - top];
            dr[dn].cpu = c;
            dr[dn].d.key = k;
            dr[dn].d.ipc = t[i].ipc;
            dr[dn].d.dva = t[i].dva;
            dr[dn].d.kind = t[i].kind;
            dr[dn].d.size = t[i].size;
            dr[dn].d.tid = RL(t[i].tid);
            dr[dn].d.n = RL(t[i].n);
            dr[dn].d.xfer = RL(t[i].xfer);
            dr[dn].d.inval = RL(t[i].inval);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&t[i].seq, __ATOMIC_RELAXED) != s1) {
                continue;            /* recycled while we read it */
            }
            dn++;
        }
    }
    qsort(dr, dn, sizeof(*dr), drec_cmp);
    fprintf(f, "#D\tline_paddr\tinsn_vaddr\tdata_vaddr\tsize\tkind\tcpu\ttid"
            "\tcount\ttransfers\tinvalidations\n");
    for (size_t i = 0; i < dn; i++) {
        detail_t *d = &dr[i].d;
        fprintf(f, "D\t0x%" PRIx64 "\t0x%" PRIx64 "\t0x%" PRIx64 "\t%u\t%s"
                "\t%d\t%u\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
                d->key - 1, d->ipc, d->dva, d->size,
                d->kind < RK_N ? rk_name[d->kind] : "?", dr[i].cpu, d->tid,
                d->n, d->xfer, d->inval);
    }
    if (final) {
        fprintf(f, "E\tcomplete\n");
    } else {
        fprintf(f, "E\tpartial\tsnapshot=%" PRIu64 "\n", seq);
    }
    g_free(dr);
    g_free(top);
    g_free(rank_of);
    g_free(rec);
    if (fclose(f) != 0 || rename(tmp, cfg_out) != 0) {
        fprintf(stderr, "coherence: cannot write %s: %s\n", cfg_out,
                strerror(errno));
    }
    g_free(tmp);
    g_mutex_unlock(&snap_lock);
}

static void *flusher_main(void *arg)
{
    g_mutex_lock(&stop_lock);
    while (!stop_flag) {
        gint64 until = g_get_monotonic_time() +
                       (gint64)(cfg_flush * G_TIME_SPAN_SECOND);
        while (!stop_flag && g_cond_wait_until(&stop_cond, &stop_lock, until)) {
            /* spurious wake-up or stop */
        }
        if (stop_flag) {
            break;
        }
        g_mutex_unlock(&stop_lock);
        write_snapshot(false);
        g_mutex_lock(&stop_lock);
    }
    g_mutex_unlock(&stop_lock);
    return NULL;
}

static void atexit_cb(qemu_plugin_id_t id, void *p)
{
    if (flusher_started) {
        g_mutex_lock(&stop_lock);
        stop_flag = true;
        g_cond_signal(&stop_cond);
        g_mutex_unlock(&stop_lock);
        pthread_join(flusher, NULL);
    }
    write_snapshot(true);
    uint64_t cb = 0, counted = 0;
    for (int i = 0; i < n_vcpus_max; i++) {
        cb += vcpus[i].callbacks;
        counted += vcpus[i].counted;
    }
    fprintf(stderr, "coherence: wrote %s (%" PRIu64 " memory callbacks, %"
            PRIu64 " counted, %" PRIu64 " lines)\n", cfg_out, cb, counted,
            lines_used);
}

/* ------------------------------------------------------------------ */

static bool parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 0);
    if (errno || *s == 0 || *end != 0) {
        return false;
    }
    *out = x;
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
                                           const qemu_info_t *info,
                                           int argc, char **argv)
{
    api_min = info->version.min;
    api_cur = info->version.cur;
    /* The loader only checks min <= ours <= cur. We are stricter: the model
     * depends on details (RMW callback order, insn_data semantics, register
     * access) that are only verified for the API level we were built for. */
    if (info->version.cur != EXPECT_PLUGIN_API) {
        fprintf(stderr, "coherence: refusing to load: built for QEMU %s (plugin "
                "API %d), but this QEMU provides plugin API %d (min %d); install "
                "qemu-system-aarch64 %s (sudo bash scripts/install-system.sh)\n",
                BUILT_QEMU_VERSION, EXPECT_PLUGIN_API, info->version.cur,
                info->version.min, BUILT_QEMU_VERSION);
        return -1;
    }
    target_name = g_intern_string(info->target_name);
    if (strcmp(info->target_name, "aarch64") != 0 || !info->system_emulation) {
        fprintf(stderr, "coherence: refusing to load: needs qemu-system-aarch64"
                " (got target %s, %s emulation)\n", info->target_name,
                info->system_emulation ? "system" : "user");
        return -1;
    }
    n_vcpus_max = info->system.max_vcpus;
    if (n_vcpus_max > MAX_CPUS) {
        fprintf(stderr, "coherence: refusing to load: %d vCPUs, at most %d "
                "supported; use -smp %d or fewer\n", n_vcpus_max, MAX_CPUS, MAX_CPUS);
        return -1;
    }

    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "coherence: bad option '%s' (want key=value)\n",
                    argv[i]);
            return -1;
        }
        g_autofree char *k = g_strndup(argv[i], eq - argv[i]);
        const char *val = eq + 1;
        long x = 0;
        bool ok = true;
        if (!strcmp(k, "out")) {
            cfg_out = g_strdup(val);
        } else if (!strcmp(k, "filter")) {
            cfg_filter_set = true;
            if (!strcmp(val, "all")) {
                cfg_filter = F_ALL;
            } else if (!strcmp(val, "user")) {
                cfg_filter = F_USER;
            } else if (!strcmp(val, "proc")) {
                cfg_filter = F_PROC;
            } else {
                ok = false;
            }
        } else if (!strcmp(k, "pid")) {
            ok = parse_long(val, &cfg_pid) && cfg_pid >= 0;
        } else if (!strcmp(k, "flush")) {
            char *end;
            cfg_flush = strtod(val, &end);
            ok = *end == 0 && cfg_flush >= 0;
        } else if (!strcmp(k, "lines")) {
            ok = parse_long(val, &cfg_lines) && cfg_lines >= 0;
        } else if (!strcmp(k, "top")) {
            ok = parse_long(val, &cfg_top) && cfg_top >= 0;
        } else if (!strcmp(k, "line_bits")) {
            ok = parse_long(val, &x) && x >= 10 && x <= 28;
            cfg_line_bits = (int)x;
        } else if (!strcmp(k, "detail_bits")) {
            ok = parse_long(val, &x) && x >= 8 && x <= 26;
            cfg_detail_bits = (int)x;
        } else if (!strcmp(k, "details")) {
            cfg_details = !strcmp(val, "all") ? DET_ALL :
                          !strcmp(val, "shared") ? DET_SHARED :
                          !strcmp(val, "xfer") ? DET_XFER : -1;
            ok = cfg_details >= 0;
        } else if (!strcmp(k, "quantum")) {
            ok = parse_long(val, &cfg_quantum) && cfg_quantum >= 0;
        } else if (!strcmp(k, "quantum_mode")) {
            ok = !strcmp(val, "lockstep") || !strcmp(val, "rr");
            cfg_quantum_rr = !strcmp(val, "rr");
        } else if (!strcmp(k, "quantum_wait_us")) {
            ok = parse_long(val, &cfg_quantum_wait_us) &&
                 cfg_quantum_wait_us >= 0;
        } else if (!strcmp(k, "mem")) {
            if (!strcmp(val, "on")) {
                cfg_mem = MEM_ON;
            } else if (!strcmp(val, "null")) {
                cfg_mem = MEM_NULL;
            } else if (!strcmp(val, "off")) {
                cfg_mem = MEM_OFF;
            } else {
                ok = false;
            }
        } else {
            fprintf(stderr, "coherence: unknown option '%s'\n", k);
            return -1;
        }
        if (!ok) {
            fprintf(stderr, "coherence: bad value in '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!cfg_out) {
        fprintf(stderr, "coherence: missing out=PATH\n");
        return -1;
    }
    if (cfg_pid >= 0 && !cfg_filter_set) {
        cfg_filter = F_PROC;
    }
    if (cfg_details < 0) {
        /* whole-system runs touch millions of (insn, address) pairs on lines
         * that two cores merely read or hand over once (page copies) */
        cfg_details = cfg_filter == F_ALL ? DET_XFER : DET_SHARED;
    }
    if (cfg_detail_bits < 0) {
        cfg_detail_bits = cfg_filter == F_ALL ? 20 : 16;
    }
    if (cfg_line_bits < 0) {
        cfg_line_bits = cfg_filter == F_ALL ? 22 : 20;
    }

    lines_mask = (1ull << cfg_line_bits) - 1;
    lines_shift = 64 - cfg_line_bits;
    /* calloc: untouched pages stay unbacked */
    lines = calloc(lines_mask + 1, sizeof(line_t));
    detail_mask = (1ull << cfg_detail_bits) - 1;
    vcpus = calloc(n_vcpus_max, sizeof(vcpu_t));
    if (!lines || !vcpus) {
        fprintf(stderr, "coherence: out of memory\n");
        return -1;
    }
    sb = qemu_plugin_scoreboard_new(2 * sizeof(uint64_t));
    need_check = (qemu_plugin_u64){ .score = sb, .offset = 0 };
    icount = (qemu_plugin_u64){ .score = sb, .offset = sizeof(uint64_t) };
    clock_gettime(CLOCK_MONOTONIC, &t_start);

    /* check the output path now rather than at exit */
    g_autofree char *tmp = g_strdup_printf("%s.tmp", cfg_out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "coherence: cannot write %s: %s\n", tmp,
                strerror(errno));
        return -1;
    }
    fclose(f);
    unlink(tmp);

    qemu_plugin_register_vcpu_init_cb(id, vcpu_init_cb);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans_cb);
    qemu_plugin_register_atexit_cb(id, atexit_cb, NULL);
    if (cfg_quantum > 0) {
        qemu_plugin_register_vcpu_idle_cb(id, vcpu_idle_cb);
        qemu_plugin_register_vcpu_resume_cb(id, vcpu_resume_cb);
    }
    if (cfg_flush > 0) {
        if (pthread_create(&flusher, NULL, flusher_main, NULL) == 0) {
            flusher_started = true;
        }
    }
    fprintf(stderr, "coherence: loaded (format %d, built for QEMU %s API %d;"
            " running API %d..%d; filter=%s; %d vCPUs; out=%s)\n",
            FORMAT_VERSION, BUILT_QEMU_VERSION, QEMU_PLUGIN_VERSION, api_min,
            api_cur, filter_name[cfg_filter], n_vcpus_max, cfg_out);
    return 0;
}
