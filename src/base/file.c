#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

lli_status lli_errno_status(int err) { return err == ENOMEM ? LLI_E_NOMEM : LLI_E_IO; }

static const char *kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

lli_status lli_open_regular(const char *path, int *fd, uint64_t *size) {
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes nothing
     * for the regular files that get past the check below. */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        int err = errno;
        return lli_fail(lli_errno_status(err), "cannot open %s: %s", path, strerror(err));
    }
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int err = errno;
        close(f);
        return lli_fail(lli_errno_status(err), "cannot stat %s: %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return lli_fail(LLI_E_IO, "%s is %s, not a regular file", path, kind_of(sb.st_mode));
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return LLI_OK;
}

lli_status lli_read_regular(const char *path, uint64_t max, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int fd;
    uint64_t size;
    LLI_TRY(lli_open_regular(path, &fd, &size));
    if (size > max || size >= SIZE_MAX) {
        close(fd);
        return lli_fail(LLI_E_FORMAT, "%s is %llu bytes, over the limit of %llu", path, (unsigned long long)size,
                        (unsigned long long)max);
    }
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return lli_fail(LLI_E_NOMEM, "out of memory reading %s (%llu bytes)", path, (unsigned long long)size);
    }
    size_t got = 0;
    lli_status st = LLI_OK;
    while (st == LLI_OK && got < size) {
        ssize_t r = read(fd, buf + got, (size_t)size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) st = lli_fail(LLI_E_IO, "cannot read %s: %s", path, strerror(errno));
        else if (r == 0) st = lli_fail(LLI_E_IO, "cannot read %s: it shrank to %zu bytes while being read", path, got);
        else got += (size_t)r;
    }
    close(fd);
    if (st != LLI_OK) {
        free(buf);
        return st;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return LLI_OK;
}

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

lli_status lli_write_replace(const char *path, const void *data, size_t n) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dir_copy = strdup(path);
    if (!tmp || !dir_copy) {
        free(tmp), free(dir_copy);
        return lli_fail(LLI_E_NOMEM, "out of memory writing %s", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    lli_status st = LLI_OK;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) st = lli_fail(lli_errno_status(errno), "cannot create a temporary file beside %s: %s", path, strerror(errno));
    if (st == LLI_OK && write_all(fd, data, n) != 0) st = lli_fail(LLI_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    /* On the disk before it takes the name: a crash after the rename must not leave an empty file. */
    if (st == LLI_OK && fsync(fd) != 0) st = lli_fail(LLI_E_IO, "cannot flush %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && st == LLI_OK) st = lli_fail(LLI_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (st == LLI_OK && rename(tmp, path) != 0)
        st = lli_fail(LLI_E_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st != LLI_OK && fd >= 0) unlink(tmp);
    /* The rename itself lasts only once the directory is on the disk too. */
    if (st == LLI_OK) {
        int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) st = lli_fail(LLI_E_IO, "cannot flush the directory of %s: %s", path, strerror(errno));
        if (dfd >= 0) close(dfd);
    }
    free(tmp);
    free(dir_copy);
    return st;
}
