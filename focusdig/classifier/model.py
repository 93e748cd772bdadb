"""Compact pre-LN Transformer encoder with an attention-pooling sentiment head.

The pooling weights alpha (one per token, summing to 1 over the real tokens of a sequence) are
both how the sentence vector is built and the word-level explanation: z = sum_i alpha_i h_i.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class ClassifierConfig:
    vocab_size: int = 16_000
    max_len: int = 128  # positions, including [CLS] and [SEP]
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 1024
    dropout: float = 0.1
    pool_dim: int = 128  # hidden size of the attention-pooling scorer
    labels: tuple[str, ...] = ("negative", "neutral", "positive")
    pad_id: int = 0
    cls_id: int = 2
    sep_id: int = 3
    mask_id: int = 4
    # target markers ([TGT] mention [/TGT]): set only on models fine-tuned with targeted
    # examples (focusdig.classifier.targets); None means no target support
    tgt_open_id: int | None = None
    tgt_close_id: int | None = None
    extra: dict = field(default_factory=dict)  # free-form metadata, ignored by the model

    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ClassifierConfig:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "labels" in kw:
            kw["labels"] = tuple(kw["labels"])
        return cls(**kw)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        bias = key_mask[:, None, None, :]  # (B, 1, 1, T) bool, True = attend
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.proj(y))


class FeedForward(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), key_mask)
        return x + self.ff(self.ln2(x))


class Encoder(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token + position embeddings (B, T) -> (B, T, C)."""
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        return self.drop(self.tok_emb(input_ids) + self.pos_emb(pos)[None])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids)  # (B, T, C)
        key_mask = attention_mask.bool()
        for block in self.blocks:
            x = block(x, key_mask)
        return self.ln_f(x)  # (B, T, C)


class AttentionPooling(nn.Module):
    """e_i = w . tanh(W h_i); alpha = masked softmax(e); z = sum_i alpha_i h_i."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.W = nn.Linear(cfg.d_model, cfg.pool_dim)
        self.w = nn.Linear(cfg.pool_dim, 1, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.w(torch.tanh(self.W(h))).squeeze(-1)  # (B, T)
        e = e.float().masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, dim=-1)  # (B, T)
        z = torch.einsum("bt,btc->bc", alpha.to(h.dtype), h)  # (B, C)
        return z, alpha


def attention_entropy(alpha: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of attention rows alpha (B, T); masked positions hold 0."""
    return -(alpha * alpha.clamp_min(1e-12).log()).sum(-1).mean()


def real_token_mask(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, cfg: ClassifierConfig
) -> torch.Tensor:
    """Real tokens only ([CLS]/[SEP]/target markers/pad excluded); falls back to the
    attention mask."""
    mask = attention_mask.bool() & (input_ids != cfg.cls_id) & (input_ids != cfg.sep_id)
    for marker in (cfg.tgt_open_id, cfg.tgt_close_id):
        if marker is not None:
            mask &= input_ids != marker
    empty = ~mask.any(dim=1, keepdim=True)  # (B, 1) rows with no real token
    return torch.where(empty, attention_mask.bool(), mask)


def classifier_head(cfg: ClassifierConfig) -> nn.Sequential:
    """The MLP on the pooled sentence vector -> one logit per label."""
    return nn.Sequential(
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.d_model, cfg.d_model),
        nn.GELU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.d_model, len(cfg.labels)),
    )


class SentimentClassifier(nn.Module):
    """Encoder + attention-pooling classifier head + (tied) masked-LM head for pretraining."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.pool = AttentionPooling(cfg)
        self.head = classifier_head(cfg)
        self.mlm_transform = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.LayerNorm(cfg.d_model)
        )
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2 style scaled init of residual outputs
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, trainable_mlm: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        if not trainable_mlm:
            n -= sum(p.numel() for p in self.mlm_transform.parameters()) + self.mlm_bias.numel()
        return n

    def pool_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Real tokens only (see ``real_token_mask``)."""
        return real_token_mask(input_ids, attention_mask, self.config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """input_ids, attention_mask: (B, T) -> logits (B, L), attention (B, T), loss or None."""
        h = self.encoder(input_ids, attention_mask)  # (B, T, C)
        z, alpha = self.pool(h, self.pool_mask(input_ids, attention_mask))
        logits = self.head(z).float()  # (B, L)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
        return logits, alpha, loss

    def mlm_loss(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Masked-LM loss; targets (B, T) hold the original id at masked positions, else -100."""
        h = self.encoder(input_ids, attention_mask)  # (B, T, C)
        sel = targets != -100
        hm = self.mlm_transform(h[sel])  # (M, C) masked positions only
        logits = hm @ self.encoder.tok_emb.weight.T + self.mlm_bias  # (M, V), tied embeddings
        return F.cross_entropy(logits.float(), targets[sel])
