"""The command-line tools' contracts: output formats, exit codes, determinism."""
import json
import shutil
import subprocess

from conftest import ROOT

TOOLS = ROOT / "build" / "src" / "tools"
VECTORS = ROOT.parent / "shared" / "vectors" / "tokenizer"


def run(*args, check=True):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check)


def test_bench_json_has_llama_bench_shape(model_dir):
    rows = json.loads(run(TOOLS / "lli-bench", "-m", model_dir, "-p", "16", "-n", "4", "-r", "2", "-t", "2", "-o", "json").stdout)
    assert isinstance(rows, list) and len(rows) == 2
    for row in rows:
        for key in ("n_prompt", "n_gen", "n_threads", "avg_ts", "stddev_ts"):
            assert key in row
        assert row["n_threads"] == 2 and row["avg_ts"] > 0 and len(row["samples_ts"]) == 2
    assert (rows[0]["n_prompt"], rows[0]["n_gen"], rows[1]["n_prompt"], rows[1]["n_gen"]) == (16, 0, 0, 4)


def test_tokenize_on_a_vocab_only_directory(tmp_path):
    vocab = tmp_path / "spm"
    run(TOOLS / "lli-convert", VECTORS / "ggml-vocab-llama-spm.gguf", vocab)
    out = run(TOOLS / "lli-tokenize", "-m", vocab, "-p", "ied 4 ½ months").stdout
    assert out == "474 287 29871 29946 29871 30226 7378\n"
    out = run(TOOLS / "lli-tokenize", "-m", vocab, "--add-special", "-p", "Hello").stdout.split()
    assert out[0] == "1"  # BOS
    bad = run(TOOLS / "lli-tokenize", "-m", tmp_path / "missing", "-p", "x", check=False)
    assert bad.returncode != 0 and "missing" in bad.stderr


def test_logits_lines(model_dir, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("504 3575 282 4649 314")
    lines = [json.loads(l) for l in run(TOOLS / "lli-logits", "-m", model_dir, "-f", ids, "--top", "4").stdout.splitlines()]
    assert [l["pos"] for l in lines] == [0, 1, 2, 3, 4]
    for l in lines:
        assert len(l["top"]) == 4 and l["logit"] == sorted(l["logit"], reverse=True)
    ids.write_text("504 not-a-number")
    assert run(TOOLS / "lli-logits", "-m", model_dir, "-f", ids, check=False).returncode != 0


def test_generate_is_deterministic(model_dir):
    args = [TOOLS / "lli-generate", "-m", model_dir, "-p", "The recipe calls for", "-n", "12", "--threads", "2"]
    a, b = run(*args), run(*args)
    assert a.stdout == b.stdout and len(a.stdout.strip()) > 0
    assert "tokens/s" in a.stderr
    s1 = run(*args, "--temp", "0.9", "--seed", "3").stdout
    s2 = run(*args, "--temp", "0.9", "--seed", "3").stdout
    assert s1 == s2
    chat = run(TOOLS / "lli-generate", "-m", model_dir, "-p", "Hi", "-n", "4", "--chat")
    assert chat.returncode == 0


def test_verify_exit_codes(model_dir, tmp_path):
    good = run(TOOLS / "lli-verify", model_dir)
    assert good.returncode == 0 and "all checks passed" in good.stdout
    assert all(line.startswith("ok") for line in good.stdout.splitlines()[:-1])
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    (bad / "head.frag").unlink()
    r = run(TOOLS / "lli-verify", bad, check=False)
    assert r.returncode == 1
    assert any(l.startswith("FAIL") and "head" in l for l in r.stdout.splitlines())
