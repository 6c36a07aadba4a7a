/* A bounds-checked reader of GGUF files (versions 2 and 3), memory-mapped, read-only.
 * Every length, count and offset read from the file is checked against the file's size before use,
 * so a damaged or hostile file gives LLI_E_FORMAT with a message naming the field, never a crash. */
#ifndef LLI_GGUF_H
#define LLI_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "llminfer.h"

enum gguf_vtype {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4, GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
};

/* A string inside the mapped file: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    uint32_t type;       /* enum gguf_vtype */
    uint32_t elem_type;  /* for GGUF_ARRAY: the element type (never GGUF_ARRAY: nested arrays are refused) */
    uint64_t n;          /* for GGUF_ARRAY: element count; else 1 */
    const uint8_t *data; /* scalar value, or first element of a fixed-size array (little-endian, unaligned) */
    gguf_str *strs;      /* GGUF_STRING: strs[0]; array of strings: n entries; else NULL */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;     /* 1..4 */
    int64_t ne[4];       /* innermost first; unused ones are 1 */
    uint32_t type;       /* GGUF tensor type number (see tensor_types.h) */
    uint64_t offset;     /* from the start of the data section */
    uint64_t bytes;      /* computed from type and shape */
    const uint8_t *data; /* inside the mapping; bounds checked */
} gguf_tensor;

typedef struct gguf_file {
    void *map;           /* the mapping (or a caller's buffer for gguf_parse) */
    size_t size;
    int owns_map;
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t alignment;  /* general.alignment or 32 */
    uint64_t data_offset;/* start of the data section in the file */
} gguf_file;

/* Map and parse a file. On failure *out is NULL and the thread's error names the file and the field. */
lli_status gguf_open(const char *path, gguf_file **out);

/* Parse a buffer that the caller keeps alive for the life of the result (used by tests).
 * Tensor types unknown to tensor_types.h are refused with LLI_E_UNSUPPORTED naming the tensor and type. */
lli_status gguf_parse(const void *buf, size_t size, gguf_file **out);

void gguf_close(gguf_file *f);

/* Look-ups; NULL / non-zero status when the key is absent or of an incompatible type. */
const gguf_kv *gguf_find(const gguf_file *f, const char *key);
/* Integers of any width and sign are accepted if the value fits. Return 0 on success, -1 otherwise. */
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
/* FLOAT32 or FLOAT64. */
int gguf_get_f64(const gguf_file *f, const char *key, double *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);

/* Element i of a numeric array as double / int64 (any numeric element type). 0 on success. */
int gguf_arr_f64(const gguf_kv *kv, uint64_t i, double *out);
int gguf_arr_i64(const gguf_kv *kv, uint64_t i, int64_t *out);

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Bytes of one value of a scalar type; 0 for strings, arrays and unknown types. */
size_t gguf_scalar_size(uint32_t type);

#endif
