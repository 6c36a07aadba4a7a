/**
 * @file llminfer.h
 * @brief The public interface of libllminfer, an embeddable LLM inference library.
 *
 * ABI rules, which every release keeps:
 * - Every object is an opaque handle; no struct is passed or returned by value, so any object can
 *   grow new fields without breaking a compiled program.
 * - Parameters are set through setter functions on opaque parameter objects; a setter that does not
 *   exist in an older library simply is not called by programs built against it.
 * - Every function that can fail returns an ::lli_status. The detailed message of the last failure
 *   on the calling thread is returned by lli_last_error().
 * - Symbols are exported under the version node `LLMINFER_1`; new functions get new nodes, existing
 *   ones never change their signature or meaning.
 *
 * Thread safety: a loaded ::lli_model is read-only; every function taking a const model may be
 * called from any number of threads at once, and several contexts (each with its own KV cache) may
 * run lli_decode() on one model in parallel. Creating or freeing caches and contexts of one model on
 * several threads at once is safe too (the model counts its users atomically); lli_model_free() may
 * be called while they exist, by any thread, once no other call uses the model's handle. Every
 * other object (parameter objects, contexts, KV caches, batches, samplers, KV states) must be used
 * by one thread at a time; a KV cache shared by two contexts counts as used by both. The status functions (lli_status_str(), lli_last_error(),
 * lli_version()) are safe everywhere; lli_last_error() reports the calling thread's last failure.
 * lli_kv_state_load() with background set runs its own thread, which touches only the state.
 */
#ifndef LLMINFER_H
#define LLMINFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Marks a symbol as part of the public interface. */
#if defined(__GNUC__) || defined(__clang__)
#define LLI_API __attribute__((visibility("default")))
#else
#define LLI_API
#endif

