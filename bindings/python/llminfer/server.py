"""A small OpenAI-compatible HTTP server on top of the scheduler (standard library only).

    python -m llminfer.server -m MODEL_DIR [--host 127.0.0.1] [--port 8080]

Endpoints: POST /v1/completions, POST /v1/chat/completions (server-sent events with "stream": true,
one JSON object otherwise), GET /v1/models, GET /health, and GET /debug/stats (the scheduler's queues
and counters and the KV cache's statistics, for tests and monitoring). It binds to 127.0.0.1 unless
told otherwise; there is no authentication, so do not expose it.

One engine thread runs the scheduler; each HTTP request runs on a thread of its own that tokenizes,
submits a scheduler request and receives its tokens through a queue. A client that disconnects while
its answer streams has its request cancelled, which frees its KV sequence at the next step.
"""
import argparse
import json
import math
import os
import queue
import select
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Tuple

from . import Model
from ._engine import TextStream
from ._errors import Error
from .chat import ChatFormatError
from .scheduler import Engine, Request, Scheduler

__all__ = ["Server", "ApiError", "main"]

MAX_BODY = 1 << 20  # bytes of JSON a request may send
_FINISHED = object()


class ApiError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: Optional[str] = None, code: Optional[str] = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type_

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _bad(message: str, param: Optional[str] = None, code: Optional[str] = None) -> ApiError:
    return ApiError(400, message, param, code)


FLOAT_MAX = 3.4028234663852886e38  # the largest finite C float: sampling values become floats
INT32_MAX = 2**31 - 1


def _number(body: dict, name: str, default, lo=None, hi=None, integer: bool = False, lo_open: bool = False):
    """body[name] checked before it can reach the engine: a JSON number (not a boolean), finite (Python's
    json accepts NaN, Infinity and 1e999), an integer where one is wanted, within [lo, hi] (lo excluded
    with lo_open). The 400 names the parameter."""
    value = body.get(name, default)
    if value is None:
        return default
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise _bad(f"'{name}' must be {kind}", name)
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"'{name}' must be a finite number, not {value}", name)
    if (lo is not None and (value <= lo if lo_open else value < lo)) or (hi is not None and value > hi):
        low = "unbounded" if lo is None else f"{lo} ({'excluded' if lo_open else 'included'})"
        raise _bad(f"'{name}' is {value}; it must be {kind} from {low} to {'any' if hi is None else hi}", name)
    return value


