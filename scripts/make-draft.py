#!/usr/bin/env python3
"""Write a draft model for speculative decoding: a GGUF model cut to its first N layers.

usage: scripts/make-draft.py IN.gguf OUT.gguf --layers N

Every metadata key is copied (the tokenizer with it, so draft and target share their vocabulary),
except the architecture's block_count, which becomes N; tensors of layers N and above are left out.
The embeddings, the output norm and the output head are kept, so the cut model still predicts
tokens: roughly, from what its first N layers already know. Tensor bytes are copied as they are.
Convert the result with `lli-convert OUT.gguf DIR`. Needs gguf-py (`pip install gguf`).
"""
import argparse
import re
import sys

import gguf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--layers", type=int, required=True, help="layers to keep, from the first")
    args = ap.parse_args()

    src = gguf.GGUFReader(args.input)
    arch = src.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    count_key = gguf.Keys.LLM.BLOCK_COUNT.format(arch=arch)
    n_layer = src.get_field(count_key).contents()
    if not 1 <= args.layers <= n_layer:
        sys.exit(f"--layers must be 1 to {n_layer}, the model's layer count")

    out = gguf.GGUFWriter(args.output, arch)  # writes general.architecture itself
    alignment = src.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        out.data_alignment = alignment.contents()
    for name, field in src.fields.items():
        # The reader's GGUF.* entries are the header, not keys; the writer produces its own.
        if name.startswith("GGUF.") or name == gguf.Keys.General.ARCHITECTURE:
            continue
        value = args.layers if name == count_key else field.contents()
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        out.add_key_value(name, value, field.types[0], sub_type=sub_type)

    kept = 0
    for t in src.tensors:
        m = re.match(r"blk\.(\d+)\.", t.name)
        if m and int(m.group(1)) >= args.layers:
            continue
        # Quantized data arrives as rows of bytes; raw_dtype lets the writer recover the shape.
        out.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
        kept += 1

    out.write_header_to_file()
    out.write_kv_data_to_file()
    out.write_tensors_to_file()
    out.close()
    print(f"{args.output}: {arch}, {args.layers} of {n_layer} layers, {kept} of {len(src.tensors)} tensors")


if __name__ == "__main__":
    main()
