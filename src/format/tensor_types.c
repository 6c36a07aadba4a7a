#include "format/tensor_types.h"

#include <string.h>

static const lli_ttype_info k_types[] = {
    {LLI_TT_F32, "f32", 1, 4},
    {LLI_TT_F16, "f16", 1, 2},
    {LLI_TT_BF16, "bf16", 1, 2},
    {LLI_TT_Q4_0, "q4_0", 32, 2 + 16},
    {LLI_TT_Q4_1, "q4_1", 32, 2 + 2 + 16},
    {LLI_TT_Q5_0, "q5_0", 32, 2 + 4 + 16},
    {LLI_TT_Q5_1, "q5_1", 32, 2 + 2 + 4 + 16},
    {LLI_TT_Q8_0, "q8_0", 32, 2 + 32},
    {LLI_TT_Q2_K, "q2_k", 256, 256 / 16 + 256 / 4 + 2 + 2},
    {LLI_TT_Q3_K, "q3_k", 256, 256 / 8 + 256 / 4 + 12 + 2},
    {LLI_TT_Q4_K, "q4_k", 256, 2 + 2 + 12 + 256 / 2},
    {LLI_TT_Q5_K, "q5_k", 256, 2 + 2 + 12 + 256 / 8 + 256 / 2},
    {LLI_TT_Q6_K, "q6_k", 256, 256 / 2 + 256 / 4 + 256 / 16 + 2},
};

const lli_ttype_info *lli_ttype_by_id(int id) {
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].id == id) return &k_types[i];
    return NULL;
}

const lli_ttype_info *lli_ttype_by_name(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (strcmp(k_types[i].name, name) == 0) return &k_types[i];
    return NULL;
}

uint64_t lli_ttype_bytes(const lli_ttype_info *t, int64_t ne0, int64_t n_rows) {
    if (!t || ne0 <= 0 || n_rows <= 0 || ne0 % t->block != 0) return 0;
    uint64_t row = (uint64_t)(ne0 / t->block) * t->block_bytes;
    if ((uint64_t)n_rows > UINT64_MAX / row) return 0;
    return row * (uint64_t)n_rows;
}
