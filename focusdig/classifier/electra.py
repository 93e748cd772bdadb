"""ELECTRA replaced-token detection (Clark et al., 2020) for pretraining the classifier's encoder.

A small generator (a masked LM of `gen_layers` blocks that shares the discriminator's token and
position embeddings) fills masked positions with tokens sampled from its own predictions; the
discriminator (the classifier's encoder plus a per-token head) learns to tell, for every real
token, whether it was replaced. Unlike masked-LM pretraining, which learns from the 15 % of
tokens that are masked, the discriminator learns from all of them. Only the discriminator is
kept: `ElectraPretrainer.disc` is an ordinary `SentimentClassifier`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from torch.nn import functional as F

from focusdig.classifier.model import Block, ClassifierConfig, Packing, SentimentClassifier


@dataclass
class ElectraConfig:
    gen_layers: int = 1  # generator depth (the discriminator has config.n_layers)
    gen_d_ff: int = 512
    mask_prob: float = 0.15
    disc_weight: float = 50.0  # lambda in loss = gen_mlm + lambda * disc_bce (as in the paper)


class Generator(nn.Module):
    """Masked LM over the discriminator's embeddings: (B, T, C) embedded inputs -> logits."""

    def __init__(self, cfg: ClassifierConfig, ecfg: ElectraConfig):
        super().__init__()
        gcfg = replace(cfg, n_layers=ecfg.gen_layers, d_ff=ecfg.gen_d_ff)
        self.blocks = nn.ModuleList([Block(gcfg) for _ in range(gcfg.n_layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.transform = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.LayerNorm(cfg.d_model)
        )
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor, sel: torch.Tensor, tok_emb: torch.Tensor
    ) -> torch.Tensor:
        """x (B, T, C), key_mask (B, T) bool, sel (B, T) masked positions -> logits (M, V)."""
        packing = Packing.of(key_mask)
        x = packing.pack(x)  # (N, C)
        for block in self.blocks:
            x, _ = block(x, packing)
        h = self.transform(self.ln_f(x)[packing.pack(sel)])  # (M, C), the masked positions in order
        return h @ tok_emb.T + self.bias  # (M, V), tied to the shared token embeddings


class ElectraPretrainer(nn.Module):
    """Generator + discriminator; `loss()` is one replaced-token-detection step."""

    def __init__(self, disc: SentimentClassifier, ecfg: ElectraConfig | None = None):
        super().__init__()
        self.ecfg = ecfg or ElectraConfig()
        cfg = disc.config
        self.disc = disc
        self.generator = Generator(cfg, self.ecfg)
        self.disc_head = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, 1)
        )
        for module in (self.generator, self.disc_head):
            module.apply(SentimentClassifier._init_weights)

    def loss(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """input_ids, attention_mask (B, T) -> combined loss and its parts (for logging)."""
        cfg, enc = self.disc.config, self.disc.encoder
        real = attention_mask.bool() & (input_ids != cfg.cls_id) & (input_ids != cfg.sep_id)
        noise = torch.rand(input_ids.shape, generator=gen, device=input_ids.device)
        sel = (noise < self.ecfg.mask_prob) & real  # (B, T) positions to mask
        masked = input_ids.masked_fill(sel, cfg.mask_id)
        key_mask = attention_mask.bool()
        gen_logits = self.generator(enc.embed(masked), key_mask, sel, enc.tok_emb.weight)
        gen_loss = F.cross_entropy(gen_logits.float(), input_ids[sel])
        with torch.no_grad():  # sample replacements from the generator (no gradient through)
            probs = torch.softmax(gen_logits.float(), dim=-1)
            sampled = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
        corrupted = input_ids.clone()
        corrupted[sel] = sampled
        replaced = (corrupted != input_ids).float()  # (B, T); a correct sample counts as original
        h = enc(corrupted, attention_mask)  # (B, T, C)
        disc_logits = self.disc_head(h[real]).squeeze(-1).float()  # (N,)
        disc_loss = F.binary_cross_entropy_with_logits(disc_logits, replaced[real])
        with torch.no_grad():
            acc = ((disc_logits > 0).float() == replaced[real]).float().mean()
        stats = {
            "gen": gen_loss.item(),
            "disc": disc_loss.item(),
            "disc_acc": acc.item(),
            "replaced": replaced[real].mean().item(),
        }
        return gen_loss + self.ecfg.disc_weight * disc_loss, stats
