#!/usr/bin/env bash
# Every GPU check of the CUDA backend in one call on the GPU machine, from a build prepared here by
# tests/gpu/prepare.sh and carried there (no meson, no compiler, no -dev packages, no network, no pip
# are needed; the binaries run directly):
#   device -> host-side tests -> runtime libraries resolved -> every op against the CPU backend ->
#   logits of both backends compared on a random-weight model with realistic spread -> a
#   Mistral-7B-shaped Q4_K_M model (random weights, all 32 layers, made there with lli-mkgguf):
#   copy floor, cuBLAS GEMM rate, lli-bench pp512 / tg128, aggregate decode at 1/8/32/64/128
#   sequences -> compute-sanitizer memcheck of the op tests with the time left -> a table last.
# Each step has a time budget (seconds, below); the whole stays within BUDGET (default 540 s).
# Usage: bash tests/gpu/run.sh [PREPARED_DIR]   (default build-gpu-run). Results go to $OUT when it is
# set (the device tool brings it back, at most 8 files), else to PREPARED_DIR/results: run.log
# (everything), table.md, gpu_ops.txt, logits_f16.txt, logits_q4_k_m.txt, memcheck.txt. Models and
# intermediate outputs go to $TMPDIR/lli-gpu-run.
# Budgets (s), each a cap: device 10, libraries 10, host tests 20, ops 90, logits 2 x 45, Mistral
# model (lli-mkgguf about 20 s, lli-convert) 150, floor and GEMM 40, lli-bench 90, aggregate decode
# 90, memcheck what is left less 15; a step never runs past BUDGET, which cuts the last ones short.
# Skips count as failures here (LLI_GPU_REQUIRED=1): without a GPU the GPU steps fail with the reason.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
P=$(cd "${1:-build-gpu-run}" && pwd) || { echo "run.sh: no prepared build (bash tests/gpu/prepare.sh)"; exit 1; }
R=${OUT:-$P/results}
mkdir -p "$R"
work=${TMPDIR:-/tmp}/lli-gpu-run
mkdir -p "$work"
BUDGET=${BUDGET:-540}
t_start=$SECONDS
export LLI_GPU_REQUIRED=1
declare -A RES
exec > >(tee "$R/run.log") 2>&1

step() { echo; echo "=== $1 (budget ${2} s, $((SECONDS - t_start)) s used) ==="; }
left() { echo $((BUDGET - (SECONDS - t_start))); }
# run NAME SECONDS CMD...: the command under a time limit (never past the whole budget), its status in RES.
run() {
    local name=$1 limit=$2
    shift 2
    local l
    l=$(left)
    [ "$l" -lt "$limit" ] && limit=$l
    if [ "$limit" -le 5 ]; then RES[$name]="not run (out of time)"; echo "$name: not run, out of time"; return 1; fi
    timeout -k 5 "$limit" "$@"
    local rc=$?
    case $rc in
    0) RES[$name]=pass ;;
    124 | 137) RES[$name]="TIMEOUT (${limit} s)" ;;
    *) RES[$name]="FAIL ($rc)" ;;
    esac
    return $rc
}

step "device" 10
gpu=0
if command -v nvidia-smi >/dev/null && timeout 10 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; then
    gpu=1
else
    echo "no GPU: nvidia-smi is missing or lists no device"
fi

step "CUDA runtime and cuBLAS" 10
# libcudart / libcublas 13: the Python environment's nvidia wheels (CUDA 13: nvidia/cu13/lib; older:
# nvidia/*/lib), then the toolkit. The first folder holding each library wins.
cands=()
for py in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    while IFS= read -r sp; do cands+=("$sp/nvidia/cu13/lib" "$sp"/nvidia/*/lib); done < <(
        "$py" -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
done
cands+=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/lib
        /usr/local/cuda-13*/targets/x86_64-linux/lib /usr/local/lib /usr/lib/x86_64-linux-gnu)
