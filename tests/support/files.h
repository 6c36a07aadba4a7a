/* File helpers for tests that damage model directories. */
#ifndef LLI_TEST_FILES_H
#define LLI_TEST_FILES_H

#include <stddef.h>

char *test_tmpdir(const char *tag);                 /* a fresh directory; free() the result */
int test_rm_rf(const char *path);
int test_copy_dir(const char *src, const char *dst); /* flat directories only */
int test_copy_file(const char *src, const char *dst);
long long test_file_size(const char *path);
int test_flip_byte(const char *path, long long offset);
int test_truncate(const char *path, long long size);
char *test_read_file(const char *path, size_t *len);
int test_write_file(const char *path, const void *data, size_t len);
int test_exists(const char *path);
/* Exit 77 (meson's "skipped") with a message when a file the test needs, such as the downloaded
 * default model, is absent: a missing download is not a failure of the library, nor a pass. */
void test_require_file(const char *path, const char *how_to_get);

#endif
