"""The OpenAI-compatible server, run as `python -m llminfer.server` on a free port and spoken to with
real HTTP: completions and chat, streamed and not, concurrent clients, malformed requests, oversized
prompts, and clients that leave mid-stream (their sequences are freed; the server serves on)."""
import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT

PROMPT = "The capital of France is"
CTX = 256


@pytest.fixture(scope="module")
def server(model_dirs, tmp_path_factory):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"), LLMINFER_THREADS="1")
    log = open(tmp_path_factory.mktemp("server") / "stderr.txt", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "llminfer.server", "-m", str(model_dirs[0]), "--port", "0",
                             "--kv-capacity", "512", "--ctx-size", str(CTX), "--token-budget", "32",
                             "--max-running", "4", "--model-name", "smollm2",
                             "--read-timeout", "3"],
                            env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=120)
    except queue.Empty:
        proc.kill()
        log.seek(0)
        pytest.fail("the server printed nothing: " + log.read())
    assert " on http://127.0.0.1:" in first, first
    url = first.split(" on ", 1)[1].split()[0]
    host, port = url[len("http://"):].split(":")
    yield host, int(port)
    proc.terminate()
    try:
        assert proc.wait(30) == 0
        log.seek(0)
        assert "Traceback" not in log.read()  # no handler failed along the way
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def request(server, method, path, body=None, raw: bytes = None, headers=None, timeout=120):
    conn = http.client.HTTPConnection(*server, timeout=timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, (json.loads(payload) if payload else None), resp


def post(server, path, body, **kw):
    status, obj, _ = request(server, "POST", path, body, **kw)
    return status, obj


def stream(server, path, body):
    """POST with "stream": true; the parsed events up to [DONE]."""
    conn = http.client.HTTPConnection(*server, timeout=120)
    conn.request("POST", path, body=json.dumps(dict(body, stream=True)), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    events = []
    for line in resp:
        line = line.decode().rstrip("\n")
        if not line:
            continue
        assert line.startswith("data: ")
        if line == "data: [DONE]":
            break
        events.append(json.loads(line[6:]))
    conn.close()
    return events


def stats(server):
    status, obj, _ = request(server, "GET", "/debug/stats")
    assert status == 200
    return obj


def wait_idle(server, timeout=60):
    """Wait until nothing runs or waits and no KV sequence is live; return the stats."""
    deadline = time.monotonic() + timeout
    while True:
        s = stats(server)
        sch = s["scheduler"]
        idle = sch["running"] == sch["waiting"] == sch["swapped"] == sch["sequences"] == 0
        if idle and s["kv"].get("sequences", 0) == 0 and s["kv"].get("blocks_used", 0) == 0:
            return s
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not come back to idle: {s}")
        time.sleep(0.05)


def test_models_health_and_unknown_paths(server):
    status, obj, _ = request(server, "GET", "/v1/models")
    assert status == 200 and obj["object"] == "list" and obj["data"][0]["id"] == "smollm2"
    assert request(server, "GET", "/v1/models/smollm2")[0] == 200
    assert request(server, "GET", "/v1/models/gpt-9")[0] == 404
    assert request(server, "GET", "/health")[1] == {"status": "ok"}
    status, obj, _ = request(server, "GET", "/v2/nothing")
    assert status == 404 and "nothing" in obj["error"]["message"]
    status, obj = post(server, "/v1/embeddings", {"input": "x"})
    assert status == 404 and obj["error"]["code"] == "not_found"


def test_completion_equals_local_greedy(server, model):
    status, obj = post(server, "/v1/completions", {"model": "smollm2", "prompt": PROMPT, "max_tokens": 8,
                                                   "temperature": 0})
    assert status == 200, obj
    assert obj["object"] == "text_completion" and obj["model"] == "smollm2" and obj["id"].startswith("cmpl-")
    choice = obj["choices"][0]
    assert choice["text"] == model.complete(PROMPT, 8) and choice["finish_reason"] == "length"
    assert obj["usage"] == {"prompt_tokens": len(model.tokenize(PROMPT)), "completion_tokens": 8,
                            "total_tokens": len(model.tokenize(PROMPT)) + 8}
    # Token ids as the prompt; a stop string.
    status, obj = post(server, "/v1/completions", {"prompt": model.tokenize(PROMPT), "max_tokens": 8, "temperature": 0})
    assert obj["choices"][0]["text"] == model.complete(PROMPT, 8)
    status, obj = post(server, "/v1/completions", {"prompt": "1, 2, 3,", "max_tokens": 30, "temperature": 0,
                                                   "stop": [" 6"]})
    assert obj["choices"][0] == {"text": " 4, 5,", "index": 0, "logprobs": None, "finish_reason": "stop"}
    # A seed makes sampling repeatable.
    body = {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0.9, "seed": 5}
    assert post(server, "/v1/completions", body)[1]["choices"][0]["text"] == \
        post(server, "/v1/completions", body)[1]["choices"][0]["text"]


def test_chat_streamed_and_not(server, model):
    body = {"messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 40, "temperature": 0}
    status, obj = post(server, "/v1/chat/completions", body)
    assert status == 200, obj
    assert obj["object"] == "chat.completion"
    message = obj["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"] == "".join(model.chat("What is 2+2?", 40))
    assert obj["choices"][0]["finish_reason"] == "stop"  # the end-of-turn token, before 40 tokens
    events = stream(server, "/v1/chat/completions", body)
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == events[0]["id"] for e in events)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == message["content"]
    assert events[-1]["choices"][0]["finish_reason"] == "stop" and events[-1]["usage"] == obj["usage"]
    assert sum(1 for e in events if e["choices"][0]["delta"].get("content")) > 3  # it did stream
    events = stream(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 6, "temperature": 0})
    assert "".join(e["choices"][0]["text"] for e in events) == model.complete(PROMPT, 6)
    assert events[-1]["choices"][0]["finish_reason"] == "length"


def test_concurrent_clients(server, model):
    prompts = [PROMPT, "Water is made of", "def add(a, b):", "The sky is", "In 1492, Columbus", "1, 2, 3,"]
    expected = [model.complete(p, 10) for p in prompts]
    results, errors = {}, []

    def client(i):
        try:
            body = {"prompt": prompts[i], "max_tokens": 10, "temperature": 0}
            if i % 2:
                events = stream(server, "/v1/completions", body)
                results[i] = "".join(e["choices"][0]["text"] for e in events)
            else:
                status, obj = post(server, "/v1/completions", body)
                assert status == 200, obj
                results[i] = obj["choices"][0]["text"]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors and [results[i] for i in range(len(prompts))] == expected
    s = wait_idle(server)
    assert s["scheduler"]["admitted"] >= len(prompts)


@pytest.mark.parametrize("raw, param", [
    (b'{"prompt": "Hello", "max_tokens": 4', None),  # cut JSON
    (b"\xff\xfe not utf-8", None),
    (b'["a list"]', None),
    (b'{"prompt": "Hello", "temperature": "hot"}', "temperature"),
    (b'{"prompt": "Hello", "max_tokens": 0}', "max_tokens"),
    (b'{"prompt": "Hello", "max_tokens": 2.5}', "max_tokens"),
    (b'{"prompt": "Hello", "top_p": 0}', "top_p"),
    (b'{"prompt": "Hello", "n": 3}', "n"),
    (b'{"prompt": "Hello", "stream": "yes"}', "stream"),
    (b'{"prompt": "Hello", "stop": ["a", "b", "c", "d", "e"]}', "stop"),
    (b'{"prompt": {"text": "Hello"}}', "prompt"),
    (b'{"prompt": [1, 2, 99999999]}', "prompt"),
    (b'{"prompt": ""}', "prompt"),
    (b'{"max_tokens": 4}', "prompt"),
])
def test_malformed_completion_requests(server, raw, param):
    status, obj, _ = request(server, "POST", "/v1/completions", raw=raw)
    assert status == 400, obj
    assert obj["error"]["type"] == "invalid_request_error" and obj["error"]["message"]
    assert obj["error"]["param"] == param


def test_malformed_chat_requests_and_body_limits(server):
    for body, param in [({"messages": []}, "messages"), ({"messages": "hi"}, "messages"),
                        ({"messages": [{"role": "user"}]}, "messages"),
                        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
                        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages")]:
        status, obj = post(server, "/v1/chat/completions", body)
        assert status == 400 and obj["error"]["param"] == param, (body, obj)
    # Too large a body is refused before it is read; no length at all is refused too.
    conn = http.client.HTTPConnection(*server, timeout=60)
    conn.putrequest("POST", "/v1/completions")
    conn.putheader("Content-Length", str(5 << 20))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and "bytes" in json.loads(resp.read())["error"]["message"]
    conn.close()
    with socket.create_connection(server, timeout=60) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 411")
    # The server is fine afterwards.
    assert post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 2, "temperature": 0})[0] == 200


