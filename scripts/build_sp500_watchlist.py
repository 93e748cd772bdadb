"""Build focusdig/entities/data/sp500.csv from the S&P 500 constituents list (ODC-PDDL 1.0).

    python scripts/build_sp500_watchlist.py [../shared/data/entities/sp500_constituents.csv]

One entity per company (share classes merged: the second class's ticker becomes an alias),
named as people write it ("The Home Depot", "Eli Lilly"), with aliases: the name without its
legal suffix when that is not a single ordinary English word (``focusdig.entities.names``),
plus a short hand-written list of the names the press uses ("Google", "Exxon", "J&J").
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from focusdig.entities.names import clean_name, is_common_word, strip_suffixes

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "entities" / "sp500_constituents.csv"
OUT = ROOT / "focusdig" / "entities" / "data" / "sp500.csv"
# names the press uses that no rule derives (by ticker)
PRESS_NAMES = {
    "GOOGL": ["Google", "Alphabet"],
    "META": ["Meta", "Facebook"],
    "F": ["Ford"],
    "HON": ["Honeywell"],
    "C": ["Citi"],
    "GM": ["GM"],
    "BRK.B": ["Berkshire"],
    "JPM": ["JPMorgan", "JP Morgan", "J.P. Morgan"],
    "BAC": ["BofA"],
    "XOM": ["Exxon", "Exxon Mobil"],
    "DIS": ["Disney"],
    "LLY": ["Lilly"],
    "PG": ["P&G"],
    "JNJ": ["J&J"],
    "GS": ["Goldman"],
    "KO": ["Coca-Cola"],
    "PEP": ["Pepsi"],
    "WMT": ["Wal-Mart"],
    "HD": ["Home Depot"],
    "AAPL": ["Apple"],
    "AMZN": ["Amazon.com"],
    "TGT": ["Target"],
    "V": ["Visa"],
    "ORCL": ["Oracle"],
    "UNH": ["UnitedHealth"],
    "CVX": ["Chevron"],
    "MCD": ["McDonald's"],
    "CAT": ["Caterpillar"],
    "UPS": ["UPS"],
    "IBM": ["International Business Machines"],
}
# bare names that are mostly someone else in the news (surnames, other companies)
NOT_ALIASES = {"Williams", "Cooper", "Mosaic", "American International"}


def rows(source: Path) -> list[dict[str, str]]:
    merged: dict[str, dict[str, str | list[str]]] = {}
    with source.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = clean_name(row["Security"]).replace("’", "'")
            ticker = row["Symbol"].strip()
            if name in merged:  # another share class of the same company
                merged[name]["aliases"].append(ticker)
                continue
            aliases: list[str] = []
            base, _ = strip_suffixes(name)
            if (
                base != name
                and base not in NOT_ALIASES
                and not (base.isalpha() and is_common_word(base))
            ):
                aliases.append(base)
            aliases += PRESS_NAMES.get(ticker, [])
            merged[name] = {"ticker": ticker, "aliases": aliases}
    out = []
    for name, entry in sorted(merged.items(), key=lambda kv: kv[0].casefold()):
        aliases = list(dict.fromkeys(a for a in entry["aliases"] if a != name))
        out.append({"name": name, "ticker": entry["ticker"], "aliases": "|".join(aliases)})
    return out


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    entries = rows(source)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "ticker", "aliases"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(entries)
    print(f"wrote {len(entries)} entities to {OUT}")


if __name__ == "__main__":
    main()
