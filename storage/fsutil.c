/*
 * fsutil.c — durable-file helpers (contract in fsutil.h).
 *
 * Durability discipline: a file that must survive a crash whole is written to "<path>.tmp",
 * flushed and fsynced, renamed over its final name, and the directory is fsynced so the rename
 * itself is on disk; a reader then sees the old or the new contents, never a mix. Every result
 * is checked, including close() (NFS and some file systems report write errors only there) and
 * the directory fsync. Paths are built only through fsu_path, whose one limit FSU_PATH_MAX is the
 * size of every path buffer in storage/, server/durability.c and tools/inspect.c, so a long
 * data directory is an error naming the path, never a silently truncated name that would write
 * or delete the wrong file.
 *
 * The data-directory lock is an flock on the directory's own descriptor rather than on a file
 * inside it: removing contextdb.pid (or any file) cannot release it, and the kernel drops it
 * when the holder dies. flock, not fcntl: an fcntl lock is released when the process closes
 * *any* descriptor of the file and is invisible to a forked child, while an flock belongs to the
 * open file description, which is exactly "this descriptor, kept for the process lifetime".
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

enum { FSU_COPY_CHUNK_BYTES = 65536, FSU_PID_TEXT_MAX = 32 };

int fsu_errno_code(int errnum) {
    return errnum == ENOSPC || errnum == EDQUOT ? CTX_EDISK_FULL : CTX_EIO;
}

static int fsu_fail(ctx_err_t *err, int errnum, const char *what, const char *path) {
    return ctx_err_set(err, fsu_errno_code(errnum), "could not %s \"%s\": %s", what, path,
                       strerror(errnum));
}

int fsu_path(char out[FSU_PATH_MAX], ctx_err_t *err, const char *fmt, ...) {
    CTX_ASSERT(out != NULL && fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, FSU_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= FSU_PATH_MAX) {
        int rc = ctx_err_set(err, CTX_ELIMIT, "path too long (%d bytes, at most %d): \"%.64s…\"", n,
                             FSU_PATH_MAX - 1, out);
        out[0] = '\0';
        return rc;
    }
    return CTX_OK;
}

int fsu_mkdirs(const char *path, mode_t mode, ctx_err_t *err) {
    char tmp[FSU_PATH_MAX];
    int rc = fsu_path(tmp, err, "%s", path);
    for (char *p = tmp + 1; rc == CTX_OK; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end) {
            continue;
        }
        *p = '\0';
        struct stat st;
        if (mkdir(tmp, mode) < 0 &&
            (errno != EEXIST || stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))) {
            rc = fsu_fail(err, errno == EEXIST ? ENOTDIR : errno, "create directory", tmp);
        }
        if (end) {
            break;
        }
        *p = '/';
    }
    return rc;
}

int fsu_mkdirs_for(const char *file_path, mode_t mode, ctx_err_t *err) {
    char dir[FSU_PATH_MAX];
    int rc = fsu_path(dir, err, "%s", file_path);
    char *slash = rc == CTX_OK ? strrchr(dir, '/') : NULL;
    if (slash == NULL || slash == dir) {
        return rc;
    }
    *slash = '\0';
    return fsu_mkdirs(dir, mode, err);
}

int fsu_fsync_dir(const char *dir, ctx_err_t *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return fsu_fail(err, errno, "open directory", dir);
    }
    int rc = fsync(fd) != 0 ? fsu_fail(err, errno, "fsync directory", dir) : CTX_OK;
    close(fd);
    return rc;
}

int fsu_fsync_parent(const char *path, ctx_err_t *err) {
    char dir[FSU_PATH_MAX];
    int rc = fsu_path(dir, err, "%s", path);
    if (rc != CTX_OK) {
        return rc;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        return fsu_fsync_dir(".", err);
    }
    slash[slash == dir ? 1 : 0] = '\0';
    return fsu_fsync_dir(dir, err);
}

int fsu_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len, ctx_err_t *err) {
    CTX_ASSERT(data != NULL && len != NULL);
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        return errno == ENOENT
                   ? ctx_err_set(err, CTX_EUNDEF_OBJECT, "file \"%s\" does not exist", path)
                   : fsu_fail(err, errno, "open", path);
    }
    int rc = CTX_OK;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        rc = fsu_fail(err, errno, "stat", path);
    } else if ((uint64_t)st.st_size > max_bytes) {
        rc = ctx_err_set(err, CTX_ELIMIT,
                         "file \"%s\" is %" PRIu64 " bytes, more than the %zu allowed", path,
                         (uint64_t)st.st_size, max_bytes);
    }
    size_t size = rc == CTX_OK ? (size_t)st.st_size : 0;
    uint8_t *buf = rc == CTX_OK ? ctx_malloc(size + 1) : NULL;
    size_t got = size > 0 ? fread(buf, 1, size, f) : 0;
    if (rc == CTX_OK && (ferror(f) || got != size)) {
        rc = ctx_err_set(err, CTX_EIO, "could not read \"%s\": %s", path,
                         ferror(f) ? strerror(errno) : "file shorter than its size");
    } else if (rc == CTX_OK && fgetc(f) != EOF) {
        rc = ctx_err_set(err, CTX_EIO, "could not read \"%s\": file grew while read", path);
    }
    fclose(f);
    if (rc != CTX_OK) {
        free(buf);
        return rc;
    }
    buf[size] = 0;
    *data = buf;
    *len = size;
    return CTX_OK;
}

int fsu_close_synced(FILE *f, const char *path, ctx_err_t *err) {
    CTX_ASSERT(f != NULL);
    int rc = CTX_OK;
    if (fflush(f) != 0 || ferror(f)) {
        rc = fsu_fail(err, errno, "write", path);
    } else if (fsync(fileno(f)) != 0) {
        rc = fsu_fail(err, errno, "fsync", path);
    }
    if (fclose(f) != 0 && rc == CTX_OK) {
        rc = fsu_fail(err, errno, "close", path);
    }
    return rc;
}

int fsu_rename_durable(const char *from, const char *to, ctx_err_t *err) {
    if (rename(from, to) != 0) {
        return fsu_fail(err, errno, "rename into", to);
    }
    return fsu_fsync_parent(to, err);
}

/* The temporary sibling of path, opened for writing. */
static int open_tmp(const char *path, char tmp[FSU_PATH_MAX], FILE **f, ctx_err_t *err) {
    *f = NULL;
    int rc = fsu_path(tmp, err, "%s.tmp", path);
    if (rc == CTX_OK) {
        *f = fopen(tmp, "wbe");
        rc = *f == NULL ? fsu_fail(err, errno, "create", tmp) : CTX_OK;
    }
    return rc;
}

