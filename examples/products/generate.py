# ruff: noqa: E501  (the vocabulary and template pools below are long string literals)
"""Generate the synthetic product-attribute extraction dataset (description -> JSON).

Writes `products.jsonl` (360 rows) and `products_heldout.jsonl` (80 rows) next to
this script: one JSON object per line,
`{"text": <description>, "fields": {"brand", "color", "material", "size", "pack_count"}}`.
Every field value is either a string copied verbatim (same casing) from the text or
null when the description does not state it; `pack_count` holds digits ("6").

Every description is synthetic: a seeded random generator picks a product and its
facts from small vocabulary lists, decides which facts to state (about a third of the
field slots stay null), and writes each stated fact with one of several carrier
templates: an opener that can carry brand, colour and material at once, one sentence
per remaining fact, or a compact spec line. Category-specific benefit sentences pad
the text to 25-90 words. The same seed always gives the same files.

The task is built so that zero-shot extraction is hard but the rules are learnable:
distractor sentences name another product's colour ("Pairs well with our navy
chinos"), use material words that are not the material ("a cotton-soft feel" on a
polyester hoodie), give sizes that are not the product's ("Our model wears size L",
"Ships in a 30 x 20 cm box"), numbers that are not pack counts ("2-year guarantee",
"buy 3 and save"), and brands that are not the maker ("Works with Kestrel lids").

`products_heldout.jsonl` uses another seed and draws about half of each row's brand,
colour, material and product type from vocabulary that never appears in
`products.jsonl`, so it tests generalisation rather than memorisation.

Usage:
    python examples/products/generate.py [--seed 41] [--heldout-seed 97] [--out DIR]

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("brand", "color", "material", "size", "pack_count")
N_MAIN, N_HELDOUT = 360, 80
MIN_WORDS, MAX_WORDS = 25, 90
P_STATED = {"brand": 0.74, "color": 0.68, "material": 0.72, "size": 0.64}
P_PACK = 0.74  # of packable products only
P_HELDOUT_VOCAB = 0.55  # per slot, in the held-out file, when a held-out value exists
P_SPEC_LINE = 0.25
P_DISTRACTOR = {"color": 0.45, "material": 0.35, "size": 0.35, "pack": 0.35, "brand": 0.15}

# ---------------------------------------------------------------------------
# Vocabulary. Values marked held-out only appear in products_heldout.jsonl.
# ---------------------------------------------------------------------------

BRANDS = [
    "Norrland",
    "Kestrel",
    "Alder & Finch",
    "Brightwater",
    "Harbourline",
    "Oakmere",
    "Tidewell",
    "Fernhill",
    "Copperleaf",
    "Marlow Home",
    "Sundial",
    "Granite Peak",
    "Willowby",
    "Nordvik",
    "Bramble Co",
]
HELDOUT_BRANDS = ["Halvard", "Quillon", "Moorcroft", "Lumen & Oak", "Redfern", "Saltmarsh", "Ivywood"]
COLOURS = [
    "navy",
    "charcoal",
    "forest green",
    "off-white",
    "sand",
    "burgundy",
    "slate grey",
    "mustard",
    "black",
    "white",
    "olive",
    "sky blue",
    "terracotta",
    "cream",
    "stone",
    "sage green",
]
HELDOUT_COLOURS = ["teal", "plum", "ochre", "dusty rose", "rust", "ivory"]
HELDOUT_MATERIALS = {"hemp", "titanium", "waxed canvas", "borosilicate glass", "walnut", "rattan", "crystal"}


@dataclass(frozen=True)
class Product:
    name: str
    category: str  # apparel, kitchen, home, outdoor
    materials: tuple[str, ...]
    size_kind: str  # a key of SIZE_VALUES
    packable: bool
    heldout: bool = False


def _p(
    name: str, category: str, materials: str, size_kind: str, packable: bool = False, heldout: bool = False
) -> Product:
    return Product(name, category, tuple(materials.split(", ")), size_kind, packable, heldout)


PRODUCTS = [
    _p("t-shirt", "apparel", "cotton, organic cotton, linen, merino wool, recycled polyester, hemp", "letter", True),
    _p("hoodie", "apparel", "cotton, organic cotton, recycled polyester, polyester, hemp", "letter"),
    _p("rain jacket", "apparel", "nylon, recycled polyester, polyester, waxed canvas", "letter"),
    _p("chinos", "apparel", "cotton, organic cotton, linen, hemp", "letter"),
    _p("socks", "apparel", "merino wool, cotton, bamboo, organic cotton", "shoe", True),
    _p("beanie", "apparel", "merino wool, cotton, recycled polyester", "one"),
    _p("scarf", "apparel", "merino wool, linen, cotton", "dims_scarf"),
    _p("frying pan", "kitchen", "cast iron, stainless steel, carbon steel, titanium", "inch"),
    _p("chef's knife", "kitchen", "stainless steel, carbon steel", "inch_knife"),
    _p("mug", "kitchen", "ceramic, stoneware, enamelled steel, borosilicate glass", "volume_cup", True),
    _p("mixing bowl", "kitchen", "glass, stainless steel, ceramic, borosilicate glass", "volume_bowl", True),
    _p("tea towel", "kitchen", "cotton, linen, organic cotton, hemp", "dims_towel", True),
    _p("cutting board", "kitchen", "bamboo, oak, acacia wood, walnut", "dims_board"),
    _p("storage jar", "kitchen", "glass, stoneware, borosilicate glass", "volume_jar", True),
    _p("cushion cover", "home", "linen, cotton, velvet, hemp", "dims_cushion", True),
    _p("throw", "home", "merino wool, cotton, recycled polyester", "dims_throw"),
    _p("bath towel", "home", "cotton, organic cotton, bamboo", "dims_bath", True),
    _p("duvet cover", "home", "cotton, linen, organic cotton", "bed"),
    _p("picture frame", "home", "oak, aluminium, walnut", "dims_frame", True),
    _p("storage basket", "home", "seagrass, jute, rattan", "dims_basket"),
    _p("rug", "home", "jute, merino wool, cotton", "dims_rug"),
    _p("tent", "outdoor", "nylon, polyester, canvas", "person"),
    _p("backpack", "outdoor", "nylon, recycled polyester, canvas, waxed canvas", "volume_pack"),
    _p("water bottle", "outdoor", "stainless steel, aluminium, titanium", "volume_bottle", True),
    _p("tarp", "outdoor", "nylon, polyester", "dims_tarp"),
    _p("sleeping bag", "outdoor", "nylon, polyester, recycled polyester", "dims_bag"),
    _p("tent pegs", "outdoor", "aluminium, stainless steel, titanium", "inch_peg", True),
    _p("apron", "kitchen", "cotton, canvas, linen, hemp", "one", heldout=True),
    _p("napkins", "kitchen", "cotton, linen, hemp", "dims_napkin", True, heldout=True),
    _p("wine glasses", "kitchen", "glass, crystal", "volume_glass", True, heldout=True),
    _p("laundry basket", "home", "seagrass, rattan, cotton", "volume_laundry", heldout=True),
    _p("shower curtain", "home", "polyester, cotton, hemp", "dims_curtain", heldout=True),
    _p("picnic blanket", "outdoor", "merino wool, recycled polyester, cotton", "dims_throw", heldout=True),
    _p("bike pannier", "outdoor", "nylon, waxed canvas, recycled polyester", "volume_pack", heldout=True),
    _p("bucket hat", "apparel", "cotton, hemp, recycled polyester", "letter", heldout=True),
]

# How a size kind is stated: (value, how a sentence names it). "{v}" is the value.
SIZE_VALUES = {
    "letter": ["XS", "S", "M", "L", "XL", "XXL"],
    "shoe": ["UK 4-7", "UK 7-11", "EU 36-40", "EU 41-45"],
    "one": ["One size"],
    "inch": ["8-inch", "10-inch", "12-inch", "24 cm", "28 cm"],
    "inch_knife": ["6-inch", "8-inch", "10-inch"],
    "inch_peg": ["7-inch", "9-inch", "18 cm"],
    "volume_cup": ["300 ml", "350 ml", "400 ml"],
    "volume_bowl": ["1 litre", "2.5 litre", "4 litre"],
    "volume_jar": ["500 ml", "1 litre", "1.5 litre"],
    "volume_pack": ["20 L", "28 L", "35 L"],
    "volume_bottle": ["500 ml", "750 ml", "1 litre"],
    "volume_glass": ["350 ml", "450 ml"],
    "volume_laundry": ["40 L", "60 L"],
    "dims_scarf": ["180 x 30 cm", "200 x 70 cm"],
    "dims_towel": ["50 x 70 cm", "45 x 65 cm"],
    "dims_board": ["40 x 25 cm", "45 x 30 cm", "30 x 20 cm"],
    "dims_cushion": ["45 x 45 cm", "50 x 50 cm", "30 x 50 cm"],
    "dims_throw": ["130 x 170 cm", "150 x 200 cm"],
    "dims_bath": ["70 x 140 cm", "90 x 150 cm"],
    "dims_frame": ["A4", "20 x 25 cm", "30 x 40 cm"],
    "dims_basket": ["30 x 30 cm", "40 x 30 cm"],
    "dims_rug": ["120 x 170 cm", "160 x 230 cm", "60 x 90 cm"],
    "dims_tarp": ["3 x 3 m", "3 x 4 m"],
    "dims_bag": ["220 x 80 cm", "200 x 75 cm"],
    "dims_napkin": ["40 x 40 cm", "45 x 45 cm"],
    "dims_curtain": ["180 x 180 cm", "180 x 200 cm"],
    "bed": ["Single", "Double", "King", "Super King"],
    "person": ["1-person", "2-person", "3-person", "4-person"],
}
PACK_COUNTS = ["2", "3", "4", "5", "6", "8", "10", "12"]

# ---------------------------------------------------------------------------
# Carrier templates. {product} {brand} {colour} {Colour} {material} {Material}
# {place} are filled per row; a template may only use fields that are stated.
# ---------------------------------------------------------------------------

OPENERS = [
    ("The {product} by {brand} {is} built for everyday use.", {"brand"}),
    ("{brand}'s {product} {is} a quiet upgrade to your {place}.", {"brand"}),
    ("New from {brand}: the {colour} {product}.", {"brand", "color"}),
    ("Meet the {product}: simple, sturdy and easy to live with.", set()),
    ("{This} {material} {product} from {brand} {is} made for daily use.", {"brand", "material"}),
    ("{This} {colour} {product} {is} easy to pair with almost everything.", {"color"}),
    ("Our best-selling {product}, now in {colour}.", {"color"}),
    ("{brand} {product} in {material}.", {"brand", "material"}),
    ("Looking for {a_product} you can rely on? Start here.", set()),
    ("The {colour} {material} {product} by {brand}.", {"brand", "color", "material"}),
    ("{Material} {product} with a clean, modern look.", {"material"}),
    ("Brand: {brand}. Item: {product}.", {"brand"}),
    ("Say hello to the new {product} from {brand}.", {"brand"}),
    ("Made for your {place}: the {product}.", set()),
    ("{Colour} {product}, made by {brand} in small batches.", {"brand", "color"}),
    ("Upgrade your {place} with {this} {material} {product}.", {"material"}),
]
FIELD_SENTENCES = {
    "brand": [
        "Designed and made by {brand}.",
        "Part of the {brand} everyday range.",
        "A {brand} original.",
        "Brand: {brand}.",
        "Every piece in {brand}'s range is checked by hand.",
        "Sold and shipped by {brand}.",
    ],
    "color": [
        "Colour: {Colour}.",
        "Finished in {colour}.",
        "This listing is for the {colour} version.",
        "Shown in {colour}.",
        "The {colour} dye is fade-resistant.",
        "Comes in a soft {colour}.",
        "Color: {colour}.",
    ],
    "material": [
        "Made from 100% {material}.",
        "Crafted from {material}.",
        "{Material} throughout.",
        "Material: {material}.",
        "Main material: {material}.",
        "Built from durable {material}.",
        "Made with responsibly sourced {material}.",
    ],
    "pack": [
        "Sold as a pack of {n}.",
        "Comes in a set of {n}.",
        "A {n}-pack, so there is always a spare.",
        "Set of {n}.",
        "Multipack of {n}.",
        "You get a set of {n} in every box.",
        "Pack of {n}.",
    ],
}
SIZE_SENTENCES = {
    "letter": ["Size {v}.", "Pictured and sold in size {v}.", "Shown here in size {v}.", "Size: {v}."],
    "shoe": ["Size {v}.", "Fits shoe sizes {v}.", "Sized {v}."],
    "one": ["{v} fits most.", "{v}, with plenty of stretch."],
    "inch": ["You are buying the {v} version.", "Choose the {v} size for everyday jobs.", "The {v} model."],
    "volume": ["Holds {v}.", "Capacity: {v}.", "A generous {v} capacity.", "Takes {v} with room to spare."],
    "dims": ["Measures {v}.", "Finished size: {v}.", "Dimensions: {v}.", "Size: {v}."],
    "bed": ["Size: {v}.", "Made in the {v} size.", "Fits a {lv} bed."],
    "person": ["A roomy {v} design.", "Pitch the {v} model in minutes.", "Choose the {v} size for short trips."],
}
SPEC_LEADS = ["Details:", "Specs:", "At a glance:", "Key facts:"]
PLACES = {"apparel": "wardrobe", "kitchen": "kitchen", "home": "home", "outdoor": "kit bag"}
BENEFITS = {
    "apparel": [
        "Machine washable at 30 degrees.",
        "A relaxed fit that layers easily.",
        "Flatlock seams stop chafing.",
        "Pre-shrunk so it keeps its shape.",
        "Reinforced at the cuffs and hem.",
        "Breathable enough for warm days.",
        "Cut for movement, not just for looks.",
    ],
    "kitchen": [
        "Dishwasher safe.",
        "Easy to clean with warm soapy water.",
        "Weighted for a steady grip.",
        "Safe for everyday use with hot food.",
        "Stacks neatly to save cupboard space.",
        "Tested by home cooks before release.",
        "Rinse and dry after use to keep it at its best.",
    ],
    "home": [
        "Adds warmth to any sofa or bed.",
        "Hand-finished in small workshops.",
        "Spot clean only.",
        "Hidden zip closure.",
        "Designed to soften a bare room.",
        "Looks good for years with a little care.",
        "Easy to move from room to room.",
    ],
    "outdoor": [
        "Packs down small for travel.",
        "Taped seams keep the rain out.",
        "Tested in wind and rain on the Scottish hills.",
        "Weighs under a kilo.",
        "Reflective details for low light.",
        "Quick to set up at the end of a long day.",
        "Built for wet weekends and long trails.",
    ],
    "any": [
        "Free delivery on orders over 40 pounds.",
        "Returns accepted within 30 days.",
        "Thoughtfully designed for everyday use.",
        "A customer favourite.",
        "Gift wrapping available at checkout.",
        "Ships within two working days.",
    ],
}
DISTRACTORS = {
    "color": [
        "Pairs well with our {c2} {other}.",
        "Looks great next to a {c2} {other}.",
        "Photographed against a {c2} wall.",
        "Style it with the {c2} {other} from the same range.",
    ],
    "color_also": ["Also available in {c2}.", "Prefer a bolder look? It also comes in {c2}."],
    "material": [
        "Expect a {fake} feel.",
        "Enjoy a {fake} finish without the fuss.",
        "Unlike cheap {m2} versions, this will not lose its shape.",
    ],
    "size_letter": [
        "Our model is {h} cm tall and wears size {v2}.",
        "Runs true to size; if in doubt, size up to {v2}.",
    ],
    "size": ["Ships in a {a} x {b} cm box.", "Delivered in a {a} x {b} cm recycled box."],
    "size_shelf": ["Fits on shelves deeper than {a} cm.", "Leave {a} cm of space around it."],
    "pack": [
        "Backed by a {n2}-year guarantee.",
        "Buy {n2} or more and save 10%.",
        "Rated 4.{n2} out of 5 by our customers.",
        "Over {n2}00 sold last month.",
    ],
    "pack_single": ["Sold individually.", "Sold singly, so you can buy just what you need."],
    "brand": [
        "Works with {b2} accessories.",
        "Compare it with the {b2} version and feel the difference.",
        "Designed in {city}.",
    ],
}
# Material words used as texture or look, per category: (material it names, phrase).
FAKE_MATERIALS = {
    "apparel": [
        ("cotton", "cotton-soft"),
        ("linen", "linen-look"),
        ("wool", "wool-like"),
        ("cashmere", "cashmere-soft"),
        ("silk", "silk-smooth"),
    ],
    "kitchen": [
        ("glass", "glass-smooth"),
        ("oak", "oak-effect"),
        ("ceramic", "ceramic-style"),
        ("marble", "marble-look"),
        ("copper", "copper-tone"),
    ],
    "home": [
        ("cotton", "cotton-soft"),
        ("linen", "linen-look"),
        ("wool", "wool-like"),
        ("oak", "oak-effect"),
        ("velvet", "velvet-touch"),
    ],
    "outdoor": [
        ("canvas", "canvas-textured"),
        ("cotton", "cotton-soft"),
        ("steel", "steel-strong"),
        ("wool", "wool-like"),
        ("leather", "leather-look"),
    ],
}
# Materials a description may run down ("Unlike cheap acrylic versions"), per category.
CHEAP_MATERIALS = {
    "apparel": ("polyester", "acrylic", "cotton"),
    "kitchen": ("plastic", "thin steel", "melamine"),
    "home": ("polyester", "acrylic", "plastic"),
    "outdoor": ("plastic", "polyester", "cotton"),
}
OTHER_ITEMS = [
    "chinos",
    "throw",
    "cushions",
    "mugs",
    "rain jacket",
    "tea towels",
    "beanie",
    "rug",
    "placemats",
    "duvet cover",
]
ARTICLE_RE = re.compile(r"\b([Aa]) (?=[AEIOaeio]|8)")  # "a olive wall" -> "an olive wall", "a 8-pack" -> "an 8-pack"
CITIES = ["Bergen", "Leeds", "Porto", "Copenhagen", "Bristol", "Utrecht"]


# ---------------------------------------------------------------------------
# One row.
# ---------------------------------------------------------------------------


@dataclass
class Facts:
    product: Product
    brand: str
    colour: str
    material: str
    size: str
    pack: str
    stated: set[str]
    heldout: bool  # may distractors use held-out vocabulary


def vocab(pool: list[str], heldout_pool: list[str], heldout: bool, rng: random.Random) -> str:
    if heldout and rng.random() < P_HELDOUT_VOCAB:
        return rng.choice(heldout_pool)
    return rng.choice(pool)


def pick_facts(rng: random.Random, heldout: bool) -> Facts:
    main_products = [p for p in PRODUCTS if not p.heldout]
    product = vocab(main_products, [p for p in PRODUCTS if p.heldout], heldout, rng)
    usual = [m for m in product.materials if m not in HELDOUT_MATERIALS]
    rare = [m for m in product.materials if m in HELDOUT_MATERIALS]
    material = vocab(usual, rare, heldout and bool(rare), rng)
    stated = {f for f, p in P_STATED.items() if rng.random() < p}
    if product.packable and rng.random() < P_PACK:
        stated.add("pack_count")
    return Facts(
        product,
        vocab(BRANDS, HELDOUT_BRANDS, heldout, rng),
        vocab(COLOURS, HELDOUT_COLOURS, heldout, rng),
        material,
        rng.choice(SIZE_VALUES[product.size_kind]),
        rng.choice(PACK_COUNTS),
        stated,
        heldout,
    )


def size_family(kind: str) -> str:
    return kind.split("_")[0]


def fill(template: str, facts: Facts, extra: dict[str, str] | None = None) -> str:
    name = facts.product.name
    plural = name.endswith("s")  # socks, chinos, napkins, wine glasses, tent pegs; no singular name ends in s
    slots = {
        "product": facts.product.name,
        "brand": facts.brand,
        "colour": facts.colour,
        "Colour": facts.colour.capitalize(),
        "material": facts.material,
        "Material": facts.material.capitalize(),
        "place": PLACES[facts.product.category],
        "v": facts.size,
        "lv": facts.size.lower(),
        "n": facts.pack,
        "This": "These" if plural else "This",
        "this": "these" if plural else "this",
        "is": "are" if plural else "is",
        "a_product": name if plural else f"a {name}",
        **(extra or {}),
    }
    text = ARTICLE_RE.sub(r"\1n ", template.format(**slots))
    return text[0].upper() + text[1:]


def written(field: str, facts: Facts, template: str) -> str:
    """The value of a field as a template writes it (capitalised by {Colour} and {Material})."""
    if field == "size":
        return facts.size.lower() if "{lv}" in template else facts.size
    value = {"brand": facts.brand, "color": facts.colour, "material": facts.material, "pack_count": facts.pack}[field]
    capital = {"color": "{Colour}", "material": "{Material}"}.get(field)
    return value.capitalize() if capital and capital in template else value


def field_sentence(field: str, facts: Facts, rng: random.Random) -> tuple[str, str]:
    """A sentence stating one field, and the value as it appears in that sentence."""
    if field == "size":
        template = rng.choice(SIZE_SENTENCES[size_family(facts.product.size_kind)])
    else:
        template = rng.choice(FIELD_SENTENCES["pack" if field == "pack_count" else field])
    return fill(template, facts), written(field, facts, template)


def spec_line(fields: list[str], facts: Facts, rng: random.Random) -> tuple[str, dict[str, str]]:
    """A compact 'Specs: Navy | 100% cotton | Size M' line carrying several fields."""
    parts, values = [], {}
    for field in fields:
        if field == "color":
            value = facts.colour.capitalize() if rng.random() < 0.5 else facts.colour
            parts.append(f"colour {value}" if rng.random() < 0.5 else value)
        elif field == "material":
            value = facts.material
            parts.append(rng.choice([f"100% {value}", value, f"made of {value}"]))
        elif field == "size":
            value = facts.size
            family = size_family(facts.product.size_kind)
            parts.append(f"size {value}" if family in ("letter", "shoe", "bed") else value)
        else:
            value = facts.pack
            parts.append(rng.choice([f"pack of {value}", f"set of {value}", f"{value}-pack"]))
        values[field] = value
    sep = rng.choice([" | ", ", ", "; "])
    return f"{rng.choice(SPEC_LEADS)} {sep.join(parts)}.", values


def distractors(facts: Facts, rng: random.Random) -> list[str]:
    """Sentences whose colour, material, size, number or brand is not this product's."""
    out = []
    c2 = rng.choice([c for c in COLOURS + (HELDOUT_COLOURS if facts.heldout else []) if c != facts.colour])
    other = rng.choice([o for o in OTHER_ITEMS if o != facts.product.name])
    if rng.random() < P_DISTRACTOR["color"]:
        pool = DISTRACTORS["color"] + (DISTRACTORS["color_also"] if "color" in facts.stated else [])
        out.append(fill(rng.choice(pool), facts, {"c2": c2, "other": other}))
    if rng.random() < P_DISTRACTOR["material"]:
        fakes = [f for m, f in FAKE_MATERIALS[facts.product.category] if m not in facts.material]
        m2 = rng.choice([m for m in CHEAP_MATERIALS[facts.product.category] if m not in facts.material])
        out.append(fill(rng.choice(DISTRACTORS["material"]), facts, {"fake": rng.choice(fakes), "m2": m2}))
    if rng.random() < P_DISTRACTOR["size"]:
        if size_family(facts.product.size_kind) == "letter":
            v2 = rng.choice([v for v in SIZE_VALUES["letter"] if v != facts.size])
            out.append(fill(rng.choice(DISTRACTORS["size_letter"]), facts, {"v2": v2, "h": str(rng.randint(165, 192))}))
        else:
            a, b = rng.randint(20, 60), rng.randint(10, 40)
            pool = DISTRACTORS["size"] + (
                DISTRACTORS["size_shelf"] if facts.product.category in ("kitchen", "home") else []
            )
            out.append(fill(rng.choice(pool), facts, {"a": str(a), "b": str(b)}))
    if rng.random() < P_DISTRACTOR["pack"]:
        single = facts.product.packable and "pack_count" not in facts.stated
        pool = DISTRACTORS["pack_single"] if single and rng.random() < 0.5 else DISTRACTORS["pack"]
        out.append(fill(rng.choice(pool), facts, {"n2": str(rng.randint(2, 5))}))
    if rng.random() < P_DISTRACTOR["brand"]:
        b2 = rng.choice([b for b in BRANDS + (HELDOUT_BRANDS if facts.heldout else []) if b != facts.brand])
        out.append(fill(rng.choice(DISTRACTORS["brand"]), facts, {"b2": b2, "city": rng.choice(CITIES)}))
    return out


