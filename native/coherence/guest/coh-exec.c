/* coh-exec - run a command with lseprof's coherence plugin following it.
 *
 *   coh-exec CMD [ARG...]
 *
 * Runs in the emulated machine (`lseprof vm run --coherence`): executes HINT #125,
 * a NOP on every Armv8/v9 core that tells the plugin "follow this thread's process
 * tree", then execs CMD in place (same thread, same pid). The plugin follows CMD's
 * address space, whatever it execs next and every process or thread it creates.
 * User address-space randomization is turned off for CMD (personality
 * ADDR_NO_RANDOMIZE), so a position-independent executable loads at the same
 * address on every run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: coh-exec CMD [ARG...]\n");
        return 2;
    }
    personality(ADDR_NO_RANDOMIZE);
    __asm__ volatile("hint #125" ::: "memory");
    execvp(argv[1], argv + 1);
    fprintf(stderr, "coh-exec: cannot run %s: %s\n", argv[1], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
