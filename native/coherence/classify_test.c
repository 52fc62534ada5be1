/* classify_test.c - checks classify.h against binutils: reads
 * `aarch64-linux-gnu-objdump -d` output on stdin and compares the class of
 * every instruction word with its mnemonic. Exit 1 on any disagreement. */
#include <stdio.h>
#include <string.h>
#include "classify.h"

static int expect(const char *m)
{
    static const char *atomic_prefix[] = {
        "cas", "swp", "ldadd", "ldclr", "ldeor", "ldset", "ldsmax", "ldsmin",
        "ldumax", "ldumin", "stadd", "stclr", "steor", "stset", "stsmax",
        "stsmin", "stumax", "stumin", NULL };
    static const char *exld[] = { "ldxr", "ldaxr", "ldxp", "ldaxp", NULL };
    static const char *exst[] = { "stxr", "stlxr", "stxp", "stlxp", NULL };
    for (int i = 0; exld[i]; i++)
        if (!strncmp(m, exld[i], strlen(exld[i]))) return K_EXCL_LD;
    for (int i = 0; exst[i]; i++)
        if (!strncmp(m, exst[i], strlen(exst[i]))) return K_EXCL_ST;
    for (int i = 0; atomic_prefix[i]; i++)
        if (!strncmp(m, atomic_prefix[i], strlen(atomic_prefix[i]))) return K_ATOMIC;
    return K_PLAIN;
}

int main(void)
{
    char line[512];
    long n = 0, bad = 0, count[4] = { 0 };
    while (fgets(line, sizeof(line), stdin)) {
        unsigned addr, w;
        char mn[64];
        /* "  400580:\tc85f7c20 \tldxr\tx0, [x1]" */
        if (sscanf(line, " %x:\t%8x \t%63s", &addr, &w, mn) != 3) continue;
        int got = classify_a64(w), want = expect(mn);
        /* the markers (hint #125..#127) are plain: objdump prints "hint" */
        n++;
        count[got]++;
        if (got != want) {
            bad++;
            if (bad < 20) fprintf(stderr, "MISMATCH %x: %08x %s got %d want %d\n", addr, w, mn, got, want);
        }
    }
    printf("classify_test: %ld insns, atomic=%ld excl_ld=%ld excl_st=%ld, %ld mismatches\n",
           n, count[K_ATOMIC], count[K_EXCL_LD], count[K_EXCL_ST], bad);
    return bad != 0;
}
