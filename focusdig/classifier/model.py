"""Compact pre-LN Transformer encoder with an attention-pooling sentiment head.

The pooling weights alpha (one per token, summing to 1 over the real tokens of a sequence) build
the sentence vector: z = sum_i alpha_i h_i. The word-level explanation (``explanation``) is
either those weights alone (``pooling``) or, the default, their ``flow`` back towards the input
positions: alpha carried down through the last ``FLOW_BLOCKS`` blocks' self-attention, each
block's weights scaled by the size of what each token sends (the norm of its value vector after
the output projection, Kobayashi et al. 2020) and mixed with the residual stream by its size
(Kobayashi et al. 2021), multiplied through like attention rollout (Abnar & Zuidema 2020; not
their max-flow "attention flow", despite the name). The last layer's states are already
mixtures of the words around them, so the pooling weights alone under-credit the words that
carry the prediction: removing the flow's top words removes more of it (benchmarks/README.md
§1, "Faithfulness").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

from focusdig.artifacts import EXPLANATIONS, check_explanation


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


# blocks the flow goes down through, chosen on validation faithfulness (top-5 vs random words:
# 1 block 2.92x, 2 blocks 3.03x, 3 2.76x, all 4 2.95x; pooling weights alone 2.41x); the two
# cost 7 % of `Classifier.predict`'s throughput
FLOW_BLOCKS = 2


def collate(seqs: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists -> input_ids, attention_mask (B, T), both int64."""
    lengths = np.array([len(s) for s in seqs])
    mask = lengths[:, None] > np.arange(lengths.max())  # (B, T) real tokens
    ids = np.full(mask.shape, pad_id, dtype=np.int64)
    ids[mask] = np.concatenate(seqs)  # row by row, in order
    return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))


