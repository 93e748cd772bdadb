"""Pre-LN Transformer encoder-decoder with tied embeddings (nanoGPT style).

Source: `<2xx> tokens </s>` (language tag first); target: `<s> tokens </s>`. The decoder keeps a
key/value cache for incremental decoding (`decode_step`); the last decoder layer can return its
cross-attention weights (averaged over heads) for word alignment.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


@dataclass
class TranslatorConfig:
    vocab_size: int = 16_000
    d_model: int = 256
    n_heads: int = 4
    n_enc_layers: int = 3
    n_dec_layers: int = 3
    d_ff: int = 1024
    dropout: float = 0.05  # low: a CPU budget allows only ~2 epochs
    max_len: int = 256  # longest source or target sequence (positions), specials included
    label_smoothing: float = 0.1
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TranslatorConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def sinusoids(n: int, d: int) -> Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10_000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * inv)
    pe[:, 1::2] = torch.cos(pos * inv)
    return pe  # (n, d)


class Attention(nn.Module):
    """Multi-head attention; self-attention when `kv` is None, else cross-attention."""

    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0
        self.n_heads = cfg.n_heads
        self.q = nn.Linear(cfg.d_model, cfg.d_model)
        self.kv = nn.Linear(cfg.d_model, 2 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def _heads(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, H, T, hd)

    def project_kv(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)  # 2 x (B, H, S, hd)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        *,
        kv: Tensor | None = None,
        cache: dict | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, C); mask broadcastable to (B, H, T, S), True = may attend.

        `cache` (decoding): self-attention appends this step's keys/values to cache["k"/"v"];
        cross-attention computes the memory's keys/values once and reuses them.
        """
        B, T, C = x.shape
        q = self._heads(self.q(x))  # (B, H, T, hd)
        if kv is None:  # self-attention
            k, v = self.project_kv(x)
            if cache is not None:
                if "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        elif cache is not None:  # cross-attention, memory projected once
            if "k" not in cache:
                cache["k"], cache["v"] = self.project_kv(kv)
            k, v = cache["k"], cache["v"]
        else:
            k, v = self.project_kv(kv)
        weights = None
        if need_weights:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B, H, T, S)
            if mask is not None:
                att = att.masked_fill(~mask, float("-inf"))
            att = att.softmax(dim=-1)
            y = att @ v
            weights = att.mean(dim=1)  # (B, T, S)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
            )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y), weights


class FeedForward(nn.Module):
    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.drop(F.gelu(self.fc(x))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.ln1(x), mask)[0])
        return x + self.drop(self.ff(self.ln2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.self_attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.cross_attn = Attention(cfg)
        self.ln3 = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Tensor | None,
        mem_mask: Tensor,
        cache: dict | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        sc = cc = None
        if cache is not None:
            sc, cc = cache.setdefault("self", {}), cache.setdefault("cross", {})
        x = x + self.drop(self.self_attn(self.ln1(x), self_mask, cache=sc)[0])
        y, w = self.cross_attn(
            self.ln2(x), mem_mask, kv=memory, cache=cc, need_weights=need_weights
        )
        x = x + self.drop(y)
        return x + self.drop(self.ff(self.ln3(x))), w


class Seq2SeqTransformer(nn.Module):
    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.register_buffer("pos", sinusoids(cfg.max_len, cfg.d_model), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_enc_layers))
        self.enc_ln = nn.LayerNorm(cfg.d_model)
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_dec_layers))
        self.dec_ln = nn.LayerNorm(cfg.d_model)
        self.lm_head: nn.Module | None = None  # set by `quantize_int8`; else tied embeddings
        self.apply(self._init)

    def _init(self, m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=self.config.d_model**-0.5)
            with torch.no_grad():
                m.weight[self.config.pad_id].zero_()

    def _logits(self, h: Tensor) -> Tensor:
        """Output projection: the transposed embeddings (or their int8 copy, `quantize_int8`)."""
        return self.lm_head(h) if self.lm_head is not None else h @ self.embed.weight.T

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, ids: Tensor, start: int = 0) -> Tensor:
        T = ids.size(1)
        x = self.embed(ids) * math.sqrt(self.config.d_model) + self.pos[start : start + T]
        return self.drop(x)  # (B, T, C)

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S) -> memory (B, S, C), memory mask (B, 1, 1, S)."""
        mask = (src != self.config.pad_id)[:, None, None, :]
        x = self._embed(src)
        for layer in self.encoder:
            x = layer(x, mask)
        return self.enc_ln(x), mask

    def decode(
        self, tgt: Tensor, memory: Tensor, mem_mask: Tensor, *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Full (uncached) decoder pass: tgt (B, T) -> logits (B, T, V), cross-attn (B, T, S)."""
        T = tgt.size(1)
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt.device).tril()
        x = self._embed(tgt)
        w = None
        for i, layer in enumerate(self.decoder):
            last = need_weights and i == len(self.decoder) - 1
            x, w = layer(x, memory, causal, mem_mask, need_weights=last)
        return self._logits(self.dec_ln(x)), w

    def decode_step(
        self,
        tok: Tensor,
        memory: Tensor,
        mem_mask: Tensor,
        cache: list[dict],
        step: int,
        *,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """One cached step: tok (B, 1) at position `step` -> logits (B, V), cross-attn (B, S)."""
        x = self._embed(tok, start=step)
        w = None
        for i, layer in enumerate(self.decoder):
            last = need_weights and i == len(self.decoder) - 1
            x, w = layer(x, memory, None, mem_mask, cache=cache[i], need_weights=last)
        logits = self._logits(self.dec_ln(x))[:, -1]
        return logits, (w[:, -1] if w is not None else None)

    def forward(
        self, src: Tensor, tgt_in: Tensor, tgt_out: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """src (B, S), tgt_in (B, T) -> logits (B, T, V); loss if tgt_out (B, T) is given."""
        memory, mem_mask = self.encode(src)
        logits, _ = self.decode(tgt_in, memory, mem_mask)
        loss = None
        if tgt_out is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)).float(),
                tgt_out.reshape(-1),
                ignore_index=self.config.pad_id,
                label_smoothing=self.config.label_smoothing,
            )
        return logits, loss


def quantize_int8(model: Seq2SeqTransformer) -> Seq2SeqTransformer:
    """An inference copy whose linear layers, and the output projection (an untied copy of
    the embeddings), run as dynamically quantized int8 matrix products on the CPU
    (``focusdig.precision.quantize_linear_int8``). Embeddings, layer norms and attention stay
    float32."""
    from focusdig.precision import quantize_linear_int8

    model = copy.deepcopy(model).cpu().eval()
    head = nn.Linear(model.config.d_model, model.config.vocab_size, bias=False)
    head.weight = nn.Parameter(model.embed.weight.detach().clone())
    model.lm_head = head
    return quantize_linear_int8(model, inplace=True)