def describe(facts: Facts, rng: random.Random) -> tuple[str, dict[str, str | None]] | None:
    """The description and its fields, or None if it came out too short or too long."""
    stated = facts.stated
    openers = [(t, used) for t, used in OPENERS if used <= stated]
    opener, used = rng.choice(openers)
    values: dict[str, str | None] = dict.fromkeys(FIELDS)
    for field in used:
        values[field] = written(field, facts, opener)
    middle: list[str] = []
    rest = [f for f in FIELDS if f in stated and f not in used]
    spec_fields = [f for f in rest if f != "brand"] if rng.random() < P_SPEC_LINE else []
    if len(spec_fields) < 2:
        spec_fields = []
    for field in rest:
        if field not in spec_fields:
            sentence, values[field] = field_sentence(field, facts, rng)
            middle.append(sentence)
    middle += distractors(facts, rng)
    benefits = rng.sample(BENEFITS[facts.product.category] + BENEFITS["any"], rng.randint(1, 4))
    middle += benefits
    rng.shuffle(middle)
    sentences = [fill(opener, facts), *middle]
    if spec_fields:
        line, spec_values = spec_line(spec_fields, facts, rng)
        sentences.append(line)
        values.update(spec_values)
    while len(" ".join(sentences).split()) < MIN_WORDS:
        sentences.insert(-1, rng.choice([b for b in BENEFITS["any"] if b not in sentences]))
    text = " ".join(sentences)
    if len(text.split()) > MAX_WORDS:
        return None
    return text, values


