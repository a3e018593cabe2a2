# ruff: noqa: E501  (the vocabulary pools below are long string literals)
"""Generate the synthetic house-style product copy dataset (instruction tuning).

Writes, next to this script:

- `copy.jsonl` (300 rows), chat form: `{"messages": [system, user, assistant]}`. The
  user turn lists a product's facts (`Product:`, `Material:`, `Colour:`, `Feature:`),
  the assistant turn is the blurb in the house style.
- `copy_prompt_completion.jsonl` (40 rows): the first 40 rows of `copy.jsonl` in
  `{"prompt": <user turn>, "completion": <blurb>}` form, to show the alternative format.

The house style is strict, so it can be learnt but not guessed. A blurb is exactly
three sentences and 20-35 words, British spelling, no exclamation marks:

1. "Meet the <Product>."
2. One sentence that weaves material, colour and feature together. Its pattern is
   set by the material's family (fabric, wood, metal, ceramic and glass), e.g.
   "Cut from linen in a sage shade, it brings deep side pockets and a texture you
   will want to keep close."
3. A sign-off set by the product's category (clothing, kitchen, home, outdoor,
   bed and bath), e.g. "Made to last, priced to stay."

So every word of the blurb follows from the prompt by two rules a model can learn
(material -> pattern, product -> sign-off); a base model asked zero-shot writes
longer, looser copy with other words. Facts come from small vocabulary lists; a
seeded random generator picks distinct (product, material, colour, feature)
combinations, so the same seed always gives the same files.

Usage:
    python examples/copy/generate.py [--seed 23] [--n 300] [--out DIR]

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

N_ROWS, N_PROMPT_COMPLETION, N_TEST = 300, 40, 48
MIN_WORDS, MAX_WORDS = 20, 35
SYSTEM = "You write product blurbs for Harbour & Pine, a British homeware and clothing shop. Follow the house style."
INSTRUCTION = "Write the product blurb."

# ---------------------------------------------------------------------------
# The house style.
# ---------------------------------------------------------------------------

# Second sentence, by the material's family. {a_colour} is the colour with "a"/"an".
PATTERNS = {
    "fabric": "Cut from {material} in {a_colour} shade, it brings {feature} and a texture worth keeping close.",
    "wood": "Shaped from {material} and finished in {colour}, it offers {feature} and a warm, natural character.",
    "metal": "Built from {material} in {a_colour} finish, it gives you {feature} for years of daily use.",
    "ceramic": "Made from {material} in a soft {colour} tone, it adds {feature} and a calm touch of colour.",
}
# Third sentence, by the product's category.
SIGN_OFFS = {
    "clothing": "Made to last, priced to stay.",
    "kitchen": "Honest kit for a well-used kitchen.",
    "home": "A quiet favourite for a well-loved home.",
    "outdoor": "Ready for whatever the weather brings.",
    "bed_bath": "Soft, calm and made for unhurried mornings.",
}
MATERIAL_FAMILY = {
    **dict.fromkeys(
        [
            "cotton",
            "organic cotton",
            "linen",
            "merino wool",
            "waxed cotton",
            "recycled polyester",
            "brushed flannel",
            "velvet",
            "wool felt",
            "Egyptian cotton",
            "waffle cotton",
            "ripstop nylon",
            "canvas",
            "jute",
            "lambswool",
        ],
        "fabric",
    ),
    **dict.fromkeys(["oak", "ash", "bamboo", "acacia", "walnut", "beech", "rattan"], "wood"),
    **dict.fromkeys(["stainless steel", "cast iron", "enamelled steel", "aluminium", "copper", "brass"], "metal"),
    **dict.fromkeys(["stoneware", "porcelain", "recycled glass", "earthenware", "marble"], "ceramic"),
}
COLOURS = [
    "sage",
    "oatmeal",
    "charcoal grey",
    "navy",
    "rust",
    "ochre",
    "olive",
    "stone",
    "slate",
    "cream",
    "forest green",
    "heather grey",
    "ink blue",
    "clay",
    "ivory",
    "mustard",
]


@dataclass(frozen=True)
class Product:
    name: str
    category: str
    materials: tuple[str, ...]
    features: tuple[str, ...]


def _p(name: str, category: str, materials: str, features: str) -> Product:
    return Product(name, category, tuple(materials.split(", ")), tuple(features.split("; ")))


PRODUCTS = [
    _p(
        "Field Jacket",
        "clothing",
        "waxed cotton, organic cotton, ripstop nylon",
        "a storm-proof hood; deep side pockets; a soft brushed lining",
    ),
    _p(
        "Crew Jumper",
        "clothing",
        "merino wool, lambswool, organic cotton",
        "a relaxed, easy fit; ribbed cuffs that hold their shape; breathable warmth",
    ),
    _p(
        "Everyday Tee",
        "clothing",
        "cotton, organic cotton, linen, recycled polyester",
        "a relaxed, easy fit; a neat, tailored neckline; breathable comfort",
    ),
    _p(
        "Linen Overshirt",
        "clothing",
        "linen, brushed flannel, organic cotton",
        "two chest pockets; a neat, tailored collar; a relaxed, easy fit",
    ),
    _p(
        "Knitted Beanie",
        "clothing",
        "merino wool, lambswool, recycled polyester",
        "a snug, turn-up brim; breathable warmth; a soft, itch-free feel",
    ),
    _p(
        "Rain Mac",
        "clothing",
        "waxed cotton, ripstop nylon, recycled polyester",
        "a storm-proof hood; taped, watertight seams; a longer cut for cover",
    ),
    _p(
        "Work Apron",
        "clothing",
        "canvas, waxed cotton, linen",
        "adjustable cross-back straps; deep front pockets; reinforced stitching",
    ),
    _p(
        "Casserole Dish",
        "kitchen",
        "cast iron, enamelled steel, stoneware, earthenware",
        "steady, even heat; room for a family meal; an easy-clean surface",
    ),
    _p(
        "Chef's Knife",
        "kitchen",
        "stainless steel, walnut, ash",
        "a comfortable weighted handle; a keen, lasting edge; balanced control",
    ),
    _p(
        "Breakfast Mug",
        "kitchen",
        "stoneware, porcelain, earthenware, enamelled steel",
        "a generous, easy-hold handle; room for a proper brew; an easy-clean surface",
    ),
    _p(
        "Serving Board",
        "kitchen",
        "oak, acacia, walnut, marble",
        "a knife-friendly surface; a juice groove around the edge; room for a full spread",
    ),
    _p(
        "Saucepan",
        "kitchen",
        "stainless steel, copper, cast iron",
        "steady, even heat; a drip-free pouring lip; a lid that seals in flavour",
    ),
    _p(
        "Salad Bowl",
        "kitchen",
        "acacia, stoneware, recycled glass, bamboo",
        "room for a family meal; a wide, easy-serve rim; an easy-clean surface",
    ),
    _p(
        "Water Jug",
        "kitchen",
        "recycled glass, stoneware, enamelled steel",
        "a drip-free pouring lip; a steady, easy grip; room for a full litre",
    ),
    _p(
        "Table Lamp",
        "home",
        "brass, porcelain, oak, stoneware",
        "a soft, warm glow; a dimmable switch; a calm focal point",
    ),
    _p(
        "Plant Pot",
        "home",
        "earthenware, stoneware, porcelain, recycled glass",
        "a drainage saucer; a calm focal point; room for roots to spread",
    ),
    _p("Cushion Cover", "home", "velvet, linen, organic cotton", "a hidden zip; a textured, layered look; piped edges"),
    _p(
        "Side Table",
        "home",
        "oak, walnut, marble, aluminium",
        "a lower shelf for books; a calm focal point; a compact footprint",
    ),
    _p(
        "Storage Basket",
        "home",
        "rattan, jute, wool felt",
        "an easy way to tidy up; sturdy carry handles; hidden storage",
    ),
    _p(
        "Wall Mirror", "home", "oak, brass, aluminium", "a light, open feel; a slim, simple frame; easy hanging fixings"
    ),
    _p(
        "Bookshelf",
        "home",
        "oak, ash, beech, stainless steel",
        "space for favourite books; adjustable shelves; a compact footprint",
    ),
    _p(
        "Knitted Throw",
        "home",
        "merino wool, lambswool, organic cotton",
        "a textured, layered look; a gentle, cosy weight; fringed edges",
    ),
    _p(
        "Camping Stove",
        "outdoor",
        "stainless steel, aluminium",
        "a quick, one-minute set-up; a steady flame in the wind; a packable, lightweight build",
    ),
    _p(
        "Trekking Pole Set",
        "outdoor",
        "aluminium, bamboo",
        "a grip that holds in the wet; a packable, lightweight build; quick-lock adjustment",
    ),
    _p(
        "Day Pack",
        "outdoor",
        "ripstop nylon, waxed cotton, recycled polyester, canvas",
        "a fully waterproof shell; a padded laptop sleeve; all-day comfort on the trail",
    ),
    _p(
        "Folding Chair",
        "outdoor",
        "aluminium, beech, canvas",
        "a quick, one-minute set-up; a packable, lightweight build; a built-in cup holder",
    ),
    _p(
        "Picnic Blanket",
        "outdoor",
        "lambswool, recycled polyester, organic cotton",
        "a waterproof backing; a roll-up carry strap; room for the whole family",
    ),
    _p(
        "Flask",
        "outdoor",
        "stainless steel, enamelled steel, aluminium",
        "heat that lasts until lunch; a leak-proof lid; a grip that holds in the wet",
    ),
    _p(
        "Enamel Lantern",
        "outdoor",
        "enamelled steel, brass, recycled glass",
        "a soft, warm glow; a sturdy carry handle; hours of light on one charge",
    ),
    _p(
        "Duvet Cover",
        "bed_bath",
        "Egyptian cotton, linen, organic cotton",
        "a cool night's sleep; hidden button fastening; easy-care, crease-resistant weave",
    ),
    _p(
        "Bath Towel",
        "bed_bath",
        "Egyptian cotton, waffle cotton, bamboo",
        "quick-drying softness; hotel-style comfort; a hanging loop",
    ),
    _p(
        "Bath Mat",
        "bed_bath",
        "organic cotton, bamboo, waffle cotton",
        "a non-slip base; quick-drying softness; a deep, plush pile",
    ),
    _p(
        "Pillowcase",
        "bed_bath",
        "linen, Egyptian cotton, organic cotton",
        "a cool night's sleep; an envelope closure; easy-care, crease-resistant weave",
    ),
    _p(
        "Dressing Gown",
        "bed_bath",
        "waffle cotton, organic cotton, brushed flannel",
        "hotel-style comfort; two deep pockets; a tie belt that stays put",
    ),
    _p(
        "Weighted Blanket",
        "bed_bath",
        "organic cotton, velvet, linen",
        "a gentle, cosy weight; a cool night's sleep; a removable cover",
    ),
    _p(
        "Soap Dish",
        "bed_bath",
        "marble, stoneware, porcelain, bamboo",
        "a self-draining ridge; a tidy spot by the basin; an easy-clean surface",
    ),
    _p(
        "Shower Caddy",
        "bed_bath",
        "stainless steel, bamboo, aluminium",
        "rust-proof strength; room for every bottle; easy hanging fixings",
    ),
]
ARTICLE_RE = re.compile(r"\ba (?=[aeiouAEIOU])")
AMERICAN = re.compile(r"\b(color|gray|favorite|center|organize|aluminum|flavor)\b", re.IGNORECASE)

# ---------------------------------------------------------------------------
# Rows.
# ---------------------------------------------------------------------------


def user_turn(product: Product, material: str, colour: str, feature: str) -> str:
    return f"{INSTRUCTION}\nProduct: {product.name}\nMaterial: {material}\nColour: {colour}\nFeature: {feature}"


def blurb(product: Product, material: str, colour: str, feature: str) -> str:
    """The house-style blurb: 'Meet the X.', the material-family sentence, the category sign-off."""
    middle = PATTERNS[MATERIAL_FAMILY[material]].format(
        material=material, colour=colour, a_colour=f"a {colour}", feature=feature
    )
    middle = ARTICLE_RE.sub("an ", middle)
    return f"Meet the {product.name}. {middle} {SIGN_OFFS[product.category]}"


def held_out(products: list[Product]) -> tuple[list[Product], list[Product]]:
    """Every fifth product is kept for the test file: the house tone must carry over to products never seen."""
    return [p for i, p in enumerate(products) if i % 5 != 4], [p for i, p in enumerate(products) if i % 5 == 4]


def generate_rows(n: int, seed: int, products: list[Product] | None = None) -> list[dict[str, object]]:
    products = products or PRODUCTS
    rng = random.Random(seed)
    seen: set[tuple[str, str, str, str]] = set()
    rows: list[dict[str, object]] = []
    while len(rows) < n:
        # Cycle through the products so each appears about n / len(PRODUCTS) times.
        product = products[len(rows) % len(products)] if rng.random() < 0.8 else rng.choice(products)
        facts = (rng.choice(product.materials), rng.choice(COLOURS), rng.choice(product.features))
        if (product.name, *facts) in seen:
            continue
        seen.add((product.name, *facts))
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user_turn(product, *facts)},
            {"role": "assistant", "content": blurb(product, *facts)},
        ]
        rows.append({"messages": messages})
    rng.shuffle(rows)
    return rows


def prompt_completion(rows: list[dict[str, object]]) -> list[dict[str, str]]:
    return [{"prompt": r["messages"][1]["content"], "completion": r["messages"][2]["content"]} for r in rows]


# ---------------------------------------------------------------------------
# Checks, stats, output.
# ---------------------------------------------------------------------------


def check(rows: list[dict[str, object]]) -> None:
    """Three sentences, 20-35 words, no '!', British spelling, ASCII, every fact copied into the blurb."""
    for row in rows:
        system, user, assistant = (m["content"] for m in row["messages"])
        assert system == SYSTEM
        facts = dict(line.split(": ", 1) for line in user.splitlines()[1:])
        assert list(facts) == ["Product", "Material", "Colour", "Feature"], user
        text = assistant
        assert text.isascii() and user.isascii(), text
        assert "!" not in text and not AMERICAN.search(text), text
        assert MIN_WORDS <= len(text.split()) <= MAX_WORDS, (len(text.split()), text)
        assert len(re.findall(r"\.(?= |$)", text)) == 3, text
        assert text.startswith(f"Meet the {facts['Product']}. "), text
        assert all(facts[k] in text for k in ("Material", "Colour", "Feature")), text


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (the usual definition, no stemming)."""
    a, b = re.findall(r"\w+", candidate.lower()), re.findall(r"\w+", reference.lower())
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    return 0.0 if lcs == 0 else 2 * lcs / (len(a) + len(b))


