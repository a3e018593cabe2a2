"""Seeded synthetic data for the training and encoding benchmarks, with the length spread real data has.

Product-copy conversations (the shape of `examples/copy`) whose length is drawn log-uniformly, so most rows
are short and a few are long, as in real instruction data: the spread is what makes padding expensive.
"""

from __future__ import annotations

import math
import random
from typing import Any

PRODUCTS = ("tee", "jacket", "mug", "lamp", "backpack", "blanket", "kettle", "scarf", "chair", "notebook")
MATERIALS = ("cotton", "linen", "recycled nylon", "stoneware", "oak", "merino wool", "steel", "bamboo")
COLOURS = ("clay", "forest green", "ink blue", "oat", "charcoal", "rust", "sea grey", "mustard")
FACTS = (
    "It is made in {place} by a small family workshop.",
    "The {material} is certified and sourced within 200 km.",
    "Care: wash at {n}0 degrees and dry flat, away from direct heat.",
    "It weighs {n}{n}0 g and packs down small for travel.",
    "The {colour} shade is dyed with low-impact dyes that keep their colour after many washes.",
    "Every piece is checked by hand before it leaves the studio in {place}.",
    "A {n} year guarantee covers seams, handles and fastenings.",
    "It pairs well with the rest of the {colour} range and with plain {material} basics.",
    "Customers mention that it feels sturdier than its price suggests.",
    "The edges are finished by hand, and the label is printed rather than sewn in.",
)
PLACES = ("Porto", "Leeds", "Kyoto", "Oaxaca", "Lyon", "Tallinn", "Cork", "Bergen")
SYSTEM = "You write product blurbs for Harbour & Pine, a British homeware and clothing shop. Follow the house style."


def copy_conversations(n: int, seed: int, min_words: int = 4, max_words: int = 240) -> list[dict[str, Any]]:
    """`n` chat rows (system, user facts, assistant blurb); total words log-uniform in [min_words, max_words]."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = math.exp(rng.uniform(math.log(min_words), math.log(max_words)))
        product = f"{rng.choice(COLOURS).title()} {rng.choice(PRODUCTS)} no. {i}"
        material, colour = rng.choice(MATERIALS), rng.choice(COLOURS)

        def fact(material: str = material, colour: str = colour) -> str:
            template = rng.choice(FACTS)  # drawn first, then place and number: the seeded data stays the same
            place, n = rng.choice(PLACES), rng.randint(1, 9)
            return template.format(place=place, material=material, colour=colour, n=n)

        facts = [f"Product: {product}", f"Material: {material}", f"Colour: {colour}"]
        blurb = [f"Meet the {product}.", f"Cut from {material} in a {colour} shade, it is made to last."]
        while sum(len(s.split()) for s in facts + blurb) < words:
            (facts if rng.random() < 0.4 else blurb).append(fact())
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM} if i % 2 == 0 else None,
                    {"role": "user", "content": "Write the product blurb.\n" + "\n".join(facts)},
                    {"role": "assistant", "content": " ".join(blurb)},
                ]
            }
        )
        rows[-1]["messages"] = [m for m in rows[-1]["messages"] if m is not None]
    return rows


def texts(n: int, seed: int, min_words: int = 4, max_words: int = 100) -> list[str]:
    """`n` product sentences of log-uniform length, for classification and encoding."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = math.exp(rng.uniform(math.log(min_words), math.log(max_words)))
        parts: list[str] = [f"A {rng.choice(COLOURS)} {rng.choice(PRODUCTS)} in {rng.choice(MATERIALS)}."]
        while sum(len(p.split()) for p in parts) < words:
            parts.append(
                rng.choice(FACTS).format(
                    place=rng.choice(PLACES),
                    material=rng.choice(MATERIALS),
                    colour=rng.choice(COLOURS),
                    n=rng.randint(1, 9),
                )
            )
        out.append(" ".join(parts)[: max(8, int(words * 7))])
    return out


# Each product's shop department: the label of the classification benchmark (4 classes).
DEPARTMENTS = {
    "tee": "clothing",
    "jacket": "clothing",
    "scarf": "clothing",
    "mug": "kitchen",
    "kettle": "kitchen",
    "lamp": "home",
    "blanket": "home",
    "chair": "home",
    "backpack": "carry",
    "notebook": "carry",
}


def labelled_texts(
    n: int, seed: int, noise: float = 0.0, min_words: int = 6, max_words: int = 100
) -> list[tuple[str, str]]:
    """`n` distinct `texts` with the department of the product they describe; a `noise` share of labels is
    replaced by another department (seeded), so a model has to learn the rule rather than copy every label.

    The product is named once, in the first sentence ("A rust kettle in oak."), among colours, materials,
    places and care details that say nothing about the department.
    """
    rng = random.Random(f"labels:{seed}")
    names = sorted(set(DEPARTMENTS.values()))
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for text in texts(n * 2, seed, min_words, max_words):  # twice as many: short texts repeat, keep distinct ones
        if text in seen:
            continue
        seen.add(text)
        label = DEPARTMENTS[next(p for p in PRODUCTS if f" {p} in " in text.split(".", 1)[0] + ".")]
        if rng.random() < noise:
            label = rng.choice([name for name in names if name != label])
        out.append((text, label))
        if len(out) == n:
            return out
    raise ValueError(f"could not draw {n} distinct texts from seed {seed}")