def _text(value: str, param: str) -> str:
    """A JSON string that UTF-8 can encode: JSON may carry lone surrogates ("\\ud800"), which no tokenizer
    (and no C string) can take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _bad(f"'{param}' is not valid Unicode text: {exc.reason} at character {exc.start}", param) from None
    return value


class _Job:
    """What a handler thread shares with the engine for one request: a queue of tokens."""

    def __init__(self):
        self.tokens: "queue.Queue" = queue.Queue()

    def on_token(self, _req, tok):
        self.tokens.put(tok)

    def on_finish(self, _req):
        self.tokens.put(_FINISHED)


class Server:
    """The HTTP server and its engine. `Server(model_dir).start()` serves on a thread; `port` is the
    port bound (pass 0 to get a free one); `close()` stops both. `request_timeout`: seconds a request
    may take in all; `read_timeout`: seconds one socket read or write may wait (default 30)."""

    def __init__(self, model, host: str = "127.0.0.1", port: int = 8080, *, model_name: Optional[str] = None,
                 ctx_size: Optional[int] = None, kv_capacity: int = 4096, token_budget: int = 64,
                 max_running: int = 8, threads: Optional[int] = None, preemption: str = "swap", prefix_cache: bool = True,
                 request_timeout: float = 600.0, read_timeout: Optional[float] = None):
        self._own_model = not isinstance(model, Model)
        self.model = Model.load(model) if self._own_model else model
        self.model_name = model_name or (os.path.basename(os.path.normpath(str(model))) if self._own_model
                                         else self.model.name or self.model.arch)
        self.ctx_size = min(ctx_size or kv_capacity, kv_capacity, self.model.n_ctx_train or kv_capacity)
        self.request_timeout = request_timeout
        self.created = int(time.time())
        self.scheduler = Scheduler(self.model, kv_capacity=kv_capacity, token_budget=token_budget,
                                   max_running=max_running, threads=threads, preemption=preemption,
                                   prefix_cache=prefix_cache)
        self.engine = Engine(self.scheduler)
        self.chat_stops = self.model.chat_stop_tokens()
        self.active = 0
        self.verbose = False
        self._active_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"app": self})
        if read_timeout is not None:
            if not read_timeout > 0:
                raise ValueError(f"read_timeout must be > 0 seconds, not {read_timeout}")
            handler.timeout = float(read_timeout)
        self.httpd = _HTTPServer((host, port), handler)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Server":
        """Start the engine and serve on a background thread."""
        self.engine.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="llminfer-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Start the engine and serve on this thread until shutdown()."""
        self.engine.start()
        self.httpd.serve_forever()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.engine.stop()
        if self._own_model:
            self.model.close()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- request parsing -------------------------------------------------------------------------------
    def sampling(self, body: dict) -> dict:
        # The ranges the OpenAI API documents, inside what the library's sampler stages accept.
        opts = {"temperature": _number(body, "temperature", 1.0, 0, 2),
                "top_p": _number(body, "top_p", 1.0, 0, 1, lo_open=True),
                "top_k": _number(body, "top_k", 0, 0, INT32_MAX, integer=True),
                "min_p": _number(body, "min_p", 0.0, 0, 1),
                "presence_penalty": _number(body, "presence_penalty", 0.0, -2, 2),
                "frequency_penalty": _number(body, "frequency_penalty", 0.0, -2, 2),
                "repeat_penalty": _number(body, "repeat_penalty", 1.0, 0, FLOAT_MAX, lo_open=True)}
        # The seed becomes a uint64_t; negative seeds (some clients send them) wrap as in C.
        opts["seed"] = _number(body, "seed", None, -2**63, 2**64 - 1, integer=True)
        return opts

    def stop_strings(self, body: dict) -> List[str]:
        stop = body.get("stop")
        if stop is None:
            return []
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
            raise _bad("'stop' must be a string or a list of at most 4 strings", "stop")
        return [_text(s, "stop") for s in stop if s]

    def common(self, body: dict, default_max: Optional[int]) -> Tuple[dict, List[str], bool, Optional[int]]:
        if _number(body, "n", 1, 1, 1, integer=True) != 1:
            raise _bad("only n = 1 is supported", "n")
        if body.get("logprobs") not in (None, False) or body.get("echo") not in (None, False):
            raise _bad("logprobs and echo are not supported", "logprobs")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise _bad("'stream' must be a boolean", "stream")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None:
            max_tokens = _number({"max_tokens": max_tokens}, "max_tokens", None, 1, INT32_MAX, integer=True)
        else:
            max_tokens = default_max
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise _bad("'model' must be a string", "model")
        return self.sampling(body), self.stop_strings(body), stream, max_tokens

    def check_length(self, n_prompt: int, max_tokens: Optional[int]) -> int:
        room = self.ctx_size - n_prompt
        if n_prompt == 0:
            raise _bad("the prompt is empty", "prompt")
        if room < 1 or (max_tokens is not None and max_tokens > room):
            asked = f"{n_prompt} in the prompt" + (f" + {max_tokens} to generate" if max_tokens else "")
            raise _bad(f"this model's context holds {self.ctx_size} tokens; the request needs {asked}",
                       "max_tokens" if room >= 1 else "prompt", "context_length_exceeded")
        return room if max_tokens is None else max_tokens

    def completion_prompt(self, body: dict) -> List[int]:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]
        if isinstance(prompt, str):
            return self.model.tokenize(_text(prompt, "prompt"))
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            if not all(0 <= t < self.model.n_vocab for t in prompt):
                raise _bad("a prompt token is outside the vocabulary", "prompt")
            return list(prompt)
        raise _bad("'prompt' must be a string or a list of token ids (one prompt)", "prompt")

    def chat_prompt(self, body: dict) -> List[int]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _bad("'messages' must be a non-empty list", "messages")
        for m in messages:
            if isinstance(m, dict) and isinstance(m.get("content"), list):  # content parts: text only
                parts = m["content"]
                if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                           for p in parts):
                    raise _bad("only text content parts are supported", "messages")
                m["content"] = "".join(p["text"] for p in parts)
        try:
            text = _text(self.model.apply_chat_template(messages), "messages")
        except ChatFormatError as exc:
            raise _bad(str(exc), "messages") from None
        return self.model.tokenize(text, add_special=True, parse_special=True)

    def stats(self) -> dict:
        def collect(s: Scheduler):
            d = {"scheduler": s.stats()}
            try:
                d["kv"] = s.kv.stats()
            except Error as exc:  # a library without lli_kv_stat
                d["kv"] = {"error": str(exc)}
            try:
                d["context"] = s.ctx.stats()
            except Error as exc:
                d["context"] = {"error": str(exc)}
            return d
        d = self.engine.call(collect)
        with self._active_lock:
            d["http_requests_active"] = self.active
        return d


class _ClientGone(Exception):
    pass


