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

#endif /* PYI_USER_CACHE_H */
