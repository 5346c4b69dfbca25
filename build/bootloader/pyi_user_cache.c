/*
 * Per-user unpack cache for onefile programs (logmemory's patch, Linux).
 *
 * A stock onefile program unpacks itself into a new _MEIxxxxxx directory
 * on every run and stays as a parent process that waits for the Python
 * child and deletes the directory. With the run-time option
 * "pyi-user-cache PROGRAM KEY", the bundle is instead unpacked once into
 *     $TMPDIR/PROGRAM-UID/KEY      ($TMPDIR unset: /tmp)
 * and every later run of the same build (KEY names the unpacked contents)
 * uses it in place, in the process the caller started: no second
 * process, nothing to delete afterwards.
 *
 * The directory is trusted only if nobody else can have put anything in
 * it: PROGRAM-UID is ours, private (no group or other access) and not a
 * symbolic link, in a directory that nobody but root and us can rename
 * entries of (checked up to /); KEY is ours and not writable by others. A copy is unpacked into
 * a private temporary directory beside KEY and renamed to KEY when
 * complete, so a run never sees a half-unpacked copy; concurrent first
 * runs each unpack and one rename wins. Before each use, every unpacked
 * file is checked to be there at its size (about 20 lstat calls): a copy
 * that a temporary-file cleaner thinned out is unpacked again; and what
 * an unpacking killed midway left is removed.
 *
 * Two more things logmemory needs of its bootloader are at the end: the
 * hold of every fatal signal from the first instruction, and the
 * launcher mode that forks and execs the measured command.
 */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyi_main.h"
#include "pyi_global.h"
#include "pyi_archive.h"
#include "pyi_launch.h"
#include "pyi_utils.h"
#include "pyi_user_cache.h"

#define UNPACK_PREFIX ".unpack-"
#define PYI_LM_LAUNCH "_PYI_LOGMEMORY_LAUNCH"
#define PYI_LM_LAUNCHER "/proc/self/exe"

/* A private directory: a real directory (not a symlink), ours, and with
 * none of the permission bits in `forbidden`. */
static const char *
_check_dir(const char *path, mode_t forbidden)
{
    struct stat st;

    if (lstat(path, &st) < 0) {
        return strerror(errno);
    }
    if (!S_ISDIR(st.st_mode)) {
        return "not a directory";
    }
    if (st.st_uid != geteuid()) {
        return "owned by another user";
    }
    if (st.st_mode & forbidden) {
        return "accessible to other users";
    }
    return NULL;
}

/* Whether nobody but root and us can replace what we make in the
 * directory `path` (absolute, symbolic links resolved): whoever may rename
 * entries of it or of a directory above it could. That is the owner of
 * each (so it must be root or us), and the others who may write it unless
 * it is sticky (/tmp). */
static const char *
_check_path(const char *path)
{
    char prefix[PYI_PATH_MAX];
    const char *end = path;
    struct stat st;

    do {
        end = strchr(end + 1, '/');
        snprintf(prefix, PYI_PATH_MAX, "%.*s", end ? (int)(end - path) : (int)strlen(path), path);
        if (stat(prefix, &st) < 0) {
            return strerror(errno);
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
            return "owned by another user";
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
            return "writable by others and not sticky";
        }
    } while (end != NULL);
    return NULL;
}

/* Remove what earlier runs killed while unpacking left behind: the
 * .unpack-PID-XXXXXX directories whose PID no longer exists. */
static void
_remove_stale_unpacks(const char *user_dir)
{
    DIR *dir = opendir(user_dir);
    struct dirent *entry;
    char path[PYI_PATH_MAX];

    if (dir == NULL) {
        return;
    }
    while ((entry = readdir(dir)) != NULL) {
        long pid;
        if (strncmp(entry->d_name, UNPACK_PREFIX, strlen(UNPACK_PREFIX)) != 0) {
            continue;
        }
        pid = strtol(entry->d_name + strlen(UNPACK_PREFIX), NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) {
            if (snprintf(path, PYI_PATH_MAX, "%s/%s", user_dir, entry->d_name) < PYI_PATH_MAX) {
                pyi_recursive_rmdir(path);
            }
        }
    }
    closedir(dir);
}

/* Unpack the bundle into user_dir/.unpack-PID-XXXXXX, then rename it to
 * cache_dir. Losing the rename to a concurrent first run is success. */
static const char *
_unpack(struct PYI_CONTEXT *pyi_ctx, const char *user_dir, const char *cache_dir)
{
    char tmp_dir[PYI_PATH_MAX];

    if (snprintf(tmp_dir, PYI_PATH_MAX, "%s/" UNPACK_PREFIX "%d-XXXXXX", user_dir, (int)getpid()) >= PYI_PATH_MAX) {
        return "path too long";
    }
    if (mkdtemp(tmp_dir) == NULL) {
        return strerror(errno);
    }
    snprintf(pyi_ctx->application_home_dir, PYI_PATH_MAX, "%s", tmp_dir);
    if (pyi_launch_extract_files_from_archive(pyi_ctx) < 0) {
        pyi_recursive_rmdir(tmp_dir);
        return "unpacking failed";
    }
    if (rename(tmp_dir, cache_dir) < 0) {
        int error = errno;
        pyi_recursive_rmdir(tmp_dir);
        if (error != EEXIST && error != ENOTEMPTY) {
            return strerror(error);
        }
    }
    return NULL;
}