class _HTTPServer(ThreadingHTTPServer):
    # The listen backlog: socketserver's default of 5 resets connections in a burst of clients (the
    # kernel caps it at net.core.somaxconn).
    request_queue_size = 1024
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    app: Server
    protocol_version = "HTTP/1.1"
    server_version = "llminfer"
    # Seconds one read or write on the socket may wait (StreamRequestHandler sets it on the socket):
    # a client that stops sending mid-request, or never sends one, does not hold its thread forever.
    timeout = 30.0

    def log_message(self, fmt, *args):  # quiet by default; --verbose turns it on
        if getattr(self.app, "verbose", False):
            super().log_message(fmt, *args)

    # -- plumbing ------------------------------------------------------------------------------------
    def _send_json(self, status: int, obj, close: bool = False) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the client left; nothing to tell it
            self.close_connection = True

    def _client_gone(self) -> bool:
        """Whether the client closed its connection (readable, and at end of file)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _error(self, exc: ApiError) -> None:
        self._send_json(exc.status, exc.body(), close=exc.status >= 400)

    def _unexpected(self, exc: BaseException) -> None:
        """Answer 500 for an error nothing expected (a bug): the connection closes, the server goes on."""
        print(f"llminfer.server: {self.command} {self.path}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        error = ApiError(500, f"internal error: {type(exc).__name__}: {exc}", type_="server_error")
        try:
            if getattr(self, "_streaming", False):
                self._sse(error.body())
                self.close_connection = True
            else:
                self._error(error)
        except (_ClientGone, OSError):
            self.close_connection = True

    def _read_json(self) -> dict:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ApiError(411, "chunked request bodies are not supported; send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "Content-Length is required")
        try:
            n = int(length)
        except ValueError:
            raise _bad("Content-Length is not a number") from None
        if n < 0:
            raise _bad("Content-Length is negative")
        if n > MAX_BODY:
            raise ApiError(413, f"the request body has {n} bytes; at most {MAX_BODY} are accepted")
        raw = self.rfile.read(n)  # the socket's timeout ends a body that never comes (TimeoutError)
        if len(raw) < n:
            raise _bad(f"the request body has {len(raw)} bytes; Content-Length said {n}")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _bad(f"the request body is not valid JSON: {exc}") from None
        except RecursionError:  # the parser recurses once per nesting level
            raise _bad("the request body is not valid JSON here: it is nested too deeply") from None
        if not isinstance(body, dict):
            raise _bad("the request body must be a JSON object")
        return body

    def _sse(self, obj) -> None:
        data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            raise _ClientGone() from exc

    # -- routes --------------------------------------------------------------------------------------
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        try:
            if path == "/v1/models":
                self._send_json(200, {"object": "list", "data": [
                    {"id": self.app.model_name, "object": "model", "created": self.app.created,
                     "owned_by": "llminfer", "context_length": self.app.ctx_size}]})
            elif path.startswith("/v1/models/"):
                name = path[len("/v1/models/"):]
                if name != self.app.model_name:
                    raise ApiError(404, f"the model {name!r} does not exist", "model", "model_not_found")
                self._send_json(200, {"id": name, "object": "model", "created": self.app.created,
                                      "owned_by": "llminfer"})
            elif path == "/health":
                self._send_json(200, {"status": "ok" if self.app.engine.error is None else "error"})
            elif path == "/debug/stats":
                self._send_json(200, self.app.stats())
            else:
                raise ApiError(404, f"no such endpoint: GET {path}", code="not_found")
        except ApiError as exc:
            self._error(exc)
        except Exception as exc:  # noqa: BLE001 - one request's failure is answered, not fatal
            self._unexpected(exc)

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        with self.app._active_lock:
            self.app.active += 1
        try:
            if path not in ("/v1/completions", "/v1/chat/completions"):
                # The body is not read: close the connection rather than parse it as a request.
                raise ApiError(404, f"no such endpoint: POST {path}", code="not_found")
            body = self._read_json()
            self._complete(body, chat=path == "/v1/chat/completions")
        except ApiError as exc:
            if getattr(self, "_streaming", False):  # headers are out: the error goes in the stream
                try:
                    self._sse(exc.body())
                except _ClientGone:
                    pass
                self.close_connection = True
            else:
                self._error(exc)
        except _ClientGone:
            self.close_connection = True
        except TimeoutError:  # the body did not come within the socket's timeout
            self._error(ApiError(408, f"the request body did not arrive within {self.timeout:g} s"))
        except Exception as exc:  # noqa: BLE001 - one request's failure is answered, not fatal
            self._unexpected(exc)
        finally:
            self._streaming = False
            with self.app._active_lock:
                self.app.active -= 1

    def do_PUT(self):
        self._error(ApiError(405, f"method PUT is not allowed on {self.path}", code="method_not_allowed"))

    do_DELETE = do_PATCH = do_PUT

    # -- completions ---------------------------------------------------------------------------------
    def _complete(self, body: dict, chat: bool) -> None:
        app = self.app
        sampling, stops, stream, max_tokens = app.common(body, None if chat else 16)
        ids = app.chat_prompt(body) if chat else app.completion_prompt(body)
        max_tokens = app.check_length(len(ids), max_tokens)
        job = _Job()
        req = Request(ids, max_tokens, sampling, stop_tokens=app.chat_stops if chat else None,
                      on_token=job.on_token, on_finish=job.on_finish)
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        created = int(time.time())
        base = {"id": rid, "object": "chat.completion.chunk" if chat else "text_completion", "created": created,
                "model": app.model_name}
        try:
            app.engine.submit(req)
        except (ValueError, Error) as exc:  # sampling the library refuses (the checks above should catch it)
            raise _bad(str(exc)) from None
        except RuntimeError as exc:
            raise ApiError(503, str(exc), type_="server_error") from None
        text_stream = TextStream(app.model, stops)
        pieces: List[str] = []
        finish = None
        try:
            if stream:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self._streaming = True
                if chat:
                    self._sse(dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                   "logprobs": None, "finish_reason": None}]))
            deadline = time.monotonic() + app.request_timeout
            n_items = 0
            while True:
                n_items += 1
                if not stream and n_items % 8 == 0 and self._client_gone():
                    raise _ClientGone()  # a waiting client hung up: stop generating for it
                try:
                    item = job.tokens.get(timeout=max(0.01, min(0.25, deadline - time.monotonic())))
                except queue.Empty:
                    if time.monotonic() >= deadline:
                        app.engine.cancel(req)
                        raise ApiError(504, "the request timed out", type_="server_error") from None
                    if not stream and self._client_gone():
                        raise _ClientGone() from None
                    continue
                if item is _FINISHED:
                    text = text_stream.flush()
                    finish = req.finish_reason
                else:
                    text = text_stream.push(item)
                    if text_stream.stopped:
                        app.engine.cancel(req)  # a stop string: nothing more is wanted
                        finish = "stop"
                if text:
                    if stream:
                        choice = ({"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
                                  if chat else {"text": text, "index": 0, "logprobs": None, "finish_reason": None})
                        self._sse(dict(base, choices=[choice]))
                    else:
                        pieces.append(text)
                if finish is not None:
                    break
        except BaseException:
            app.engine.cancel(req)  # the client left (or anything else): free the sequence
            raise
        if finish == "error":
            message = req.error or "generation failed"
            if stream:
                self._sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
                return
            raise ApiError(500, message, type_="server_error")
        finish = {"cancelled": "stop"}.get(finish, finish)
        usage = {"prompt_tokens": len(ids), "completion_tokens": len(req.output),
                 "total_tokens": len(ids) + len(req.output)}
        if stream:
            choice = ({"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish} if chat
                      else {"text": "", "index": 0, "logprobs": None, "finish_reason": finish})
            self._sse(dict(base, choices=[choice], usage=usage))
            self._sse(b"[DONE]")
            return
        text = "".join(pieces)
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                      "finish_reason": finish}
            obj = dict(base, object="chat.completion", choices=[choice], usage=usage)
        else:
            obj = dict(base, choices=[{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
                       usage=usage)
        self._send_json(200, obj)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m llminfer.server", description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True, help="model directory (fragment format)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8080, help="port (0: any free one; the chosen one is printed)")
    ap.add_argument("--model-name", help="the id /v1/models reports (default: the directory's name)")
    ap.add_argument("--kv-capacity", type=int, default=4096, help="KV cache tokens over all requests")
    ap.add_argument("--ctx-size", type=int, help="most tokens (prompt + completion) of one request")
    ap.add_argument("--token-budget", type=int, default=64, help="entries per decode step")
    ap.add_argument("--max-running", type=int, default=8, help="requests decoding at once")
    ap.add_argument("--threads", type=int, help="compute threads (0: one per physical core; default LLMINFER_THREADS or 0)")
    ap.add_argument("--preemption", choices=("swap", "recompute"), default="swap")
    ap.add_argument("--no-prefix-cache", action="store_true", help="do not reuse cached prompt blocks")
    ap.add_argument("--read-timeout", type=float, default=30.0,
                    help="seconds one socket read or write may wait before the connection is dropped (default 30)")
    ap.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = ap.parse_args(argv)
    try:
        server = Server(args.model, args.host, args.port, model_name=args.model_name, ctx_size=args.ctx_size,
                        kv_capacity=args.kv_capacity, token_budget=args.token_budget, max_running=args.max_running,
                        threads=args.threads, preemption=args.preemption, prefix_cache=not args.no_prefix_cache,
                        read_timeout=args.read_timeout)
    except (Error, OSError, ValueError) as exc:
        print(f"llminfer.server: {exc}", file=sys.stderr)
        return 1
    server.verbose = args.verbose

    def stop(*_):
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"llminfer.server: {server.model_name} on {server.url} (context {server.ctx_size} tokens)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.httpd.server_close()
        server.engine.stop()
        server.model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