/** @brief Version of the binary interface; changes only if a compatible upgrade becomes impossible. */
#define LLI_ABI_VERSION 1
/** @brief Major version of the library release. */
#define LLI_VERSION_MAJOR 1
/** @brief Minor version of the library release. */
#define LLI_VERSION_MINOR 2
/** @brief Patch version of the library release. */
#define LLI_VERSION_PATCH 0

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup status Status codes and errors
 *  @{ */

/** @brief Result of every call that can fail. Zero is success; values are never renumbered. */
typedef int lli_status;

/** @brief Success. */
#define LLI_OK 0
/** @brief An argument was NULL, out of range or otherwise invalid. */
#define LLI_E_INVALID_ARG 1
/** @brief Memory (host or device) could not be allocated. */
#define LLI_E_NOMEM 2
/** @brief A file could not be opened, read, written or renamed. */
#define LLI_E_IO 3
/** @brief A file is malformed: bad magic, truncated, inconsistent sizes, invalid JSON ... */
#define LLI_E_FORMAT 4
/** @brief A SHA-256 checksum did not match: the data is damaged. */
#define LLI_E_CHECKSUM 5
/** @brief Data belongs to another model or architecture than the one expected. */
#define LLI_E_MISMATCH 6
/** @brief The input uses something this build does not support (tensor type, architecture ...). */
#define LLI_E_UNSUPPORTED 7
/** @brief The function is declared but not implemented in this release. */
#define LLI_E_NOT_IMPLEMENTED 8
/** @brief The KV cache has no room for the step; nothing was changed. */
#define LLI_E_KV_FULL 9
/** @brief The requested backend is unavailable or failed. */
#define LLI_E_BACKEND 10
/** @brief The operation was cancelled by a callback. */
#define LLI_E_CANCELLED 11
/** @brief A buffer supplied by the caller is too small; the needed size is reported. */
#define LLI_E_BUFFER_TOO_SMALL 12
/** @brief An internal invariant failed; please report it. */
#define LLI_E_INTERNAL 13

/**
 * @brief Short, constant description of a status code.
 * @param status Any value; unknown values give "unknown status".
 * @return A static string; never NULL.
 */
LLI_API const char *lli_status_str(lli_status status);

/**
 * @brief Detailed message of the last failure on the calling thread.
 *
 * The message names the thing that is wrong (a file, a fragment, a field). It stays valid until the
 * next library call on the same thread. Successful calls do not clear it.
 * @return A thread-local string; "" if no call on this thread has failed. Never NULL.
 */
LLI_API const char *lli_last_error(void);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup version Version
 *  @{ */

/**
 * @brief Version of the library that is loaded, as "MAJOR.MINOR.PATCH".
 * @return A static string; never NULL.
 */
LLI_API const char *lli_version(void);

/**
 * @brief ABI version of the library that is loaded; compare with ::LLI_ABI_VERSION.
 * @return The ABI version number.
 */
LLI_API int lli_abi_version(void);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup handles Opaque handles
 *  @{ */

/** @brief A loaded model: weights, hyperparameters and tokenizer. Read-only once loaded. */
typedef struct lli_model lli_model;
/** @brief Parameters for lli_model_load(). */
typedef struct lli_model_params lli_model_params;
/** @brief Parameters for lli_convert_gguf(). */
typedef struct lli_convert_params lli_convert_params;
/** @brief An inference context: scratch buffers and a compute stream for one thread of work. */
typedef struct lli_context lli_context;
/** @brief Parameters for lli_context_create(). */
typedef struct lli_context_params lli_context_params;
/** @brief A paged KV cache shared by the sequences of one or more contexts of a model. */
typedef struct lli_kv_cache lli_kv_cache;
/** @brief Parameters for lli_kv_cache_create(). */
typedef struct lli_kv_cache_params lli_kv_cache_params;
/** @brief One step's work: (token, sequence, position, wants-logits) entries. */
typedef struct lli_batch lli_batch;
/** @brief A chain of token samplers. */
typedef struct lli_sampler lli_sampler;

/** @brief A token id. */
typedef int32_t lli_token;
/** @brief A sequence id in a KV cache, chosen by the cache. */
typedef int32_t lli_seq_id;

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup model_params Model load parameters
 *  @{ */

/** @brief Choose the backend automatically: CUDA when a device is present, else CPU. */
#define LLI_BACKEND_AUTO 0
/** @brief The CPU backend. */
#define LLI_BACKEND_CPU 1
/** @brief The CUDA backend. */
#define LLI_BACKEND_CUDA 2

/**
 * @brief Progress of a long operation (loading, converting).
 * @param done  Units done so far (bytes).
 * @param total Units in all (bytes).
 * @param user  The pointer given with the callback.
 * @return Non-zero to continue, zero to cancel (the operation then fails with ::LLI_E_CANCELLED).
 *
 * Calls are serialized: the callback is never entered by two threads at once.
 */
typedef int (*lli_progress_fn)(uint64_t done, uint64_t total, void *user);

/**
 * @brief Create model load parameters with defaults: automatic backend, all hardware threads,
 * verification on, any architecture, all layers, weights and tokenizer.
 * @param[out] out Receives the new object; free it with lli_model_params_free().
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_model_params_create(lli_model_params **out);

/**
 * @brief Free model load parameters. NULL is ignored.
 * @param params The object to free.
 */
LLI_API void lli_model_params_free(lli_model_params *params);

/**
 * @brief Select the backend.
 * @param params  The parameters.
 * @param backend ::LLI_BACKEND_AUTO, ::LLI_BACKEND_CPU or ::LLI_BACKEND_CUDA.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_params_set_backend(lli_model_params *params, int backend);

/**
 * @brief Number of threads used to read, verify and decompress fragments.
 * @param params    The parameters.
 * @param n_threads 1 to 1024, or 0 for the number of processors the process may run on.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_params_set_threads(lli_model_params *params, int n_threads);

/**
 * @brief Turn SHA-256 verification of every fragment on (default) or off.
 *
 * With verification off, headers and sizes are still checked.
 * @param params The parameters.
 * @param verify Non-zero to verify.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_params_set_verify(lli_model_params *params, int verify);

/**
 * @brief Require an architecture: a family ("llama", "qwen2", "qwen3") or a preset
 * ("smollm2_135m", "mistral_7b", "magistral_small", ...). Loading another one fails with
 * ::LLI_E_MISMATCH and a message naming both.
 * @param params The parameters.
 * @param arch   The name, copied; NULL or "" accepts any architecture.
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_model_params_set_expected_arch(lli_model_params *params, const char *arch);

/**
 * @brief Load only the transformer layers [first, last), for a model split across processes.
 *
 * The token embeddings are loaded when first is 0; the output norm and head when last is the
 * model's layer count. (0, -1) selects all layers, the default.
 * @param params The parameters.
 * @param first  First layer to load, >= 0.
 * @param last   One past the last layer to load, or -1 for the model's layer count.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG; a range beyond the model's layers fails at load.
 */
LLI_API lli_status lli_model_params_set_layer_range(lli_model_params *params, int first, int last);

/**
 * @brief Load only the tokenizer and hyperparameters, no weights.
 * @param params     The parameters.
 * @param vocab_only Non-zero for a vocabulary-only load.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_params_set_vocab_only(lli_model_params *params, int vocab_only);

/**
 * @brief Use uncompressed fragments in place, from the page cache, instead of copying them.
 *
 * By default (0) the CPU backend copies every weight fragment into memory of its own, in huge
 * pages where the system grants them (Linux transparent huge pages, "madvise" or "always"): decode
 * reads every weight once per token, and from the page cache's 4 KiB pages it ran a fifth to a
 * third slower on a virtual machine (docs/benchmarks.md); there it also rearranges K-quant
 * matrices into groups of eight interleaved rows, which its products read faster. Non-zero maps
 * raw fragments and uses them where they lie, as the file has them: the load then costs no copy
 * and no memory beyond the page cache, which processes loading the same model share. Compressed
 * fragments are always decompressed into the backend's memory (and rearranged there), and a GPU
 * backend always copies; this setting changes neither. Results are the same bits either way.
 * Added in release 1.2.
 * @param params   The parameters.
 * @param in_place Non-zero to use raw fragments in place.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_params_set_in_place(lli_model_params *params, int in_place);

/**
 * @brief Report progress while loading, in bytes of fragments processed.
 * @param params The parameters.
 * @param fn     The callback, or NULL for none.
 * @param user   Passed to the callback.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_params_set_progress(lli_model_params *params, lli_progress_fn fn, void *user);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup model Models
 *  @{ */

/**
 * @brief Load a model directory in the fragment format.
 *
 * Reads manifest.json, checks every fragment's header, size and (unless turned off) SHA-256,
 * decompresses zstd fragments and places the tensors in the backend's memory, on a thread pool.
 * Nothing is returned on failure; the message names the bad fragment or field. A manifest or
 * fragment that is not a regular file (a FIFO, a directory, a device) is refused at once with
 * ::LLI_E_IO; a fragment that cannot be mapped for lack of memory or address space gives ::LLI_E_NOMEM.
 * A GGUF file is refused with ::LLI_E_INVALID_ARG and a message naming lli_convert_gguf();
 * lli_model_load_gguf() loads one through a cache of converted files.
 * @param path   The model directory.
 * @param params Load parameters, or NULL for the defaults.
 * @param[out] out Receives the model; free it with lli_model_free().
 * @return ::LLI_OK, ::LLI_E_IO, ::LLI_E_FORMAT, ::LLI_E_CHECKSUM, ::LLI_E_MISMATCH,
 *         ::LLI_E_UNSUPPORTED, ::LLI_E_NOMEM, ::LLI_E_BACKEND, ::LLI_E_CANCELLED or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_load(const char *path, const lli_model_params *params, lli_model **out);

/**
 * @brief Free a model. NULL is ignored.
 *
 * Models, KV caches, contexts and samplers may be freed in any order: KV caches and contexts made
 * from the model hold it, and it is released when the last of them is freed (until then only its
 * handle may no longer be used by the caller). Calling it twice on one model is an error.
 * @param model The model.
 */
LLI_API void lli_model_free(lli_model *model);

/** @brief Integer facts about a model, read with lli_model_info_int(). Values are never renumbered. */
enum lli_model_info_key {
    LLI_INFO_N_LAYER = 1,         /**< Transformer layers in the model (not only those loaded). */
    LLI_INFO_N_EMBD = 2,          /**< Model (hidden) dimension. */
    LLI_INFO_N_FF = 3,            /**< Feed-forward hidden dimension. */
    LLI_INFO_N_HEAD = 4,          /**< Attention heads. */
    LLI_INFO_N_HEAD_KV = 5,       /**< Key/value heads (grouped-query attention). */
    LLI_INFO_HEAD_DIM = 6,        /**< Size of one attention head. */
    LLI_INFO_N_VOCAB = 7,         /**< Vocabulary size. */
    LLI_INFO_N_CTX_TRAIN = 8,     /**< Context length the model was trained for. */
    LLI_INFO_N_TENSORS = 9,       /**< Tensors loaded. */
    LLI_INFO_BYTES = 10,          /**< Bytes of tensor data in the backend's memory. */
    LLI_INFO_LAYER_FIRST = 11,    /**< First loaded layer. */
    LLI_INFO_LAYER_LAST = 12,     /**< One past the last loaded layer. */
    LLI_INFO_VOCAB_ONLY = 13,     /**< 1 if no weights were loaded. */
    LLI_INFO_BACKEND = 14,        /**< ::LLI_BACKEND_CPU or ::LLI_BACKEND_CUDA. */
    LLI_INFO_N_FRAGMENTS = 15,    /**< Fragments in the model directory. */
    LLI_INFO_SLIDING_WINDOW = 16, /**< Attention window in tokens, 0 for none. */
    LLI_INFO_TOKEN_BOS = 17,      /**< Beginning-of-sequence token, -1 if none. */
    LLI_INFO_TOKEN_EOS = 18       /**< End-of-sequence token, -1 if none. */
};

/**
 * @brief String facts about a model, read with lli_model_info_str().
 *
 * The string keys are numbered apart from the integer keys (from 257), so that a key passed to the
 * wrong function is refused instead of read as another fact. Releases before 1.1 numbered them 1
 * to 6; lli_model_info_str() still accepts those numbers for programs built against them.
 */
enum lli_model_info_str_key {
    LLI_INFO_ARCH = 257,      /**< Detected architecture: a preset name, or the family if none matches. */
    LLI_INFO_FAMILY = 258,    /**< Architecture family: "llama", "qwen2" or "qwen3". */
    LLI_INFO_NAME = 259,      /**< Human-readable model name from the source file, may be "". */
    LLI_INFO_MODEL_ID = 260,  /**< The model id derived from the manifest (32 hex digits). */
    LLI_INFO_TOKENIZER = 261, /**< Tokenizer kind: "llama" (SentencePiece) or "gpt2" (byte-level BPE). */
    LLI_INFO_CHAT_TEMPLATE = 262, /**< The model's chat template, "" if none. */
    LLI_INFO_CPU_ISA = 263 /**< The CPU kernels' instruction-set level in this process: "scalar", "avx2" or
                                "avx512" (the highest the CPU has, capped by the environment variable
                                LLI_CPU=scalar|avx2|avx512 when the library is first used). */
};

/**
 * @brief Read an integer fact about a model.
 * @param model The model.
 * @param key   One of ::lli_model_info_key.
 * @param[out] out Receives the value.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG (NULL argument, unknown key, or a string key).
 */
LLI_API lli_status lli_model_info_int(const lli_model *model, int key, int64_t *out);

/**
 * @brief Read a string fact about a model.
 * @param model The model.
 * @param key   One of ::lli_model_info_str_key.
 * @param[out] out Receives a string owned by the model, valid until lli_model_free().
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG (NULL argument, unknown key, or an integer key).
 */
LLI_API lli_status lli_model_info_str(const lli_model *model, int key, const char **out);

/**
 * @brief Describe one loaded tensor.
 * @param model  The model.
 * @param index  0 to #LLI_INFO_N_TENSORS - 1.
 * @param[out] name   Receives the tensor's name (owned by the model), or NULL to skip.
 * @param[out] type   Receives the type's name ("f32", "q4_1" ...), or NULL to skip.
 * @param[out] n_dims Receives the number of dimensions (1 to 4), or NULL to skip.
 * @param[out] dims   Receives 4 dimensions, innermost first (unused ones are 1), or NULL to skip.
 * @param[out] bytes  Receives the tensor's size in bytes, or NULL to skip.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_model_tensor_info(const lli_model *model, int64_t index, const char **name,
                                         const char **type, int *n_dims, int64_t dims[4], uint64_t *bytes);

/**
 * @brief One check's outcome, reported by lli_model_verify().
 * @param check  What was checked ("fragment count", "fragment layer-003 checksum" ...).
 * @param ok     Non-zero if it passed.
 * @param detail Why it failed, or a short fact if it passed; never NULL.
 * @param user   The pointer given to lli_model_verify().
 */
typedef void (*lli_verify_fn)(const char *check, int ok, const char *detail, void *user);

/**
 * @brief Check a model directory thoroughly without loading it into a backend.
 *
 * Checks that the manifest is valid, the fragment count matches it, every fragment is readable and
 * its header belongs to this model, the architecture is detected, the tensor shapes agree with the
 * hyperparameters, and every checksum is valid. All checks run even after one fails.
 * @param path      The model directory.
 * @param n_threads Threads for hashing, 0 for all processors.
 * @param fn        Called once per check, or NULL.
 * @param user      Passed to fn.
 * @return ::LLI_OK if every check passed, else the status of the first failure.
 */
LLI_API lli_status lli_model_verify(const char *path, int n_threads, lli_verify_fn fn, void *user);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup convert Converting GGUF files
 *  @{ */

/** @brief Store fragments uncompressed; they are memory-mapped at load. */
#define LLI_COMPRESS_NONE 0
/** @brief Store fragments compressed with zstd. */
#define LLI_COMPRESS_ZSTD 1

/**
 * @brief Create conversion parameters with defaults: no compression, all processors.
 * @param[out] out Receives the new object; free it with lli_convert_params_free().
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_convert_params_create(lli_convert_params **out);

/**
 * @brief Free conversion parameters. NULL is ignored.
 * @param params The object to free.
 */
LLI_API void lli_convert_params_free(lli_convert_params *params);

/**
 * @brief Choose how fragments are stored.
 * @param params      The parameters.
 * @param compression ::LLI_COMPRESS_NONE or ::LLI_COMPRESS_ZSTD.
 * @param level       zstd level 1 to 19 (0 for the default, 3); ignored without compression.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_convert_params_set_compression(lli_convert_params *params, int compression, int level);

/**
 * @brief Number of threads that hash and compress fragments.
 * @param params    The parameters.
 * @param n_threads 1 to 1024, or 0 for the number of processors the process may run on.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_convert_params_set_threads(lli_convert_params *params, int n_threads);

/**
 * @brief Report progress in bytes of tensor data written.
 * @param params The parameters.
 * @param fn     The callback, or NULL.
 * @param user   Passed to the callback.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_convert_params_set_progress(lli_convert_params *params, lli_progress_fn fn, void *user);

/**
 * @brief Convert a GGUF file into a model directory of fragments.
 *
 * Tensor bytes are copied as they are, never requantized. The directory is written under a
 * temporary name and renamed into place only when complete, so a failed or interrupted conversion
 * never leaves a directory that looks valid. An existing output directory is not overwritten.
 * A vocabulary-only GGUF file gives a directory with only the tokenizer.
 * @param gguf_path The input file.
 * @param out_dir   The directory to create; it must not exist.
 * @param params    Conversion parameters, or NULL for the defaults.
 * @return ::LLI_OK, ::LLI_E_IO, ::LLI_E_FORMAT, ::LLI_E_UNSUPPORTED, ::LLI_E_NOMEM,
 *         ::LLI_E_CANCELLED or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_convert_gguf(const char *gguf_path, const char *out_dir, const lli_convert_params *params);

/** @brief lli_model_load_gguf() found a cache entry for the file and loaded it. */
#define LLI_GGUF_CACHE_HIT 0
/** @brief lli_model_load_gguf() converted the file into a new cache entry. */
#define LLI_GGUF_CACHE_CONVERTED 1
/** @brief lli_model_load_gguf() found a damaged cache entry and converted the file again. */
#define LLI_GGUF_CACHE_REBUILT 2

/**
 * @brief The cache directory that lli_model_load_gguf() uses for a GGUF file.
 *
 * The entry is `CACHE/NAME-KEY`, where CACHE is @p cache_dir, else `$XDG_CACHE_HOME/llminfer`, else
 * `$HOME/.cache/llminfer`; NAME is the file's name without `.gguf`; KEY is 16 hex digits of a SHA-256
 * of the file's identity (device, inode, size, modification time in nanoseconds) and of the
 * compression in @p params. A rewritten file therefore gets a new entry, and the file itself is
 * never read beyond its magic. Nothing is created.
 * @param gguf_path The GGUF file; it must exist.
 * @param cache_dir The cache directory, or NULL for the default.
 * @param params    Conversion parameters (their compression is part of the key), or NULL.
 * @param out       Receives the path, NUL-terminated; may be NULL when @p out_size is 0.
 * @param out_size  Bytes at @p out.
 * @param[out] out_len Receives the path's length without the terminator (also when @p out is too
 *                 small); may be NULL.
 * @return ::LLI_OK, ::LLI_E_BUFFER_TOO_SMALL, ::LLI_E_IO (the file cannot be opened),
 *         ::LLI_E_FORMAT (not a GGUF file) or ::LLI_E_INVALID_ARG (NULL path, no cache directory).
 */
LLI_API lli_status lli_gguf_cache_entry(const char *gguf_path, const char *cache_dir, const lli_convert_params *params,
                                        char *out, size_t out_size, size_t *out_len);

/**
 * @brief Load a GGUF file through the cache: converted into fragments once, loaded from them after.
 *
 * When the entry named by lli_gguf_cache_entry() does not exist, the file is converted into it
 * with lli_convert_gguf() (atomically: a partial entry never appears) and the new entry is loaded
 * with @p params, which with verification on (the default) checks every fragment read back from
 * disk. When the entry exists it is loaded; if that fails because the entry is damaged
 * (::LLI_E_IO, ::LLI_E_FORMAT or ::LLI_E_CHECKSUM), it is removed and converted again once.
 * Other failures (a wrong expected architecture, an unavailable backend) are returned as they are.
 * @param gguf_path      The GGUF file.
 * @param cache_dir      The cache directory (created if missing), or NULL for the default.
 * @param convert_params Conversion parameters (compression, threads, progress), or NULL.
 * @param params         Load parameters, or NULL for the defaults.
 * @param[out] out       Receives the model; free it with lli_model_free().
 * @param[out] how       Receives ::LLI_GGUF_CACHE_HIT, ::LLI_GGUF_CACHE_CONVERTED or
 *                       ::LLI_GGUF_CACHE_REBUILT; may be NULL.
 * @return The statuses of lli_gguf_cache_entry(), lli_convert_gguf() and lli_model_load().
 */
LLI_API lli_status lli_model_load_gguf(const char *gguf_path, const char *cache_dir,
                                       const lli_convert_params *convert_params, const lli_model_params *params,
                                       lli_model **out, int *how);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup tokenizer Tokenizer
 *  @{ */

/**
 * @brief Turn text into tokens.
 * @param model         The model (a vocabulary-only load is enough).
 * @param text          UTF-8 text; it may hold NUL bytes (text_len counts them) and invalid UTF-8,
 *                      which is read as llama.cpp reads it: SentencePiece vocabularies keep every byte
 *                      (byte tokens), byte-level BPE reads a byte that does not start a well-formed
 *                      sequence, and a sequence above U+10FFFF, as U+FFFD.
 * @param text_len      Bytes of text, at most 256 MiB (::LLI_E_INVALID_ARG beyond).
 * @param add_special   Non-zero to add the model's BOS/EOS tokens as its tokenizer says.
 * @param parse_special Non-zero to turn control-token texts ("<|im_start|>") into their tokens;
 *                      user-defined (added) tokens are matched whole either way, as in llama.cpp.
 * @param[out] tokens   Receives up to capacity tokens; may be NULL when capacity is 0.
 * @param capacity      Size of tokens.
 * @param[out] n_tokens Receives the number of tokens the text needs, even if it exceeds capacity.
 * @return ::LLI_OK, ::LLI_E_BUFFER_TOO_SMALL, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_tokenize(const lli_model *model, const char *text, size_t text_len, int add_special,
                                int parse_special, lli_token *tokens, size_t capacity, size_t *n_tokens);

/**
 * @brief The text of one token.
 * @param model     The model.
 * @param token     The token.
 * @param[out] buf  Receives the bytes (not NUL-terminated); may be NULL when capacity is 0.
 * @param capacity  Size of buf.
 * @param[out] n_bytes Receives the size of the text, even if it exceeds capacity.
 * @return ::LLI_OK, ::LLI_E_BUFFER_TOO_SMALL or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_token_to_piece(const lli_model *model, lli_token token, char *buf, size_t capacity,
                                      size_t *n_bytes);

/**
 * @brief Turn tokens back into text.
 * @param model          The model.
 * @param tokens         The tokens.
 * @param n_tokens       How many.
 * @param remove_special Non-zero to leave out BOS/EOS and other control tokens.
 * @param[out] buf       Receives the bytes (not NUL-terminated); may be NULL when capacity is 0.
 * @param capacity       Size of buf.
 * @param[out] n_bytes   Receives the size of the text, even if it exceeds capacity.
 * @return ::LLI_OK, ::LLI_E_BUFFER_TOO_SMALL, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_detokenize(const lli_model *model, const lli_token *tokens, size_t n_tokens,
                                  int remove_special, char *buf, size_t capacity, size_t *n_bytes);

/**
 * @brief Format a conversation as the text of a prompt, in the format of a model's chat template.
 *
 * The template (LLI_INFO_CHAT_TEMPLATE, a Jinja text) is not executed: its format is recognised by
 * its markers. ChatML (`<|im_start|>`: SmolLM2, Qwen), with the template's default system message
 * when the conversation does not begin with a system message; Llama 3 (`<|start_header_id|>`);
 * Mistral (`[INST]`), where system messages go before the first user message and tool messages are
 * left out. Tokenize the result with parse_special on.
 * @param tmpl        The chat template.
 * @param roles       n_messages roles: "system", "user", "assistant" or "tool".
 * @param contents    n_messages message texts.
 * @param n_messages  At least 1.
 * @param add_generation_prompt Non-zero to end with the opening of an assistant turn.
 * @param out         Receives the text, NUL-terminated; may be NULL when @p out_size is 0.
 * @param out_size    Bytes at @p out.
 * @param[out] out_len Receives the text's length without the terminator (also when @p out is too
 *                    small); may be NULL.
 * @return ::LLI_OK, ::LLI_E_BUFFER_TOO_SMALL, ::LLI_E_UNSUPPORTED (a template of another format, or
 *         none), ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG (NULL arguments, no messages, an unknown role).
 */
LLI_API lli_status lli_chat_format(const char *tmpl, const char *const *roles, const char *const *contents,
                                   size_t n_messages, int add_generation_prompt, char *out, size_t out_size,
                                   size_t *out_len);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup kv Paged KV cache
 *  The host owns the sequences: it creates, forks, truncates and frees them, and asks how much room
 *  is left before it schedules a step.
 *  @{ */

/**
 * @brief Create KV cache parameters with defaults: 16 tokens per block, room for 4096 tokens.
 * @param[out] out Receives the object; free it with lli_kv_cache_params_free().
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_kv_cache_params_create(lli_kv_cache_params **out);

/**
 * @brief Free KV cache parameters. NULL is ignored.
 * @param params The object.
 */
LLI_API void lli_kv_cache_params_free(lli_kv_cache_params *params);

/**
 * @brief Total capacity in tokens, over all sequences.
 * @param params   The parameters.
 * @param n_tokens Tokens, >= 1.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_cache_params_set_capacity(lli_kv_cache_params *params, int64_t n_tokens);

/**
 * @brief Tokens per block.
 * @param params     The parameters.
 * @param block_size 1 to 1024.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_cache_params_set_block_size(lli_kv_cache_params *params, int block_size);

/** KV storage type: IEEE half precision (the default). */
#define LLI_KV_TYPE_F16 0
/** KV storage type: 8-bit integers with one scale per token, head and layer (about half the memory of F16). */
#define LLI_KV_TYPE_Q8 1

/**
 * @brief How keys and values are stored.
 * @param params The parameters.
 * @param type   ::LLI_KV_TYPE_F16 or ::LLI_KV_TYPE_Q8.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_cache_params_set_type(lli_kv_cache_params *params, int type);

/**
 * @brief Whether full blocks are kept for prefix reuse after their sequences are freed (default 1).
 *
 * With it on, a block that fills up is indexed by a hash of its tokens and of every token before
 * it; lli_kv_seq_create_with_prefix() finds such blocks, and freed ones stay cached until the space
 * is needed, the least recently used evicted first.
 * @param params The parameters.
 * @param enable 1 or 0.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_cache_params_set_prefix_cache(lli_kv_cache_params *params, int enable);

/**
 * @brief Create a paged KV cache for a model.
 * @param model  The model.
 * @param params Parameters, or NULL for the defaults.
 * @param[out] out Receives the cache; free it with lli_kv_cache_free().
 * @return ::LLI_OK, ::LLI_E_NOMEM, ::LLI_E_BACKEND or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_cache_create(const lli_model *model, const lli_kv_cache_params *params, lli_kv_cache **out);

/**
 * @brief Free a KV cache and all its sequences. NULL is ignored.
 *
 * The cache holds its model until it is freed (see lli_model_free()). A context that decodes into
 * the cache may be freed after it, but no longer used.
 * @param kv The cache.
 */
LLI_API void lli_kv_cache_free(lli_kv_cache *kv);

/**
 * @brief Start a new, empty sequence.
 * @param kv The cache.
 * @param[out] out Receives the sequence id.
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_create(lli_kv_cache *kv, lli_seq_id *out);

/**
 * @brief Start a new sequence for a prompt, reusing the cached blocks its first tokens fill.
 *
 * Whole blocks whose tokens, and all tokens before them, equal the prompt's are attached to the new
 * sequence without computation. At most n_tokens - 1 tokens are reused, so that the host always
 * decodes at least the last prompt token and gets its logits. The host then decodes
 * tokens[*n_reused ..] at positions *n_reused onward. Counts prefix hits and misses in blocks.
 * @param kv       The cache.
 * @param tokens   The prompt.
 * @param n_tokens Its length, >= 0.
 * @param[out] out      Receives the sequence id.
 * @param[out] n_reused Receives the number of prompt tokens already in the cache (a multiple of the block size).
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_kv_seq_create_with_prefix(lli_kv_cache *kv, const lli_token *tokens, int64_t n_tokens,
                                                 lli_seq_id *out, int64_t *n_reused);

/**
 * @brief Free a sequence and release its blocks.
 * @param kv  The cache.
 * @param seq The sequence.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_free(lli_kv_cache *kv, lli_seq_id seq);

/**
 * @brief Fork a sequence; the copy shares the original's blocks until either one changes them.
 * @param kv  The cache.
 * @param src The sequence to copy.
 * @param[out] out Receives the new sequence's id.
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG, ::LLI_E_KV_FULL or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_kv_seq_fork(lli_kv_cache *kv, lli_seq_id src, lli_seq_id *out);

/**
 * @brief Keep only the first n_tokens tokens of a sequence.
 * @param kv       The cache.
 * @param seq      The sequence.
 * @param n_tokens Tokens to keep, at most the sequence's length.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_truncate(lli_kv_cache *kv, lli_seq_id seq, int64_t n_tokens);

/**
 * @brief Tokens a sequence holds.
 * @param kv  The cache.
 * @param seq The sequence.
 * @param[out] out Receives the count.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_length(const lli_kv_cache *kv, lli_seq_id seq, int64_t *out);

/**
 * @brief Blocks available for new tokens: empty ones plus cached ones that would be evicted.
 * @param kv The cache.
 * @param[out] out Receives the count.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_free_blocks(const lli_kv_cache *kv, int64_t *out);

/**
 * @brief Whether n_tokens more tokens of a sequence fit in the cache now.
 * @param kv       The cache.
 * @param seq      The sequence.
 * @param n_tokens Tokens to add.
 * @param[out] out Receives 1 if they fit, else 0.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_fits(const lli_kv_cache *kv, lli_seq_id seq, int64_t n_tokens, int *out);

/**
 * @brief Blocks a sequence holds (shared ones included).
 * @param kv  The cache.
 * @param seq The sequence.
 * @param[out] out Receives the count.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_blocks(const lli_kv_cache *kv, lli_seq_id seq, int64_t *out);

/** lli_kv_stat() key: blocks in the cache. */
#define LLI_KV_STAT_BLOCKS_TOTAL 0
/** lli_kv_stat() key: blocks held by at least one sequence. */
#define LLI_KV_STAT_BLOCKS_USED 1
/** lli_kv_stat() key: blocks held by more than one sequence. */
#define LLI_KV_STAT_BLOCKS_SHARED 2
/** lli_kv_stat() key: blocks held by no sequence but kept for prefix reuse. */
#define LLI_KV_STAT_BLOCKS_CACHED 3
/** lli_kv_stat() key: empty blocks. */
#define LLI_KV_STAT_BLOCKS_EMPTY 4
/** lli_kv_stat() key: prompt blocks found in the cache by lli_kv_seq_create_with_prefix(). */
#define LLI_KV_STAT_PREFIX_HITS 5
/** lli_kv_stat() key: prompt blocks looked for and not found. */
#define LLI_KV_STAT_PREFIX_MISSES 6
/** lli_kv_stat() key: cached blocks evicted to make room. */
#define LLI_KV_STAT_EVICTIONS 7
/** lli_kv_stat() key: bytes of key and value storage. */
#define LLI_KV_STAT_BYTES 8
/** lli_kv_stat() key: bytes one block takes. */
#define LLI_KV_STAT_BLOCK_BYTES 9
/** lli_kv_stat() key: tokens per block. */
#define LLI_KV_STAT_BLOCK_SIZE 10
/** lli_kv_stat() key: live sequences. */
#define LLI_KV_STAT_SEQUENCES 11
/** lli_kv_stat() key: the storage type, ::LLI_KV_TYPE_F16 or ::LLI_KV_TYPE_Q8. */
#define LLI_KV_STAT_TYPE 12

/**
 * @brief Read one of the cache's statistics.
 * @param kv  The cache.
 * @param key One of the LLI_KV_STAT_ keys.
 * @param[out] out Receives the value.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG (NULL argument or unknown key).
 */
LLI_API lli_status lli_kv_stat(const lli_kv_cache *kv, int key, int64_t *out);

/**
 * @brief Save a sequence's KV state to a file (zstd-compressed, with a SHA-256 and the model's id).
 *
 * The file is replaced atomically and durably: written to a temporary file of a unique name in the
 * same directory, flushed to the disk, renamed over path, and the directory flushed, so that a
 * crash leaves the old state or the new one. Several saves to one path at once each succeed, and
 * one whole state remains.
 * @param kv   The cache.
 * @param seq  The sequence.
 * @param path The file to write.
 * @return ::LLI_OK, ::LLI_E_IO, ::LLI_E_NOMEM, ::LLI_E_BACKEND or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_save(const lli_kv_cache *kv, lli_seq_id seq, const char *path);

/**
 * @brief Restore a saved sequence as a new sequence; nothing is restored if the file is damaged
 * or from another model.
 * @param kv   The cache.
 * @param path The file written by lli_kv_seq_save().
 * @param[out] out Receives the new sequence's id.
 * @return ::LLI_OK, ::LLI_E_IO, ::LLI_E_FORMAT, ::LLI_E_CHECKSUM, ::LLI_E_MISMATCH, ::LLI_E_KV_FULL,
 *         ::LLI_E_INVALID_ARG or ::LLI_E_NOT_IMPLEMENTED.
 */
LLI_API lli_status lli_kv_seq_restore(lli_kv_cache *kv, const char *path, lli_seq_id *out);

/**
 * @brief Save a sequence's KV state into memory, in the same form as lli_kv_seq_save().
 *
 * Call it with buf NULL (or too small) to learn the size: it then fails with
 * ::LLI_E_BUFFER_TOO_SMALL and sets *size.
 * @param kv       The cache.
 * @param seq      The sequence.
 * @param buf      Where to write, or NULL.
 * @param capacity Bytes at buf.
 * @param[out] size Receives the bytes written, or needed.
 * @return ::LLI_OK, ::LLI_E_BUFFER_TOO_SMALL, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_kv_seq_save_buffer(const lli_kv_cache *kv, lli_seq_id seq, void *buf, size_t capacity,
                                          size_t *size);

/**
 * @brief Restore a sequence saved by lli_kv_seq_save_buffer() (or read from a saved file).
 * @param kv   The cache.
 * @param buf  The saved bytes.
 * @param size Their count.
 * @param[out] out Receives the new sequence's id.
 * @return As lli_kv_seq_restore(), without ::LLI_E_IO.
 */
LLI_API lli_status lli_kv_seq_restore_buffer(lli_kv_cache *kv, const void *buf, size_t size, lli_seq_id *out);

/** A saved sequence read, decompressed and verified in memory, ready to enter a cache. */
typedef struct lli_kv_state lli_kv_state;

/**
 * @brief Read, decompress and verify a saved sequence without touching any cache.
 *
 * With background set, the work runs on a thread of its own and the call returns at once: a host
 * starts it ahead of need so that the sequence is ready when it is scheduled again.
 * lli_kv_state_wait() and lli_kv_seq_restore_state() wait for it.
 * @param path       The file written by lli_kv_seq_save().
 * @param background 1 to load on a background thread, 0 to load now.
 * @param[out] out   Receives the state; free it with lli_kv_state_free().
 * @return ::LLI_OK, or when loading now, the errors of lli_kv_seq_restore() but ::LLI_E_KV_FULL.
 */
LLI_API lli_status lli_kv_state_load(const char *path, int background, lli_kv_state **out);

/**
 * @brief Wait for a state's loading to finish.
 * @param state The state.
 * @return The status of the load: ::LLI_OK, ::LLI_E_IO, ::LLI_E_FORMAT, ::LLI_E_CHECKSUM, ::LLI_E_NOMEM
 *         or ::LLI_E_INVALID_ARG; the message is the load's.
 */
LLI_API lli_status lli_kv_state_wait(lli_kv_state *state);

/**
 * @brief Tokens a loaded state holds.
 * @param state The state (waited for first).
 * @param[out] out Receives the count.
 * @return As lli_kv_state_wait().
 */
LLI_API lli_status lli_kv_state_length(lli_kv_state *state, int64_t *out);

/**
 * @brief Enter a loaded state into a cache as a new sequence; all or nothing.
 *
 * The state stays valid and can be restored again.
 * @param kv    The cache.
 * @param state The state (waited for first).
 * @param[out] out Receives the new sequence's id.
 * @return As lli_kv_seq_restore().
 */
LLI_API lli_status lli_kv_seq_restore_state(lli_kv_cache *kv, lli_kv_state *state, lli_seq_id *out);

/**
 * @brief Free a state, waiting for its background load first. NULL is ignored.
 * @param state The state.
 */
LLI_API void lli_kv_state_free(lli_kv_state *state);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup context Contexts, batches and decoding
 *  @{ */

/**
 * @brief Create context parameters with defaults: one thread per physical core, 512 tokens per step.
 * @param[out] out Receives the object; free it with lli_context_params_free().
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_context_params_create(lli_context_params **out);

/**
 * @brief Free context parameters. NULL is ignored.
 * @param params The object.
 */
LLI_API void lli_context_params_free(lli_context_params *params);

/**
 * @brief Compute threads of the context.
 * @param params    The parameters.
 * @param n_threads 1 to 1024, or 0 for one per physical core among the processors the process
 *                  may run on (its CPU affinity), at most its cgroup's CPU quota.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_context_params_set_threads(lli_context_params *params, int n_threads);

/**
 * @brief Most entries one step may hold.
 * @param params  The parameters.
 * @param n_batch 1 to 65536.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_context_params_set_max_batch(lli_context_params *params, int n_batch);

/**
 * @brief Create an inference context that decodes into a KV cache.
 * @param model  The model.
 * @param kv     The cache the context's sequences live in.
 * @param params Parameters, or NULL for the defaults.
 * @param[out] out Receives the context; free it with lli_context_free().
 * @return ::LLI_OK, ::LLI_E_NOMEM, ::LLI_E_UNSUPPORTED, ::LLI_E_INVALID_ARG or ::LLI_E_NOT_IMPLEMENTED (the
 *         model's backend has no forward pass).
 */
LLI_API lli_status lli_context_create(const lli_model *model, lli_kv_cache *kv, const lli_context_params *params,
                                      lli_context **out);

/**
 * @brief Free a context. NULL is ignored. The context holds its model until it is freed (see
 * lli_model_free()); its KV cache and samplers may be freed before or after it.
 * @param ctx The context.
 */
LLI_API void lli_context_free(lli_context *ctx);

/**
 * @brief Create an empty batch.
 * @param capacity Most entries it can hold, >= 1.
 * @param[out] out Receives the batch; free it with lli_batch_free().
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_batch_create(int32_t capacity, lli_batch **out);

/**
 * @brief Free a batch. NULL is ignored.
 * @param batch The batch.
 */
LLI_API void lli_batch_free(lli_batch *batch);

/**
 * @brief Remove every entry.
 * @param batch The batch.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_batch_clear(lli_batch *batch);

/**
 * @brief Append one entry.
 * @param batch       The batch.
 * @param token       The input token.
 * @param seq         The sequence it belongs to.
 * @param pos         Its position in the sequence.
 * @param want_logits Non-zero to keep this entry's output: logits, and the hidden state.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG (full batch, negative position).
 */
LLI_API lli_status lli_batch_add(lli_batch *batch, lli_token token, lli_seq_id seq, int64_t pos, int want_logits);

/**
 * @brief Give the batch's entries hidden states instead of tokens, for a model loaded with a layer
 * range that does not start at layer 0 (a later stage of a model split across processes).
 *
 * The states are copied; lli_batch_clear() drops them. At lli_decode() there must be exactly one per
 * entry, in entry order; the entries' tokens are then ignored.
 * @param batch  The batch.
 * @param hidden Entry-major floats: entries x #LLI_INFO_N_EMBD.
 * @param count  Number of floats.
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_batch_set_hidden(lli_batch *batch, const float *hidden, int64_t count);

/**
 * @brief Entries in the batch.
 * @param batch The batch.
 * @param[out] out Receives the count.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_batch_size(const lli_batch *batch, int32_t *out);

/**
 * @brief Run one step: every entry of the batch, prefill chunks and decode tokens mixed.
 *
 * If the step does not fit in the KV cache, it fails with ::LLI_E_KV_FULL and changes nothing.
 * Before any work, an entry whose sequence would grow beyond the model's context length
 * (#LLI_INFO_N_CTX_TRAIN) is refused with ::LLI_E_INVALID_ARG, and one beyond the KV cache's whole
 * capacity with ::LLI_E_KV_FULL; both messages name the sequence's length and the limit. Memory a
 * step needs (outputs, attention scratch) is allocated before anything changes: ::LLI_E_NOMEM also
 * leaves the cache and the last step's outputs as they were.
 * @param ctx   The context.
 * @param batch The step's entries.
 * @return ::LLI_OK, ::LLI_E_KV_FULL, ::LLI_E_NOMEM, ::LLI_E_INVALID_ARG or ::LLI_E_BACKEND.
 */
LLI_API lli_status lli_decode(lli_context *ctx, const lli_batch *batch);

/**
 * @brief Logits computed for one batch entry in the last lli_decode().
 * @param ctx   The context.
 * @param entry Index of the entry in the batch; it must have asked for logits.
 * @param[out] out Receives #LLI_INFO_N_VOCAB floats, valid until the next lli_decode().
 * @return ::LLI_OK, or ::LLI_E_INVALID_ARG (also for a model whose loaded layers end before its last).
 */
LLI_API lli_status lli_get_logits(const lli_context *ctx, int32_t entry, const float **out);

/**
 * @brief Hidden state after the last loaded layer for one batch entry of the last lli_decode(),
 * for entries that asked for output. This is what the next stage of a split model takes as input
 * (lli_batch_set_hidden()); a model that ends at its last layer also has logits.
 * @param ctx   The context.
 * @param entry Index of the entry in the batch.
 * @param[out] out Receives #LLI_INFO_N_EMBD floats, valid until the next lli_decode().
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_get_hidden(const lli_context *ctx, int32_t entry, const float **out);

/** lli_context_stat() key: steps run by lli_decode(). */
#define LLI_CTX_STAT_STEPS 0
/** lli_context_stat() key: prefill tokens: entries of sequences that had more than one entry in their step. */
#define LLI_CTX_STAT_PREFILL_TOKENS 1
/** lli_context_stat() key: decode tokens: entries of sequences that had one entry in their step. */
#define LLI_CTX_STAT_DECODE_TOKENS 2
/** lli_context_stat() key: nanoseconds spent in lli_decode(). */
#define LLI_CTX_STAT_TIME_NS 3
/** lli_context_stat() key: the part of ::LLI_CTX_STAT_TIME_NS owed to prefill tokens (each step split by its token counts). */
#define LLI_CTX_STAT_PREFILL_NS 4
/** lli_context_stat() key: the part of ::LLI_CTX_STAT_TIME_NS owed to decode tokens. */
#define LLI_CTX_STAT_DECODE_NS 5
/** lli_context_stat() key: nanoseconds in matrix products (host time; the whole step on asynchronous backends). */
#define LLI_CTX_STAT_MATMUL_NS 6
/** lli_context_stat() key: nanoseconds in attention over the KV cache (host time). */
#define LLI_CTX_STAT_ATTENTION_NS 7

/**
 * @brief Read one of the context's counters, accumulated since creation or the last reset.
 * @param ctx The context.
 * @param key One of the LLI_CTX_STAT_ keys.
 * @param[out] out Receives the value.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG (NULL argument or unknown key).
 */
LLI_API lli_status lli_context_stat(const lli_context *ctx, int key, int64_t *out);

/**
 * @brief Set the context's counters to zero.
 * @param ctx The context.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_context_stats_reset(lli_context *ctx);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/** @defgroup sampler Samplers
 *  A sampler is a chain; each added stage filters or reshapes the candidates, and the last picks.
 *  @{ */

/**
 * @brief Create an empty sampler chain.
 * @param[out] out Receives the chain; free it with lli_sampler_free().
 * @return ::LLI_OK, ::LLI_E_INVALID_ARG or ::LLI_E_NOMEM.
 */
LLI_API lli_status lli_sampler_create(lli_sampler **out);

/**
 * @brief Free a sampler chain. NULL is ignored.
 * @param sampler The chain.
 */
LLI_API void lli_sampler_free(lli_sampler *sampler);

/**
 * @brief Append greedy selection (the most likely token).
 * @param sampler The chain.
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_add_greedy(lli_sampler *sampler);

/**
 * @brief Append temperature scaling.
 * @param sampler The chain.
 * @param temp    Temperature, >= 0.
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_add_temperature(lli_sampler *sampler, float temp);

/**
 * @brief Append top-k filtering.
 * @param sampler The chain.
 * @param k       Candidates to keep, >= 1.
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_add_top_k(lli_sampler *sampler, int32_t k);

/**
 * @brief Append nucleus (top-p) filtering.
 * @param sampler The chain.
 * @param p       Probability mass to keep, in (0, 1].
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_add_top_p(lli_sampler *sampler, float p);

/**
 * @brief Append min-p filtering.
 * @param sampler The chain.
 * @param p       Keep tokens whose probability is at least p times the top one's, in [0, 1].
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_add_min_p(lli_sampler *sampler, float p);

/**
 * @brief Append repetition, frequency and presence penalties over the last tokens accepted.
 * @param sampler    The chain.
 * @param last_n     How many accepted tokens to consider, >= 0.
 * @param repeat     Repetition penalty, 1 for none.
 * @param frequency  Frequency penalty, 0 for none.
 * @param presence   Presence penalty, 0 for none.
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_add_penalties(lli_sampler *sampler, int32_t last_n, float repeat, float frequency,
                                             float presence);

/**
 * @brief Append a seeded random draw from the distribution; the same seed gives the same tokens.
 * @param sampler The chain.
 * @param seed    The seed.
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_add_dist(lli_sampler *sampler, uint64_t seed);

/**
 * @brief Pick a token from one batch entry's logits.
 * @param sampler The chain.
 * @param ctx     The context that computed the logits.
 * @param entry   The batch entry.
 * @param[out] out Receives the token.
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_sample(lli_sampler *sampler, const lli_context *ctx, int32_t entry, lli_token *out);

/**
 * @brief Tell the chain a token was accepted, for the penalties' history.
 * @param sampler The chain.
 * @param token   The token.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sampler_accept(lli_sampler *sampler, lli_token token);

/** @} */

/* ------------------------------------------------------------------------------------------------ */
/**
 * @defgroup experimental Experimental interfaces
 * @brief What may still change: declared only when the program defines LLI_EXPERIMENTAL before
 * including this header.
 *
 * These functions are exported under the version node LLMINFER_EXPERIMENTAL instead of a
 * release's node: a later release may change or remove them (the ABI check in the tests does not
 * hold them), so a program that uses them is built against one release and checked again with the
 * next. Everything outside this section is kept for the life of libllminfer.so.1.
 * @{
 */
#ifdef LLI_EXPERIMENTAL

/**
 * @name The reference continuous-batching scheduler
 *
 * A policy for host-driven batching that hosts can use as it is or copy and change (it is written
 * against the public API only; src/runtime/scheduler.c). The host still drives each step:
 *
 * @code
 * lli_sched_add(s, prompt, n_prompt, max_new, &id);   // whenever a request arrives
 * lli_sched_step(s, ctx, &n_ready);                    // plan the step, lli_decode() it
 * for (int32_t i = 0; i < n_ready; i++) {
 *     lli_sched_ready(s, i, &id, &entry);
 *     lli_sampler_sample(sampler_of(id), ctx, entry, &tok);
 *     if (stops(id, tok)) lli_sched_finish(s, id); else lli_sched_append(s, id, tok);
 * }
 * @endcode
 *
 * Each step carries at most the token budget: one decode token for every running request, chunks
 * of prompts being prefilled, and the first chunks of newly admitted requests (chunked prefill mixed
 * with decode). A request is admitted, first come first served, when the cache holds all its known
 * tokens plus one block of headroom and fewer than max_running requests run. When a running request
 * needs a block and none is free, the most recently admitted one is preempted, by swap (its KV
 * state saved to host memory) or by recompute (its sequence freed; prefilled again later, reusing
 * what the prefix cache still holds). Greedy outputs equal those of each request run alone.
 * A scheduler is used by one thread at a time; it owns the sequences it creates in the cache.
 * @{
 */

/** A scheduler over one KV cache. */
typedef struct lli_sched lli_sched;
/** Parameters for lli_sched_create(). */
typedef struct lli_sched_params lli_sched_params;

/** Preemption mode: save the sequence's KV state to host memory and restore it later (default). */
#define LLI_SCHED_PREEMPT_SWAP 0
/** Preemption mode: free the sequence and prefill its tokens again later. */
#define LLI_SCHED_PREEMPT_RECOMPUTE 1

/** lli_sched_request_stat() #LLI_SCHED_REQ_STATE value: waiting to be admitted. */
#define LLI_SCHED_WAITING 0
/** lli_sched_request_stat() #LLI_SCHED_REQ_STATE value: holds a sequence and takes part in steps. */
#define LLI_SCHED_RUNNING 1
/** lli_sched_request_stat() #LLI_SCHED_REQ_STATE value: preempted, its KV state kept in host memory. */
#define LLI_SCHED_SWAPPED 2

/** lli_sched_stat() key: requests added and not yet finished. */
#define LLI_SCHED_STAT_REQUESTS 0
/** lli_sched_stat() key: requests running now. */
#define LLI_SCHED_STAT_RUNNING 1
/** lli_sched_stat() key: requests swapped out now. */
#define LLI_SCHED_STAT_SWAPPED 2
/** lli_sched_stat() key: preemptions so far. */
#define LLI_SCHED_STAT_PREEMPTIONS 3
/** lli_sched_stat() key: preemptions that swapped the state out. */
#define LLI_SCHED_STAT_SWAP_OUTS 4
/** lli_sched_stat() key: tokens computed again after preemptions by recompute. */
#define LLI_SCHED_STAT_RECOMPUTED_TOKENS 5
/** lli_sched_stat() key: tokens found in the prefix cache at admission. */
#define LLI_SCHED_STAT_REUSED_TOKENS 6
/** lli_sched_stat() key: steps decoded. */
#define LLI_SCHED_STAT_STEPS 7
/** lli_sched_stat() key: batch entries decoded, over all steps. */
#define LLI_SCHED_STAT_STEP_TOKENS 8

/** lli_sched_request_stat() key: #LLI_SCHED_WAITING, #LLI_SCHED_RUNNING or #LLI_SCHED_SWAPPED. */
#define LLI_SCHED_REQ_STATE 0
/** lli_sched_request_stat() key: tokens known (prompt and appended). */
#define LLI_SCHED_REQ_TOKENS 1
/** lli_sched_request_stat() key: tokens in the cache (or in the swapped state). */
#define LLI_SCHED_REQ_CACHED 2
/** lli_sched_request_stat() key: times it was preempted. */
#define LLI_SCHED_REQ_PREEMPTIONS 3
/** lli_sched_request_stat() key: tokens found in the prefix cache at its admissions. */
#define LLI_SCHED_REQ_REUSED 4
/** lli_sched_request_stat() key: its sequence in the cache, -1 while it holds none. */
#define LLI_SCHED_REQ_SEQ 5

/**
 * @brief Make scheduler parameters with the defaults: a budget of 64 tokens per step, at most 256
 * running requests, preemption by swap, prefix reuse on.
 * @param[out] out Receives the parameters; free with lli_sched_params_free().
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_params_create(lli_sched_params **out);
/** @brief Free scheduler parameters. NULL is ignored. @param params The parameters. */
LLI_API void lli_sched_params_free(lli_sched_params *params);
/**
 * @brief Set the most batch entries one step carries.
 * @param params The parameters.
 * @param tokens At least 1.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_params_set_budget(lli_sched_params *params, int32_t tokens);
/**
 * @brief Set the most requests that run at once.
 * @param params The parameters.
 * @param n      At least 1.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_params_set_max_running(lli_sched_params *params, int32_t n);
/**
 * @brief Set how a request is preempted.
 * @param params The parameters.
 * @param mode   #LLI_SCHED_PREEMPT_SWAP or #LLI_SCHED_PREEMPT_RECOMPUTE.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_params_set_preempt(lli_sched_params *params, int mode);
/**
 * @brief Set whether admitted requests start from blocks of their tokens found in the prefix cache.
 * @param params The parameters.
 * @param on     Non-zero: yes (default).
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_params_set_prefix_cache(lli_sched_params *params, int on);

/**
 * @brief Make a scheduler over a KV cache. The cache must outlive it; the scheduler creates and
 * frees sequences in it, and the host should not touch those.
 * @param kv     The cache.
 * @param params Parameters, or NULL for the defaults.
 * @param[out] out Receives the scheduler; free with lli_sched_free().
 * @return ::LLI_OK, ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_create(lli_kv_cache *kv, const lli_sched_params *params, lli_sched **out);
/** @brief Free a scheduler and the sequences of its requests. NULL is ignored. @param sched The scheduler. */
LLI_API void lli_sched_free(lli_sched *sched);
/**
 * @brief Add a request; it waits until a step admits it.
 * @param sched    The scheduler.
 * @param prompt   The prompt's tokens (copied).
 * @param n_prompt At least 1.
 * @param max_new  The most tokens that will be appended (at least 1): admission reserves room for them.
 * @param[out] out Receives the request's id (never reused).
 * @return ::LLI_OK, ::LLI_E_KV_FULL (the request could not fit even alone, with the numbers in the
 *         message), ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_add(lli_sched *sched, const lli_token *prompt, int64_t n_prompt, int64_t max_new,
                                 int64_t *out);
/**
 * @brief Plan one step (preempting and admitting as the policy says) and lli_decode() it.
 * Every request that was ready after the previous step must have been given its token
 * (lli_sched_append()) or finished first. On failure nothing of the step counts: its tokens are
 * planned again next time (preemptions it made stand).
 * @param sched The scheduler.
 * @param ctx   A context over the scheduler's cache, with a max batch of at least the budget.
 * @param[out] n_ready Receives how many requests have logits for their next token (see lli_sched_ready()).
 * @return ::LLI_OK, any status of lli_decode(), ::LLI_E_NOMEM or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_step(lli_sched *sched, lli_context *ctx, int32_t *n_ready);
/**
 * @brief The index-th request whose logits the last step computed, and its batch entry (for
 * lli_sampler_sample() and lli_get_logits()).
 * @param sched The scheduler.
 * @param index 0 to n_ready - 1.
 * @param[out] id    Receives the request's id.
 * @param[out] entry Receives the batch entry.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_ready(const lli_sched *sched, int32_t index, int64_t *id, int32_t *entry);
/**
 * @brief Give a ready request its next token; the next step computes it.
 * @param sched The scheduler.
 * @param id    A ready request.
 * @param token The token.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG (unknown or not ready, or max_new tokens reached).
 */
LLI_API lli_status lli_sched_append(lli_sched *sched, int64_t id, lli_token token);
/**
 * @brief End a request in any state (finished or cancelled): its sequence and swapped state are freed.
 * @param sched The scheduler.
 * @param id    The request.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG (unknown id).
 */
LLI_API lli_status lli_sched_finish(lli_sched *sched, int64_t id);
/**
 * @brief Read one of the scheduler's counters.
 * @param sched The scheduler.
 * @param key   One of the LLI_SCHED_STAT_ keys.
 * @param[out] out Receives the value.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_stat(const lli_sched *sched, int key, int64_t *out);
/**
 * @brief Read a fact about one request.
 * @param sched The scheduler.
 * @param id    The request.
 * @param key   One of the LLI_SCHED_REQ_ keys.
 * @param[out] out Receives the value.
 * @return ::LLI_OK or ::LLI_E_INVALID_ARG.
 */
LLI_API lli_status lli_sched_request_stat(const lli_sched *sched, int64_t id, int key, int64_t *out);

/** @} */

#endif /* LLI_EXPERIMENTAL */
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* LLMINFER_H */