/* Whether cache_dir holds every file the bundle unpacks, at its size:
 * a temporary-file cleaner (systemd-tmpfiles ages files out of /tmp) may
 * have removed some of an old copy. */
static bool
_complete(const struct PYI_CONTEXT *pyi_ctx, const char *cache_dir)
{
    const struct ARCHIVE *archive = pyi_ctx->archive;
    const struct TOC_ENTRY *entry;
    char path[PYI_PATH_MAX];
    struct stat st;

    for (entry = archive->toc; entry < archive->toc_end; entry = pyi_archive_next_toc_entry(archive, entry)) {
        if (entry->typecode != ARCHIVE_ITEM_BINARY && entry->typecode != ARCHIVE_ITEM_DATA &&
            entry->typecode != ARCHIVE_ITEM_ZIPFILE && entry->typecode != ARCHIVE_ITEM_SYMLINK) {
            continue;
        }
        if (snprintf(path, PYI_PATH_MAX, "%s/%s", cache_dir, entry->name) >= PYI_PATH_MAX || lstat(path, &st) < 0) {
            return false;
        }
        if (entry->typecode != ARCHIVE_ITEM_SYMLINK && st.st_size != (off_t)entry->uncompressed_length) {
            return false;
        }
    }
    return true;
}

/* Move an incomplete copy out of the way, under a name that marks it as
 * being unpacked by us (so no concurrent run removes it meanwhile), and
 * remove it. Losing the race to a concurrent run is success. */
static void
_discard(const char *user_dir, const char *cache_dir)
{
    char doomed[PYI_PATH_MAX];

    if (snprintf(doomed, PYI_PATH_MAX, "%s/" UNPACK_PREFIX "%d-XXXXXX", user_dir, (int)getpid()) >= PYI_PATH_MAX ||
        mkdtemp(doomed) == NULL) {
        return;
    }
    if (rename(cache_dir, doomed) < 0) {
        rmdir(doomed);
        return;
    }
    pyi_recursive_rmdir(doomed);
}

/* Load the bundled shared libraries at the top of the bundle (libffi,
 * libz, ...) by their full path. The dynamic linker then resolves an
 * extension module's dependency on them by soname from the loaded copy,
 * as a onedir program's restart with LD_LIBRARY_PATH would, without the
 * restart. A library that needs another one of them loads in a later
 * pass, once that one is in. */
static void
_preload_libraries(const struct PYI_CONTEXT *pyi_ctx)
{
    const struct ARCHIVE *archive = pyi_ctx->archive;
    const struct TOC_ENTRY *entry;
    char path[PYI_PATH_MAX];
    int loaded, pass;

    for (pass = 0; pass < 8; pass++) {
        loaded = 0;
        for (entry = archive->toc; entry < archive->toc_end; entry = pyi_archive_next_toc_entry(archive, entry)) {
            if (entry->typecode != ARCHIVE_ITEM_BINARY || strchr(entry->name, '/') != NULL) {
                continue;
            }
            if (snprintf(path, PYI_PATH_MAX, "%s/%s", pyi_ctx->application_home_dir, entry->name) >= PYI_PATH_MAX) {
                continue;
            }
            if (dlopen(path, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) != NULL) {
                continue;
            }
            if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) != NULL) {
                loaded++;
            }
        }
        if (loaded == 0) {
            return;
        }
    }
}

/* Find or make a trusted, complete copy at cache_dir in user_dir, below
 * tmp. On failure, the reason, and in `what` the directory it is about. */
static const char *
_find_or_unpack(struct PYI_CONTEXT *pyi_ctx, const char *tmp, const char *user_dir, const char *cache_dir, const char **what)
{
    const char *error;
    struct stat st;

    *what = tmp;
    if ((error = _check_path(tmp)) != NULL) {
        return error;
    }
    *what = user_dir;
    if (mkdir(user_dir, 0700) < 0 && errno != EEXIST) {
        return strerror(errno);
    }
    if ((error = _check_dir(user_dir, S_IRWXG | S_IRWXO)) != NULL) {
        return error;
    }
    _remove_stale_unpacks(user_dir);
    *what = cache_dir;
    if (lstat(cache_dir, &st) < 0) {
        if (errno != ENOENT) {
            return strerror(errno);
        }
        if ((error = _unpack(pyi_ctx, user_dir, cache_dir)) != NULL) {
            return error;
        }
    } else if (_check_dir(cache_dir, S_IWGRP | S_IWOTH) == NULL && !_complete(pyi_ctx, cache_dir)) {
        _discard(user_dir, cache_dir);
        if ((error = _unpack(pyi_ctx, user_dir, cache_dir)) != NULL) {
            return error;
        }
    }
    return _check_dir(cache_dir, S_IWGRP | S_IWOTH);
}

