/* The tensor data types, numbered as in GGUF, with their block layouts. Converting copies blocks
 * byte for byte, so these sizes are the whole contract between a GGUF file and our fragments. */
#ifndef LLI_TENSOR_TYPES_H
#define LLI_TENSOR_TYPES_H

#include <stdint.h>

enum lli_ttype {
    LLI_TT_F32 = 0,
    LLI_TT_F16 = 1,
    LLI_TT_Q4_0 = 2,
    LLI_TT_Q4_1 = 3,
    LLI_TT_Q5_0 = 6,
    LLI_TT_Q5_1 = 7,
    LLI_TT_Q8_0 = 8,
    LLI_TT_Q2_K = 10,
    LLI_TT_Q3_K = 11,
    LLI_TT_Q4_K = 12,
    LLI_TT_Q5_K = 13,
    LLI_TT_Q6_K = 14,
    LLI_TT_BF16 = 30,
};

typedef struct lli_ttype_info {
    int id;              /* GGUF type number */
    const char *name;    /* lower-case, as in the manifest: "q4_1" */
    uint32_t block;      /* elements per block */
    uint32_t block_bytes;/* bytes per block */
} lli_ttype_info;

/* NULL for a type this library does not support. */
const lli_ttype_info *lli_ttype_by_id(int id);
const lli_ttype_info *lli_ttype_by_name(const char *name);

/* Bytes of a row-major tensor whose innermost dimension is ne0 and that has n_rows rows.
 * Returns 0 if ne0 is not a multiple of the block size or the size overflows. */
uint64_t lli_ttype_bytes(const lli_ttype_info *t, int64_t ne0, int64_t n_rows);

#endif