def test_oversized_prompts(server, model):
    long_text = "one two three four five six seven eight nine ten " * 40
    assert len(model.tokenize(long_text)) > CTX
    for path, body in [("/v1/completions", {"prompt": long_text}),
                       ("/v1/chat/completions", {"messages": [{"role": "user", "content": long_text}]})]:
        status, obj = post(server, path, dict(body, max_tokens=4))
        assert status == 400 and obj["error"]["code"] == "context_length_exceeded", obj
        assert str(CTX) in obj["error"]["message"]
    # A prompt that fits, with more to generate than the context leaves.
    status, obj = post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": CTX})
    assert status == 400 and obj["error"]["code"] == "context_length_exceeded"
    assert obj["error"]["param"] == "max_tokens"
    wait_idle(server)


def test_client_disconnecting_mid_stream_frees_its_sequence(server, model):
    before = stats(server)["scheduler"].get("finished_cancelled", 0)
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 200, "temperature": 0, "stream": True}).encode()
    with socket.create_connection(server, timeout=60) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        received = b""
        while received.count(b"data: ") < 3:  # the headers and a few tokens
            chunk = s.recv(4096)
            assert chunk, received
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
    # The socket is closed: the server notices at its next write, cancels, and frees the sequence.
    s = wait_idle(server)
    assert s["scheduler"]["finished_cancelled"] == before + 1
    assert s["http_requests_active"] == 0
    # And it still serves.
    status, obj = post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 6, "temperature": 0})
    assert status == 200 and obj["choices"][0]["text"] == model.complete(PROMPT, 6)
    # Several streams abandoned at once.
    socks = []
    for _ in range(3):
        c = socket.create_connection(server, timeout=60)
        c.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        socks.append(c)
    for c in socks:
        seen = b""
        while b"data: " not in seen:
            chunk = c.recv(4096)
            assert chunk, seen
            seen += chunk
        c.close()
    s = wait_idle(server)
    assert s["scheduler"]["finished_cancelled"] == before + 4