int
pyi_user_cache_setup(struct PYI_CONTEXT *pyi_ctx)
{
    const char *tmp = getenv("TMPDIR");
    char tmp_real[PYI_PATH_MAX];
    const char *error, *what;
    char user_dir[PYI_PATH_MAX];
    char cache_dir[PYI_PATH_MAX];
    char program[64];
    const char *key;
    struct stat st;

    /* "PROGRAM KEY" */
    key = strchr(pyi_ctx->user_cache, ' ');
    if (key == NULL || key - pyi_ctx->user_cache >= (long)sizeof(program) || strchr(key + 1, '/') != NULL) {
        return -1;
    }
    snprintf(program, sizeof(program), "%.*s", (int)(key - pyi_ctx->user_cache), pyi_ctx->user_cache);
    key++;
    if (tmp == NULL || tmp[0] != '/' || stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode)) {
        tmp = "/tmp";  /* where PyInstaller's own search ends */
    }
    if (realpath(tmp, tmp_real) != NULL) {  /* no symbolic link left to be swapped */
        tmp = tmp_real;
    }
    if (snprintf(user_dir, PYI_PATH_MAX, "%s/%s-%u", tmp, program, (unsigned)geteuid()) >= PYI_PATH_MAX ||
        snprintf(cache_dir, PYI_PATH_MAX, "%s/%s", user_dir, key) >= PYI_PATH_MAX) {
        what = tmp;
        error = "path too long";
    } else {
        error = _find_or_unpack(pyi_ctx, tmp, user_dir, cache_dir, &what);
    }
    if (error != NULL) {
        fprintf(stderr, "%s: cannot use %s: %s; unpacking to a temporary directory\n", program, what, error);
        return -1;
    }
    snprintf(pyi_ctx->application_home_dir, PYI_PATH_MAX, "%s", cache_dir);
    _preload_libraries(pyi_ctx);
    return 0;
}


/* Signals whose default action is to ignore or stop, and the two that
 * cannot be blocked: 9 KILL, 17 CHLD, 18 CONT (held all the same: the
 * command must see it), 19 STOP, 20 TSTP, 21 TTIN, 22 TTOU, 23 URG, 28 WINCH. */
#define PYI_LM_BIT(n) (1ULL << ((n) - 1))
#define PYI_LM_NOT_HELD (PYI_LM_BIT(9) | PYI_LM_BIT(17) | PYI_LM_BIT(19) | PYI_LM_BIT(20) | \
                         PYI_LM_BIT(21) | PYI_LM_BIT(22) | PYI_LM_BIT(23) | PYI_LM_BIT(28))

static unsigned long long pyi_lm_caller_mask;

void
pyi_user_cache_hold_signals(void)
{
    unsigned long long held = ~PYI_LM_NOT_HELD;
    char value[32];

    if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &held, &pyi_lm_caller_mask, 8) != 0) {
        return;
    }
    /* The stock onefile child runs this again: the parent's value is the caller's. */
    snprintf(value, sizeof(value), "%llx", pyi_lm_caller_mask);
    setenv("_PYI_LOGMEMORY_SIGMASK", value, 0);
}

void
pyi_user_cache_release_signals(void)
{
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &pyi_lm_caller_mask, NULL, 8);
}

/* The launcher mode of the program (logmemory/spawn.py runs it): the
 * command must be the child of a small process, because the kernel
 * counts in a process's ru_maxrss the pages of the copy it was forked
 * from, and the tracer's copy of Python holds about 10 MB. This C code
 * forks at about 1 MB, and costs less than sh and env(1) did (~1.8 ms a
 * run): the environment passes as it is, in its order. Only as spawn.py
 * asks for it: the variable set to "1" and argv[0] "/proc/self/exe", which
 * no one types. Exits as the command did, or 126/127 with a line on
 * stderr if it cannot be run (the tracer has the command's own status). */
void
pyi_user_cache_launch(int argc, char **argv)
{
    const char *launch = getenv(PYI_LM_LAUNCH);
    pid_t pid;
    int error, status;

    if (launch == NULL || strcmp(launch, "1") != 0 || argc < 3 ||
        strcmp(argv[0], PYI_LM_LAUNCHER) != 0) {
        return;
    }
    unsetenv(PYI_LM_LAUNCH);
    pid = fork();
    if (pid == 0) {
        /* argv[1] has a '/': no PATH search, but a script without #! runs
         * with /bin/sh, as execvp() and the shells do. */
        execvp(argv[1], argv + 2);
        error = errno;
        fprintf(stderr, "logmemory: cannot run '%s': %s\n", argv[2], strerror(error));
        _exit(error == ENOENT ? 127 : 126);
    }
    if (pid < 0) {
        fprintf(stderr, "logmemory: cannot start '%s': fork: %s\n", argv[2], strerror(errno));
        _exit(126);
    }
    /* With SIGCHLD ignored (the caller's, which the command inherits),
     * this fails with ECHILD once the command has ended: no status. */
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            _exit(0);
        }
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}
