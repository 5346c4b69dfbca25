/*
 * Per-user unpack cache for onefile programs (logmemory's patch, Linux).
 */
#ifndef PYI_USER_CACHE_H
#define PYI_USER_CACHE_H

#include "pyi_main.h"

/* Point application_home_dir at the per-user copy named by the
 * "pyi-user-cache" option, unpacking it first if needed, and load its
 * shared libraries. -1 (with one line on stderr) if no safe copy can be
 * had: the caller then unpacks to a temporary directory as usual. */
int pyi_user_cache_setup(struct PYI_CONTEXT *pyi_ctx);

/* Block every signal whose default action ends a process (all 64:
 * glibc's own 32 and 33 too, through the system call), first thing, and
 * hand the caller's mask to logmemory in _PYI_LOGMEMORY_SIGMASK (hex):
 * a signal that comes while the bootloader and Python start waits for
 * logmemory, which passes it on or, before the command started, ends by
 * it saying so. */
void pyi_user_cache_hold_signals(void);

/* Run as /proc/self/exe with _PYI_LOGMEMORY_LAUNCH=1: run the file
 * argv[1] with arguments argv[2...] in a child, without that variable,
 * wait for it and exit as it did (logmemory's launcher). Otherwise
 * return at once. */
void pyi_user_cache_launch(int argc, char **argv);

/* Give this process the caller's mask back (the stock onefile parent,
 * which relays signals to its child). */
void pyi_user_cache_release_signals(void);

#endif /* PYI_USER_CACHE_H */
