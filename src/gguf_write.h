/* Writes GGUF v3 files: metadata in memory, tensor data streamed at write time from a fill
 * specification, so that a 4 GB random-weight model never needs 4 GB of memory. Used by lli-mkgguf
 * and the tests. */
#ifndef LLI_GGUF_WRITE_H
#define LLI_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

/* Metadata. Each returns 0, or -1 when out of memory. */
int gguf_writer_str(gguf_writer *w, const char *key, const char *value);
int gguf_writer_u32(gguf_writer *w, const char *key, uint32_t value);
int gguf_writer_i32(gguf_writer *w, const char *key, int32_t value);
int gguf_writer_u64(gguf_writer *w, const char *key, uint64_t value);
int gguf_writer_f32(gguf_writer *w, const char *key, float value);
int gguf_writer_bool(gguf_writer *w, const char *key, int value);
int gguf_writer_arr_str(gguf_writer *w, const char *key, const char *const *values, size_t n);
int gguf_writer_arr_f32(gguf_writer *w, const char *key, const float *values, size_t n);
int gguf_writer_arr_i32(gguf_writer *w, const char *key, const int32_t *values, size_t n);

/* A tensor whose data is random but valid for its type (finite, small block scales), from seed.
 * For f32/f16/bf16 the values are normal with the given mean and standard deviation.
 * Returns 0, or -1 for an unsupported type or a shape that does not fit it. */
int gguf_writer_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t ne[4], uint64_t seed,
                       float mean, float std);

/* Write the file atomically (temporary name, then rename). progress, if given, is called after each
 * tensor with the bytes written so far and in all. Returns 0 or -1 with errno set. */
int gguf_writer_write(gguf_writer *w, const char *path, void (*progress)(uint64_t done, uint64_t total, void *arg),
                      void *arg);

/* Fill buf (a whole number of blocks of type) as gguf_writer_tensor would. */
int gguf_fill_random(void *buf, uint64_t bytes, int type, uint64_t seed, float mean, float std);

#endif
