/* The GGUF cache behind lli_model_load_gguf(): a GGUF file converted once into fragments under
 * $XDG_CACHE_HOME/llminfer (or ~/.cache/llminfer), one entry per file identity. */
#ifndef LLI_GGUF_CACHE_H
#define LLI_GGUF_CACHE_H

/* 1 if path is a regular file that starts with the GGUF magic, else 0 (no error recorded). */
int lli_is_gguf_file(const char *path);

/* Remove a directory of plain files (a fragment directory); defined in convert.c. */
void lli_remove_flat_dir(const char *dir);

#endif