# ---------------------------------------------------------------------------
# Files, checks, stats.
# ---------------------------------------------------------------------------


def generate_rows(n: int, seed: int, heldout: bool, seen: set[str]) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    while len(rows) < n:
        made = describe(pick_facts(rng, heldout), rng)
        if made is None or made[0].casefold() in seen:
            continue
        seen.add(made[0].casefold())
        rows.append({"text": made[0], "fields": made[1]})
    return rows


def check(rows: list[dict[str, object]]) -> None:
    """Every non-null value occurs verbatim in its text; ASCII only; lengths in range."""
    for row in rows:
        text = row["text"]
        assert text.isascii(), text
        assert MIN_WORDS <= len(text.split()) <= MAX_WORDS, text
        assert set(row["fields"]) == set(FIELDS)
        for field, value in row["fields"].items():
            assert value is None or (value and value in text), (field, value, text)
        pack = row["fields"]["pack_count"]
        assert pack is None or pack.isdigit(), pack


def check_no_heldout_vocab(rows: list[dict[str, object]]) -> None:
    """products.jsonl never mentions a held-out brand, colour, material or product type."""
    words = HELDOUT_BRANDS + HELDOUT_COLOURS + sorted(HELDOUT_MATERIALS) + [p.name for p in PRODUCTS if p.heldout]
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in words), re.IGNORECASE)
    for row in rows:
        assert not pattern.search(row["text"]), (pattern.search(row["text"]), row["text"])


