/*
 * fsutil.h — durable-file helpers shared by every module that writes or reads whole files:
 * checked path building with one named maximum, `mkdir -p`, whole-file reads with every error
 * checked, write-then-rename with file and directory fsync, and the data-directory lock.
 *
 * Every function returns 0 (CTX_OK) or a negative ctx code with the path and errno text in err:
 * CTX_ELIMIT (54000) for a path longer than FSU_PATH_MAX - 1 bytes or a file above the caller's
 * size cap, CTX_EUNDEF_OBJECT (42704) for a file that does not exist (fsu_read_all), CTX_EIO
 * (58030) for every other failure of the file system, and CTX_EDISK_FULL (53100) when it failed
 * with ENOSPC or EDQUOT. Nothing here truncates silently or ignores a result.
 */
#ifndef CTX_FSUTIL_H
#define CTX_FSUTIL_H

#include "ctx.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum {
    FSU_PATH_MAX = 4096, /* bytes of every path buffer, terminator included (Linux PATH_MAX) */
};

/* Formats a path into out (FSU_PATH_MAX bytes). A result that does not fit is CTX_ELIMIT with
 * the beginning of the path in the message; out then holds "" (never a truncated path). */
int fsu_path(char out[FSU_PATH_MAX], ctx_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The ctx code for an errno of a failed file operation: CTX_EDISK_FULL for ENOSPC/EDQUOT,
 * CTX_EIO otherwise. */
int fsu_errno_code(int errnum);

/* mkdir -p: creates path and its missing parents with mode; existing directories are fine. */
int fsu_mkdirs(const char *path, mode_t mode, ctx_err_t *err);
/* Creates the parent directories of a file path (everything before its last '/'). */
int fsu_mkdirs_for(const char *file_path, mode_t mode, ctx_err_t *err);

/* fsync of a directory (after creating, renaming or removing an entry in it). */
int fsu_fsync_dir(const char *dir, ctx_err_t *err);
/* fsync of the directory that holds path ("." when path has no '/'). */
int fsu_fsync_parent(const char *path, ctx_err_t *err);

/* Reads the whole regular file at path (its size from fstat, so not procfs) into *data (malloc'd,
 * one extra NUL byte after the contents; the caller frees) and *len. A file above max_bytes is
 * CTX_ELIMIT; a read error or a short read (the file shrank) is CTX_EIO. On error *data is NULL and
 * *len 0. */
int fsu_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len, ctx_err_t *err);

/* Flushes, fsyncs and closes f (written to path); every step checked, f closed in all cases. */
int fsu_close_synced(FILE *f, const char *path, ctx_err_t *err);
/* rename(from, to), then fsync of to's directory. */
int fsu_rename_durable(const char *from, const char *to, ctx_err_t *err);
/* Replaces path atomically and durably with data: writes "<path>.tmp", fsyncs it, renames it
 * over path and fsyncs the directory. On failure the temporary file is removed and path is
 * unchanged (it holds either the old or, once the rename happened, the new contents). */
int fsu_write_atomic(const char *path, const void *data, size_t len, ctx_err_t *err);
/* The same, with the contents copied from the file src (streamed, any size). */
int fsu_copy_atomic(const char *src, const char *path, ctx_err_t *err);

/* Locks directory dir for this process's lifetime: an exclusive flock(2) on the directory
 * itself (so removing a file inside it cannot drop the lock), then records getpid() in
 * dir/pid_name. Returns the descriptor to keep open (*fd). When another process holds the lock,
 * CTX_EIO "… is in use by another server (pid N)", the pid read from pid_name or, when that file
 * is gone, from /proc/locks. The lock is an flock: a forked child shares it until it closes the
 * descriptor (the snapshot writer does, first thing) or exits; it is O_CLOEXEC, so exec'd
 * programs never hold it. */
int fsu_lock_dir(const char *dir, const char *pid_name, int *fd, ctx_err_t *err);

#endif