def test_client_leaving_a_non_streamed_request_cancels_it(server):
    before = stats(server)["scheduler"].get("finished_cancelled", 0)
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 200, "temperature": 0}).encode()
    with socket.create_connection(server, timeout=60) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        deadline = time.monotonic() + 60
        while stats(server)["scheduler"]["running"] == 0:  # until it is being generated
            assert time.monotonic() < deadline
            time.sleep(0.02)
    s = wait_idle(server)
    assert s["scheduler"]["finished_cancelled"] == before + 1


def good_request_answered(server, model):
    """The next ordinary request gets its normal answer (the engine is alive)."""
    status, obj = post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 2, "temperature": 0})
    assert status == 200, obj
    assert obj["choices"][0]["text"] == model.complete(PROMPT, 2)


@pytest.mark.parametrize("raw, param", [
    (b'{"prompt": "Hello", "max_tokens": 2, "repeat_penalty": 1e308}', "repeat_penalty"),
    (b'{"prompt": "Hello", "max_tokens": 2, "repeat_penalty": 0}', "repeat_penalty"),
    (b'{"prompt": "Hello", "max_tokens": 2, "repeat_penalty": -1}', "repeat_penalty"),
    (b'{"prompt": "Hello", "max_tokens": 2, "top_k": 2147483648}', "top_k"),
    (b'{"prompt": "Hello", "max_tokens": 2, "top_k": -1}', "top_k"),
    (b'{"prompt": "Hello", "max_tokens": 2, "top_k": 1.5}', "top_k"),
    (b'{"prompt": "Hello", "max_tokens": 2, "temperature": NaN}', "temperature"),
    (b'{"prompt": "Hello", "max_tokens": 2, "temperature": Infinity}', "temperature"),
    (b'{"prompt": "Hello", "max_tokens": 2, "temperature": 1e999}', "temperature"),
    (b'{"prompt": "Hello", "max_tokens": 2, "temperature": -0.5}', "temperature"),
    (b'{"prompt": "Hello", "max_tokens": 2, "repeat_penalty": NaN}', "repeat_penalty"),
    (b'{"prompt": "Hello", "max_tokens": 2, "frequency_penalty": NaN}', "frequency_penalty"),
    (b'{"prompt": "Hello", "max_tokens": 2, "presence_penalty": NaN}', "presence_penalty"),
    (b'{"prompt": "Hello", "max_tokens": 2, "presence_penalty": -Infinity}', "presence_penalty"),
    (b'{"prompt": "Hello", "max_tokens": 2, "top_p": NaN}', "top_p"),
    (b'{"prompt": "Hello", "max_tokens": 2, "top_p": 1.5}', "top_p"),
    (b'{"prompt": "Hello", "max_tokens": 2, "min_p": NaN}', "min_p"),
    (b'{"prompt": "Hello", "max_tokens": 2, "min_p": 2}', "min_p"),
    (b'{"prompt": "Hello", "max_tokens": 2, "temperature": true}', "temperature"),
    (b'{"prompt": "Hello", "max_tokens": 2, "temperature": [1]}', "temperature"),
    (b'{"prompt": "Hello", "max_tokens": 2, "top_k": "5"}', "top_k"),
    (b'{"prompt": "Hello", "max_tokens": 2, "seed": 1.5}', "seed"),
    (b'{"prompt": "Hello", "max_tokens": 2, "seed": 18446744073709551616}', "seed"),
    (b'{"prompt": "Hello", "max_tokens": 2, "seed": NaN}', "seed"),
    (b'{"prompt": "Hello", "max_tokens": NaN}', "max_tokens"),
    (b'{"prompt": "Hello", "max_tokens": 1e400}', "max_tokens"),
    (b'{"prompt": "Hello", "max_tokens": 100000000000000000000000}', "max_tokens"),
    (b'{"prompt": "Hello", "max_tokens": 2, "n": NaN}', "n"),
    (b'{"prompt": [1, 2, -1]}', "prompt"),
    (b'{"prompt": [1, 2, 1e300]}', "prompt"),
    (b'{"prompt": "abc \\ud800", "max_tokens": 2}', "prompt"),
    (b'{"prompt": "Hello", "max_tokens": 2, "stop": ["\\udfff"]}', "stop"),
])
def test_bad_numbers_and_strings_fail_alone(server, model, raw, param):
    status, obj, _ = request(server, "POST", "/v1/completions", raw=raw)
    assert status == 400, obj
    assert obj["error"]["param"] == param and param in obj["error"]["message"], obj
    good_request_answered(server, model)