# --- product descriptions with 20 attributes (extract-corpus) ---------------------------------------------

BRANDS = ("Kestrel", "Northwind", "Alder & Co", "Fjellpak", "Osprey Lane", "Marlow", "Tindra", "Cairn")
PACK_TYPES = ("hiking backpack", "daypack", "travel pack", "climbing pack", "commuter backpack")
PACK_LINES = ("Ridgeline", "Summit", "Trailhead", "Skyline", "Basecamp", "Glacier")
PACK_COLOURS = ("black", "grey", "green", "blue", "red")
PACK_MATERIALS = ("nylon", "polyester", "canvas", "leather")
COUNTRIES = ("Vietnam", "Portugal", "China", "Bangladesh", "Turkey", "Sweden", "Italy")
CURRENCIES = ("EUR", "USD", "GBP")
ACCESSORIES = ("a rain cover", "a hydration sleeve", "a detachable hip belt", "a laptop sleeve", "a whistle")
CARE = ("hand wash in cold water", "wipe clean with a damp cloth", "machine wash at 30 degrees")


def product_documents(n: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """`n` backpack descriptions of about 300 tokens, each with the values of extract_prefix's 20 fields (text,
    fields). Every value is written in the text as the field holds it; a few fields are often left unsaid
    (null), as real listings leave them: the battery life, the frame, the year, the accessories."""
    rng = random.Random(f"documents:{seed}")
    out = []
    for i in range(n):
        brand, kind, line = rng.choice(BRANDS), rng.choice(PACK_TYPES), rng.choice(PACK_LINES)
        litres = rng.choice((18, 22, 28, 32, 40, 45))
        model = f"{line} {litres}"
        colour, material, size = rng.choice(PACK_COLOURS), rng.choice(PACK_MATERIALS), rng.choice(("S", "M", "L"))
        weight = f"{rng.randint(6, 19) / 10:.1f} kg"
        dims = f"{rng.randint(40, 60)} x {rng.randint(25, 35)} x {rng.randint(15, 25)} cm"
        price, currency = rng.randint(39, 249), rng.choice(CURRENCIES)
        warranty = f"{rng.choice((1, 2, 3, 5, 10))} year"
        made, designed = rng.choice(COUNTRIES), rng.choice(COUNTRIES)
        water = rng.choice(("none", "water resistant", "waterproof"))
        frame = rng.choice((None, "an aluminium stay", "a plastic frame sheet"))
        accessories = rng.choice((None, *ACCESSORIES))
        care = rng.choice(CARE)
        year = rng.choice((None, 2021, 2022, 2023, 2024, 2025))
        battery = rng.choice((None, None, None, "12 hours", "8 hours"))
        sentences = [
            f"The {brand} {model} is a {kind} for long days outside and short trips, listed as item {i + 1}.",
            f"Its body is woven from {material} in a deep shade of {colour}, with contrast trim and reflective tabs.",
            f"The pack weighs {weight}, measures {dims} and holds {litres} litres, plus two stretch side pockets.",
            f"This is the {size} size, cut for a range of torso lengths, with padded shoulder straps.",
            "The fabric is "
            + {"none": "not treated against water", "water resistant": "water resistant", "waterproof": "waterproof"}[
                water
            ]
            + ", so plan for the weather accordingly.",
            f"{brand} designed it in {designed}; it is made in {made} in a certified factory.",
            f"It sells for {price} {currency} and comes with a {warranty} warranty against defects.",
            f"To clean it, {care}, and let it air dry away from direct sun.",
        ]
        if frame:
            sentences.append(f"Inside, {frame} carries the load onto the hips.")
        if accessories:
            sentences.append(f"It comes with {accessories} in the box.")
        if year:
            sentences.append(f"The {line} line was released in {year}.")
        if battery:
            sentences.append(f"A built-in light on the shoulder strap runs for {battery} on one charge.")
        fields = {
            "brand": brand,
            "product_type": kind,
            "model": model,
            "colour": colour,
            "material": material,
            "size": size,
            "weight": weight,
            "dimensions": dims,
            "capacity": f"{litres} litres",
            "price": price,
            "currency": currency,
            "warranty": warranty,
            "country_of_origin": made,
            "designed_in": designed,
            "water_resistance": water,
            "frame": frame,
            "included_accessories": accessories,
            "care_instructions": care,
            "release_year": year,
            "battery_life": battery,
        }
        out.append((" ".join(sentences), fields))
    return out
