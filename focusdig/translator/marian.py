"""Hugging Face Marian / OPUS-MT translators (``MarianMTModel``) as a focusdig backend.

One directory per source language (``Helsinki-NLP/opus-mt-fr-en`` …; a multi-source model
such as ``opus-mt-mul-en`` may serve several), loaded offline, without remote code, from
safetensors only, after its files are checked against their sha256.

Translation goes through ``focusdig.translator.translate.Translator`` (sentence splitting,
length-sorted batches, joining), so a Marian translation has the same shape as the default
model's, alignments and confidence included: after decoding, one teacher-forced pass over the
chosen output returns the last decoder layer's cross-attention (averaged over heads), to link each
English word to the source word its tokens attend to most, and the log-probability of every
generated token and of the closing ``</s>``, for the same confidence as the default model's.

Tokenization reads the files ``MarianTokenizer`` reads (``source.spm``, ``target.spm``,
``vocab.json``) with sentencepiece directly, because the slow Marian tokenizer gives no
character offsets; the ids are the same (tested).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from focusdig.artifacts import (
    HF_LOAD_KWARGS,
    MARIAN,
    ArtifactError,
    describe,
    require_hf_extra,
    require_safetensors,
    verify_manifest,
)
from focusdig.precision import autocast, autocast_dtype, default_device
from focusdig.translator.generate import Hypothesis, max_new_tokens
from focusdig.translator.translate import TARGET, Translator

SPIECE_UNDERLINE = "\u2581"
SPECIALS = ("</s>", "<unk>", "<pad>")


class MarianVocabulary:
    """Source text -> ids with character offsets; target ids -> text with per-token spans."""

    def __init__(self, path: Path):
        import sentencepiece as spm

        for name in ("source.spm", "target.spm", "vocab.json"):
            if not (path / name).is_file():
                raise ArtifactError(f"{path}: {name} is missing (a Marian tokenizer needs it)")
        self.source = spm.SentencePieceProcessor(model_file=str(path / "source.spm"))
        self.vocab: dict[str, int] = json.loads((path / "vocab.json").read_text("utf-8"))
        tok_config = path / "tokenizer_config.json"
        settings = json.loads(tok_config.read_text("utf-8")) if tok_config.is_file() else {}
        target_vocab = self.vocab
        if settings.get("separate_vocabs"):
            target_vocab = json.loads((path / "target_vocab.json").read_text("utf-8"))
        self.target_pieces = {i: piece for piece, i in target_vocab.items()}
        missing = [t for t in SPECIALS if t not in self.vocab]
        if missing:
            raise ArtifactError(f"{path}: vocab.json lacks {missing}")
        self.eos_id, self.unk_id, self.pad_id = (self.vocab[t] for t in SPECIALS)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text (without ``</s>``)."""
        return [ids for ids, _ in self.encode_with_offsets(texts)]

    def encode_with_offsets(self, texts: list[str]) -> list[tuple[list[int], list[tuple]]]:
        """Ids (without ``</s>``) and the character span of each in its text."""
        out = []
        for text in texts:
            found = self.source.encode(text, return_type="offset_mapping")
            ids, offsets = [], []
            for piece, (s, e) in zip(found["pieces"], found["offsets"], strict=True):
                ids.append(self.vocab.get(piece, self.unk_id))
                while s < e and text[s].isspace():
                    s += 1
                offsets.append((s, e))
            out.append((ids, offsets))
        return out

    def decode_with_spans(self, ids: list[int]) -> tuple[str, list[tuple[int, int]]]:
        """Text of target ids (special tokens skipped) and each id's span in it."""
        text, spans = "", []
        for i in ids:
            piece = self.target_pieces.get(i)
            if piece is None or piece in SPECIALS:
                spans.append((len(text), len(text)))
                continue
            part = piece.replace(SPIECE_UNDERLINE, " ")
            start = len(text) + len(part) - len(part.lstrip(" "))
            text += part
            spans.append((start, len(text)))
        lead = len(text) - len(text.lstrip(" "))
        text = text.strip(" ")
        spans = [
            (min(max(s - lead, 0), len(text)), min(max(e - lead, 0), len(text))) for s, e in spans
        ]
        return text, spans


