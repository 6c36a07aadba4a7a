/* Reading the library's input files safely, and replacing output files atomically. */
#ifndef LLI_FILE_H
#define LLI_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "llminfer.h"

/* Open path read-only. Anything but a regular file (a FIFO, a device, a directory) is refused with
 * LLI_E_IO and a message naming the path and what it is: the open itself does not block (a FIFO
 * without a writer would otherwise hang the caller forever). *size receives the file's size. */
lli_status lli_open_regular(const char *path, int *fd, uint64_t *size);

/* A regular file's whole contents, at most max bytes (LLI_E_FORMAT beyond), in a new buffer
 * followed by one zero byte; free() it. */
lli_status lli_read_regular(const char *path, uint64_t max, uint8_t **out, size_t *len);

/* Replace path with data so that a crash leaves the old file or the new one, never a part: a
 * temporary file of a unique name in the same directory, written and flushed to the disk, renamed
 * over path, then the directory flushed. Concurrent writers each leave one whole file. */
lli_status lli_write_replace(const char *path, const void *data, size_t n);

/* The status for a failed system call's errno: LLI_E_NOMEM for ENOMEM (an mmap that found no
 * memory), LLI_E_IO otherwise. */
lli_status lli_errno_status(int err);

#endif