def lookup_baseline(train: list[dict[str, object]], test: list[dict[str, object]]) -> float:
    """Field accuracy of a dictionary lookup: the first training value of a field found in the text, else null."""
    known = {f: sorted({r["fields"][f] for r in train if r["fields"][f]}, key=len, reverse=True) for f in FIELDS}
    hits = total = 0
    for row in test:
        for field in FIELDS:
            found = [
                (m.start(), v)
                for v in known[field]
                for m in [re.search(rf"(?<!\w){re.escape(v)}(?!\w)", row["text"])]
                if m
            ]
            guess = min(found)[1] if found else None
            hits += guess == row["fields"][field]
            total += 1
    return hits / total


def null_shares(rows: list[dict[str, object]]) -> dict[str, float]:
    return {f: sum(r["fields"][f] is None for r in rows) / len(rows) for f in FIELDS}


def unseen_share(train: list[dict[str, object]], test: list[dict[str, object]]) -> float:
    """Share of test rows with at least one non-null value that never occurs as a value in train."""
    seen = {(f, r["fields"][f]) for r in train for f in FIELDS}
    return sum(any(v and (f, v) not in seen for f, v in r["fields"].items()) for r in test) / len(test)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=41, help="seed for products.jsonl (default 41)")
    parser.add_argument("--heldout-seed", type=int, default=97, help="seed for products_heldout.jsonl (default 97)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent, help="output folder (default: this script's folder)"
    )
    args = parser.parse_args()
    seen: set[str] = set()
    main_rows = generate_rows(N_MAIN, args.seed, False, seen)
    heldout_rows = generate_rows(N_HELDOUT, args.heldout_seed, True, seen)
    check(main_rows + heldout_rows)
    check_no_heldout_vocab(main_rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "products.jsonl", main_rows)
    write_jsonl(args.out / "products_heldout.jsonl", heldout_rows)
    print(f"wrote {args.out}/products.jsonl ({len(main_rows)} rows), products_heldout.jsonl ({len(heldout_rows)} rows)")
    for name, rows in (("products", main_rows), ("heldout", heldout_rows)):
        shares = null_shares(rows)
        words = [len(r["text"].split()) for r in rows]
        print(
            f"  {name} null share: "
            + ", ".join(f"{f} {s:.2f}" for f, s in shares.items())
            + f" (all {sum(shares.values()) / len(FIELDS):.2f})"
        )
        print(f"  {name} words: {min(words)}-{max(words)}, median {sorted(words)[len(words) // 2]}")
    print(f"  heldout rows with a value unseen in products.jsonl: {unseen_share(main_rows, heldout_rows):.2f}")
    print(f"  lookup baseline field accuracy on heldout: {lookup_baseline(main_rows, heldout_rows):.3f}")
    print(f"  all-null baseline field accuracy on heldout: {sum(null_shares(heldout_rows).values()) / len(FIELDS):.3f}")


if __name__ == "__main__":
    main()
