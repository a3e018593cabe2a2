# ruff: noqa: E501  (the vocabulary pools below are long string literals)
"""Generate the synthetic hydroponics-catalogue corpus for continued pre-training.

Writes `corpus.txt` next to this script: 400 paragraphs of catalogue prose for an invented
hydroponics supplier, Fernhollow Growing Systems, one paragraph per blank-line-separated block
(the format `hone` reads as one document per block). Each paragraph describes one product: its
catalogue code (`FH-` + family letters + number), what it does, one or two specifications with
units, what it works with, and a care or set-up note.

The domain is narrow on purpose: its terms (EC, PPFD, NFT, DWC, rockwool, coco coir, dosing
ratios) and its house phrasing are rare in a general model's pre-training text, so continued
pre-training on it should lower held-out perplexity clearly. A seeded random generator picks
products, numbers and sentence frames, so the same seed always gives the same file. ASCII only.

Usage:
    python examples/pretrain/generate.py [--seed 31] [--n 400] [--out DIR]

Standard library only.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass
from pathlib import Path

N_PARAGRAPHS = 400
RANGE = re.compile(r"\{(\d+)-(\d+)\}")


@dataclass(frozen=True)
class Family:
    """A product family: its code letters, products, what they do, and the specs they are sold by."""

    code: str
    products: tuple[str, ...]
    purpose: tuple[str, ...]
    specs: tuple[str, ...]  # templates: each {a-b} becomes a whole number from a to b
    pairs: tuple[str, ...]  # families it is often sold with (codes)
    care: tuple[str, ...]  # templates, as specs


FAMILIES = (
    Family(
        "DP",
        ("peristaltic dosing pump", "two-part nutrient doser", "pH-down dosing head", "four-channel dosing controller"),
        (
            "meters concentrated nutrient into the reservoir in small, repeatable doses",
            "keeps the nutrient solution on target without hand mixing",
            "adds part A and part B in a fixed ratio so the two concentrates never meet undiluted",
        ),
        (
            "a dosing accuracy of plus or minus {1-3} percent",
            "a flow rate of {2-12}0 ml per minute",
            "a maximum lift of {4-15}0 cm from the stock bottle",
        ),
        ("EC", "PH", "RS"),
        (
            "Flush the tubing with clean water after every {7-30} days of use",
            "Replace the pump tube every {6-18} months, or sooner if the dose drifts",
            "Prime each channel before the first run and check for air in the line",
        ),
    ),
    Family(
        "EC",
        ("EC meter", "inline conductivity sensor", "EC and TDS pen", "continuous EC monitor"),
        (
            "reads the electrical conductivity of the nutrient solution",
            "tells you how strong the feed is in mS/cm",
            "logs conductivity so a slow drift shows up before the plants do",
        ),
        (
            "a range of 0 to {5-20} mS/cm",
            "automatic temperature compensation between 5 and {35-50} C",
            "a resolution of 0.0{1-5} mS/cm",
        ),
        ("DP", "PH", "RS"),
        (
            "Calibrate against the 1.413 mS/cm standard every {2-8} weeks",
            "Rinse the probe in distilled water after each reading",
            "Store the sensor dry and keep the cap on between readings for up to {3-30} days",
        ),
    ),
    Family(
        "PH",
        ("pH probe", "pH controller", "double-junction pH electrode", "pH and temperature pen"),
        (
            "measures the acidity of the root-zone solution",
            "holds the reservoir in the 5.5 to 6.5 window most crops prefer",
            "switches a pH-down doser when the reading climbs",
        ),
        (
            "an accuracy of plus or minus 0.0{1-5} pH",
            "a response time under {5-30} seconds",
            "a probe life of about {6-24} months in continuous use",
        ),
        ("DP", "EC", "RS"),
        (
            "Keep the bulb wet in storage solution, never in distilled water",
            "Calibrate at pH 7.0 and pH 4.0 every {2-6} weeks",
            "Clean the junction with a soft brush if readings wander by more than 0.{1-3} pH",
        ),
    ),
    Family(
        "NF",
        ("NFT channel", "nutrient film gully", "NFT end cap set", "NFT channel stand"),
        (
            "carries a thin film of nutrient past the roots in a gentle slope",
            "suits leafy greens and herbs grown in net cups",
            "is the backbone of a nutrient film technique system",
        ),
        (
            "a length of {10-40}0 cm",
            "{4-20} planting sites at 20 cm spacing",
            "a recommended slope of 1 in {30-50}",
        ),
        ("RS", "NC", "LB"),
        (
            "Set the flow to 1 to 2 litres per minute per channel",
            "Clean the channels between crops with a {1-3} percent hydrogen peroxide rinse",
            "Check that the film never dries out at the far end of the run",
        ),
    ),
    Family(
        "DW",
        ("DWC bucket", "deep water culture kit", "recirculating DWC system", "DWC lid with net pot"),
        (
            "suspends the roots in an oxygenated nutrient bath",
            "grows fruiting crops in deep water culture with little media",
            "links several buckets to one control reservoir",
        ),
        (
            "a volume of {10-40} litres per site",
            "a {5-15} cm net pot in the lid",
            "room for {2-12} plants on one air pump",
        ),
        ("AS", "RS", "PH"),
        (
            "Run the air stones day and night; roots in still water suffocate within hours",
            "Change the solution every {7-21} days",
            "Keep the water below 22 C so dissolved oxygen stays high",
        ),
    ),
    Family(
        "AS",
        ("air stone", "air pump", "ceramic diffuser disc", "check valve and airline set"),
        (
            "breaks the air into fine bubbles to lift dissolved oxygen",
            "keeps deep water culture roots white and healthy",
            "aerates a reservoir of up to {2-20}0 litres",
        ),
        (
            "an output of {2-60} litres of air per minute",
            "a diameter of {2-15} cm",
            "a noise level under {25-45} dB",
        ),
        ("DW", "RS"),
        (
            "Soak new stones for {1-24} hours before first use",
            "Fit a check valve so water cannot siphon back into the pump",
            "Replace the stone when the bubbles turn coarse",
        ),
    ),
    Family(
        "LB",
        ("LED grow bar", "full-spectrum LED panel", "far-red supplement bar", "light controller"),
        (
            "delivers even light across the canopy with little heat",
            "raises PPFD at the canopy without hot spots",
            "steps the light up and down over the photoperiod",
        ),
        (
            "a PPFD of {20-90}0 umol/m2/s at 30 cm",
            "an efficacy of 2.{1-9} umol per joule",
            "a draw of {3-60}0 watts",
        ),
        ("NF", "TM"),
        (
            "Hang the bar 25 to {40-60} cm above the canopy and raise it as the plants grow",
            "Run seedlings at 60 percent output for the first {7-14} days",
            "Wipe the lens with a dry cloth; never spray the driver",
        ),
    ),
    Family(
        "TM",
        ("digital timer", "cycle timer", "photoperiod controller", "climate and light timer"),
        (
            "switches lights and pumps on a fixed schedule",
            "runs the flood and drain cycles of an ebb-and-flow table",
            "keeps an 18/6 or 12/12 photoperiod to the minute",
        ),
        (
            "{8-48} programmable on and off events a day",
            "a shortest cycle of {1-60} seconds",
            "a battery backup of {2-30} days",
        ),
        ("LB", "EF"),
        (
            "Set the clock after every power cut longer than {2-30} days",
            "Test a new cycle with the pump disconnected first",
            "Keep the timer above the reservoir, never beside it",
        ),
    ),
    Family(
        "EF",
        ("ebb-and-flow tray", "flood table", "flood and drain fitting kit", "overflow standpipe"),
        (
            "floods the root zone and drains it back to the reservoir",
            "waters a whole bench of pots in one cycle",
            "sets the flood height so the media never stays waterlogged",
        ),
        (
            "a size of {6-24}0 by 60 cm",
            "a flood depth of {3-10} cm",
            "a drain time under {5-20} minutes",
        ),
        ("TM", "RS", "MD"),
        (
            "Flood {2-6} times a day in rockwool, fewer in clay pebbles",
            "Level the tray so it drains completely",
            "Clean the fittings between crops to stop root clogging",
        ),
    ),
    Family(
        "MD",
        ("rockwool cube", "coco coir block", "expanded clay pebbles", "perlite and coir mix"),
        (
            "anchors the roots while holding water and air in balance",
            "gives seedlings a clean, inert start",
            "drains fast and can be washed and reused",
        ),
        (
            "an air-filled porosity of about {15-45} percent",
            "a pH of 5.{5-9} after rinsing",
            "a bag of {5-50} litres",
        ),
        ("EF", "NC"),
        (
            "Soak rockwool in pH 5.5 water for {1-24} hours before sowing",
            "Buffer coco coir with calcium and magnesium before the first feed",
            "Rinse clay pebbles until the water runs clear",
        ),
    ),
    Family(
        "NC",
        ("net cup", "seedling plug tray", "propagation dome", "net cup collar"),
        (
            "holds a plant and its media in the channel or lid",
            "starts seedlings before they move into the system",
            "keeps humidity high while cuttings root",
        ),
        (
            "a diameter of {5-10} cm",
            "{24-144} cells per tray",
            "{2-4} adjustable vents",
        ),
        ("NF", "MD", "DW"),
        (
            "Move seedlings on when white roots show through the base",
            "Open the vents a little more each day after day {3-7}",
            "Wash and reuse the cups for several crops",
        ),
    ),
    Family(
        "RS",
        ("reservoir tank", "light-proof reservoir", "reservoir chiller", "float valve top-up kit"),
        (
            "holds the nutrient solution that feeds the system",
            "keeps the solution dark so algae cannot grow",
            "tops up with fresh water as the plants drink",
        ),
        (
            "a capacity of {2-40}0 litres",
            "a chilling power of {1-9}00 watts",
            "a top-up rate of {2-30} litres per hour",
        ),
        ("DP", "EC", "PH", "AS"),
        (
            "Size the reservoir at {5-20} litres per plant for fruiting crops",
            "Empty and clean the tank every {2-6} weeks",
            "Keep the lid on; light in the tank feeds algae",
        ),
    ),
)

OPENINGS = (
    "The Fernhollow {product} ({sku}) {purpose}.",
    "Our {product}, catalogue code {sku}, {purpose}.",
    "{sku} is {a_product} that {purpose}.",
    "Built for small and commercial growers alike, the {product} ({sku}) {purpose}.",
)
SPEC_FRAMES = (
    "It is rated for {spec}.",
    "It offers {spec} and {spec2}.",
    "Specification: {spec}; {spec2}.",
    "Expect {spec}.",
)
PAIR_FRAMES = (
    "It pairs well with our {pair} ({pair_sku}).",
    "Most growers run it alongside {a_pair} from the {pair_code} range.",
    "For a complete loop, add {a_pair} ({pair_sku}).",
)
WARRANTY = (
    "Covered by the Fernhollow two-year warranty.",
    "Spare parts are stocked for five years after the last sale.",
    "Ships flat-packed with fittings and a printed set-up card.",
    "",
)


def fill(template: str, rng: random.Random) -> str:
    """The template with every {a-b} replaced by a number drawn from a to b."""
    return RANGE.sub(lambda m: str(rng.randint(int(m.group(1)), int(m.group(2)))), template)


def article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def sku(family: Family, rng: random.Random) -> str:
    return f"FH-{family.code}{rng.randint(1, 9)}{rng.randint(0, 9)}0"


def paragraph(rng: random.Random) -> str:
    """One product paragraph: opening, specification, pairing, care, and sometimes a warranty line."""
    family = rng.choice(FAMILIES)
    product = rng.choice(family.products)
    code = sku(family, rng)
    purpose = fill(rng.choice(family.purpose), rng)
    spec, spec2 = (fill(s, rng) for s in rng.sample(family.specs, 2))
    pair_code = rng.choice(family.pairs)
    partner = next(f for f in FAMILIES if f.code == pair_code)
    pair = rng.choice(partner.products)
    sentences = [
        rng.choice(OPENINGS).format(product=product, a_product=article(product), sku=code, purpose=purpose),
        rng.choice(SPEC_FRAMES).format(spec=spec, spec2=spec2),
        rng.choice(PAIR_FRAMES).format(
            pair=pair, a_pair=article(pair), pair_sku=sku(partner, rng), pair_code=partner.code
        ),
        fill(rng.choice(family.care), rng) + ".",
        rng.choice(WARRANTY),
    ]
    text = " ".join(s for s in sentences if s)
    return text[0].upper() + text[1:]


def wrap(text: str, width: int = 96) -> str:
    """Hard-wrap a paragraph into lines (a block of several lines is still one document)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--n", type=int, default=N_PARAGRAPHS)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seen: set[str] = set()
    paragraphs = []
    while len(paragraphs) < args.n:
        text = paragraph(rng)
        if text not in seen:  # distinct paragraphs: a copy in test would be leakage
            seen.add(text)
            paragraphs.append(wrap(text))
    body = "\n\n".join(paragraphs) + "\n"
    assert body.isascii(), "the corpus must be ASCII"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "corpus.txt").write_text(body, encoding="ascii")
    words = len(body.split())
    print(f"wrote {args.out / 'corpus.txt'}: {len(paragraphs)} paragraphs, {words:,} words")


if __name__ == "__main__":
    main()
