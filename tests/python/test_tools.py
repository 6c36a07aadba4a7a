"""The command-line tools' contracts: output formats, exit codes, determinism."""
import json
import os
import shutil
import signal
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
    args = [TOOLS / "lli-generate", "-m", model_dir, "-p", "The recipe calls for", "-n", "12", "--threads", "2", "--backend", "cpu"]
    a, b = run(*args), run(*args)
    assert a.stdout == b.stdout and len(a.stdout.strip()) > 0
    assert "prompt eval time" in a.stderr and "tokens per second" in a.stderr and "on the cpu backend" in a.stderr
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


ALL_TOOLS = ["lli-convert", "lli-verify", "lli-info", "lli-tokenize", "lli-generate", "lli-logits", "lli-bench", "lli-mkgguf"]


def test_every_tool_has_help_and_version():
    for tool in ALL_TOOLS:
        h = run(TOOLS / tool, "--help")
        assert h.stdout.startswith(f"Usage: {tool} ") and "--help" in h.stdout and "Exit status" in h.stdout, tool
        v = run(TOOLS / tool, "--version")
        assert v.stdout.startswith(f"{tool} (libllminfer) ") and v.stdout.split()[-1][0].isdigit(), tool
        bad = run(TOOLS / tool, "--no-such-option", check=False)
        assert bad.returncode == 2 and "--no-such-option" in bad.stderr, (tool, bad.stderr)


# Each wrong command line exits with status 2 and names the option (and the value) it is about.
BAD_GENERATE = [
    (["-n", "abc"], ["-n", "abc"]),
    (["--top-p", "2"], ["--top-p", "2"]),
    (["--top-p", "0"], ["--top-p"]),
    (["--temp", "-1"], ["--temp", "-1"]),
    (["--min-p", "1.5"], ["--min-p"]),
    (["--repeat-penalty", "0"], ["--repeat-penalty"]),
    (["-c", "-5"], ["-c"]),
    (["-t", "5000"], ["-t"]),
    (["--seed", "x"], ["--seed"]),
    (["--backend", "gpu"], ["--backend", "gpu"]),
    (["--chat=yes"], ["--chat"]),
    (["-n"], ["-n"]),
    (["--bogus"], ["--bogus"]),
    (["extra"], ["extra"]),
]


def test_generate_refuses_bad_options(model_dir):
    for extra, names in BAD_GENERATE:
        r = run(TOOLS / "lli-generate", "-m", model_dir, "-p", "hi", *extra, check=False)
        assert r.returncode == 2, (extra, r.returncode, r.stderr)
        assert all(n in r.stderr for n in names), (extra, r.stderr)
        assert r.stdout == "", extra
    for tool, args, name in [("lli-bench", ["-m", model_dir, "-r", "0"], "-r"), ("lli-bench", ["-m", model_dir, "-o", "csv"], "-o"),
                             ("lli-logits", ["-m", model_dir, "-p", "x", "--top", "0"], "--top"),
                             ("lli-info", [model_dir, "--layers", "3"], "--layers"), ("lli-info", [], "missing"),
                             ("lli-convert", ["a.gguf", "out", "--compress", "zstd:40"], "--compress"),
                             ("lli-verify", [model_dir, model_dir], "unexpected"),
                             ("lli-tokenize", ["-m", model_dir], "-p")]:
        r = run(TOOLS / tool, *args, check=False)
        assert r.returncode == 2 and name in r.stderr, (tool, args, r.stderr)


def test_generate_empty_prompt_and_failures_name_the_cause(model_dir, tmp_path):
    r = run(TOOLS / "lli-generate", "-m", model_dir, "-p", "", check=False)
    assert r.returncode == 2 and "empty" in r.stderr and "CUDA" not in r.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = run(TOOLS / "lli-generate", "-m", model_dir, "-f", empty, check=False)
    assert r.returncode == 2 and "empty" in r.stderr and str(empty) in r.stderr
    r = run(TOOLS / "lli-generate", "-m", tmp_path / "nowhere", "-p", "x", check=False)
    assert r.returncode == 1 and "nowhere" in r.stderr and "CUDA" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1  # one message, for the call that failed


def gen(model_dir, *args, stdin=None):
    return subprocess.run([str(a) for a in [TOOLS / "lli-generate", "-m", model_dir, "-t", "2", "--backend", "cpu", *args]],
                          capture_output=True, text=True, check=True, input=stdin)