/* Closes the filled temporary file synced and renames it over path; removes it on failure. */
static int commit_tmp(FILE *f, const char *tmp, const char *path, int rc, ctx_err_t *err) {
    if (f != NULL) {
        int closed = fsu_close_synced(f, tmp, err);
        rc = rc == CTX_OK ? closed : rc;
    }
    if (rc == CTX_OK) {
        rc = fsu_rename_durable(tmp, path, err);
    }
    if (rc != CTX_OK && tmp[0] != '\0') {
        unlink(tmp);
    }
    return rc;
}

int fsu_write_atomic(const char *path, const void *data, size_t len, ctx_err_t *err) {
    CTX_ASSERT(path != NULL && (data != NULL || len == 0));
    char tmp[FSU_PATH_MAX] = "";
    FILE *f = NULL;
    int rc = open_tmp(path, tmp, &f, err);
    if (rc == CTX_OK && len > 0 && fwrite(data, 1, len, f) != len) {
        rc = fsu_fail(err, errno, "write", tmp);
    }
    if (rc != CTX_OK && f == NULL) {
        return rc;
    }
    return commit_tmp(f, tmp, path, rc, err);
}

int fsu_copy_atomic(const char *src, const char *path, ctx_err_t *err) {
    FILE *in = fopen(src, "rbe");
    if (in == NULL) {
        return fsu_fail(err, errno, "open", src);
    }
    char tmp[FSU_PATH_MAX] = "";
    FILE *out = NULL;
    int rc = open_tmp(path, tmp, &out, err);
    char *chunk = rc == CTX_OK ? ctx_malloc(FSU_COPY_CHUNK_BYTES) : NULL;
    size_t n = 0;
    while (rc == CTX_OK && (n = fread(chunk, 1, FSU_COPY_CHUNK_BYTES, in)) > 0) {
        if (fwrite(chunk, 1, n, out) != n) {
            rc = fsu_fail(err, errno, "write", tmp);
        }
    }
    if (rc == CTX_OK && ferror(in)) {
        rc = fsu_fail(err, errno, "read", src);
    }
    free(chunk);
    fclose(in);
    if (rc != CTX_OK && out == NULL) {
        return rc;
    }
    return commit_tmp(out, tmp, path, rc, err);
}

