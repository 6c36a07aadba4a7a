"""What the scripts that run us beside llama.cpp share: the machine's name for the record, and the
models: the default GGUF, quantized to other types by llama.cpp's own quantizer so that both sides
run the very same file, and its fragments for our side."""
import ctypes
import json
import os
import platform
import subprocess
import sys

# llama.cpp's file types (enum llama_ftype) for the types the benchmarks use.
FTYPES = {"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q4_k_m": 15, "q6_k": 18}


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def quantize(src, dst, ftype):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype]
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params)) != 0:
        sys.exit(f"llama.cpp could not quantize to {ftype}")


def default_gguf(root):
    """The default model's GGUF, downloaded into the repository's cache on first use."""
    return subprocess.run(["bash", os.path.join(root, "scripts", "fetch-model.sh")], capture_output=True, text=True,
                          check=True).stdout.strip()


def models_for(base, ftype, tmp, convert_exe):
    """(GGUF, fragment directory) of the default model in `ftype`: the file itself for its own type
    (q4_1), else llama.cpp's quantization of it; the fragments made with `convert_exe`, in tmp."""
    gguf = base if ftype == "q4_1" else os.path.join(tmp, f"smollm2-{ftype}.gguf")
    if gguf != base:
        quantize(base, gguf, ftype)
    d = os.path.join(tmp, f"frag-{ftype}")
    subprocess.run([convert_exe, gguf, d], check=True, capture_output=True)
    return gguf, d


# ---- llama.cpp's own tools (scripts/build-llamacpp.sh builds them) --------------------------------

def llamacpp_tools(root):
    """(llama-bench, llama-quantize), built by scripts/build-llamacpp.sh when missing."""
    bindir = os.path.join(root, "third_party-build", "build", "bin")
    tools = (os.path.join(bindir, "llama-bench"), os.path.join(bindir, "llama-quantize"))
    if not all(os.access(t, os.X_OK) for t in tools):
        print("building llama.cpp's llama-bench and llama-quantize (scripts/build-llamacpp.sh) ...", file=sys.stderr)
        bindir = subprocess.run([os.path.join(root, "scripts", "build-llamacpp.sh")], check=True, text=True,
                                stdout=subprocess.PIPE).stdout.strip().splitlines()[-1]
        tools = (os.path.join(bindir, "llama-bench"), os.path.join(bindir, "llama-quantize"))
    return tools


