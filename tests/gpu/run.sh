#!/usr/bin/env bash
# Every GPU check of the CUDA backend in one call, on a machine with an NVIDIA GPU:
#   build (CUDA module enabled, warnings as errors) -> host-side tests -> every op against the CPU
#   backend -> SmolLM2 greedy generation on both backends -> a Mistral-7B-shaped Q4_K_M model
#   (random weights, all 32 layers): copy-bandwidth floor, cuBLAS GEMM rate, lli-bench pp512 / tg128,
#   aggregate decode at 1/8/32/64/128 sequences -> a short table last.
# Usage: bash tests/gpu/run.sh [BUILD_DIR]   (default build-gpu; the Mistral model is kept there)
# Skips count as failures here (LLI_GPU_REQUIRED=1): on a GPU machine nothing may quietly skip.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
B=${1:-build-gpu}
export LLI_GPU_REQUIRED=1
export LD_LIBRARY_PATH="$root/$B/cuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out="$B/gpu-results"
declare -A R
step() { echo; echo "=== $* ==="; }

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi failed"

step "build"
if [ -d "$B" ]; then meson setup --reconfigure "$B" -Dcuda=enabled --werror >/dev/null
else meson setup "$B" -Dcuda=enabled --werror >/dev/null; fi || { echo "meson setup failed"; exit 1; }
if ninja -C "$B" -j"$(nproc)" >"$B/ninja.log" 2>&1; then R[build]=ok; else tail -40 "$B/ninja.log"; echo "build failed"; exit 1; fi
mkdir -p "$out"

step "tests"
gguf="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
smol_note="SmolLM2-135M-Instruct Q4_1"
if [ ! -s "$gguf" ]; then
    bash scripts/fetch-model.sh >/dev/null 2>&1 || true
fi
if [ ! -s "$gguf" ]; then
    # No network on the device: same shapes with random weights (near ties make this a weaker check).
    gguf="$root/$B/smollm2-random.gguf"
    [ -s "$gguf" ] || "$B/src/tools/lli-mkgguf" "$gguf" --preset smollm2_135m --type q4_1 --seed 1 >/dev/null
    smol_note="SmolLM2-135M shapes, RANDOM weights (the real model was not available)"
fi
if meson test -C "$B" cuda_launch --print-errorlogs >"$out/cuda_launch.log" 2>&1; then R[cuda_launch]=pass; else R[cuda_launch]=FAIL; fi
if "$B/tests/gpu/test_gpu_ops" >"$out/gpu_ops.txt" 2>&1; then R[gpu_ops]=pass; else R[gpu_ops]=FAIL; fi
if "$B/tests/gpu/test_gpu_generate" "$gguf" >"$out/gpu_generate.txt" 2>&1; then R[gpu_generate]=pass; else R[gpu_generate]=FAIL; fi
grep -E "FAIL|passed|SKIPPED" "$out/gpu_ops.txt" | head -40
cat "$out/gpu_generate.txt"

step "Mistral 7B-shaped Q4_K_M model"
M="$B/mistral-7b-q4km"
if [ ! -f "$M/manifest.json" ]; then
    "$B/src/tools/lli-mkgguf" "$B/mistral.gguf" --preset mistral_7b --type q4_k_m && \
    "$B/src/tools/lli-convert" "$B/mistral.gguf" "$M" && rm -f "$B/mistral.gguf"
fi
[ -f "$M/manifest.json" ] || { echo "could not make the Mistral model"; exit 1; }

step "floor and GEMM rate"
"$B/tests/gpu/bench_floor" "$M" 512 | tee "$out/floor.txt"
step "lli-bench (cuda)"
"$B/src/tools/lli-bench" -m "$M" --backend cuda -p 512 -n 128 -r 3 -o json | tee "$out/bench.json"
step "aggregate decode"
"$B/tests/gpu/bench_decode" "$M" cuda 1 8 32 64 128 | tee "$out/decode.txt"

step "summary"
python3 - "$out" "${R[cuda_launch]:-?}" "${R[gpu_ops]:-?}" "${R[gpu_generate]:-?}" "$smol_note" <<'PY'
import json, sys, os
out, launch, ops, gen, note = sys.argv[1:6]
def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            if '=' in line:
                k, v = line.strip().split('=', 1)
                d[k] = v
    return d
f, dec = kv(os.path.join(out, 'floor.txt')), kv(os.path.join(out, 'decode.txt'))
pp = tg = None
try:
    for row in json.load(open(os.path.join(out, 'bench.json'))):
        if row['n_prompt']: pp = row['avg_ts']
        if row['n_gen']: tg = row['avg_ts']
except Exception as e:
    print('lli-bench output unreadable:', e)
rows = [('device', f.get('device', '?')), ('driver / runtime', f"{f.get('driver', '?')} / {f.get('runtime', '?')}"),
        ('cuda_launch (host planning)', launch), ('gpu_ops (every op vs CPU)', ops), (f'gpu_generate ({note})', gen)]
floor = float(f['decode_floor_ms']) if 'decode_floor_ms' in f else None
if tg and floor:
    ms = 1000.0 / tg
    rows.append(('tg128 ms/token vs floor', f"{ms:.2f} ms vs {floor:.2f} ms = {ms / floor:.2f}x (target <= 1.4x)"))
if pp and 'gemm_tflops' in f:
    eff = pp * float(f['prefill_flops_per_token']) / 1e12
    rows.append(('pp512 vs cuBLAS GEMM rate', f"{pp:.0f} t/s = {eff:.1f} TFLOPS vs {f['gemm_tflops']} = {100 * eff / float(f['gemm_tflops']):.0f}% (target >= 50%)"))
rows.append(('copy bandwidth', f"{f.get('copy_bandwidth_gbs', '?')} GB/s; weights {int(f.get('weight_bytes', 0)) / 2**30:.2f} GiB"))
for s in (1, 8, 32, 64, 128):
    rows.append((f'decode, {s} sequences', f"{dec.get(f'decode_seqs_{s}_tps', '?')} tokens/s"))
w = max(len(a) for a, _ in rows)
print(f"| {'check'.ljust(w)} | result |\n| {'-' * w} | --- |")
for a, b in rows: print(f"| {a.ljust(w)} | {b} |")
PY
[ "${R[cuda_launch]}" = pass ] && [ "${R[gpu_ops]}" = pass ] && [ "${R[gpu_generate]}" = pass ]
