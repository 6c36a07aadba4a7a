"""An independent float64 reference forward pass for llama / qwen2 / qwen3 GGUF models.

It reads the GGUF with gguf-py (llama.cpp's Python package, whose dequantizers are written in numpy)
and computes the transformer in float64 with numpy: nothing here shares code with libllminfer.
"""
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


class Reference:
    def __init__(self, path):
        r = GGUFReader(path)
        self.fields = r.fields
        self.arch = self._str("general.architecture")
        a = self.arch
        self.n_layer = self._int(f"{a}.block_count")
        self.n_embd = self._int(f"{a}.embedding_length")
        self.n_head = self._int(f"{a}.attention.head_count")
        self.n_head_kv = self._int(f"{a}.attention.head_count_kv", self.n_head)
        self.head_dim = self._int(f"{a}.attention.key_length", self.n_embd // self.n_head)
        self.rope_dim = self._int(f"{a}.rope.dimension_count", self.head_dim)
        self.base = self._float(f"{a}.rope.freq_base", 10000.0)
        self.eps = self._float(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)
        self.window = self._int(f"{a}.attention.sliding_window", 0)
        self.neox = a != "llama"
        # Tensors are dequantized when used, so that big shapes fit in memory.
        self.raw = {t.name: t for t in r.tensors}

    def w(self, name, rows=None):
        t = self.raw[name]
        data = t.data if rows is None else t.data[rows]
        x = dequantize(data, t.tensor_type).astype(np.float64)
        if len(t.shape) == 1:
            return x.reshape(-1)
        return x.reshape(-1, int(t.shape[0]))

    def has(self, name):
        return name in self.raw

    def _val(self, key):
        f = self.fields.get(key)
        return None if f is None else f.parts[f.data[0]]

    def _int(self, key, default=None):
        v = self._val(key)
        return default if v is None else int(v[0])

    def _float(self, key, default=None):
        v = self._val(key)
        return default if v is None else float(v[0])

    def _str(self, key):
        return bytes(self._val(key)).decode()

    def rms(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, x, positions):
        # x: [n, heads, head_dim]
        half = self.rope_dim // 2
        inv = self.base ** (-2.0 * np.arange(half) / self.rope_dim)
        ang = np.outer(positions, inv)[:, None, :]
        c, s = np.cos(ang), np.sin(ang)
        x = x.copy()
        if self.neox:
            a, b = x[..., :half].copy(), x[..., half:2 * half].copy()
            x[..., :half], x[..., half:2 * half] = a * c - b * s, a * s + b * c
        else:
            a, b = x[..., 0:2 * half:2].copy(), x[..., 1:2 * half:2].copy()
            x[..., 0:2 * half:2], x[..., 1:2 * half:2] = a * c - b * s, a * s + b * c
        return x

    def logits(self, ids):
        n = len(ids)
        H, HKV, D = self.n_head, self.n_head_kv, self.head_dim
        x = self.w("token_embd.weight", rows=np.array(ids))
        pos = np.arange(n)
        for l in range(self.n_layer):
            p = f"blk.{l}."
            h = self.rms(x, self.w(p + "attn_norm.weight"))
            q, k, v = (h @ self.w(p + f"attn_{m}.weight").T for m in "qkv")
            if self.has(p + "attn_q.bias"):
                q, k, v = q + self.w(p + "attn_q.bias"), k + self.w(p + "attn_k.bias"), v + self.w(p + "attn_v.bias")
            q, k, v = q.reshape(n, H, D), k.reshape(n, HKV, D), v.reshape(n, HKV, D)
            if self.has(p + "attn_q_norm.weight"):
                q, k = self.rms(q, self.w(p + "attn_q_norm.weight")), self.rms(k, self.w(p + "attn_k_norm.weight"))
            q, k = self.rope(q, pos), self.rope(k, pos)
            out = np.zeros((n, H, D))
            for hh in range(H):
                kh = hh // (H // HKV)
                s = q[:, hh, :] @ k[:, kh, :].T / np.sqrt(D)
                mask = pos[None, :] > pos[:, None]
                if self.window:
                    mask |= pos[None, :] <= pos[:, None] - self.window
                s[mask] = -np.inf
                s = np.exp(s - s.max(axis=1, keepdims=True))
                out[:, hh, :] = (s / s.sum(axis=1, keepdims=True)) @ v[:, kh, :]
            x = x + out.reshape(n, H * D) @ self.w(p + "attn_output.weight").T
            h = self.rms(x, self.w(p + "ffn_norm.weight"))
            g, u = h @ self.w(p + "ffn_gate.weight").T, h @ self.w(p + "ffn_up.weight").T
            with np.errstate(over="ignore"):  # exp(-g) overflows to inf for very negative g: silu is then 0
                x = x + (g / (1 + np.exp(-g)) * u) @ self.w(p + "ffn_down.weight").T
        x = self.rms(x, self.w("output_norm.weight"))
        head = "output.weight" if self.has("output.weight") else "token_embd.weight"
        vocab = int(self.raw[head].shape[1])
        out = np.zeros((n, vocab))
        for r0 in range(0, vocab, 16384):  # the head in slices: it can be the largest tensor
            rows = np.arange(r0, min(vocab, r0 + 16384))
            out[:, rows] = x @ self.w(head, rows=rows).T
        return out