def test_generate_reads_the_prompt_from_a_file_and_stdin(model_dir, tmp_path):
    prompt = "The recipe calls for"
    ref = gen(model_dir, "-p", prompt, "-n", "8").stdout
    f = tmp_path / "prompt.txt"
    f.write_text(prompt)
    assert gen(model_dir, "-f", f, "-n", "8").stdout == ref
    assert gen(model_dir, "-f", "-", "-n", "8", stdin=prompt).stdout == ref


def test_special_tokens_are_parsed_unless_told_not_to(model_dir, tmp_path):
    chatml = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    typed = gen(model_dir, "-p", chatml, "-n", "8").stdout
    wrapped = gen(model_dir, "--chat", "-sys", "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                  "-p", "What is the capital of France?", "-n", "8").stdout
    plain = gen(model_dir, "--no-parse-special", "-p", chatml, "-n", "8").stdout
    assert typed != plain
    # the same conversation typed by hand or formatted by --chat, up to the system turn
    sys_typed = gen(model_dir, "-p", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                    "Face<|im_end|>\n" + chatml, "-n", "8").stdout
    assert sys_typed == wrapped
    ids = run(TOOLS / "lli-tokenize", "-m", model_dir, "-p", "<|im_start|>").stdout.split()
    assert len(ids) == 1
    assert len(run(TOOLS / "lli-tokenize", "-m", model_dir, "--no-parse-special", "-p", "<|im_start|>").stdout.split()) > 1


def test_interactive_chat_keeps_the_conversation(model_dir):
    """Two turns on scripted stdin: the second answer is the one the whole conversation gives when
    formatted and run at once, and differs from the answer to the second message alone."""
    first, second = "My name is Alice and I like green apples.", "What do I like?"
    out = gen(model_dir, "-i", "-n", "24", stdin=f"{first}\n{second}\n").stdout.splitlines()
    answers = [l for l in out if l.strip()]
    assert len(answers) == 2, out
    sys_msg = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    whole = (f"{sys_msg}<|im_start|>user\n{first}<|im_end|>\n<|im_start|>assistant\n{answers[0]}<|im_end|>\n"
             f"<|im_start|>user\n{second}<|im_end|>\n<|im_start|>assistant\n")
    assert gen(model_dir, "-p", whole, "-n", "24").stdout.strip() == answers[1]
    alone = gen(model_dir, "--chat", "-p", second, "-n", "24").stdout.strip()
    assert alone != answers[1]
    # -p gives the first message; end of input ends the chat with status 0
    again = gen(model_dir, "-i", "-n", "24", "-p", first, stdin="").stdout.splitlines()
    assert [l for l in again if l.strip()] == answers[:1]


def test_gguf_is_converted_once_into_the_cache(gguf_path, tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    args = [str(TOOLS / "lli-generate"), "-m", str(gguf_path), "-p", "Hello", "-n", "4", "-t", "2"]
    first = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    entries = list((cache / "llminfer").iterdir())
    assert len(entries) == 1 and (entries[0] / "manifest.json").exists()
    assert "converted" in first.stderr and str(entries[0]) in first.stderr
    second = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    assert "converted" not in second.stderr and second.stdout == first.stdout
    info = subprocess.run([str(TOOLS / "lli-info"), str(gguf_path)], capture_output=True, text=True, env=env, check=True)
    assert "smollm2" in info.stdout and "converted" not in info.stderr
    verify = subprocess.run([str(TOOLS / "lli-verify"), str(gguf_path)], capture_output=True, text=True, env=env)
    assert verify.returncode == 0 and "all checks passed" in verify.stdout
    assert len(list((cache / "llminfer").iterdir())) == 1


def test_interactive_ctrl_c_stops_the_answer_not_the_chat(model_dir):
    p = subprocess.Popen([str(TOOLS / "lli-generate"), "-m", str(model_dir), "-t", "2", "--backend", "cpu", "-i", "-n", "64"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"Tell me a very long story about a ship at sea, with many chapters.\n")
        p.stdin.flush()
        first = p.stdout.read(1)  # the answer has begun
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(input=b"Thanks.\n", timeout=900)
    finally:
        p.kill()
    out = first + out
    assert p.returncode == 0, err
    assert b" [stopped]\n" in out
    assert out.split(b" [stopped]\n", 1)[1].strip(), out  # the next message was answered
    assert b"eval time" in err
