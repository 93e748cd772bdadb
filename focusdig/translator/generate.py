"""Batched greedy and beam-search decoding with a key/value cache.

Both return one `Hypothesis` per source row: generated ids (without `<s>`/`</s>`), the summed
log-probability of the sequence (its `</s>` included) and, when asked, the last decoder layer's
cross-attention (head-averaged) for each generated token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from focusdig.translator.model import Seq2SeqTransformer


@dataclass
class Hypothesis:
    ids: list[int]
    score: float  # sum of token log-probs, </s> included
    attention: Tensor | None = None  # (len(ids), S) cross-attention over the source row

    @property
    def scored_tokens(self) -> int:
        """How many token log-probs ``score`` sums: the generated ids and </s>."""
        return len(self.ids) + 1


def max_new_tokens(src_len: int, limit: int = 256) -> int:
    """Length cap for a source of `src_len` tokens: 2 * src + 10, at most `limit`."""
    return min(2 * src_len + 10, limit)


def _step(
    model: Seq2SeqTransformer,
    tokens: Tensor,
    memory: Tensor,
    mem_mask: Tensor,
    cache: list[dict] | None,
    need_weights: bool,
) -> tuple[Tensor, Tensor | None]:
    """Log-probs (N, V) and cross-attention (N, S) for the next token after `tokens` (N, t)."""
    if cache is not None:
        logits, w = model.decode_step(
            tokens[:, -1:], memory, mem_mask, cache, tokens.size(1) - 1, need_weights=need_weights
        )
    else:
        logits, w = model.decode(tokens, memory, mem_mask, need_weights=need_weights)
        logits, w = logits[:, -1], (w[:, -1] if w is not None else None)
    return logits.float().log_softmax(dim=-1), w


# subword n-grams never generated twice in one piece by default: 3 suited the under-trained
# first models, 4 the current one (validation BLEU; benchmarks/README.md §4, session 10)
NO_REPEAT_NGRAM = 4


def block_repeated_ngrams(logp: Tensor, tokens: Tensor, n: int) -> Tensor:
    """Forbid any token that would repeat an n-gram already in its row of ``tokens`` (N, t).

    Small, under-trained models loop ("the police the police ..."); blocking repeated n-grams
    is the usual cure (fairseq/HF ``no_repeat_ngram_size``).
    """
    if n <= 0 or tokens.size(1) < n:
        return logp
    grams = tokens.unfold(1, n, 1)  # (N, G, n) every n-gram so far
    prefix = tokens[:, tokens.size(1) - n + 1 :]  # (N, n-1) what the next token would extend
    match = (grams[:, :, :-1] == prefix[:, None, :]).all(dim=-1)  # (N, G)
    rows, grams_at = match.nonzero(as_tuple=True)
    if rows.numel() == 0:  # the usual case: nothing to block, no copy
        return logp
    logp = logp.clone()
    logp[rows, grams[rows, grams_at, -1]] = float("-inf")
    return logp


def ban_tokens(logp: Tensor, banned: Tensor | None) -> Tensor:
    """Tokens ``banned`` (ids) may never be generated: e.g. the language tags, which a model
    trained with en -> xx directions writes first when it is about to write de/fr/zh. In place
    (``logp`` is each step's own tensor): no (rows, vocabulary) copy per step."""
    if banned is None or banned.numel() == 0:
        return logp
    return logp.index_fill_(1, banned, float("-inf"))


def _force_eos(logp: Tensor, at_cap: Tensor, eos_id: int) -> Tensor:
    """Rows that reached their length cap may only emit </s>."""
    if at_cap.any():
        forced = torch.full_like(logp, float("-inf"))
        forced[:, eos_id] = logp[:, eos_id]
        logp = torch.where(at_cap[:, None], forced, logp)
    return logp


def _compact_cache(cache: list[dict] | None, keep: Tensor) -> None:
    """Keep only the rows ``keep`` of every cached key/value tensor (self- and cross-attention)."""
    for layer_cache in cache or ():
        for part in layer_cache.values():
            for name in ("k", "v"):
                if name in part:
                    part[name] = part[name][keep]


@torch.no_grad()
def greedy_search(
    model: Seq2SeqTransformer,
    src: Tensor,
    caps: Tensor,
    *,
    use_cache: bool = True,
    need_weights: bool = False,
    no_repeat_ngram_size: int = 0,
    prefix: Tensor | None = None,
    banned: Tensor | None = None,
) -> list[Hypothesis]:
    """src (B, S) padded source ids; caps (B,) max generated tokens per row (</s> included).

    Rows that emit </s> leave the batch at once (every tensor and the key/value cache are
    compacted), so no step is spent on finished rows. `prefix` (B, P): tokens forced as the
    first P generated (e.g. the target-language tag of an en -> xx translation); they are part
    of the hypothesis and of its score. `banned`: ids never generated (``ban_tokens``).
    """
    cfg = model.config
    if prefix is not None and bool((caps <= prefix.size(1)).any()):
        raise ValueError("every row's length cap must leave room for its prefix and </s>")
    memory, mem_mask = model.encode(src)
    B = src.size(0)
    tokens = torch.full((B, 1), cfg.bos_id, dtype=torch.long, device=src.device)
    rows = torch.arange(B, device=src.device)  # original row of each live row
    scores = torch.zeros(B, device=src.device)
    cache = [{} for _ in model.decoder] if use_cache else None
    attn: list[Tensor] = []  # per step, (live rows, S)
    out: list[Hypothesis | None] = [None] * B
    for t in range(int(caps.max())):
        logp, w = _step(model, tokens, memory, mem_mask, cache, need_weights)
        logp = ban_tokens(block_repeated_ngrams(logp, tokens, no_repeat_ngram_size), banned)
        logp = _force_eos(logp, t >= caps - 1, cfg.eos_id)
        nxt = prefix[rows, t] if prefix is not None and t < prefix.size(1) else logp.argmax(-1)
        scores = scores + logp.gather(1, nxt[:, None])[:, 0]
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        if need_weights:
            attn.append(w)
        finished = nxt == cfg.eos_id
        if not finished.any():
            continue
        for i in finished.nonzero()[:, 0].tolist():
            a = torch.stack([x[i] for x in attn[:t]]) if need_weights and t > 0 else None
            out[int(rows[i])] = Hypothesis(tokens[i, 1 : t + 1].tolist(), float(scores[i]), a)
        if finished.all():
            break
        keep = (~finished).nonzero()[:, 0]
        tokens, rows, scores, caps = tokens[keep], rows[keep], scores[keep], caps[keep]
        memory, mem_mask = memory[keep], mem_mask[keep]
        attn = [x[keep] for x in attn]
        _compact_cache(cache, keep)
    return out  # every row ends: caps force </s> at the last step


@torch.no_grad()
def beam_search(
    model: Seq2SeqTransformer,
    src: Tensor,
    caps: Tensor,
    *,
    beam_size: int = 4,
    length_penalty: float = 1.0,
    use_cache: bool = True,
    need_weights: bool = False,
    no_repeat_ngram_size: int = 0,
    banned: Tensor | None = None,
) -> list[Hypothesis]:
    """Beam search; finished hypotheses are ranked by score / length ** length_penalty;
    `banned` ids are never generated (``ban_tokens``).

    A source whose search is over (K finished hypotheses, or none left to extend) leaves the
    batch at once: its K rows are dropped from every tensor and from the key/value cache.
    """
    cfg = model.config
    B, K = src.size(0), beam_size
    memory, mem_mask = model.encode(src)
    memory = memory.repeat_interleave(K, dim=0)  # (L*K, S, C) for the L live sources
    mem_mask = mem_mask.repeat_interleave(K, dim=0)
    caps_k = caps.repeat_interleave(K)
    tokens = torch.full((B * K, 1), cfg.bos_id, dtype=torch.long, device=src.device)
    beam_scores = torch.full((B, K), float("-inf"), device=src.device)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    cache = [{} for _ in model.decoder] if use_cache else None
    hist = None  # (L*K, t, S) attention of each beam's tokens so far
    finished: list[list[tuple[float, float, list[int], Tensor | None]]] = [[] for _ in range(B)]
    live = list(range(B))  # source index of each live group of K rows
    per_row = min(2 * K, cfg.vocab_size)
    for t in range(int(caps.max())):
        L = len(live)
        logp, w = _step(model, tokens, memory, mem_mask, cache, need_weights)
        logp = ban_tokens(block_repeated_ngrams(logp, tokens, no_repeat_ngram_size), banned)
        logp = _force_eos(logp, t >= caps_k - 1, cfg.eos_id)
        # the 2K best continuations of each group: every beam row's own 2K best suffice
        row_scores, row_tok = logp.topk(per_row, dim=-1)  # (L*K, per_row)
        row_scores = (row_scores + beam_scores.view(-1, 1)).view(L, K * per_row)
        top_scores, pick = row_scores.topk(2 * K, dim=-1)  # (L, 2K), best first
        from_row = pick // per_row  # beam (0..K-1) each candidate extends
        top_tok = row_tok.view(L, K * per_row).gather(1, pick)
        # new beams: each group's first K finite candidates that are not </s> (a beam row
        # has one </s>, so at most K of the 2K are); candidates after a group's K-th are unused
        usable = top_scores > float("-inf")
        extend = usable & (top_tok != cfg.eos_id)
        rank = extend.long().cumsum(dim=-1)  # 1-based rank among extensions
        chosen = extend & (rank <= K)
        g_idx, c_idx = chosen.nonzero(as_tuple=True)
        slot = g_idx * K + rank[g_idx, c_idx] - 1
        order_t = torch.arange(L * K, device=src.device)
        order_t[slot] = g_idx * K + from_row[g_idx, c_idx]
        new_tok = torch.full((L * K,), cfg.pad_id, dtype=torch.long, device=src.device)
        new_tok[slot] = top_tok[g_idx, c_idx]
        new_scores = torch.full((L * K,), float("-inf"), device=src.device)
        new_scores[slot] = top_scores[g_idx, c_idx]
        new_scores = new_scores.view(L, K)
        # </s> candidates ranked before a group's K-th extension finish a hypothesis each
        # (while the group has fewer than K)
        ended = usable & (top_tok == cfg.eos_id) & (rank < K)
        n = tokens.size(1)  # generated tokens incl. </s>
        for g, c in ended.nonzero().tolist():
            b = live[g]
            if len(finished[b]) >= K:
                continue
            row, score = g * K + int(from_row[g, c]), float(top_scores[g, c])
            a = None
            if need_weights:
                a = hist[row] if hist is not None else w.new_zeros((0, w.size(1)))
            finished[b].append((score / n**length_penalty, score, tokens[row, 1:].tolist(), a))
        kept = chosen.sum(dim=-1).tolist()
        over = [len(finished[b]) >= K or k == 0 for b, k in zip(live, kept, strict=True)]
        if all(over):
            break
        tokens = torch.cat([tokens[order_t], new_tok[:, None]], dim=1)
        beam_scores = new_scores
        if need_weights:
            step_w = w[:, None, :]
            hist = step_w[order_t] if hist is None else torch.cat([hist, step_w], 1)[order_t]
        if cache is not None:
            for layer_cache in cache:  # cross-attention memory is identical within a source
                sc = layer_cache["self"]
                sc["k"], sc["v"] = sc["k"][order_t], sc["v"][order_t]
        if any(over):  # drop the sources whose search is over
            groups = [g for g in range(L) if not over[g]]
            keep = torch.tensor([g * K + j for g in groups for j in range(K)], device=src.device)
            tokens, caps_k, memory, mem_mask = (
                tokens[keep],
                caps_k[keep],
                memory[keep],
                mem_mask[keep],
            )
            beam_scores = beam_scores[groups]
            hist = hist[keep] if hist is not None else None
            _compact_cache(cache, keep)
            live = [live[g] for g in groups]
    out = []
    for b in range(B):
        _, score, ids, a = max(finished[b], key=lambda h: h[0])
        out.append(Hypothesis(ids, score, a))
    return out