class MarianTranslator(Translator):
    """A Marian model behind the ``Translator`` interface. Use ``Translator.load(path)``."""

    source_prefix = 0  # no language tag before the source tokens

    def __init__(
        self,
        model,
        vocabulary: MarianVocabulary,
        config: dict,
        path: Path | None = None,
        device: str | torch.device = "cpu",
        precision: str = "auto",
    ):
        device = torch.device(device)
        self.int8 = False  # floating point only (Translator.load refuses int8)
        self.model = model.to(device).eval()
        self.autocast_dtype = autocast_dtype(device, precision)
        self.tokenizer = vocabulary
        self.config = config
        self.path = path
        self.device = device
        self.max_positions = min(model.config.max_position_embeddings, 512)
        self.max_src_tokens = self.max_positions - 1  # room for </s>

    @classmethod
    def load_marian(
        cls,
        path: Path,
        device: str | None = None,
        precision: str = "auto",
        *,
        manifest: dict | None = None,
        languages: list[str] | None = None,
        version: str | None = None,
    ) -> MarianTranslator:
        """Verify and load a Marian directory; ``languages``: its source languages (default:
        what its files say, see ``focusdig.artifacts.describe``)."""
        require_hf_extra("sentencepiece")
        require_safetensors(path)
        if manifest is not None or (path / "manifest.json").is_file():
            verify_manifest(path, manifest)
        info = describe(path)
        if info.backend != MARIAN:
            raise ArtifactError(f"{path}: not a Marian directory ({info.backend})")
        languages = list(languages or info.languages)
        if not languages:
            raise ArtifactError(
                f"{path}: cannot tell the model's source language; register it with "
                "`focusdig models add DIR --languages xx` (or pass --from)"
            )
        target = (
            json.loads((path / "tokenizer_config.json").read_text("utf-8")).get(
                "target_lang", TARGET
            )
            if (path / "tokenizer_config.json").is_file()
            else TARGET
        )
        if str(target or TARGET)[:2] != TARGET:
            raise ArtifactError(f"{path}: translates into {target!r}, focusdig needs English")
        from transformers import MarianMTModel

        try:
            model = MarianMTModel.from_pretrained(
                path, use_safetensors=True, attn_implementation="eager", **HF_LOAD_KWARGS
            )
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{path}: cannot load the Marian model ({e})") from e
        config = {
            "version": version or path.name,
            "backend": MARIAN,
            "languages": sorted(languages),
            "target_language": TARGET,
        }
        device = default_device(device)
        return cls(model, MarianVocabulary(path), config, path, device, precision)

    @torch.inference_mode()
    def _decode(
        self, ids: list[list[int]], langs: list[str], beam_size: int, no_repeat_ngram_size: int
    ) -> list[Hypothesis]:
        vocab = self.tokenizer
        rows = [[*x[: self.max_src_tokens], vocab.eos_id] for x in ids]
        width = max(len(r) for r in rows)
        src = torch.full((len(rows), width), vocab.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            src[i, : len(r)] = torch.tensor(r)
        mask = (src != vocab.pad_id).long()
        src, mask = src.to(self.device), mask.to(self.device)
        cap = max(max_new_tokens(len(r) - 1, self.max_positions - 1) for r in rows)
        with autocast(src.device, self.autocast_dtype):
            out = self.model.generate(
                input_ids=src,
                attention_mask=mask,
                num_beams=beam_size,
                do_sample=False,
                max_new_tokens=cap,
                no_repeat_ngram_size=no_repeat_ngram_size,
            )
            # one teacher-forced pass over the chosen outputs: the log-probability of each
            # token and the cross-attention while writing it
            forced = self.model(
                input_ids=src, attention_mask=mask, decoder_input_ids=out, output_attentions=True
            )
        logits = forced.logits.float()  # (B, T, V); position t predicts output token t + 1
        norm = torch.logsumexp(logits, dim=-1)  # (B, T)
        following = torch.cat([out[:, 1:], out[:, -1:]], dim=1)  # (B, T)
        token_logprob = (logits.gather(-1, following[..., None])[..., 0] - norm).cpu()
        eos_logprob = (logits[..., vocab.eos_id] - norm).cpu()
        cross = forced.cross_attentions[-1].float().mean(dim=1).cpu()  # (B, T, S)
        results = []
        for b, seq in enumerate(out[:, 1:].tolist()):
            generated = []
            for token in seq:
                if token in (vocab.eos_id, vocab.pad_id):
                    break
                generated.append(token)
            n = len(generated)  # position n predicts the closing </s>
            score = float(token_logprob[b, :n].sum() + eos_logprob[b, n])
            results.append(Hypothesis(generated, score, cross[b, :n]))
        return results
