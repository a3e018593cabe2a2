"""Build preference pairs (for DPO) from the house-style product copy in ../copy/copy.jsonl.

Each pair keeps a copy row's prompt (system + user) and answer: the answer in the house tone is
`chosen`; `rejected` is the same blurb rewritten off-tone by rules. Every rejected blurb gets two or
three of these four rewrites, picked by a seeded generator and applied in this order, so no single
cue gives the pair away:

- hype: "Meet the X." becomes a hyped opener ("Say hello to the absolutely stunning X"), and the
  calm phrases turn loud;
- American spelling: colour -> color, grey -> gray, favourite -> favorite, ... (a blurb without a
  British spelling gets another rewrite instead);
- a salesy extra sentence at the end ("Grab yours today before they are gone");
- exclamation marks: sentences end in "!" instead of ".".

Writes `pairs.jsonl` next to this script: `{"messages": [system, user], "chosen": ..., "rejected": ...}`.

Usage:
    python examples/preference/generate.py [--seed 7] [--n 240] [--source ../copy/copy.jsonl] [--out DIR]

Standard library only; the same seed and source always give the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_PAIRS = 240

AMERICAN = {
    "colour": "color",
    "grey": "gray",
    "favourite": "favorite",
    "aluminium": "aluminum",
    "cosy": "cozy",
    "flavour": "flavor",
    "litre": "liter",
    "enamelled": "enameled",
    "jumper": "sweater",
}
HYPE_OPENERS = (
    "Say hello to the absolutely stunning {product}.",
    "Introducing the incredible {product}.",
    "Get ready to fall in love with the amazing {product}.",
    "Meet the game-changing {product}, your new obsession.",
)
LOUD = {
    "calm touch": "gorgeous pop",
    "warm, natural character": "jaw-dropping natural vibe",
    "a texture worth keeping close": "a super luxe feel you will totally adore",
    "for years of daily use": "for literally years of everyday awesomeness",
    "quiet favourite": "total fan favourite",  # keeps the British spelling for the American rewrite
    "Honest kit": "Seriously epic kit",
}
SALES_LINES = (
    "Grab yours today before they are gone.",
    "Add it to your cart now and thank us later.",
    "Do not miss out, order yours today.",
    "Trust us, you are going to love it.",
    "Treat yourself, you totally deserve it.",
    "Hurry, this deal will not last.",
)


def exclaim(text: str, rng: random.Random) -> str:
    """Every sentence ends in '!' (some in '!!')."""
    return re.sub(r"\.(?= |$)", lambda _: "!!" if rng.random() < 0.2 else "!", text)


def americanise(text: str, rng: random.Random) -> str:
    return re.sub(r"\b(" + "|".join(AMERICAN) + r")\b", lambda m: AMERICAN[m.group(1)], text)


def hype(text: str, rng: random.Random) -> str:
    """A hyped opener, and the calm phrases turned loud."""
    product = re.match(r"Meet the (.+?)\. ", text)
    if product:
        opener = rng.choice(HYPE_OPENERS).format(product=product.group(1))
        text = opener + text[product.end() - 1 :]
    for calm, loud in LOUD.items():
        text = text.replace(calm, loud)
    return text


def sell(text: str, rng: random.Random) -> str:
    """One salesy sentence more."""
    return f"{text} {rng.choice(SALES_LINES)}"


# In the order they are applied: hype rewrites the opener before its full stop becomes "!", and the extra
# sales sentence is there before the exclamation marks are.
REWRITES: dict[str, Callable[[str, random.Random], str]] = {
    "hype": hype,
    "american": americanise,
    "sales": sell,
    "exclamation": exclaim,
}


def rewrite(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """Pick two or three rewrites that change this blurb, then apply them in a fixed order."""
    names = sorted(REWRITES)
    rng.shuffle(names)
    want = rng.choice((2, 2, 3))
    used = [name for name in names if REWRITES[name](text, random.Random(0)) != text][:want]
    for name in REWRITES:
        if name in used:
            text = REWRITES[name](text, rng)
    return text, sorted(used)


def build_pairs(rows: list[dict], n: int, seed: int) -> tuple[list[dict], Counter]:
    rng = random.Random(seed)
    chosen_rows = rng.sample(rows, min(n, len(rows)))
    pairs, counts = [], Counter()
    for row in chosen_rows:
        *prompt, answer = row["messages"]
        assert answer["role"] == "assistant" and prompt[-1]["role"] == "user", row
        rejected, used = rewrite(answer["content"], rng)
        counts.update(used)
        pairs.append({"messages": prompt, "chosen": answer["content"], "rejected": rejected})
    return pairs, counts


def check(pairs: list[dict]) -> None:
    """Chosen keeps the house tone; rejected breaks it in at least two visible ways."""
    american = re.compile(r"\b(" + "|".join(AMERICAN.values()) + r")\b")
    for p in pairs:
        chosen, rejected = p["chosen"], p["rejected"]
        assert "!" not in chosen and not american.search(chosen), chosen
        breaks = [
            "!" in rejected,
            bool(american.search(rejected)),
            not rejected.startswith("Meet the ") or any(loud in rejected for loud in LOUD.values()),
            len(re.findall(r"[.!]+(?= |$)", rejected)) > 3,
        ]
        assert sum(breaks) >= 2 and rejected.isascii(), rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n", type=int, default=N_PAIRS)
    parser.add_argument("--source", type=Path, default=HERE.parent / "copy" / "copy.jsonl")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.source.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs, counts = build_pairs(rows, args.n, args.seed)
    check(pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "pairs.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    print(f"wrote {len(pairs)} pairs to {path}")
    print("rewrites used: " + ", ".join(f"{name} {counts[name]}" for name in REWRITES))
    print(f"example rejected: {pairs[0]['rejected']}")


if __name__ == "__main__":
    main()