/* The pid holding an flock on the inode of fd, from /proc/locks (read line by line: procfs
 * files report size 0); 0 when not found. */
static long lock_holder_from_proc(int fd) {
    struct stat st;
    FILE *f = fstat(fd, &st) == 0 ? fopen("/proc/locks", "re") : NULL;
    if (f == NULL) {
        return 0;
    }
    /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" — major:minor in hex, inode decimal */
    long holder = 0;
    char line[256];
    while (holder == 0 && fgets(line, sizeof(line), f) != NULL) {
        long pid = 0;
        unsigned dev_major = 0, dev_minor = 0;
        unsigned long long ino = 0;
        if (sscanf(line, "%*d: FLOCK %*s WRITE %ld %x:%x:%llu", &pid, &dev_major, &dev_minor,
                   &ino) == 4 &&
            ino == (unsigned long long)st.st_ino && dev_major == major(st.st_dev) &&
            dev_minor == minor(st.st_dev)) {
            holder = pid;
        }
    }
    fclose(f);
    return holder;
}

/* Reports the other holder of dir's lock. */
static int lock_busy(const char *dir, const char *pid_path, int fd, ctx_err_t *err) {
    char other[FSU_PID_TEXT_MAX] = "";
    int pfd = open(pid_path, O_RDONLY | O_CLOEXEC);
    ssize_t got = pfd >= 0 ? pread(pfd, other, sizeof(other) - 1, 0) : -1;
    if (pfd >= 0) {
        close(pfd);
    }
    other[got > 0 ? got : 0] = '\0';
    other[strcspn(other, "\n")] = '\0';
    long proc = other[0] == '\0' ? lock_holder_from_proc(fd) : 0;
    if (proc > 0) {
        snprintf(other, sizeof(other), "%ld", proc);
    }
    ctx_err_set(err, CTX_EIO, "data directory \"%s\" is in use by another server (pid %s)", dir,
                other[0] != '\0' ? other : "unknown");
    ctx_err_hint(err,
                 "Stop that server first; a data directory is locked for as long as its "
                 "server runs (the lock is on the directory itself, not on %s).",
                 pid_path);
    return err != NULL ? err->code : CTX_EIO;
}

int fsu_lock_dir(const char *dir, const char *pid_name, int *fd, ctx_err_t *err) {
    CTX_ASSERT(dir != NULL && pid_name != NULL && fd != NULL);
    *fd = -1;
    char pid_path[FSU_PATH_MAX];
    int rc = fsu_path(pid_path, err, "%s/%s", dir, pid_name);
    int dfd = rc == CTX_OK ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (rc == CTX_OK && dfd < 0) {
        rc = fsu_fail(err, errno, "open data directory", dir);
    }
    if (rc == CTX_OK && flock(dfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? lock_busy(dir, pid_path, dfd, err)
                                  : fsu_fail(err, errno, "lock data directory", dir);
    }
    char pid_text[FSU_PID_TEXT_MAX];
    int len = snprintf(pid_text, sizeof(pid_text), "%ld\n", (long)getpid());
    if (rc == CTX_OK) {
        rc = fsu_write_atomic(pid_path, pid_text, (size_t)len, err);
    }
    if (rc != CTX_OK) {
        if (dfd >= 0) {
            close(dfd);
        }
        return rc;
    }
    *fd = dfd;
    return CTX_OK;
}
