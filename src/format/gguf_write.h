/* Writes GGUF v3 files: metadata in memory, tensor data streamed at write time from a fill
 * specification, so that a 4 GB random-weight model never needs 4 GB of memory. Used by lli-mkgguf
 * and the tests. Everything is written little-endian.
 *
 * Functions returning int give 0, or -1 with errno set: ENOMEM; EEXIST for a key or tensor name
 * already added; EINVAL for a NULL or empty name, an unknown type or a shape that does not fit it.
 * A failed call leaves the writer as it was, so the caller may go on or give up. */
#ifndef LLI_GGUF_WRITE_H
#define LLI_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

/* Metadata, one call per GGUF value type; keys are written in the order they are added. */
int gguf_writer_str(gguf_writer *w, const char *key, const char *value);
int gguf_writer_u8(gguf_writer *w, const char *key, uint8_t value);
int gguf_writer_i8(gguf_writer *w, const char *key, int8_t value);
int gguf_writer_u16(gguf_writer *w, const char *key, uint16_t value);
int gguf_writer_i16(gguf_writer *w, const char *key, int16_t value);
int gguf_writer_u32(gguf_writer *w, const char *key, uint32_t value);
int gguf_writer_i32(gguf_writer *w, const char *key, int32_t value);
int gguf_writer_u64(gguf_writer *w, const char *key, uint64_t value);
int gguf_writer_i64(gguf_writer *w, const char *key, int64_t value);
int gguf_writer_f32(gguf_writer *w, const char *key, float value);
int gguf_writer_f64(gguf_writer *w, const char *key, double value);
int gguf_writer_bool(gguf_writer *w, const char *key, int value);
int gguf_writer_arr_str(gguf_writer *w, const char *key, const char *const *values, size_t n);
int gguf_writer_arr_f32(gguf_writer *w, const char *key, const float *values, size_t n);
int gguf_writer_arr_i32(gguf_writer *w, const char *key, const int32_t *values, size_t n);
int gguf_writer_arr_u32(gguf_writer *w, const char *key, const uint32_t *values, size_t n);
/* An array of any fixed-size element type (enum gguf_vtype, not STRING or ARRAY); values are n
 * native C values of that type (uint8_t for BOOL). */
int gguf_writer_arr(gguf_writer *w, const char *key, int elem_type, const void *values, size_t n);

/* Use another data alignment than GGUF's default 32: writes general.alignment (u32) and places
 * tensors accordingly. A power of two from 1 to 2^20; at most once. */
int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);

/* A tensor whose data is random but valid for its type (finite, small block scales), from seed.
 * For f32/f16/bf16 the values are normal with the given mean and standard deviation. Nothing is
 * generated until the file is written. ne is innermost first; entries past n_dims are ignored. */
int gguf_writer_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t ne[4], uint64_t seed,
                       float mean, float std);

/* A tensor with the caller's data: bytes must be the exact size of the shape in the type. copy != 0
 * copies it now; copy == 0 keeps the pointer, which must stay valid until the last write. */
int gguf_writer_tensor_data(gguf_writer *w, const char *name, int type, int n_dims, const int64_t ne[4],
                            const void *data, uint64_t bytes, int copy);

/* Write the file atomically (temporary name beside it, then rename). Tensor data is generated and
 * written a few MiB at a time. progress, if given, is called after each tensor with the data bytes
 * written so far and in all. Returns 0 or -1 with errno set; on failure no file is left behind. */
int gguf_writer_write(gguf_writer *w, const char *path, void (*progress)(uint64_t done, uint64_t total, void *arg),
                      void *arg);

/* The whole file in one malloc'd buffer (for tests: small files). *out is the caller's to free. */
int gguf_writer_encode(gguf_writer *w, uint8_t **out, size_t *len);

/* Fill buf (a whole number of blocks of type) as gguf_writer_tensor would. The same seed gives the
 * same bytes on every run and machine for the quantized types; the float types use libm. */
int gguf_fill_random(void *buf, uint64_t bytes, int type, uint64_t seed, float mean, float std);

/* Bytes [offset, offset + len) of what gguf_fill_random would give for a tensor of tensor_bytes:
 * offset and len must be whole blocks. Lets a large tensor be generated piece by piece. */
int gguf_fill_random_part(void *buf, int type, uint64_t seed, float mean, float std, uint64_t tensor_bytes,
                          uint64_t offset, uint64_t len);

#endif