@dataclass(frozen=True, eq=False)
class Packing:
    """Where the real tokens of a padded (B, T) batch are. The blocks' token-wise layers (norms,
    projections, feed-forward) run on the N real tokens alone, packed (N, ...); only attention
    needs the (B, T) layout. Padding is about a tenth of length-sorted inference batches and a
    twentieth of the trainer's length-bucketed ones (benchmarks/README.md section 1, "Speed")."""

    key_mask: torch.Tensor  # (B, T) bool, True = real token
    rows: torch.Tensor | None  # (N,) batch index of each real token; None: no padding
    cols: torch.Tensor | None  # (N,) its position

    @classmethod
    def of(cls, attention_mask: torch.Tensor) -> Packing:
        key_mask = attention_mask.bool()
        rows, cols = key_mask.nonzero(as_tuple=True)
        if rows.numel() == key_mask.numel():  # full rows (pretraining chunks): a reshape
            return cls(key_mask, None, None)
        return cls(key_mask, rows, cols)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...): the real tokens, in reading order."""
        if self.rows is None:
            return x.reshape(-1, *x.shape[2:])
        return x[self.rows, self.cols]

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...), zeros at the padding."""
        if self.rows is None:
            return x.view(*self.key_mask.shape, *x.shape[1:])
        out = x.new_zeros(*self.key_mask.shape, *x.shape[1:])
        return out.index_put_((self.rows, self.cols), x)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, packing: Packing, sent: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (N, C) packed -> output (N, C) and, if ``sent`` (inference only), (B, T, T): how
        much token j adds to token i, sum_h a_hij ||W_O^h v_hj|| (attention weight times the
        norm of what the head carries: Kobayashi et al. 2020)."""
        C = x.shape[-1]
        B, T = packing.key_mask.shape
        nh, hs = self.n_heads, C // self.n_heads
        qkv = packing.unpack(self.qkv(x))  # (B, T, 3C), zeros at the padding
        if not sent:
            # (B, T, C) -> (B, nh, T, hs)
            q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in qkv.split(C, dim=2))
            bias = packing.key_mask[:, None, None, :]  # (B, 1, 1, T) bool, True = attend
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0
            )  # (B, nh, T, hs)
            y = packing.pack(y.transpose(1, 2)).reshape(-1, C)  # (N, C)
            return self.resid_drop(self.proj(y)), None
        if self.training:
            raise RuntimeError("the attention flow is for inference: call model.eval() first")
        # the weights themselves, heads first: (B, T, 3C) -> 3 x (nh, B, T, hs), one copy;
        # float32 whatever the autocast (the flow's sums of products, and its ties, are exact)
        qkv = qkv.view(B, T, 3, nh, hs).permute(2, 3, 0, 1, 4).float().contiguous()
        with torch.autocast(x.device.type, enabled=False):
            q, k, v = (t.reshape(nh * B, T, hs) for t in qkv.unbind(0))  # views
            # masked keys get -inf, added in the same product as the scaling
            hide = torch.zeros(B, 1, T, device=x.device)
            hide.masked_fill_(~packing.key_mask[:, None], -math.inf)
            att = torch.baddbmm(
                hide.repeat(nh, 1, 1), q, k.transpose(1, 2), alpha=1 / math.sqrt(hs)
            ).softmax(dim=-1)  # (nh * B, T, T)
            y = torch.bmm(att, v).view(nh, B, T, hs).permute(1, 2, 0, 3)  # (B, T, nh, hs)
            y = packing.pack(y).reshape(-1, C).to(x.dtype)  # (N, C)
            w_o = dense_weight(self.proj).float().view(C, nh, hs).transpose(0, 1)  # (nh, C, hs)
            gram = w_o.transpose(1, 2) @ w_o  # (nh, hs, hs): ||W_O^h v||^2 = v . gram_h v
            flat = v.view(nh, B * T, hs)
            sends = torch.linalg.vecdot(torch.bmm(flat, gram), flat).clamp_min(0).sqrt()
            sends, att = sends.view(nh, B, 1, T), att.view(nh, B, T, T)
            sizes = att[0] * sends[0]  # (B, T, T), summed over heads without a temporary
            for h in range(1, nh):
                sizes.addcmul_(att[h], sends[h])
        return self.resid_drop(self.proj(y)), sizes


def dense_weight(linear: nn.Module) -> torch.Tensor:
    """The float weight (out, in) of an ``nn.Linear`` or of its dynamically quantized copy."""
    w = linear.weight
    w = w() if callable(w) else w  # quantized Linear: a method returning a quantized tensor
    return w.dequantize() if w.is_quantized else w


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

    def forward(
        self, x: torch.Tensor, packing: Packing, flow: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (N, C) packed -> (N, C) and, if ``flow``, the mixing matrix (B, T, T) of the
        attention sublayer: row i says how much of token i's output comes from each input token
        (the residual counts as i's own, by its norm), rows summing to 1."""
        y, sizes = self.attn(self.ln1(x), packing, sent=flow)
        mix = None
        if flow:  # sizes is this call's own tensor: add the residual and normalise in place
            mix = sizes
            mix.diagonal(dim1=1, dim2=2).add_(packing.unpack(x.float().norm(dim=-1)))
            mix /= mix.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        x = x + y
        return x + self.ff(self.ln2(x)), mix


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
        """(B, T) -> hidden states (B, T, C), zeros at the padding."""
        return self.run(input_ids, attention_mask)[0]

    def run(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, flow_blocks: int = 0
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, T) -> hidden states (B, T, C), zeros at the padding, and the mixing matrices
        of the last ``flow_blocks`` blocks, bottom first."""
        packing = Packing.of(attention_mask)
        x = packing.pack(self.embed(input_ids))  # (N, C)
        mixes = []
        for i, block in enumerate(self.blocks):
            x, mix = block(x, packing, flow=i >= len(self.blocks) - flow_blocks)
            if mix is not None:
                mixes.append(mix)
        return packing.unpack(self.ln_f(x)), mixes


def attention_flow(alpha: torch.Tensor, mixes: list[torch.Tensor]) -> torch.Tensor:
    """The pooling weights alpha (B, T) carried back through blocks' mixing matrices
    (``Block.forward``; ``mixes`` bottom first): alpha . M_L ... M_l (B, T)."""
    flow = alpha.float()[:, None, :]  # (B, 1, T)
    for mix in reversed(mixes):
        flow = flow @ mix
    return flow[:, 0]


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

    def __init__(self, cfg: ClassifierConfig, explanation: str = EXPLANATIONS[0]):
        super().__init__()
        self.config = cfg
        self.explanation = check_explanation(explanation)
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
        explain: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """input_ids, attention_mask: (B, T) -> logits (B, L), word weights (B, T), loss or None.

        The weights are the ``explanation`` in eval mode: the pooling weights' attention flow
        (default) or the pooling weights themselves, which are also what training (the
        attention-entropy term) and ``explain=False`` (no words wanted) get."""
        flow = explain and self.explanation == "flow" and not self.training
        h, mixes = self.encoder.run(input_ids, attention_mask, FLOW_BLOCKS if flow else 0)
        mask = self.pool_mask(input_ids, attention_mask)
        z, alpha = self.pool(h, mask)
        if flow:
            with torch.autocast(input_ids.device.type, enabled=False):
                alpha = attention_flow(alpha, mixes).masked_fill(~mask, 0.0)
                alpha = alpha / alpha.sum(dim=-1, keepdim=True).clamp_min(1e-12)
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