# The driver's libcuda.so.1 is usually known to the loader already; else its usual folders.
cands+=(/usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib64)
libdirs=()
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcuda.so.1; do
    if [ $lib = libcuda.so.1 ] && ldconfig -p 2>/dev/null | grep -q "libcuda.so.1 "; then echo "$lib: known to the loader"; continue; fi
    found=
    for d in "${cands[@]}"; do
        if [ -e "$d/$lib" ]; then found=$d; break; fi
    done
    if [ -n "$found" ]; then
        echo "$lib: $found"
        [[ " ${libdirs[*]-} " == *" $found "* ]] || libdirs+=("$found")
    else
        echo "$lib: not found"
    fi
done
# the machine's own libraries first, the carried ones (prepare.sh) last; LLI_PREFER_CARRIED=1 puts
# the carried ones first (to show here that they are complete)
ld=$(IFS=:; echo "${libdirs[*]-}")
if [ "${LLI_PREFER_CARRIED:-0}" = 1 ]; then export LD_LIBRARY_PATH="$P/lib${ld:+:$ld}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else export LD_LIBRARY_PATH="${ld:+$ld:}${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$P/lib"; fi
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ldd "$P/libllminfer.so.1" "$(ls "$P"/cuda/llminfer-cuda-*.so | head -1)" | grep "=>" | sort -u -k1,1
missing=$(for f in "$P"/libllminfer.so.1 "$P"/cuda/*.so "$P"/src/tools/* "$P"/tests/gpu/*; do ldd "$f" 2>/dev/null; done | grep "not found" | sort -u)
if [ -n "$missing" ]; then echo "unresolved libraries:"; echo "$missing"; RES[libraries]="FAIL: $(echo "$missing" | awk '{print $1}' | tr '\n' ' ')"
else echo "every library resolves"; RES[libraries]=pass; fi

step "host-side tests (launch planning, sampler logic)" 20
run host_tests 20 "$P/tests/gpu/test_launch" >"$work/host_tests.txt" 2>&1
tail -5 "$work/host_tests.txt"

step "every op against the CPU backend" 90
module=$(ls "$P"/cuda/llminfer-cuda-*.so | head -1)
LLI_CUDA_MODULE=$module run gpu_ops 90 "$P/tests/gpu/test_gpu_ops" >"$R/gpu_ops.txt" 2>&1
grep -E "FAIL|passed|SKIPPED|no usable" "$R/gpu_ops.txt" | head -40

step "logits of both backends: f16 weights with spread, then q4_k_m" 90
# f16 with --std 0.08: logits with a standard deviation near 2, as a trained model's; q4_k_m: the
# quantized kernels the Mistral benchmark runs (the generator fixes their magnitudes). 8 layers each.
for kind in f16 q4_k_m; do
    small="$work/smollm2-$kind"
    if [ ! -f "$small/manifest.json" ]; then
        extra=; [ $kind = f16 ] && extra="--std 0.08"
        "$P/src/tools/lli-mkgguf" "$small.gguf" --preset smollm2_135m --layers 8 --type $kind --seed 3 $extra >/dev/null &&
            "$P/src/tools/lli-convert" "$small.gguf" "$small" >/dev/null && rm -f "$small.gguf"
    fi
    run logits_$kind 45 "$P/tests/gpu/test_gpu_logits" "$small" >"$R/logits_$kind.txt" 2>&1
    tail -8 "$R/logits_$kind.txt"
done

if [ "$gpu" = 1 ]; then
    step "Mistral 7B-shaped Q4_K_M model" 150
    M="$work/mistral-7b-q4km"
    RES[mistral_make]=pass # made by an earlier run on this machine, unless made below
    if [ ! -f "$M/manifest.json" ]; then
        run mistral_make 150 bash -c "'$P/src/tools/lli-mkgguf' '$work/mistral.gguf' --preset mistral_7b --type q4_k_m >/dev/null &&
            '$P/src/tools/lli-convert' '$work/mistral.gguf' '$M' >/dev/null && rm -f '$work/mistral.gguf'"
    fi
    if [ -f "$M/manifest.json" ]; then
        step "copy floor and GEMM rate" 40
        run floor 40 "$P/tests/gpu/bench_floor" "$M" 512 >"$work/floor.txt" 2>&1
        cat "$work/floor.txt"
        step "lli-bench pp512 / tg128 (cuda)" 90
        run bench 90 "$P/src/tools/lli-bench" -m "$M" --backend cuda -p 512 -n 128 -r 3 -o json >"$work/bench.json" 2>"$work/bench.err"
        cat "$work/bench.json" "$work/bench.err"
        step "aggregate decode" 90
        run decode 90 "$P/tests/gpu/bench_decode" "$M" cuda 1 8 32 64 128 >"$work/decode.txt" 2>&1
        cat "$work/decode.txt"
    fi
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
        2>/dev/null | head -1)
    if [ -n "$cs" ]; then
        step "compute-sanitizer memcheck of the op tests (the time left)" "$(( $(left) - 15 ))"
        LLI_CUDA_MODULE=$module run memcheck $(( $(left) - 15 )) "$cs" --tool memcheck --leak-check full \
            --error-exitcode 9 "$P/tests/gpu/test_gpu_ops" >"$R/memcheck.txt" 2>&1
        tail -5 "$R/memcheck.txt"
    else
        RES[memcheck]="not run: no compute-sanitizer"
    fi
else
    for s in mistral_make floor bench decode memcheck; do RES[$s]="FAIL: no GPU"; done
fi

step "summary" 5
{
    echo "| step | result |"
    echo "| --- | --- |"
    for s in libraries host_tests gpu_ops logits_f16 logits_q4_k_m mistral_make floor bench decode memcheck; do
        echo "| $s | ${RES[$s]:-not run} |"
    done
    kv() { grep -h "^$1=" "$work"/floor.txt "$work"/decode.txt 2>/dev/null | head -1 | cut -d= -f2; }
    echo "| device | $(kv device) (driver $(kv driver), runtime $(kv runtime)) |"
    echo "| copy bandwidth, decode floor | $(kv copy_bandwidth_gbs) GB/s, $(kv decode_floor_ms) ms/token for $(kv weight_bytes) weight bytes |"
    echo "| cuBLAS GEMM rate (one layer's shapes, 512 rows) | $(kv gemm_tflops) TFLOPS; $(kv prefill_flops_per_token) FLOP per prompt token |"
    if command -v python3 >/dev/null && [ -s "$work/bench.json" ]; then
        python3 - "$work/bench.json" "$(kv decode_floor_ms)" "$(kv gemm_tflops)" "$(kv prefill_flops_per_token)" <<'PY' || true
import json, sys
rows, floor, gemm, fpt = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
pp = next((r['avg_ts'] for r in rows if r.get('n_prompt')), None)
tg = next((r['avg_ts'] for r in rows if r.get('n_gen')), None)
if tg:
    ms = 1000.0 / tg
    x = f" = {ms / float(floor):.2f}x the floor (target <= 1.4x)" if floor else ""
    print(f"| tg128 | {tg:.1f} t/s, {ms:.3f} ms/token{x} |")
if pp:
    x = ""
    if gemm and fpt:
        eff = pp * float(fpt) / 1e12
        x = f" = {eff:.1f} TFLOPS, {100 * eff / float(gemm):.0f}% of the GEMM rate (target >= 50%)"
    print(f"| pp512 | {pp:.0f} t/s{x} |")
PY
    fi
    for s in 1 8 32 64 128; do echo "| decode, $s sequences | $(kv decode_seqs_${s}_tps) tokens/s |"; done
    echo "| total time | $((SECONDS - t_start)) s |"
} | tee "$R/table.md"
for s in libraries host_tests gpu_ops logits_f16 logits_q4_k_m mistral_make floor bench decode; do
    [ "${RES[$s]:-}" = pass ] || exit 1
done
