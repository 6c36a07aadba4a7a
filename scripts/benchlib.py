"""What the scripts that run us beside llama.cpp share: the machine's name for the record, and the
models: the default GGUF, quantized to other types by llama.cpp's own quantizer so that both sides
run the very same file, and its fragments for our side."""
import ctypes
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
