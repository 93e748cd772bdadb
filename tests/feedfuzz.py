"""Hostile mutations of real feeds, for the fuzz tests and `benchmarks/fuzz_feeds.py`.

``mutate(seed_bytes, rng)`` applies one to three mutations chosen by ``rng`` (a
``random.Random``: seeded, so every case can be replayed) to a real feed: truncation, flipped
and inserted bytes, spliced tags, wrong or lying encodings, random bytes, deep nesting, huge
attributes and fields, control characters, hostile HTML, DTD entities and many entries.
``check_parsed`` states what must hold of whatever the parser returns.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable
from pathlib import Path

from focusdig.ingest.parse import ParsedFeed

ROOT = Path(__file__).resolve().parent.parent
SEED_FILES = sorted(
    [*(ROOT / "focusdig" / "samples").glob("*.xml"), *(ROOT / "tests/fixtures/feeds").glob("*")]
)
SEEDS = [p.read_bytes() for p in SEED_FILES if p.suffix in (".xml", ".html")]

_ENCODINGS = ["utf-8", "utf-16", "utf-16-be", "utf-32", "gb2312", "shift_jis", "latin-1",
              "cp1252", "utf-7", "cp037", "koi8-r", "bogus-charset", ""]  # fmt: skip
_HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;alert(2)&amp;lt;/script&amp;gt;",
    "<![CDATA[<script>alert(3)</script>]]>",
    "<![CDATA[ ]]]]><![CDATA[> ]]>",
    "<svg><script>alert(4)</script></svg>",
    "<iframe src='data:text/html,<script>alert(5)</script>'></iframe>",
    "<style>*{x:expression(alert(6))}</style>",
    "<!-- <script>alert(7)</script> -->",
    "<math><mi xlink:href='javascript:alert(8)'>x</mi></math>",
    "&#60;script&#62;alert(9)&#60;/script&#62;",
    "&#xD800;&#0;&#x1F600;&#1114112;",
    "<link>javascript:alert(10)</link><guid>javascript:alert(11)</guid>",
]
_CONTROL = [bytes([c]) for c in range(32) if c not in (9, 10, 13)] + [
    b"\x7f", b"\xef\xbf\xbe", b"\xed\xa0\x80", b"\xc0\x80", b"\xff", b"\xfe\xff", b"\xe2\x80\xae",
]  # fmt: skip
_TAG_RE = re.compile(rb"<[A-Za-z][^>]{0,200}>")


def _position(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: _position(rng, data)]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def insert_random(data: bytes, rng: random.Random) -> bytes:
    at = _position(rng, data)
    return data[:at] + rng.randbytes(rng.randint(1, 2000)) + data[at:]


def random_bytes(data: bytes, rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice([0, 1, 16, 512, 65536]))


def splice(data: bytes, rng: random.Random) -> bytes:
    """Cut a slice and paste it somewhere else (tags out of order, duplicated, unclosed)."""
    a, b = sorted((_position(rng, data), _position(rng, data)))
    piece = data[a:b][:20000]
    at = _position(rng, data)
    return data[:at] + piece * rng.randint(1, 3) + data[at:]


def lying_encoding(data: bytes, rng: random.Random) -> bytes:
    """Declare one encoding, write another (or a BOM that contradicts both)."""
    declared = rng.choice(_ENCODINGS)
    text = data.decode("utf-8", "replace")
    if re.search(r"encoding=['\"][^'\"]*['\"]", text[:200]):
        text = re.sub(r"encoding=['\"][^'\"]*['\"]", f'encoding="{declared}"', text, count=1)
    else:
        text = f'<?xml version="1.0" encoding="{declared}"?>' + text
    actual = rng.choice([e for e in _ENCODINGS if e and e != "bogus-charset"])
    body = text.encode(actual, "replace")
    if rng.random() < 0.3:
        body = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"]) + body
    return body


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([10, 100, 1000, 3000])
    tag = rng.choice([b"div", b"item", b"b", b"entry", b"a:x"])
    nest = (b"<" + tag + b">") * depth + b"deep" + (b"</" + tag + b">") * depth * rng.randint(0, 1)
    at = _tag_boundary(data, rng)
    return data[:at] + nest + data[at:]


def huge_field(data: bytes, rng: random.Random) -> bytes:
    size = rng.choice([10_000, 100_000, 500_000])
    filler = rng.choice([b"x", b"\xe4\xb8\xad", b"&amp;", b"<b>x</b>", b" "]) * (size // 8)
    if rng.random() < 0.5:
        field = b"<title>" + filler + b"</title>"
    else:
        field = b'<link href="http://e.com/' + filler.replace(b'"', b"") + b'" rel="alternate"/>'
    at = _tag_boundary(data, rng)
    return data[:at] + field + data[at:]


def huge_attribute(data: bytes, rng: random.Random) -> bytes:
    match = list(_TAG_RE.finditer(data))
    if not match:
        return data
    tag = rng.choice(match)
    end = tag.end() - (2 if data[tag.end() - 2 : tag.end()] == b"/>" else 1)
    attrs = b"".join(b' a%d="%s"' % (i, b"v" * rng.choice([10, 50_000])) for i in range(20))
    return data[:end] + attrs + data[end:]


def control_chars(data: bytes, rng: random.Random) -> bytes:
    out = data
    for _ in range(rng.randint(1, 30)):
        at = _position(rng, out)
        out = out[:at] + rng.choice(_CONTROL) + out[at:]
    return out


def hostile_html(data: bytes, rng: random.Random) -> bytes:
    payload = "".join(rng.choice(_HOSTILE) for _ in range(rng.randint(1, 5)))
    if rng.random() < 0.5:
        payload = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    at = _tag_boundary(data, rng)
    return data[:at] + payload.encode() + data[at:]


def dtd_entities(data: bytes, rng: random.Random) -> bytes:
    value = rng.choice(["x" * 100_000, "&#60;script&#62;", "<b>tag</b>", "&lol;" * 10])
    dtd = f'<!DOCTYPE rss [\n<!ENTITY lol "{value}">\n<!ENTITY ext SYSTEM "file:///etc/passwd">\n]>'
    text = data.replace(b"</title>", b"&lol;&ext;</title>", 5)
    declaration = re.match(rb"\s*<\?xml[^>]*\?>", text)
    at = declaration.end() if declaration else 0
    return text[:at] + dtd.encode() + text[at:]


def many_entries(data: bytes, rng: random.Random) -> bytes:
    item = re.search(rb"<(item|entry)[\s>].*?</\1>", data, re.S)
    if not item:
        return data
    copies = rng.choice([20, 100, 500])
    block = b"".join(
        item.group(0).replace(b"</title>", b" %d</title>" % i, 1) for i in range(copies)
    )
    return data[: item.end()] + block + data[item.end() :]


def _tag_boundary(data: bytes, rng: random.Random) -> int:
    """A position just after some tag (inside the document), or anywhere if none."""
    tags = list(_TAG_RE.finditer(data))
    return rng.choice(tags).end() if tags else _position(rng, data)


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    truncate, flip_bytes, insert_random, random_bytes, splice, lying_encoding, deep_nesting,
    huge_field, huge_attribute, control_chars, hostile_html, dtd_entities, many_entries,
]  # fmt: skip


def mutate(seed: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to three mutations of ``seed``; returns the bytes and the mutation names."""
    data, names = seed, []
    for _ in range(rng.randint(1, 3)):
        mutation = rng.choice(MUTATIONS)
        data = mutation(data, rng)[: 12 * 1024 * 1024]
        names.append(mutation.__name__)
    return data, names


def check_parsed(feed: ParsedFeed) -> None:
    """What must hold of every parse result: plain text only, safe URLs, storable strings."""
    for entry in feed.entries:
        for value in dataclasses.astuple(entry):
            if isinstance(value, str):
                value.encode("utf-8")  # no lone surrogates: every database can store it
                assert "\x00" not in value, "NUL byte in a text field"
        for text in (entry.title, entry.text):
            lowered = text.lower()
            assert "<script" not in lowered and "<img" not in lowered, "markup in plain text"
        for url in (entry.url, entry.comments_page, entry.parent_url):
            assert url is None or url.startswith(("http://", "https://")), f"unsafe URL {url!r}"