def quantize_tool(exe, src, dst, type_name):
    """llama-quantize src into dst as type_name (its names: F16, Q4_K_M, ...); requantizes if asked.
    Written under a temporary name, so an interrupted run leaves no partial file behind."""
    tmp = dst + ".part"
    r = subprocess.run([exe, "--allow-requantize", src, tmp, type_name, "2"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"llama-quantize could not make {type_name}:\n{r.stderr[-2000:]}")
    os.replace(tmp, dst)


def llama_bench(exe, gguf, threads, reps, n_prompt=(), n_gen=()):
    """llama-bench's JSON rows for the given prompt and generation lengths (tests of 0 are left out)."""
    cmd = [exe, "-m", gguf, "-t", str(threads), "-r", str(reps), "-o", "json",
           "-p", ",".join(map(str, n_prompt)) if n_prompt else "0", "-n", ",".join(map(str, n_gen)) if n_gen else "0"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return [row for row in json.loads(r.stdout) if row["n_prompt"] or row["n_gen"]]


def lli_bench(exe, model_dir, threads, reps, n_prompt=0, n_gen=0):
    """lli-bench's JSON rows (llama-bench's shape) for one prompt and/or one generation length."""
    cmd = [exe, "-m", model_dir, "-t", str(threads), "-r", str(reps), "-o", "json", "-p", str(n_prompt),
           "-n", str(n_gen)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return [row for row in json.loads(r.stdout) if row["n_prompt"] or row["n_gen"]]


def cpu_flags():
    """The CPU's SIMD-related flags from /proc/cpuinfo, the ones that decide which kernels run."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(l.split(":", 1)[1].split() for l in f if l.startswith("flags"))
    except (OSError, StopIteration):
        return ""
    keep = ("avx", "fma", "f16c", "sse4_2", "amx", "vnni", "bf16", "neon", "sve")
    return " ".join(f for f in flags if any(f.startswith(k) or k in f for k in keep))


# ---- GGUF tensor sizes ----------------------------------------------------------------------------

def gguf_tensor_bytes(path):
    """{tensor name: bytes of its data} from a GGUF file's header (sizes from the data offsets)."""
    import struct
    with open(path, "rb") as f:
        def rd(fmt):
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def rd_str():
            return f.read(rd("Q")).decode("utf-8", "replace")
        scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

        def skip_value(t):
            if t == 8:
                rd_str()
            elif t == 9:
                et, n = rd("I"), rd("Q")
                if et in scalar:
                    f.seek(n * struct.calcsize(scalar[et]), 1)
                else:
                    for _ in range(n):
                        skip_value(et)
            else:
                rd(scalar[t])
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        rd("I")
        n_tensors, n_kv = rd("Q"), rd("Q")
        alignment = 32
        for _ in range(n_kv):
            key, t = rd_str(), rd("I")
            if key == "general.alignment" and t == 4:
                alignment = rd("I")
            else:
                skip_value(t)
        infos = []
        for _ in range(n_tensors):
            name = rd_str()
            n_dims = rd("I")
            f.seek(8 * n_dims + 4, 1)  # dimensions, type
            infos.append((rd("Q"), name))
        data_start = (f.tell() + alignment - 1) // alignment * alignment
        end = os.path.getsize(path) - data_start
    infos.sort()
    return {name: (infos[i + 1][0] if i + 1 < len(infos) else end) - off for i, (off, name) in enumerate(infos)}


def decode_weight_bytes(path):
    """Bytes a decode step reads from the weights: all tensors except the token embedding, of which it
    reads one row (unless the output layer is the same tensor, tied)."""
    sizes = gguf_tensor_bytes(path)
    tied = "output.weight" not in sizes
    return sum(b for n, b in sizes.items() if n != "token_embd.weight" or tied)


# ---- memory read bandwidth ------------------------------------------------------------------------

MEMBW_C = r"""
/* Streaming read of a buffer far larger than the caches, on T threads: the bandwidth that bounds a
 * decode step, which reads every weight once. Prints GB/s (best of several passes). The buffer is
 * in 2 MiB pages where the kernel grants them, as libllminfer's CPU backend puts its weights:
 * with 4 KiB pages the TLB misses of this virtual machine cost a fifth of the bandwidth, and
 * decode could read faster than the "floor". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
typedef struct { const uint64_t *p; size_t n; uint64_t sum; } part;
static void *reader(void *a) {
    part *q = a;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= q->n; i += 4) { s0 += q->p[i]; s1 += q->p[i + 1]; s2 += q->p[i + 2]; s3 += q->p[i + 3]; }
    q->sum = s0 ^ s1 ^ s2 ^ s3;
    return NULL;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 1;
    size_t bytes = (size_t)(argc > 2 ? atof(argv[2]) : 1024) << 20, n = bytes / 8;
    uint64_t *buf = aligned_alloc((size_t)2 << 20, bytes);
    if (!buf) return 1;
#ifdef MADV_HUGEPAGE
    madvise(buf, bytes, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < n; i++) buf[i] = i;
    double best = 0; uint64_t x = 0;
    for (int pass = 0; pass < 7; pass++) {
        pthread_t th[64]; part parts[64];
        double t0 = now();
        for (int k = 0; k < T; k++) {
            parts[k] = (part){buf + n / T * k, n / T, 0};
            pthread_create(&th[k], NULL, reader, &parts[k]);
        }
        for (int k = 0; k < T; k++) { pthread_join(th[k], NULL); x ^= parts[k].sum; }
        double gbs = bytes / (now() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("%.3f %llu\n", best, (unsigned long long)(x & 1));
    return 0;
}
"""


def memory_bandwidth(threads, workdir, mib=1024):
    """Read bandwidth in GB/s on `threads` threads (best of several passes over `mib` MiB)."""
    src, exe = os.path.join(workdir, "membw.c"), os.path.join(workdir, "membw")
    with open(src, "w") as f:
        f.write(MEMBW_C)
    subprocess.run(["cc", "-O3", "-march=native", "-pthread", src, "-o", exe], check=True)
    out = subprocess.run([exe, str(threads), str(mib)], capture_output=True, text=True, check=True).stdout
    return float(out.split()[0])
