#include "files.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *test_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/lli-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

int test_rm_rf(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return 0;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char sub[4096];
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                test_rm_rf(sub);
            }
        if (d) closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len) *len = (size_t)n;
    }
    return buf;
}

int test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int rc = fwrite(data, 1, len, f) == len ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

int test_copy_file(const char *src, const char *dst) {
    size_t n;
    char *buf = test_read_file(src, &n);
    if (!buf) return -1;
    int rc = test_write_file(dst, buf, n);
    free(buf);
    return rc;
}

int test_copy_dir(const char *src, const char *dst) {
    if (mkdir(dst, 0755) != 0) return -1;
    DIR *d = opendir(src);
    if (!d) return -1;
    struct dirent *e;
    char a[4096], b[4096];
    int rc = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(a, sizeof a, "%s/%s", src, e->d_name);
            snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
            rc |= test_copy_file(a, b);
        }
    closedir(d);
    return rc;
}

long long test_file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

int test_flip_byte(const char *path, long long offset) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    unsigned char c;
    int rc = -1;
    if (pread(fd, &c, 1, offset) == 1) {
        c ^= 0x5a;
        rc = pwrite(fd, &c, 1, offset) == 1 ? 0 : -1;
    }
    close(fd);
    return rc;
}

int test_truncate(const char *path, long long size) { return truncate(path, size); }

int test_exists(const char *path) { return access(path, F_OK) == 0; }

void test_require_file(const char *path, const char *how_to_get) {
    if (test_exists(path)) return;
    printf("SKIP: %s is absent (%s)\n", path, how_to_get);
    exit(77);
}
