#!/usr/bin/env python3
"""Benchmark: verify + load the default model's fragments, against sha256sum over the same files.

usage: scripts/bench-load.py [--runs N] [--threads 1,2]
Converts the default GGUF (scripts/fetch-model.sh) into raw and zstd fragment directories in a
temporary folder, then times, in one run, with warm page cache:
  sha256sum over every fragment file (the yardstick), and openssl dgst -sha256 (stricter),
  lli-info DIR --threads T (manifest, headers, SHA-256 of every fragment, decompression, placement)
and prints a Markdown table with medians and the ratio to sha256sum.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "build", "src", "tools")


def timed(cmd, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    gguf = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-model.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()
    threads = [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for comp in ("none", "zstd"):
            d = os.path.join(tmp, comp)
            subprocess.run([os.path.join(TOOLS, "lli-convert"), gguf, d, "--compress", comp], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            frags = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".frag"))
            mib = sum(os.path.getsize(f) for f in frags) / 2**20
            timed(["cat"] + frags, 1)  # warm the page cache
            base = timed(["sha256sum"] + frags, args.runs)
            rows.append((comp, "sha256sum", 1, mib, base, 1.0))
            # A stricter yardstick: OpenSSL's own hashing (SHA-NI where the CPU has it), which
            # coreutils' sha256sum does not use.
            ossl = timed(["openssl", "dgst", "-sha256"] + frags, args.runs)
            rows.append((comp, "openssl dgst -sha256", 1, mib, ossl, ossl / base))
            for t in threads:
                s = timed([os.path.join(TOOLS, "lli-info"), d, "--threads", str(t)], args.runs)
                rows.append((comp, "lli-info (verify + load)", t, mib, s, s / base))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"model: {os.path.basename(gguf)}; medians of {args.runs} runs, warm page cache\n")
    print("| fragments | command | threads | MiB | seconds | ratio to sha256sum |")
    print("| --- | --- | --- | --- | --- | --- |")
    for comp, cmd, t, mib, s, r in rows:
        print(f"| {comp} | {cmd} | {t} | {mib:.1f} | {s:.3f} | {r:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