def echo_baseline(rows: list[dict[str, object]]) -> float:
    """Mean ROUGE-L of answering with the facts in one plain sentence: what knowing the facts alone is worth."""
    scores = []
    for row in rows:
        facts = dict(line.split(": ", 1) for line in row["messages"][1]["content"].splitlines()[1:])
        guess = f"The {facts['Product']} is made of {facts['Material']} in {facts['Colour']} with {facts['Feature']}."
        scores.append(rouge_l(guess, row["messages"][2]["content"]))
    return sum(scores) / len(scores)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=23, help="random seed (default 23)")
    parser.add_argument("--n", type=int, default=N_ROWS, help=f"number of rows in copy.jsonl (default {N_ROWS})")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent, help="output folder (default: this script's folder)"
    )
    args = parser.parse_args()
    seen, unseen = held_out(PRODUCTS)
    rows = generate_rows(args.n, args.seed, seen)
    test = generate_rows(N_TEST, args.seed + 1, unseen)
    check(rows)
    check(test)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "copy.jsonl", rows)
    write_jsonl(args.out / "copy_test.jsonl", test)
    write_jsonl(args.out / "copy_prompt_completion.jsonl", prompt_completion(rows[:N_PROMPT_COMPLETION]))
    words = sorted(len(r["messages"][2]["content"].split()) for r in rows)
    cats = Counter(
        next(p.category for p in PRODUCTS if f"Product: {p.name}\n" in r["messages"][1]["content"]) for r in rows
    )
    families = Counter(MATERIAL_FAMILY[r["messages"][1]["content"].split("Material: ")[1].split("\n")[0]] for r in rows)
    print(f"wrote {args.out}/copy.jsonl ({len(rows)} rows), copy_prompt_completion.jsonl ({N_PROMPT_COMPLETION} rows)")
    print(f"  copy_test.jsonl: {len(test)} rows of {len(unseen)} products not in copy.jsonl")
    print(f"  blurb words: {words[0]}-{words[-1]}, median {words[len(words) // 2]}")
    print(f"  categories: {dict(cats)}")
    print(f"  material families: {dict(families)}")
    print(f"  echo-the-facts baseline ROUGE-L: {echo_baseline(rows):.3f}")


if __name__ == "__main__":
    main()
