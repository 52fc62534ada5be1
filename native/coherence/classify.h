/*
 * classify.h - classify an A64 instruction word by the kind of memory access
 * it makes, for the coherence plugin (and for classify_test.c, which checks
 * these masks against binutils' disassembly of real binaries).
 *
 * Why encodings and not qemu_plugin_insn_disas(): the disassembly string
 * costs an allocation and a capstone call per instruction at translation
 * time, its spelling depends on the disassembler version, and aliases
 * (STADD = LDADD with Rt=XZR, ...) make string matching fragile. The A64
 * encoding classes below are stable architecture facts (Arm ARM, "Loads and
 * Stores" encoding index).
 *
 * Only the "interesting" classes are decoded; everything else that makes a
 * memory access (LDR/STR/LDP/STP/SIMD/LDAR/STLR/LDAPR/...) is PLAIN, and the
 * direction (load or store) comes from the memory callback itself.
 *
 * Masks (bit numbers are A64 instruction bits):
 *
 * 1. Load/store exclusive, load-acquire/store-release ("ordered") and
 *    compare-and-swap share bits[29:24] = 001000:
 *        (w & 0x3f000000) == 0x08000000
 *    with o2 = bit 23, L = bit 22, o1 = bit 21:
 *      o2=0 o1=0          LDXR/LDAXR (L=1), STXR/STLXR (L=0), B/H/W/X   -> EXCL_LD / EXCL_ST
 *      o2=0 o1=1 bit31=1  LDXP/LDAXP (L=1), STXP/STLXP (L=0)            -> EXCL_LD / EXCL_ST
 *      o2=0 o1=1 bit31=0  CASP/CASPA/CASPL/CASPAL (FEAT_LSE)            -> ATOMIC
 *      o2=1 o1=1          CAS/CASA/CASL/CASAL, B/H/W/X (FEAT_LSE)       -> ATOMIC
 *      o2=1 o1=0          LDAR/LDLAR/STLR/STLLR                          -> PLAIN
 *    CAS and CASP have Rt2 (bits 14:10) = 11111; we require it, so that
 *    unallocated space is not counted as atomics.
 *
 * 2. Atomic memory operations (FEAT_LSE), "size 111 V=0 00 A R 1 Rs o3 opc
 *    00 Rn Rt":
 *        (w & 0x3f200c00) == 0x38200000
 *    with o3 = bit 15, opc = bits 14:12:
 *      o3=0, any opc      LDADD/LDCLR/LDEOR/LDSET/LDSMAX/LDSMIN/LDUMAX/LDUMIN
 *                         (and their ST* aliases, Rt=XZR)               -> ATOMIC
 *      o3=1, opc=000      SWP/SWPA/SWPL/SWPAL                            -> ATOMIC
 *      o3=1, opc=100      LDAPR/LDAPRB/LDAPRH (FEAT_LRCPC, a plain load) -> PLAIN
 *      o3=1, other        LD64B/ST64B* and the like                      -> PLAIN
 *
 * Not decoded (see docs/architecture.md): FEAT_LSE128 (LDCLRP/LDSETP/
 * SWPP), FEAT_LSUI (CAST/LDTADD...), FEAT_MOPS (CPY and SET families), DC ZVA. QEMU 10.0
 * implements neither LSE128 nor LSUI.
 *
 * The plugin's markers are three architecturally unallocated HINT encodings
 * (which execute as NOP on every Armv8/v9 core):
 *      HINT #125 = 0xd5032fbf  -> "follow this thread's process tree"
 *      HINT #126 = 0xd5032fdf  -> "profile the process that executes this"
 *      HINT #127 = 0xd5032fff  -> "stop profiling the process that executes this"
 *   HINT is 0xd503201f | (imm7 << 5).
 */
#ifndef LSEPROF_CLASSIFY_H
#define LSEPROF_CLASSIFY_H

#include <stdint.h>

enum insn_kind {
    K_PLAIN = 0,    /* direction from the memory callback */
    K_ATOMIC = 1,   /* LSE single-instruction read-modify-write */
    K_EXCL_LD = 2,  /* LDXR/LDAXR/LDXP/LDAXP (and B/H) */
    K_EXCL_ST = 3,  /* STXR/STLXR/STXP/STLXP (and B/H) */
};

#define A64_MARK_FOLLOW 0xd5032fbfu /* hint #125 */
#define A64_MARK_BEGIN 0xd5032fdfu /* hint #126 */
#define A64_MARK_END   0xd5032fffu /* hint #127 */
#define A64_SVC0       0xd4000001u /* svc #0: a system call */

static inline int classify_a64(uint32_t w)
{
    if ((w & 0x3f000000u) == 0x08000000u) {
        unsigned o2 = (w >> 23) & 1, l = (w >> 22) & 1, o1 = (w >> 21) & 1;
        int rt2_ones = (w & 0x7c00u) == 0x7c00u;
        if (!o2 && !o1) {
            return l ? K_EXCL_LD : K_EXCL_ST;
        }
        if (!o2 && o1) {
            if (w >> 31) {
                return l ? K_EXCL_LD : K_EXCL_ST;
            }
            return rt2_ones ? K_ATOMIC : K_PLAIN;
        }
        if (o2 && o1) {
            return rt2_ones ? K_ATOMIC : K_PLAIN;
        }
        return K_PLAIN;
    }
    if ((w & 0x3f200c00u) == 0x38200000u) {
        unsigned o3 = (w >> 15) & 1, opc = (w >> 12) & 7;
        if (!o3 || opc == 0) {
            return K_ATOMIC;
        }
        return K_PLAIN;
    }
    return K_PLAIN;
}

#endif