def test_lone_surrogate_in_chat_and_deep_json(server, model):
    status, obj, _ = request(server, "POST", "/v1/chat/completions",
                             raw=b'{"messages": [{"role": "user", "content": "abc \\ud800"}], "max_tokens": 2}')
    assert status == 400 and obj["error"]["param"] == "messages", obj
    for raw in (b"[" * 100_000, b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                b'{"prompt": "x", "a": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"):
        status, obj, _ = request(server, "POST", "/v1/completions", raw=raw)
        assert status == 400 and "JSON" in obj["error"]["message"], obj
    good_request_answered(server, model)


def test_a_body_shorter_than_its_length_does_not_hold_the_server(server, model):
    # The server's fixture gives it a socket timeout of a few seconds: the connection is answered
    # (408) and closed instead of waiting forever, and the server serves on meanwhile.
    with socket.create_connection(server, timeout=120) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\"")
        good_request_answered(server, model)
        received = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            received += chunk
        assert received.startswith(b"HTTP/1.1 408"), received
    # A connection that sends nothing at all is closed too.
    with socket.create_connection(server, timeout=120) as s:
        assert s.recv(4096) == b""
    assert stats(server)["http_requests_active"] == 0


def test_a_burst_of_connections_is_served(server, model):
    n = 100
    barrier = threading.Barrier(n)
    results, errors = [], []

    def client():
        try:
            barrier.wait(60)
            results.append(post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 1, "temperature": 0},
                                timeout=300))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors[:3]
    assert len(results) == n and all(status == 200 for status, _ in results)
    wait_idle(server)
    good_request_answered(server, model)


def test_an_engine_failure_fails_one_request_alone(model):
    """What the engine raises for one request fails that request alone: sampling the library refuses
    is refused at submit(), and a request whose token callback raises finishes with the error while the
    request beside it and the next one are served."""
    import llminfer
    from llminfer.scheduler import Engine, Request, Scheduler
    engine = Engine(Scheduler(model, kv_capacity=256, token_budget=16, max_running=2)).start()
    try:
        ids = model.tokenize(PROMPT)
        for bad in ({"temperature": 0.5, "repeat_penalty": float("nan")}, {"temperature": 0.5, "top_k": 2 ** 31},
                    {"temperature": float("nan")}, {"presence_penalty": float("inf")}):
            with pytest.raises((ValueError, llminfer.Error)):
                engine.submit(Request(ids, 2, sampling=bad))

        def boom(_req, _tok):
            raise RuntimeError("the callback failed")

        failing = Request(ids, 4, on_token=boom)
        beside = Request(ids, 4)
        engine.submit(failing)
        engine.submit(beside)
        assert failing.wait(60) and failing.finish_reason == "error" and "the callback failed" in failing.error
        assert beside.wait(60) and beside.finish_reason == "length" and len(beside.output) == 4
        good = engine.submit(Request(ids, 2))
        assert good.wait(60) and good.finish_reason == "length" and len(good.output) == 2
        assert engine.error is None
    finally:
        engine.stop()
