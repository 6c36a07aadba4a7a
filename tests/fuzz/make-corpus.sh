#!/usr/bin/env bash
# Make the committed seed corpora of tests/fuzz/corpus/ (small files; run once, or again when the
# formats change). Files it does not make stay: regress-* (inputs that found a bug since fixed) and
# known-* (inputs of a bug not yet fixed, see docs/fuzzing.md). Needs a build with -Dfuzz=enabled: its lli-mkgguf, lli-convert and fuzz_kv_restore.
# usage: tests/fuzz/make-corpus.sh BUILD_DIR
set -euo pipefail
build=$(realpath "$1")
cd "$(dirname "$0")"
out=$PWD/corpus
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkgguf=$build/src/tools/lli-mkgguf convert=$build/src/tools/lli-convert
for c in gguf model_dir fragment_decode tokenizer kv_restore chat; do mkdir -p "$out/$c"; done

# GGUF: the tiny model of the harnesses (as tests/fuzz/meson.build makes it), a qwen3 one with a
# separate output matrix, and hand-made files: empty, and one value of every metadata type.
tiny=(--arch llama --n-embd 32 --n-ff 64 --n-head 2 --n-head-kv 1 --n-vocab 260 --layers 1)
"$mkgguf" "$tmp/tiny.gguf" "${tiny[@]}" --type q4_0 --tied --seed 1 >/dev/null 2>&1
"$mkgguf" "$tmp/qwen3.gguf" --arch qwen3 --n-embd 32 --n-ff 64 --n-head 2 --n-head-kv 1 --n-vocab 260 \
    --head-dim 16 --layers 1 --type q8_0 --seed 2 >/dev/null 2>&1
cp "$tmp/tiny.gguf" "$out/gguf/tiny-llama-q4_0.gguf"
cp "$tmp/qwen3.gguf" "$out/gguf/tiny-qwen3-q8_0.gguf"
python3 - "$out/gguf" <<'PY'
import struct, sys
d = sys.argv[1]
def s(x): b = x.encode(); return struct.pack('<Q', len(b)) + b
def kv(key, t, payload): return s(key) + struct.pack('<I', t) + payload
open(f'{d}/empty.gguf', 'wb').write(b'GGUF' + struct.pack('<IQQ', 3, 0, 0))
kvs = [kv('u8', 0, b'\x01'), kv('i8', 1, b'\xff'), kv('u16', 2, b'\x02\x00'), kv('i16', 3, b'\xfe\xff'),
       kv('u32', 4, struct.pack('<I', 7)), kv('i32', 5, struct.pack('<i', -7)), kv('f32', 6, struct.pack('<f', 1.5)),
       kv('bool', 7, b'\x01'), kv('general.architecture', 8, s('llama')), kv('u64', 10, struct.pack('<Q', 9)),
       kv('i64', 11, struct.pack('<q', -9)), kv('f64', 12, struct.pack('<d', 2.5)),
       kv('general.alignment', 4, struct.pack('<I', 32)),
       kv('arr.i32', 9, struct.pack('<IQ', 5, 3) + struct.pack('<3i', 1, 2, 3)),
       kv('tokenizer.ggml.tokens', 9, struct.pack('<IQ', 8, 2) + s('a') + s('b'))]
body = b'GGUF' + struct.pack('<IQQ', 3, 1, len(kvs)) + b''.join(kvs)
body += s('t') + struct.pack('<I', 1) + struct.pack('<Q', 8) + struct.pack('<I', 0) + struct.pack('<Q', 0)
body += b'\0' * (-len(body) % 32) + struct.pack('<8f', *range(8))
open(f'{d}/every-type.gguf', 'wb').write(body)
PY

# Model directories, packed as fuzz_model_dir reads them (flags byte; name NUL length bytes ...).
"$convert" "$tmp/tiny.gguf" "$tmp/raw" >/dev/null
"$convert" "$tmp/tiny.gguf" "$tmp/zstd" --compress zstd:1 >/dev/null
python3 - "$tmp" "$out/model_dir" <<'PY'
import os, struct, sys
src, d = sys.argv[1:]
def pack(flags, dirname):
    out = bytes([flags])
    for name in sorted(os.listdir(dirname)):
        data = open(os.path.join(dirname, name), 'rb').read()
        out += name.encode() + b'\0' + struct.pack('<I', len(data)) + data
    return out
open(f'{d}/raw-verify', 'wb').write(pack(5, f'{src}/raw'))
open(f'{d}/raw-noverify', 'wb').write(pack(0, f'{src}/raw'))
open(f'{d}/zstd-verify', 'wb').write(pack(1, f'{src}/zstd'))
open(f'{d}/zstd-vocab-only', 'wb').write(pack(2, f'{src}/zstd'))
PY

# Damaged fragments: (variant and fragment byte, offset, bytes written).
python3 - "$out/fragment_decode" <<'PY'
import struct, sys
d = sys.argv[1]
seeds = {'header-magic': (0, 0, b'X'), 'header-index': (2, 24, b'\x07'), 'payload-raw': (4, 300, b'\xff' * 16),
         'payload-zstd': (5, 300, b'\x00' * 8), 'zstd-frame-start': (3, 256, b'\x28\xb5\x2f\xfd\x00'),
         'unchanged': (0, 0, b'LLIFRAG')}
for name, (sel, off, data) in seeds.items():
    open(f'{d}/{name}', 'wb').write(bytes([sel]) + struct.pack('<I', off) + data)
PY

# Tokenizer: flags byte (parse special, add special, vocabulary) and text.
python3 - "$out/tokenizer" <<'PY'
import sys
d = sys.argv[1]
texts = {'hello': 'Hello world', 'special': '<|im_start|>user\nHi<|im_end|><s></s>', 'utf8': 'été 東京 🦙 Ωμέγα',
         'spaces': '  a  \n\n\tb   ', 'digits': '1234567 3.14 0x1F', 'code': 'def f(x):\n    return x*2  # ok'}
for v, vname in enumerate(['bpe', 'spm', 'tiny']):
    for name, t in texts.items():
        flags = (v << 2) | (3 if name == 'special' else 0)
        open(f'{d}/{vname}-{name}', 'wb').write(bytes([flags]) + t.encode())
PY

# KV states: saved from the tiny model by the harness itself.
LLI_FUZZ_MAKE_SEEDS="$out/kv_restore" ASAN_OPTIONS=detect_leaks=0 "$build/tests/fuzz/fuzz_kv_restore"

# Chat: the template, NUL, then messages separated by NULs, each a role byte (0 system, 1 user,
# 2 assistant, 3 tool, 4 an unknown role) and its text.
printf '%s\0\001%s' "{% for m in messages %}<|im_start|>{{ m.role }}" "Hello" > "$out/chat/chatml"
printf '%s\0\000%s\0\001%s\0\002%s\0\001%s' "<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n{% for m in messages %}<|im_start|>" \
    "Be brief." "What is 2+2?" "4" "And 3+3?" > "$out/chat/chatml-system"
printf '%s\0\001%s\0\003%s' "<|start_header_id|>{{ role }}<|end_header_id|>" "Hi" "tool output" > "$out/chat/llama3"
printf '%s\0\000%s\0\001%s' "{{ '[INST] ' + message }}" "System text" "Bonjour" > "$out/chat/mistral"
printf '%s\0\001%s' "{{ messages }}" "x" > "$out/chat/unknown"
printf '%s\0\004%s' "{% for m in messages %}<|im_start|>{{ m.role }}" "a narrator" > "$out/chat/unknown-role"
du -sh "$out"/*
