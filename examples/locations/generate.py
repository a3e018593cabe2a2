# ruff: noqa: E501  (the place tables and template pools below are long string literals)
"""Generate the synthetic location dataset for hone's NER -> embed -> rerank chain.

Writes, into the folder given by --out (default: this script's folder):

- `gazetteer.csv`: about 430 places (`id,name,kind,country,admin1,lat,lon,alt_names`),
  real well-known places mixed with plausible made-up small ones, with many names
  shared by several places ("Perth" in Scotland, Western Australia and Ontario).
- `ner_train.jsonl`, `ner_test.jsonl`: short research-report, field-note and news
  texts with character spans labelled `LOC` (linked to a gazetteer id) or `ORG`
  (organisations, often named after a place: "University of Cambridge"; link null).
- `linking_train.jsonl`, `linking_test.jsonl`: one row per LOC mention (and sentence),
  `{"query": "<mention> | <its sentence>", "positive": <gazetteer entry as text>,
  "gazetteer_id": ...}`.
- `gazetteer_corpus.jsonl`: every gazetteer entry rendered as text, `{"id", "text"}`.
- `rerank_train.jsonl`: `{"query", "passage", "label": 1|0}`, each linking_train
  query with its positive, hard negatives (places with the same name elsewhere)
  and random negatives.

Everything is synthetic: the texts are assembled from hand-written templates with
slot fillers by a seeded random generator, so the same seed always gives the same
files. Real place names, countries and approximate coordinates are public facts;
the small made-up places (and their coordinates) and every person, organisation
statement, measurement and event in the texts are invented. The data and this
script are released with hone under the Apache License 2.0.

The NER task is built so that a dictionary of training entity strings cannot solve
it: a share of the gazetteer's names (whole countries of them, plus a random part
elsewhere) never occurs as an entity in the training texts and makes up about half
of the test mentions, and place names also appear as non-locations (people called
Florence or Jordan, organisations named after places, "West Nile virus", "Split
samples were..."). Linking needs context: many mentions are names several entries
share, and the sentence carries the region, country or a nearby place that tells
them apart. See README.md.

Usage:
    python examples/locations/generate.py [--seed 29] [--out DIR]

Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

N_TRAIN_DOCS = 700
N_TEST_DOCS = 200
MIN_WORDS, MAX_WORDS = 15, 80
N_MADE_UP = 45  # made-up small places added to the real ones
N_MADE_UP_TWINS = 6  # made-up names reused for a second place in another country
P_HELD_OUT_COUNTRY = 0.22  # share of countries whose place names never appear in train
P_HELD_OUT_ENTRY = 0.30  # share of the other entries whose names never appear in train
P_TEST_HELD_OUT = 0.3  # a test document's main place carries a held-out name
P_AMBIGUOUS_MAIN = 0.35  # a document's main place has a name shared with other places
P_ALT_SURFACE = 0.22  # a mention uses an alternative name rather than the main one
NEAR_KM = 420.0  # towns this close may be named together
NEAR_FEATURE_KM = 150.0  # rivers, lakes, mountains, parks and islands: this close, or named in `near`

KINDS = ("country", "region", "city", "town", "district", "river", "lake", "mountain", "island", "park")
SETTLEMENTS = ("city", "town", "district")
FEATURES = ("river", "lake", "mountain", "island", "park")

# ---------------------------------------------------------------------------
# Real places. Countries: `code | name | lat | lon | alternative names`.
# ---------------------------------------------------------------------------

COUNTRIES = """
US | United States | 39.8 | -98.6 | USA; United States of America
CA | Canada | 56.1 | -106.3 |
GB | United Kingdom | 54.0 | -2.5 | UK; Britain
IE | Ireland | 53.4 | -8.2 | Éire
AU | Australia | -25.3 | 133.8 |
NZ | New Zealand | -41.0 | 174.0 | Aotearoa
JM | Jamaica | 18.1 | -77.3 |
BM | Bermuda | 32.3 | -64.8 |
ZA | South Africa | -30.6 | 22.9 |
KE | Kenya | 0.0 | 37.9 |
TZ | Tanzania | -6.4 | 34.9 |
UG | Uganda | 1.4 | 32.3 |
ZW | Zimbabwe | -19.0 | 29.2 |
NG | Nigeria | 9.1 | 8.7 |
NE | Niger | 17.6 | 8.1 |
TD | Chad | 15.5 | 18.7 |
CD | Democratic Republic of the Congo | -4.0 | 21.8 | DR Congo; DRC
CG | Republic of the Congo | -0.7 | 15.8 | Congo; Congo-Brazzaville
EG | Egypt | 26.8 | 30.8 |
SC | Seychelles | -4.7 | 55.5 |
JO | Jordan | 31.0 | 36.5 |
GE | Georgia | 42.3 | 43.4 | Sakartvelo
FR | France | 46.6 | 2.2 |
ES | Spain | 40.4 | -3.7 | España
PT | Portugal | 39.6 | -8.0 |
IT | Italy | 42.8 | 12.6 | Italia
DE | Germany | 51.2 | 10.4 | Deutschland
CH | Switzerland | 46.8 | 8.2 |
BE | Belgium | 50.6 | 4.5 |
LU | Luxembourg | 49.8 | 6.1 | Grand Duchy of Luxembourg
GR | Greece | 39.1 | 22.0 | Hellas
HR | Croatia | 45.1 | 15.2 | Hrvatska
KH | Cambodia | 12.6 | 104.9 | Kampuchea
LA | Laos | 19.9 | 102.5 | Lao PDR
VN | Vietnam | 14.1 | 108.3 | Viet Nam
IN | India | 20.6 | 79.0 | Bharat
PK | Pakistan | 30.4 | 69.3 |
BR | Brazil | -14.2 | -51.9 | Brasil
PE | Peru | -9.2 | -75.0 | Perú
BO | Bolivia | -16.3 | -63.6 |
CL | Chile | -35.7 | -71.5 |
AR | Argentina | -38.4 | -63.6 |
CO | Colombia | 4.6 | -74.3 |
VE | Venezuela | 6.4 | -66.6 |
CR | Costa Rica | 9.7 | -83.8 |
NI | Nicaragua | 12.9 | -85.2 |
DO | Dominican Republic | 18.7 | -70.2 | República Dominicana
CU | Cuba | 21.5 | -77.8 |
MX | Mexico | 23.6 | -102.6 | México
"""

# Countries named in the `country` field of shared features but not gazetteer entries.
OTHER_COUNTRIES = {
    "TH": "Thailand",
    "CN": "China",
    "MM": "Myanmar",
    "IL": "Israel",
    "RW": "Rwanda",
    "CM": "Cameroon",
    "ML": "Mali",
    "ET": "Ethiopia",
    "SS": "South Sudan",
    "MZ": "Mozambique",
    "AT": "Austria",
    "NL": "Netherlands",
    "MY": "Malaysia",
    "BN": "Brunei",
    "TT": "Trinidad and Tobago",
    "ZM": "Zambia",
    "SD": "Sudan",
    "AZ": "Azerbaijan",
}

# Places: `[CC]` starts a country; then `kind | name | admin1 | lat | lon | alternative
# names | near`. `near` names places (any country) that a text may put next to this one
# (districts: their city; rivers: towns on their banks); otherwise neighbours come from
# the coordinates. In `[shared]`, the admin1 column holds the country codes instead.
# Places: `[CC]` starts a country; then `kind | name | admin1 | lat | lon | alternative
# names | near`. `near` names places that a text may put next to this one (districts:
# their city; rivers: towns on their banks); otherwise neighbours come from the
# coordinates. In `[shared]`, the admin1 column holds the country codes instead.
PLACES = """
[US]
region | Illinois | | 40.0 | -89.2 |
city | Springfield | Illinois | 39.80 | -89.64 |
region | Massachusetts | | 42.3 | -71.8 |
city | Springfield | Massachusetts | 42.10 | -72.59 |
city | Cambridge | Massachusetts | 42.37 | -71.11 |
city | Salem | Massachusetts | 42.52 | -70.90 |
region | Missouri | | 38.5 | -92.5 |
city | Springfield | Missouri | 37.21 | -93.29 |
city | Columbia | Missouri | 38.95 | -92.33 |
region | Oregon | | 43.9 | -120.6 |
city | Springfield | Oregon | 44.05 | -123.02 |
city | Portland | Oregon | 45.52 | -122.68 |
city | Salem | Oregon | 44.94 | -123.04 |
region | Ohio | | 40.4 | -82.8 |
city | Springfield | Ohio | 39.92 | -83.81 |
city | Columbus | Ohio | 39.96 | -83.00 |
city | Toledo | Ohio | 41.65 | -83.54 |
town | Athens | Ohio | 39.33 | -82.10 |
city | Lima | Ohio | 40.74 | -84.11 |
region | Texas | | 31.0 | -99.9 |
town | Paris | Texas | 33.66 | -95.56 |
city | Austin | Texas | 30.27 | -97.74 |
region | Tennessee | | 35.9 | -86.4 |
town | Paris | Tennessee | 36.30 | -88.33 |
region | Georgia | | 32.7 | -83.4 |
city | Athens | Georgia | 33.96 | -83.38 |
city | Rome | Georgia | 34.26 | -85.16 |
city | Savannah | Georgia | 32.08 | -81.09 |
region | California | | 36.8 | -119.4 |
city | San Jose | California | 37.34 | -121.89 | San José
city | Santa Cruz | California | 36.97 | -122.03 |
mountain | Sierra Nevada | California | 37.7 | -119.2 |
region | Virginia | | 37.4 | -78.7 |
city | Richmond | Virginia | 37.54 | -77.44 |
region | Alabama | | 32.8 | -86.8 |
city | Birmingham | Alabama | 33.52 | -86.80 |
city | Mobile | Alabama | 30.69 | -88.04 |
city | Florence | Alabama | 34.80 | -87.68 |
region | Maine | | 45.3 | -69.2 |
city | Portland | Maine | 43.66 | -70.26 |
region | New York | | 43.0 | -75.5 | New York State
city | New York City | New York | 40.71 | -74.01 | New York; NYC
district | Brooklyn | New York | 40.68 | -73.94 | | New York City
district | SoHo | New York | 40.72 | -74.00 | | New York City
city | Albany | New York | 42.65 | -73.75 |
town | Geneva | New York | 42.87 | -76.98 |
river | Hudson River | New York | 41.7 | -73.95 | Hudson | Albany; New York City
region | Florida | | 27.8 | -81.7 |
city | Naples | Florida | 26.14 | -81.79 |
city | Melbourne | Florida | 28.08 | -80.61 |
region | Colorado | | 39.0 | -105.5 |
city | Aurora | Colorado | 39.73 | -104.83 |
region | Mississippi | | 32.7 | -89.7 |
city | Jackson | Mississippi | 32.30 | -90.18 |
region | North Carolina | | 35.6 | -79.4 |
city | Durham | North Carolina | 35.99 | -78.90 |
city | Charlotte | North Carolina | 35.23 | -80.84 |
region | South Carolina | | 33.9 | -80.9 |
city | Columbia | South Carolina | 34.00 | -81.03 |
city | Florence | South Carolina | 34.20 | -79.76 |
region | Wisconsin | | 44.5 | -89.5 |
city | Madison | Wisconsin | 43.07 | -89.40 |
town | Lake Geneva | Wisconsin | 42.59 | -88.43 |
region | New Hampshire | | 43.7 | -71.6 |
city | Manchester | New Hampshire | 42.99 | -71.46 |
town | Berlin | New Hampshire | 44.47 | -71.19 |
region | Washington | | 47.4 | -120.5 | Washington State
city | Vancouver | Washington | 45.64 | -122.66 |
mountain | Mount Olympus | Washington | 47.80 | -123.71 |
city | Washington | District of Columbia | 38.91 | -77.04 | Washington DC
region | Nebraska | | 41.5 | -99.9 |
city | Lincoln | Nebraska | 40.81 | -96.70 |
region | Wyoming | | 43.0 | -107.6 |
park | Yellowstone National Park | Wyoming | 44.43 | -110.59 | Yellowstone
town | Jackson | Wyoming | 43.48 | -110.76 |
[CA]
region | Ontario | | 50.0 | -85.0 |
city | London | Ontario | 42.98 | -81.25 |
city | Hamilton | Ontario | 43.26 | -79.87 |
city | Cambridge | Ontario | 43.36 | -80.31 |
town | Paris | Ontario | 43.19 | -80.38 |
city | Kingston | Ontario | 44.23 | -76.49 |
town | Perth | Ontario | 44.90 | -76.25 |
city | Windsor | Ontario | 42.31 | -83.04 |
city | Aurora | Ontario | 44.00 | -79.47 |
river | Thames River | Ontario | 42.3 | -82.4 | Thames | London
region | British Columbia | | 53.7 | -127.6 | BC
city | Victoria | British Columbia | 48.43 | -123.37 |
city | Vancouver | British Columbia | 49.28 | -123.12 |
city | Richmond | British Columbia | 49.17 | -123.14 |
region | Alberta | | 53.9 | -116.6 |
town | Jasper | Alberta | 52.87 | -118.08 |
park | Jasper National Park | Alberta | 52.9 | -118.1 |
region | Nova Scotia | | 44.7 | -63.7 |
town | Sydney | Nova Scotia | 46.14 | -60.19 |
region | Saskatchewan | | 52.9 | -106.4 |
city | Regina | Saskatchewan | 50.45 | -104.62 |
region | Nunavut | | 70.3 | -83.1 |
island | Victoria Island | Nunavut | 71.0 | -110.0 |
town | Cambridge Bay | Nunavut | 69.12 | -105.06 |
[GB]
region | England | | 52.4 | -1.5 |
city | London | England | 51.51 | -0.13 |
city | Cambridge | England | 52.21 | 0.12 |
city | Manchester | England | 53.48 | -2.24 |
city | Durham | England | 54.78 | -1.57 |
town | Reading | England | 51.45 | -0.97 |
town | Windsor | England | 51.48 | -0.61 |
district | Richmond | England | 51.46 | -0.30 | Richmond upon Thames | London
district | Soho | England | 51.51 | -0.13 | | London
district | Chelsea | England | 51.49 | -0.17 | | London
park | Hyde Park | England | 51.51 | -0.17 | | London
city | Lincoln | England | 53.23 | -0.54 |
river | River Thames | England | 51.5 | -0.6 | Thames | London; Reading; Windsor
region | Scotland | | 56.5 | -4.2 |
city | Perth | Scotland | 56.40 | -3.43 |
city | Glasgow | Scotland | 55.86 | -4.25 |
town | Hamilton | Scotland | 55.78 | -4.04 |
river | River Tay | Scotland | 56.4 | -3.4 | Tay | Perth; Dundee; Pitlochry
river | River Clyde | Scotland | 55.86 | -4.3 | Clyde | Glasgow; Hamilton
park | Cairngorms National Park | Scotland | 57.1 | -3.7 | Cairngorms
region | Wales | | 52.3 | -3.8 | Cymru
city | Cardiff | Wales | 51.48 | -3.18 |
park | Eryri National Park | Wales | 52.9 | -3.9 | Snowdonia
town | Newtown | Wales | 52.51 | -3.31 |
[IE]
region | Munster | | 52.3 | -8.7 |
city | Limerick | Munster | 52.66 | -8.63 |
town | Shannon | Munster | 52.70 | -8.86 |
river | River Shannon | Munster | 52.9 | -8.3 | Shannon | Limerick
[AU]
region | Western Australia | | -25.0 | 122.0 | WA
city | Perth | Western Australia | -31.95 | 115.86 |
river | Swan River | Western Australia | -32.0 | 115.9 | | Perth; Fremantle
river | Avon River | Western Australia | -31.6 | 116.6 | Avon | Perth
region | New South Wales | | -32.0 | 147.0 | NSW
city | Sydney | New South Wales | -33.87 | 151.21 |
district | Bondi | New South Wales | -33.89 | 151.27 | | Sydney
mountain | Blue Mountains | New South Wales | -33.7 | 150.3 | | Sydney
city | Orange | New South Wales | -33.28 | 149.10 |
region | Victoria | | -36.9 | 144.3 |
city | Melbourne | Victoria | -37.81 | 144.96 |
district | Fitzroy | Victoria | -37.80 | 144.98 | | Melbourne
district | Richmond | Victoria | -37.82 | 145.00 | | Melbourne
region | Queensland | | -22.0 | 144.0 | QLD
city | Townsville | Queensland | -19.26 | 146.82 |
river | Ross River | Queensland | -19.4 | 146.7 | | Townsville
region | Northern Territory | | -19.5 | 133.0 | NT
city | Darwin | Northern Territory | -12.46 | 130.84 |
park | Kakadu National Park | Northern Territory | -12.8 | 132.4 | Kakadu
city | Adelaide | South Australia | -34.93 | 138.60 |
[NZ]
region | Waikato | | -37.6 | 175.2 | Waikato Region
city | Hamilton | Waikato | -37.79 | 175.28 |
town | Cambridge | Waikato | -37.89 | 175.47 |
town | Thames | Waikato | -37.14 | 175.54 |
river | Waikato River | Waikato | -37.8 | 175.3 | Waikato | Hamilton; Cambridge
region | Wellington Region | | -41.0 | 175.4 | Wellington
city | Wellington | Wellington Region | -41.29 | 174.78 |
district | Newtown | Wellington Region | -41.31 | 174.78 | | Wellington
district | Brooklyn | Wellington Region | -41.31 | 174.76 | | Wellington
region | Canterbury | | -43.5 | 171.5 |
city | Christchurch | Canterbury | -43.53 | 172.64 |
river | Avon River | Canterbury | -43.52 | 172.65 | Avon; Ōtākaro | Christchurch
region | Otago | | -45.5 | 169.5 |
town | Clyde | Otago | -45.19 | 169.32 |
[JM]
city | Kingston | | 17.99 | -76.79 |
mountain | Blue Mountains | | 18.05 | -76.6 | | Kingston
[BM]
city | Hamilton | | 32.29 | -64.78 |
[ZA]
region | Western Cape | | -33.2 | 21.9 |
city | Cape Town | Western Cape | -33.92 | 18.42 |
mountain | Table Mountain | Western Cape | -33.96 | 18.40 | | Cape Town
town | Wellington | Western Cape | -33.64 | 19.01 |
region | Gauteng | | -26.2 | 28.1 |
city | Pretoria | Gauteng | -25.75 | 28.19 |
district | Brooklyn | Gauteng | -25.77 | 28.24 | | Pretoria
region | Limpopo | | -23.4 | 29.4 | Limpopo Province
park | Kruger National Park | Limpopo | -24.0 | 31.5 | Kruger
river | Orange River | Northern Cape | -28.6 | 21.0 | Gariep
[KE]
city | Nairobi | Nairobi County | -1.29 | 36.82 |
city | Kisumu | Kisumu County | -0.09 | 34.77 |
mountain | Mount Kenya | | -0.15 | 37.31 |
park | Maasai Mara National Reserve | | -1.49 | 35.14 | Maasai Mara; Masai Mara
[TZ]
region | Kilimanjaro Region | | -3.8 | 37.6 | Kilimanjaro
island | Zanzibar | | -6.13 | 39.31 | Unguja
city | Mwanza | | -2.52 | 32.90 |
mountain | Mount Kilimanjaro | Kilimanjaro Region | -3.07 | 37.35 | Kilimanjaro
park | Serengeti National Park | | -2.33 | 34.83 | Serengeti
[UG]
city | Kampala | | 0.35 | 32.58 |
town | Entebbe | | 0.05 | 32.46 |
town | Jinja | | 0.42 | 33.20 |
park | Zika Forest | | 0.12 | 32.53 | | Entebbe
[ZW]
town | Victoria Falls | | -17.93 | 25.84 |
[NG]
city | Lagos | Lagos State | 6.52 | 3.38 |
region | Niger State | | 9.9 | 5.6 | Niger
region | Borno State | | 11.9 | 13.1 | Borno
town | Lassa | Borno State | 10.69 | 13.27 |
[NE]
[TD]
[CD]
city | Goma | | -1.68 | 29.23 |
park | Virunga National Park | | -0.9 | 29.5 | Virunga
river | Ebola River | | 3.3 | 22.5 | Legbala
[CG]
[EG]
city | Cairo | | 30.04 | 31.24 |
city | Aswan | | 24.09 | 32.90 |
[SC]
city | Victoria | | -4.62 | 55.45 | Port Victoria
[JO]
city | Amman | | 31.95 | 35.93 |
park | Petra Archaeological Park | | 30.33 | 35.44 | Petra
[GE]
city | Tbilisi | | 41.72 | 44.79 |
mountain | Mount Kazbek | | 42.70 | 44.52 | Kazbek
[FR]
region | Île-de-France | | 48.7 | 2.5 | Ile-de-France
region | Provence-Alpes-Côte d'Azur | | 43.9 | 6.1 | Provence
city | Paris | Île-de-France | 48.86 | 2.35 |
district | Montmartre | Île-de-France | 48.89 | 2.34 | | Paris
city | Nice | Provence-Alpes-Côte d'Azur | 43.70 | 7.27 |
town | Orange | Provence-Alpes-Côte d'Azur | 44.14 | 4.81 |
river | Seine | Île-de-France | 49.0 | 1.9 | | Paris
[ES]
region | Andalusia | | 37.5 | -4.7 | Andalucía
region | Galicia | | 42.8 | -8.0 |
region | Valencian Community | | 39.4 | -0.6 | Comunidad Valenciana
region | Extremadura | | 39.2 | -6.2 |
region | Castile and León | | 41.8 | -4.6 | Castilla y León
region | Castilla-La Mancha | | 39.6 | -3.0 |
city | Córdoba | Andalusia | 37.88 | -4.78 | Cordoba
city | Granada | Andalusia | 37.18 | -3.60 |
mountain | Sierra Nevada | Andalusia | 37.05 | -3.3 | | Granada
city | Santiago de Compostela | Galicia | 42.88 | -8.54 | Santiago; Compostela
city | Valencia | Valencian Community | 39.47 | -0.38 |
city | Mérida | Extremadura | 38.92 | -6.34 | Merida
city | Toledo | Castilla-La Mancha | 39.86 | -4.02 |
city | León | Castile and León | 42.60 | -5.57 | Leon
[PT]
region | Algarve | | 37.1 | -8.2 |
town | Lagos | Algarve | 37.10 | -8.67 |
city | Santarém | | 39.24 | -8.69 | Santarem
[IT]
region | Tuscany | | 43.35 | 11.0 | Toscana
region | Lazio | | 41.9 | 12.8 |
island | Sicily | | 37.6 | 14.0 | Sicilia
city | Florence | Tuscany | 43.77 | 11.25 | Firenze
river | Arno | Tuscany | 43.7 | 10.9 | | Florence
city | Palermo | Sicily | 38.12 | 13.36 |
mountain | Mount Etna | Sicily | 37.75 | 14.99 | Etna
city | Rome | Lazio | 41.90 | 12.50 | Roma
[DE]
region | Hesse | | 50.6 | 9.0 | Hessen
region | Brandenburg | | 52.4 | 13.0 |
city | Berlin | | 52.52 | 13.40 |
city | Frankfurt | Hesse | 50.11 | 8.68 | Frankfurt am Main
city | Frankfurt (Oder) | Brandenburg | 52.35 | 14.55 | Frankfurt an der Oder; Frankfurt
town | Marburg | Hesse | 50.81 | 8.77 |
[CH]
region | Canton of Geneva | | 46.2 | 6.15 | Geneva
city | Geneva | Canton of Geneva | 46.20 | 6.14 | Genève
[BE]
region | Province of Luxembourg | Wallonia | 49.95 | 5.5 | Luxembourg
city | Brussels | | 50.85 | 4.35 | Bruxelles
[LU]
city | Luxembourg | | 49.61 | 6.13 | Luxembourg City
[GR]
city | Athens | Attica | 37.98 | 23.73 | Athina
mountain | Mount Olympus | | 40.09 | 22.36 | Olympus
[HR]
city | Split | Dalmatia | 43.51 | 16.44 |
[KH]
region | Kratie Province | | 12.5 | 106.0 | Kratié Province
region | Stung Treng Province | | 13.6 | 106.0 |
region | Siem Reap Province | | 13.4 | 103.9 |
city | Phnom Penh | | 11.56 | 104.92 |
town | Kratie | Kratie Province | 12.49 | 106.02 | Kratié
town | Stung Treng | Stung Treng Province | 13.53 | 105.97 |
city | Siem Reap | Siem Reap Province | 13.36 | 103.86 |
lake | Tonlé Sap | | 12.9 | 104.1 | Tonle Sap | Siem Reap
park | Angkor Archaeological Park | Siem Reap Province | 13.43 | 103.86 | Angkor | Siem Reap
[LA]
region | Champasak Province | | 14.7 | 106.1 | Champasak
city | Vientiane | | 17.97 | 102.63 |
city | Pakse | Champasak Province | 15.12 | 105.80 |
island | Four Thousand Islands | Champasak Province | 14.0 | 105.9 | Si Phan Don
[VN]
region | Mekong Delta | | 10.0 | 105.8 |
city | Ho Chi Minh City | | 10.82 | 106.63 | Saigon
city | Can Tho | Mekong Delta | 10.05 | 105.75 | Cần Thơ
[IN]
region | Telangana | | 18.1 | 79.0 |
region | Punjab | | 31.1 | 75.3 |
region | West Bengal | | 22.99 | 87.85 |
city | Hyderabad | Telangana | 17.39 | 78.49 |
city | Kolkata | West Bengal | 22.57 | 88.36 | Calcutta
river | Ganges | | 25.3 | 83.0 | Ganga | Kolkata
[PK]
region | Sindh | | 25.9 | 68.5 |
region | Punjab | | 31.2 | 72.7 |
city | Hyderabad | Sindh | 25.40 | 68.37 |
city | Lahore | Punjab | 31.55 | 74.34 |
river | Indus | | 25.4 | 68.4 | Indus River | Hyderabad
[BR]
region | Amazonas | | -3.4 | -65.9 | Amazonas State
city | Manaus | Amazonas | -3.12 | -60.02 |
city | Rio de Janeiro | Rio de Janeiro State | -22.91 | -43.17 | Rio
[PE]
city | Lima | | -12.05 | -77.04 |
city | Cusco | Cusco Region | -13.53 | -71.97 | Cuzco
city | Puno | | -15.84 | -70.02 |
[BO]
region | Santa Cruz Department | | -17.0 | -61.5 | Santa Cruz
city | La Paz | | -16.50 | -68.15 |
city | Santa Cruz de la Sierra | Santa Cruz Department | -17.78 | -63.18 | Santa Cruz
town | Copacabana | | -16.17 | -69.09 |
[CL]
region | Santiago Metropolitan Region | | -33.6 | -70.6 | Región Metropolitana
region | Biobío Region | | -37.5 | -72.5 |
region | Magallanes Region | | -52.0 | -72.0 | Magallanes
city | Santiago | Santiago Metropolitan Region | -33.45 | -70.67 | Santiago de Chile
city | Concepción | Biobío Region | -36.83 | -73.05 | Concepcion
river | Biobío River | Biobío Region | -37.0 | -72.9 | Biobío | Concepción
city | Punta Arenas | Magallanes Region | -53.16 | -70.91 |
park | Torres del Paine National Park | Magallanes Region | -51.0 | -73.0 | Torres del Paine | Punta Arenas
[AR]
region | Córdoba Province | | -32.0 | -64.0 | Córdoba
city | Buenos Aires | | -34.60 | -58.38 |
district | Palermo | | -34.58 | -58.43 | | Buenos Aires
city | Córdoba | Córdoba Province | -31.42 | -64.18 | Cordoba
city | Mendoza | Mendoza Province | -32.89 | -68.84 |
mountain | Aconcagua | Mendoza Province | -32.65 | -70.01 | | Mendoza
[CO]
region | Bolívar Department | | 8.7 | -74.5 |
city | Bogotá | | 4.71 | -74.07 | Bogota
city | Cartagena | Bolívar Department | 10.39 | -75.51 | Cartagena de Indias
river | Magdalena River | | 9.0 | -74.8 | Río Magdalena; Magdalena | Santa Marta
[VE]
region | Carabobo | | 10.1 | -68.1 |
city | Valencia | Carabobo | 10.16 | -68.00 |
city | Mérida | Mérida State | 8.59 | -71.14 | Merida
[CR]
region | San José Province | | 9.6 | -84.0 | San José
city | San José | San José Province | 9.93 | -84.08 | San Jose
mountain | Arenal Volcano | | 10.46 | -84.70 | Arenal
town | Monteverde | | 10.30 | -84.82 |
park | Corcovado National Park | | 8.54 | -83.59 | Corcovado
[NI]
city | Granada | | 11.93 | -85.96 |
city | León | | 12.44 | -86.88 | Leon
[DO]
city | Santo Domingo | | 18.49 | -69.93 |
city | Santiago de los Caballeros | | 19.45 | -70.69 | Santiago
[CU]
city | Havana | | 23.11 | -82.37 | La Habana
city | Santiago de Cuba | | 20.02 | -75.82 | Santiago
[MX]
region | Yucatán | | 20.7 | -89.0 | Yucatan
city | Mexico City | | 19.43 | -99.13 | Ciudad de México
city | Mérida | Yucatán | 20.97 | -89.62 | Merida
[shared]
river | Mekong | KH LA VN TH CN MM | 12.5 | 106.0 | Mekong River | Kratie; Stung Treng; Phnom Penh; Kampong Cham; Pakse; Vientiane; Luang Prabang; Can Tho
river | Nile | EG SD SS UG | 24.1 | 32.9 | River Nile; Nile River | Cairo; Aswan; Luxor; Jinja
lake | Lake Victoria | TZ UG KE | -1.0 | 33.0 | Victoria Nyanza | Kisumu; Mwanza; Entebbe; Jinja; Kampala
river | Congo | CD CG | -2.0 | 17.0 | Congo River | Kinshasa; Brazzaville
river | Niger River | NG NE ML | 13.5 | 2.1 | Niger | Niamey
river | Zambezi | ZM ZW MZ | -17.9 | 25.8 | Zambezi River | Victoria Falls
lake | Dead Sea | JO IL | 31.5 | 35.5 | | Amman
river | Jordan River | JO IL | 32.0 | 35.55 | Jordan | Amman
river | Rhine | DE CH FR NL | 50.0 | 7.6 | Rhein | Frankfurt
lake | Lake Geneva | CH FR | 46.45 | 6.53 | Lac Léman | Geneva; Lausanne
river | Amazon | BR PE CO | -3.2 | -60.0 | Amazon River; Amazonas | Manaus; Iquitos; Santarém
lake | Lake Titicaca | PE BO | -15.9 | -69.3 | Titicaca | Puno; Copacabana
river | Colorado River | US MX | 36.1 | -112.1 | Colorado
river | Columbia River | US CA | 46.2 | -123.5 | Columbia | Portland; Vancouver
"""

# ---------------------------------------------------------------------------
# Made-up small places: names in the style of the country they are put in, near
# one of its real towns. `{X}`-style pools below; one function per style.
# ---------------------------------------------------------------------------

STYLE = {
    **dict.fromkeys(["US", "CA", "GB", "IE", "AU", "NZ", "ZA", "JM"], "en"),
    **dict.fromkeys(["ES", "MX", "CL", "AR", "CO", "VE", "CR", "NI", "DO", "CU", "PE", "BO"], "es"),
    **dict.fromkeys(["BR", "PT"], "pt"),
    **dict.fromkeys(["FR", "BE", "CH"], "fr"),
    "DE": "de",
    "IT": "it",
    **dict.fromkeys(["KE", "TZ", "UG"], "sw"),
    "KH": "km",
    "LA": "lo",
    "IN": "in",
}
MADE_UP_KINDS = {
    "town": 0.5,
    "district": 0.1,
    "river": 0.12,
    "lake": 0.08,
    "mountain": 0.08,
    "park": 0.07,
    "island": 0.05,
}

EN_HEAD = "Brack Thorn Wick Hal Marl Kel Wel Fen Lang Wyn Elder Gren Cran Dun Lyn Bram Hazel Rook Tarr Ver Wald Pem Bel Cor Dray Ell Fal Gos Hem Lax Orm Quen Ros Stow Tib Ulver Wray Brant Cawl Skel Thirl Wend Hext Lud Pell Sprot Tad".split()
EN_TAIL = "ford ton by combe ham ley field wick bridge stead brook mouth worth hurst moor dale thorpe well gate haven holme bury cote den".split()
EN_RIVER_TAIL = "e er ey en ow ing ock".split()
ES_SAINT_M = "Isidro Lorenzo Bartolomé Rafael Martín Cristóbal Agustín Gregorio Vicente Jerónimo Marcos Ramón".split()
ES_SAINT_F = "Lucía Inés Bárbara Teresa Catalina Rita Eulalia Casilda".split()
ES_TAIL = [
    "del Monte",
    "de la Sierra",
    "del Valle",
    "de las Flores",
    "del Río",
    "de los Llanos",
    "de la Vega",
    "de Arriba",
    "de Abajo",
]
ES_PLAIN = [
    "Piedras Blancas",
    "Los Almendros",
    "Valle Hondo",
    "Cerro Alto",
    "La Quebrada",
    "Aguas Claras",
    "Los Pinos",
    "Tres Cruces",
    "Palmar Bajo",
    "Loma Larga",
    "Ojo de Agua",
    "Cañada Verde",
    "Monte Oscuro",
    "Los Sauces",
    "Tierra Blanca",
]
ES_ADJECTIVES = {
    "Chiquito": "Chiquita",
    "Hondo": "Honda",
    "Frío": "Fría",
    "Salado": "Salada",
    "Bermejo": "Bermeja",
    "Turbio": "Turbia",
}
ES_ROOT = [
    *ES_ADJECTIVES,
    *"Sauces Ciervos Zorros Cóndores Olivos Cedros Molles Tamarí Huacón Yacumá Curiquí Chalcas Pilquén Ticoya".split(),
]
PT_SAINT_M = "Mateus Lourenço Bento Vicente Brás Jerônimo".split()
PT_SAINT_F = "Luzia Clara Rita Inês Bárbara".split()
PT_ROOT = "Jacaré Itapé Piracema Cambará Araçá Tucumã Guaraci Ibirá Taquaral Jatobá Buriti Caraíba".split()
FR_SAINT = "Aubin Médard Léger Didier Florent Amand Hilaire Ouen".split()
FR_ROOT = "Aubri Berne Chanti Dom Font Gour Lavau Roche Sauve Vern Marci Joli".split()
FR_END = "ette onne ère eau ine ance".split()
DE_HEAD = "Alten Ober Unter Hohen Linden Birken Eichen Rosen Wald Stein Kalt Mühl Lauter Grün Hassel Kirch Sonnen Tann Wolfs Hirsch".split()
DE_TAIL = "dorf bach hausen feld stein au rode".split()
IT_SAINT = "Lorenzo Vito Martino Giorgio Donato Biagio Nicandro".split()
IT_ROOT = "fiore verde chiaro nero lungo secco".split()
IT_HEAD = "Ser Vor Tes Lis Cal Mar Ten Fav Bor Ros".split()
IT_END = "chio nia sa cia tore ella ano".split()
SW_A = "Ki Ma Nya Bu Mu Ka Lu Ru Ngo Shi Ta Mwa".split()
SW_B = "ba ku nge lo ri sa to wa ra mbe ndi tu".split()
SW_C = "ni wa ru mba nzi ngo la go ko".split()
KM_WORD = "Chrey Thom Trach Sre Prey Pou Kor Svay Roka Krang Chhuk Veal Kbal Sdau Ampil".split()
LO_A = "Na Huay Nong Don Pak Phon Kok Sop".split()
LO_B = "Kham Sai Luang Hin Mai Thong Deng Kang".split()
IN_HEAD = "Shiv Chandan Kesh Madhu Sona Bhavani Kali Anant Devi Kusum Tulsi Bhim".split()
IN_TAIL = "pur nagar abad garh palli gaon".split()


def _en(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    root = rng.choice(EN_HEAD) + rng.choice(EN_TAIL)
    short = rng.choice(EN_HEAD) + rng.choice(EN_RIVER_TAIL)
    british = cc in ("GB", "IE")
    if kind == "town":
        return (
            rng.choice(["Upper ", "Little ", "Port ", "East ", "North ", "New "]) + root if rng.random() < 0.2 else root
        )
    if kind == "district":
        return rng.choice(["{} Heights", "{} Hill", "East {}", "{} Green", "{} Vale"]).format(root)
    if kind == "river":
        return f"River {short}" if british else rng.choice([f"{short} River", f"{root} Creek"])
    if kind == "lake":
        return {"Scotland": f"Loch {short}"}.get(admin1, f"Lough {short}" if cc == "IE" else f"Lake {root}")
    if kind == "mountain":
        if admin1 == "Scotland":
            return f"Ben {short}"
        return rng.choice([f"{short} Fell", f"{root} Hill"] if british else [f"Mount {root}", f"{root} Peak"])
    if kind == "park":
        return rng.choice([f"{root} National Park", f"{root} Nature Reserve", f"{root} Regional Park"])
    return f"Isle of {short}" if british else f"{root} Island"


def _es(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    root = rng.choice(ES_ROOT)
    if kind == "town":
        form = rng.randrange(4)
        if form == 0:
            return f"San {rng.choice(ES_SAINT_M)} {rng.choice(ES_TAIL)}"
        if form == 1:
            return f"Santa {rng.choice(ES_SAINT_F)} {rng.choice(ES_TAIL)}"
        if form == 2:
            return f"Villa {rng.choice(ES_SAINT_F + ES_SAINT_M)} {rng.choice(ES_TAIL)}"
        return rng.choice(ES_PLAIN)
    head = {
        "district": "Barrio",
        "river": "Río",
        "lake": "Laguna",
        "mountain": rng.choice(["Cerro", "Volcán"]),
        "park": rng.choice(["Parque Nacional", "Reserva"]),
        "island": "Isla",
    }[kind]
    if kind == "district":
        return f"Barrio {rng.choice(ES_PLAIN)}"
    if root in ES_ADJECTIVES:  # "Río Hondo", "Laguna Honda"
        return f"{head} {ES_ADJECTIVES[root] if head in ('Laguna', 'Isla', 'Reserva') else root}"
    return f"{head} de los {root}" if root.endswith("s") else f"{head} {root}"


def _pt(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    root = rng.choice(PT_ROOT)
    if kind == "town":
        return rng.choice(
            [
                f"São {rng.choice(PT_SAINT_M)} do {root}",
                f"Santa {rng.choice(PT_SAINT_F)} do {root}",
                f"Vila {root}",
                f"{root} do Sul",
                f"Porto {root}",
            ]
        )
    return {
        "district": f"Jardim {root}",
        "river": f"Rio {root}",
        "lake": f"Lagoa {root}",
        "mountain": f"Serra do {root}",
        "park": f"Parque Nacional do {root}",
        "island": f"Ilha {root}",
    }[kind]


def _fr(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    root = rng.choice(FR_ROOT)
    stem = re.sub(r"[aeiouy]+$", "", root)
    if kind == "town":
        return rng.choice(
            [
                f"Saint-{rng.choice(FR_SAINT)}-{rng.choice(['le-Vieux', 'en-Val', 'des-Bois', 'la-Forêt'])}",
                f"{root}ville",
                f"{root}court",
                f"Villeneuve-sur-{stem}{rng.choice(FR_END)}",
            ]
        )
    word = stem + rng.choice(FR_END)
    return {
        "district": f"Les {stem}ières",
        "river": word,
        "lake": f"Lac de {word}",
        "mountain": rng.choice([f"Mont {root}", f"Pic de {word}"]),
        "park": f"Parc naturel du {word}",
        "island": f"Île de {word}",
    }[kind]


def _de(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    head = rng.choice(DE_HEAD)
    if kind in ("town", "island"):
        return ("Bad " if rng.random() < 0.15 else "") + head + rng.choice(DE_TAIL)
    return {
        "district": f"{head}viertel",
        "river": f"{head}ach",
        "lake": f"{head}see",
        "mountain": f"{head}{rng.choice(['kopf', 'berg', 'horn'])}",
        "park": f"Naturpark {head}{rng.choice(DE_TAIL)}",
    }[kind]


def _it(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    word = rng.choice(IT_HEAD) + rng.choice(IT_END)
    if kind == "town":
        return rng.choice(
            [
                f"San {rng.choice(IT_SAINT)} {rng.choice(['in Valle', 'al Monte', 'di Sopra'])}",
                f"Monte{rng.choice(IT_ROOT)}",
                f"Castel{rng.choice(IT_ROOT)}",
                f"Borgo {word}",
            ]
        )
    return {
        "district": f"Borgo {word}",
        "river": word,
        "lake": f"Lago di {word}",
        "mountain": f"Monte {word}",
        "park": f"Parco del {word}",
        "island": f"Isola {word}",
    }[kind]


def _sw(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    word = rng.choice(SW_A) + rng.choice(SW_B) + rng.choice(SW_C)
    return {
        "town": word,
        "district": f"{word} Estate",
        "river": f"{word} River",
        "lake": f"Lake {word}",
        "mountain": rng.choice([f"Mount {word}", f"{word} Hills"]),
        "park": rng.choice([f"{word} Forest Reserve", f"{word} Game Reserve"]),
        "island": f"{word} Island",
    }[kind]


def _km(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    word = " ".join(rng.sample(KM_WORD, 2))
    return {
        "town": f"Phum {word}",
        "district": f"Sangkat {word}",
        "river": f"Stung {word}",
        "lake": f"Boeng {word}",
        "mountain": f"Phnom {word}",
        "park": f"{word} Wildlife Sanctuary",
        "island": f"Koh {word}",
    }[kind]


def _lo(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    word = f"{rng.choice(LO_A)} {rng.choice(LO_B)}"
    return {
        "town": f"Ban {word}",
        "district": f"Ban {word}",
        "river": f"Nam {rng.choice(LO_B)}",
        "lake": f"Nong {rng.choice(LO_B)}",
        "mountain": f"Phou {rng.choice(LO_B)}",
        "park": f"Phou {rng.choice(LO_B)} National Protected Area",
        "island": f"Don {rng.choice(LO_B)}",
    }[kind]


def _in(rng: random.Random, kind: str, cc: str, admin1: str) -> str:
    head = rng.choice(IN_HEAD)
    return {
        "town": head + rng.choice(IN_TAIL),
        "district": f"{head} Nagar",
        "river": f"{head}a River",
        "lake": f"{head} Lake",
        "mountain": f"{head} Hills",
        "park": f"{head}{rng.choice(IN_TAIL)} Wildlife Sanctuary",
        "island": f"{head} Island",
    }[kind]


NAMERS = {"en": _en, "es": _es, "pt": _pt, "fr": _fr, "de": _de, "it": _it, "sw": _sw, "km": _km, "lo": _lo, "in": _in}


# ---------------------------------------------------------------------------
# The gazetteer.
# ---------------------------------------------------------------------------


@dataclass
class Entry:
    name: str
    kind: str
    countries: tuple[str, ...]  # country codes
    admin1: str
    lat: float
    lon: float
    alts: tuple[str, ...] = ()
    near: tuple[str, ...] = ()
    id: str = ""

    @property
    def surfaces(self) -> tuple[str, ...]:
        return (self.name, *self.alts)


def _split_names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(";") if s.strip())


def _country_table() -> dict[str, tuple[str, float, float, tuple[str, ...]]]:
    table = {}
    for line in COUNTRIES.strip().splitlines():
        code, name, lat, lon, alts = (p.strip() for p in line.split("|"))
        table[code] = (name, float(lat), float(lon), _split_names(alts))
    return table


COUNTRY_TABLE = _country_table()
COUNTRY_NAMES = {**OTHER_COUNTRIES, **{code: row[0] for code, row in COUNTRY_TABLE.items()}}


def real_entries() -> list[Entry]:
    """The countries and the places of the PLACES table, in table order."""
    entries = [
        Entry(name, "country", (code,), "", lat, lon, alts) for code, (name, lat, lon, alts) in COUNTRY_TABLE.items()
    ]
    section = ""
    for line in PLACES.strip().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
            continue
        parts = [p.strip() for p in line.split("|")] + [""] * 2
        kind, name, admin1, lat, lon, alts, near = parts[:7]
        assert kind in KINDS, line
        countries = tuple(admin1.split()) if section == "shared" else (section,)
        admin1 = "" if section == "shared" else admin1
        entries.append(
            Entry(name, kind, countries, admin1, float(lat), float(lon), _split_names(alts), _split_names(near))
        )
    return entries


def made_up_entries(rng: random.Random, real: list[Entry], taken: set[str]) -> list[Entry]:
    """N_MADE_UP plausible small places near real towns; N_MADE_UP_TWINS of them reuse a made-up name."""
    anchors: dict[str, list[Entry]] = defaultdict(list)
    for e in real:
        if e.kind in ("city", "town") and len(e.countries) == 1 and e.countries[0] in STYLE:
            anchors[e.countries[0]].append(e)
    codes = sorted(anchors)
    kinds, weights = zip(*MADE_UP_KINDS.items(), strict=True)
    out: list[Entry] = []
    while len(out) < N_MADE_UP - N_MADE_UP_TWINS:
        cc = rng.choice(codes)
        kind = rng.choices(kinds, weights)[0]
        anchor = rng.choice([a for a in anchors[cc] if kind != "district" or a.kind == "city"] or anchors[cc])
        name = NAMERS[STYLE[cc]](rng, kind, cc, anchor.admin1)
        if name in taken or len(name) < 4:
            continue
        taken.add(name)
        jitter = 0.03 if kind == "district" else 0.35
        lat = round(anchor.lat + rng.uniform(-jitter, jitter), 2)
        lon = round(anchor.lon + rng.uniform(-jitter, jitter), 2)
        near = (anchor.name,) if kind in ("district", "river") else ()
        out.append(Entry(name, kind, (cc,), anchor.admin1, lat, lon, (), near))
    towns = [e for e in out if e.kind == "town" and STYLE[e.countries[0]] in ("en", "es")]
    for twin in rng.sample(towns, min(N_MADE_UP_TWINS, len(towns))):
        others = [c for c in codes if STYLE[c] == STYLE[twin.countries[0]] and c != twin.countries[0]]
        anchor = rng.choice(anchors[rng.choice(others)])
        lat = round(anchor.lat + rng.uniform(-0.35, 0.35), 2)
        lon = round(anchor.lon + rng.uniform(-0.35, 0.35), 2)
        out.append(Entry(twin.name, "town", anchor.countries, anchor.admin1, lat, lon))
    return out


def build_gazetteer(rng: random.Random) -> list[Entry]:
    real = real_entries()
    taken = {s for e in real for s in e.surfaces} | set(PERSON_TRAP_NAMES)
    entries = real + made_up_entries(rng, real, taken)
    order = {k: i for i, k in enumerate(KINDS)}
    entries.sort(key=lambda e: (country_field(e), e.admin1, order[e.kind], e.name, e.lat, e.lon))
    for i, e in enumerate(entries, 1):
        e.id = f"G{i:04d}"
    return entries


def country_field(e: Entry) -> str:
    return "|".join(COUNTRY_NAMES[c] for c in e.countries)


def render(e: Entry) -> str:
    """The entry as one line of text, the passage the embed and rerank steps see."""
    parts = [e.name, e.kind]
    if e.admin1:
        parts.append(e.admin1)
    if e.kind != "country":
        parts.append(" / ".join(COUNTRY_NAMES[c] for c in e.countries))
    text = ", ".join(parts)
    return f"{text} (alt: {', '.join(e.alts)})" if e.alts else text


def km_between(a: Entry, b: Entry) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


class World:
    """The gazetteer plus what the text builder needs: neighbours, regions, countries and the held-out names."""

    def __init__(self, entries: list[Entry], rng: random.Random) -> None:
        self.entries = entries
        self.by_id = {e.id: e for e in entries}
        self.by_surface: dict[str, list[Entry]] = defaultdict(list)
        for e in entries:
            for s in e.surfaces:
                self.by_surface[s].append(e)
        self.country_entry = {e.countries[0]: e for e in entries if e.kind == "country"}
        self.region_of: dict[int, Entry] = {}
        for e in entries:
            for r in entries:
                if (
                    r.kind in ("region", "island")
                    and r is not e
                    and r.name == e.admin1
                    and set(r.countries) & set(e.countries)
                ):
                    self.region_of[id(e)] = r
                    break
        self.neighbours = {id(e): self._neighbours(e) for e in entries}
        for e in entries:  # a river's towns have the river as a neighbour too
            for o in self.named(e):
                if e not in self.neighbours[id(o)] and e.name != o.name:
                    self.neighbours[id(o)].insert(0, e)
        self.held_out = self._hold_out(rng)
        self._held_re = word_pattern(self.held_out)

    def names_held_out(self, text: str) -> bool:
        return bool(self._held_re.search(text))

    def ambiguous(self, e: Entry) -> bool:
        return any(len(self.by_surface[s]) > 1 for s in e.surfaces)

    def _neighbours(self, e: Entry) -> list[Entry]:
        if e.kind == "country":
            members = [o for o in self.entries if o.countries == e.countries and o.kind in ("city", "town")]
            return sorted(members, key=lambda o: (o.kind != "city", o.name))
        if e.kind == "region":
            return [
                o
                for o in self.entries
                if o.admin1 == e.name and set(o.countries) & set(e.countries) and o.kind in SETTLEMENTS + FEATURES
            ]
        named = self.named(e)
        close = [
            o
            for o in self.entries
            if o is not e
            and o.kind in SETTLEMENTS + FEATURES
            and set(o.countries) & set(e.countries)
            and o not in named
            and km_between(e, o) <= (NEAR_KM if o.kind in SETTLEMENTS else NEAR_FEATURE_KM)
        ]
        close.sort(key=lambda o: km_between(e, o))
        return [o for o in named + close[:8] if o.name != e.name]

    def named(self, e: Entry) -> list[Entry]:
        """The places `e`'s `near` column names, resolved within its countries."""
        out = []
        for n in e.near:
            found = [
                o
                for o in self.by_surface.get(n, [])
                if set(o.countries) & set(e.countries) and o.kind not in ("country", "region")
            ]
            out += found[:1]
        return out

    def _hold_out(self, rng: random.Random) -> frozenset[str]:
        """Names that never appear as an entity in the training texts."""
        codes = sorted(self.country_entry)
        held_countries = set(rng.sample(codes, round(P_HELD_OUT_COUNTRY * len(codes))))
        self.held_countries = sorted(COUNTRY_NAMES[c] for c in held_countries)
        held: set[str] = set()
        for e in self.entries:
            entry_countries = [c for c in e.countries if c in self.country_entry]
            if (entry_countries and set(entry_countries) <= held_countries) or rng.random() < P_HELD_OUT_ENTRY:
                held.update(e.surfaces)
        return frozenset(held - set(PERSON_TRAP_NAMES))

    def usable(self, e: Entry, split: str) -> tuple[str, ...]:
        """The surfaces of `e` a text in `split` may use."""
        return e.surfaces if split == "test" else tuple(s for s in e.surfaces if s not in self.held_out)


# ---------------------------------------------------------------------------
# People and organisations. People are never entities; some carry a place name
# ("Florence Mwangi", "Dr. Paul Hamilton"). Organisations are ORG, place name or not.
# ---------------------------------------------------------------------------

FIRST_NAMES = "Amara Tomás Ingrid Kwame Mei Rahul Lucía Oksana Peter Nadia Samuel Yuki Fatima Diego Helen Joseph Anika Mateo Grace Ibrahim Sofia Liam Ana Kofi Marta Hiroshi Priya Emeka Chloe Rosa Ruth Daniel".split()
SURNAMES = "Okafor Lindqvist Mendes Alvarez Nguyen Whitfield Pike Sato Kowalski Haddad Mwangi Fernández Rossi Schmidt Dubois Banda Osei Tan Moreau Walsh Reyes Novak Achieng Karimi Silva O'Brien Kim Ortega".split()
TRAP_FIRST = "Florence Jordan Georgia Victoria Paris Austin Madison Chelsea Sydney Charlotte Savannah Regina Shannon Clyde Jasper Adelaide Chad Aurora India Santiago León Lincoln Orange".split()
TRAP_SURNAMES = "Hamilton Lincoln Jackson Hudson Darwin Durham Richmond Windsor London Córdoba Valencia Mendoza Toledo Lima Columbus Salem".split()
TRAP_FIRST.remove("Orange")
PERSON_TRAP_NAMES = frozenset(TRAP_FIRST + TRAP_SURNAMES)
P_TRAP_FIRST, P_TRAP_SURNAME = 0.45, 0.25
ROLES = [
    "a hydrologist at",
    "a spokesperson for",
    "an ecologist with",
    "the field coordinator for",
    "a researcher at",
    "head of operations at",
    "a volunteer with",
    "an engineer at",
]

# Real organisations: name | country code (blank: international) | type | takes "the"
# Types: res (research, universities, hospitals), gov (agencies, councils, NGOs), biz, club,
# intl (international bodies, only for slots that take any organisation).
REAL_ORGS = """
University of Cambridge | GB | res | y
Harvard University | US | res |
Georgia Institute of Technology | US | res | y
University of Georgia | US | res | y
University of Texas at Austin | US | res | y
Columbia University | US | res |
University of Victoria | CA | res | y
McMaster University | CA | res |
University of Waikato | NZ | res | y
Victoria University of Wellington | NZ | res |
Waikato Regional Council | NZ | gov |
Hamilton City Council | NZ | gov |
University of Western Australia | AU | res | y
Victoria Police | AU | gov |
Perth Mint | AU | biz | y
Mekong River Commission | KH | gov | y
Lake Victoria Basin Commission | KE | gov | y
Nile Basin Initiative | UG | gov | y
Jordan Valley Authority | JO | gov | y
Thames Water | GB | biz |
Environment Agency | GB | gov | y
Met Office | GB | gov | y
British Geological Survey | GB | res | y
US Geological Survey | US | res | y
Parks Canada | CA | gov |
South African National Parks | ZA | gov |
University of Cape Town | ZA | res | y
Kenya Wildlife Service | KE | gov | y
University of Nairobi | KE | res | y
Makerere University | UG | res |
Universidad de Chile | CL | res | y
Universidad de Costa Rica | CR | res | y
Universidad Nacional de Córdoba | AR | res | y
Universidad de Córdoba | ES | res | y
Santiago Wanderers | CL | club |
Paris Observatory | FR | res | y
Paris Saint-Germain | FR | club |
Orange | FR | biz |
Amazon | US | biz |
Institut Pasteur | FR | res | y
Tbilisi State University | GE | res |
University of Jordan | JO | res | y
World Health Organization | | intl | y
UNESCO | | intl |
WWF | | intl |
Food and Agriculture Organization | | intl | y
World Bank | | intl | y
Médecins Sans Frontières | | intl |
Wellcome Trust | | intl | y
Wildlife Conservation Society | | intl | y
"""

# Organisations named after a gazetteer entry: kind -> (pattern, type, takes "the").
ORG_PATTERNS = {
    "city": [
        ("University of {}", "res", True),
        ("{} City Council", "gov", False),
        ("{} General Hospital", "res", False),
        ("{} Water Board", "gov", True),
        ("{} Football Club", "club", False),
        ("{} Telecom", "biz", False),
    ],
    "town": [("{} Town Council", "gov", False), ("{} District Hospital", "res", False), ("{} Rovers", "club", False)],
    "district": [("{} Community Trust", "gov", True), ("{} Health Centre", "res", True)],
    "region": [
        ("University of {}", "res", True),
        ("{} Department of Health", "gov", True),
        ("{} Emergency Management Agency", "gov", True),
        ("{} Power", "biz", False),
    ],
    "country": [
        ("Geological Survey of {}", "res", True),
        ("National Museum of {}", "res", True),
        ("{} Red Cross", "gov", True),
        ("{} Meteorological Department", "gov", True),
    ],
    "river": [("{} Basin Authority", "gov", True), ("{} Fisheries Trust", "gov", True)],
    "lake": [("{} Basin Commission", "gov", True), ("{} Fisheries Cooperative", "gov", True)],
    "mountain": [("{} Rescue Team", "gov", True), ("{} Observatory", "res", True)],
    "park": [("Friends of {}", "gov", False), ("{} Research Station", "res", True)],
    "island": [("{} Conservation Society", "gov", True), ("{} Ferry Company", "biz", True)],
}


@dataclass(frozen=True)
class Org:
    name: str
    countries: tuple[str, ...]
    type: str
    the: bool


def _real_orgs() -> list[Org]:
    out = []
    for line in REAL_ORGS.strip().splitlines():
        name, code, kind, the = (p.strip() for p in (line + "|").split("|")[:4])
        out.append(Org(name, (code,) if code else (), kind, the == "y"))
    return out


ORGS = _real_orgs()

# ---------------------------------------------------------------------------
# Templates. `{P}` the document's main place, `{R}` its region (admin1), `{C}` its
# country, `{N}`/`{N2}` nearby towns (for a district, its city; for a region or a
# country, towns in it), `{F}` a nearby river, lake, mountain, park or island.
# `{ORG}` any organisation, `{ORGR}` research, `{ORGG}` agency, `{ORGB}` business,
# `{ORGC}` sports club; `{PER}` a person. `<<...>>` marks a phrase with a place name
# in it that is not a location ("West Nile virus"). Other slots are fillers.
# ---------------------------------------------------------------------------

OPENERS = {
    "settlement": [
        "Household surveys were conducted in {P}, {R}, between {MONTH} and {MONTH2} {YEAR}.",
        "We recruited {NUM} participants from three clinics in {P} and {N}, {C}.",
        "Air-quality monitors were installed at {NUM} sites across {P} ({C}) in {YEAR}.",
        "Groundwater from wells around {P}, {C}, exceeded the guideline value for {ANALYTE} in {NUM} of {NUM2} samples.",
        "The study area covers {P} and the surrounding districts of {R}.",
        "Records from {P} were compared with those from {N}, about {KM} km away.",
        "Street-level heat measurements in {P} ({R}, {C}) peaked at {TEMP} °C in {MONTH}.",
        "Day {DAYN}: arrived in {P} from {N} late in the afternoon; the road was mud after the rain.",
        "Stopped in {P} to resupply before driving on to {N}.",
        "{WEEKDAY}: spoke with farmers outside {P}, {R}, about the late rains.",
        "Left {P} at dawn and reached {N} by noon.",
        "Flooding closed roads between {P} and {N} on {WEEKDAY}, officials said.",
        "Residents of {P} in {R} were told to boil drinking water after a mains failure.",
        "A magnitude {MAG} earthquake was felt in {P}, {C}, early on {WEEKDAY}, with no damage reported.",
        "Power was restored to most homes in {P} by {WEEKDAY} evening.",
        "The council in {P}, {R}, approved plans for a new bus corridor to {N}.",
        "Heavy rain cut off several villages near {P}, {C}, on {WEEKDAY}.",
        "Wildfire warnings were issued for communities between {P} and {N} on {WEEKDAY}.",
        "Rents in {P}, {R}, rose {PCT}% last year, the fastest rise in {C}.",
        "Bird counts in gardens across {P} fell for a third year running.",
        "Our field site lies on the edge of {P}, {KM} km from {N}.",
        "Mosquito traps were set in {NUM} households in {P}, {R}, during the {SEASON} season.",
        "Bus drivers in {P} walked out on {WEEKDAY}, and services to {N} and {N2} were cancelled.",
        "Clinics in {P} near {F} reported {NUM} cases of {DISEASE} in {MONTH}.",
    ],
    "district": [
        "We interviewed {NUM} street vendors in {P}, a neighbourhood of {N}.",
        "Noise levels in {P} in central {N} exceeded {NUM} dB at night.",
        "Residents of the {P} district of {N} protested against a new tower block on {WEEKDAY}.",
        "The clinic in {P}, {N}, saw {NUM} cases of {DISEASE} in {MONTH}.",
        "Night-time temperatures in {P} ({N}) stayed above {TEMP2} °C for a week.",
    ],
    "river": [
        "Samples were collected along {P} near {N}, {C}, during the {SEASON} season.",
        "Water levels on {P} at {N} rose by {NUM} cm overnight.",
        "We measured dissolved oxygen at {NUM} stations on {P} between {N} and {N2}.",
        "Day {DAYN}: followed {P} upstream from {N}; the banks are badly eroded.",
        "Fish surveys on {P} in {C} recorded {NUM} species, {NUM3} of them introduced.",
        "Authorities warned that {P} could burst its banks near {N} by {WEEKDAY}.",
        "A chemical spill upstream of {N} has polluted a stretch of {P}, {ORGG} said.",
        "Sediment load in {P} has doubled since dams were built upstream of {N}.",
        "Rowing on {P} at {N} was suspended after heavy rain in {R}.",
        "Water samples from {P} below {N} showed high {ANALYTE} concentrations.",
        "Kayakers found {P} running high near {N}, {R}.",
    ],
    "lake": [
        "Sediment cores were taken from {P}, {C}, at water depths of up to {M} m.",
        "Fishers on {P} near {N} report smaller catches this year.",
        "Algal blooms on {P} forced the closure of beaches at {N} on {WEEKDAY}.",
        "We sampled zooplankton at {NUM} sites on {P} ({C}) in {MONTH} {YEAR}.",
        "Water levels in {P} fell to a {NUM}-year low, according to {ORGG}.",
        "Day {DAYN}: crossed {P} by boat from {N}; strong wind in the afternoon.",
        "Surface temperatures of {P} near {N} reached {TEMP2} °C in {MONTH}.",
    ],
    "mountain": [
        "Vegetation plots were laid out on the slopes of {P} above {N}.",
        "Climbers were evacuated from {P}, {C}, after a storm on {WEEKDAY}.",
        "Day {DAYN}: camp at {M} m on {P}; clear views toward {N}.",
        "Glacier and snowfield retreat on {P} in {R} has accelerated since {YEAR0}.",
        "Wildfires on the lower slopes of {P} forced evacuations in {N} on {WEEKDAY}.",
        "Weather stations on {P} ({C}) recorded {MM} mm of rain in {MONTH}.",
        "Bird surveys on {P} near {N} added {NUM} species to the regional list.",
    ],
    "island": [
        "Seabird colonies on {P}, {C}, were counted from boats in {MONTH}.",
        "Ferry services between {P} and {N} were suspended on {WEEKDAY} because of high winds.",
        "Invasive rats were removed from {P} in {YEAR0}, and ground-nesting birds have since returned.",
        "Coral cover around {P} ({C}) declined by {PCT}% after the bleaching event.",
        "Day {DAYN}: landed on {P} at low tide; {NUM} nests counted before noon.",
        "Water shortages on {P} in {R} have worsened this {SEASON} season.",
    ],
    "park": [
        "Camera traps in {P}, {C}, recorded {NUM} mammal species.",
        "Rangers in {P} near {N} reported {NUM} poaching incidents this year.",
        "Transects were walked in {P} ({R}) each morning for {NUM} days.",
        "Visitors to {P} were told to avoid trails above {N} after heavy rain.",
        "Day {DAYN}: entered {P} from the {DIR} gate near {N}.",
        "Fire crews contained a blaze in {P}, {C}, on {WEEKDAY}.",
    ],
    "region": [
        "Drought conditions persisted across {P} through {MONTH}, {ORGG} reported.",
        "The survey covered {NUM} villages in {P}, {C}.",
        "Vaccination coverage in {P} rose to {PCT}% last year, with the largest gains around {N}.",
        "Rainfall in {P} was {PCT}% below the long-term mean, and reservoirs near {N} are low.",
        "Crop yields in the north of {P} fell sharply after the {SEASON} rains failed.",
        "Health workers across {P}, {C}, reported a rise in {DISEASE} cases.",
        "Field teams travelled from {N} to districts across {P} to collect soil samples.",
    ],
    "country": [
        "Protests spread from {N} to other cities in {P} on {WEEKDAY}.",
        "Maize prices in {P} rose {PCT}% in {MONTH}, with the sharpest increase in {N}.",
        "The survey covered {NUM} households in {P}, most of them around {N}.",
        "Heavy rain has displaced thousands of people in {P}, officials in {N} said.",
        "We obtained hospital records from {N}, {P}, for the years {YEAR0} to {YEAR}.",
        "Inflation in {P} slowed to {PCT}% in {MONTH}, according to {ORGG}.",
    ],
}

FOLLOWUPS = [
    "{PER}, {ROLE} {ORGG}, said the readings were unusual for {MONTH}.",
    "The work was funded by {ORG}.",
    "Samples were analysed at {ORGR}.",
    "Further sampling is planned near {N2} next year.",
    "{PER} led the fieldwork, with help from local guides in {N}.",
    "Results will be shared with {ORGG}.",
    "Traffic was diverted through {N2}.",
    "No injuries were reported, according to {PER} of {ORGG}.",
    "Temperatures reached {TEMP} °C in {N2} on the same day.",
    "The nearest weather station is at {N}.",
    "Coordinates were logged with a handheld GPS.",
    "All samples were stored at -20 °C until analysis.",
    "Our team spent {NUM} days in the field.",
    "A second team worked near {F} at the same time.",
    "{PER} said conditions near {F} were the worst in {NUM} years.",
    "The project is a partnership between {ORGR} and {ORGG}.",
    "Volunteers from {N} helped clear debris.",
    "{ORGB} said service in {N} would be restored by {WEEKDAY}.",
    "{ORGC} postponed its home game on {WEEKDAY} because of the weather.",
    "Data are available on request from {PER} at {ORGR}.",
    "Interviews were carried out in {LANG} and translated by {PER}.",
    "{PER} from {ORGR} confirmed the identifications.",
    "The permit was issued by {ORGG} in {MONTH}.",
    "Photos: {PER}.",
]

# Follow-ups with a place name that is not a location.
TRAPS = [
    "<<Split>> samples were sent to {ORGR} for replicate analysis.",
    "<<Reading>> the logbook again, {PER} noticed a gap in the {MONTH} record.",
    "<<Mobile>> coverage was patchy around {N}.",
    "<<Orange>> tape marked the ends of each transect.",
    "The project supports national targets under the <<Paris Agreement>>.",
    "Several patients tested positive for <<West Nile virus>>.",
    "Blood samples were screened for <<Ebola virus>> antibodies.",
    "Two cases of <<Lassa fever>> were confirmed at {ORGR}.",
    "Serum samples were screened for <<Zika virus>> and dengue.",
    "The <<Marburg virus>> outbreak did not reach {N}.",
    "<<Ross River virus>> was detected in mosquitoes trapped near {N}.",
    "Aid convoys are protected under the <<Geneva Conventions>>, {PER} said.",
    "Yields of <<Brussels sprouts>> fell by {PCT}% after the frost.",
    "Depression was scored on the <<Hamilton>> rating scale.",
    "Population size was estimated with the <<Lincoln>>-Petersen method.",
    "Occurrence records follow the <<Darwin Core>> standard.",
    "<<Florence>> flasks were used for the distillation step.",
    "Casts of the tracks were made with plaster of <<Paris>>.",
    "Plots of <<Lima>> beans and maize were weeded by hand.",
    "<<Victoria>> amazonica lilies covered the backwater.",
]

# Follow-ups that name the main place again, by the kinds they fit.
REPEATS = [
    ("Two schools in {P} stayed closed on {WEEKDAY}.", ("city", "town", "district")),
    ("Compared with {N2}, {P} had fewer cases per head.", ("city", "town", "region")),
    ("Readings at {P} returned to normal by {WEEKDAY}.", ("city", "town", "lake")),
    ("Further downstream, {P} was still rising at {N2}.", ("river",)),
    ("Access to {P} was closed to visitors for {NUM} days.", ("park", "mountain", "island")),
    ("This is the {ORDINAL} such event recorded in {P} since {YEAR0}.", ("city", "town", "region", "country", "lake")),
    ("{PER} has worked in {P} for {NUM} years.", ("city", "town", "district", "region", "country", "park")),
]

FILLERS = {
    "NUM": lambda r: str(r.randint(3, 60)),
    "NUM2": lambda r: str(r.randint(61, 240)),
    "NUM3": lambda r: r.choice(["two", "three", "four", "five"]),
    "PCT": lambda r: str(r.randint(4, 78)),
    "M": lambda r: str(r.randint(4, 95) * 10),
    "MM": lambda r: str(r.randint(40, 620)),
    "TEMP": lambda r: str(r.randint(31, 46)),
    "TEMP2": lambda r: str(r.randint(18, 31)),
    "MAG": lambda r: f"{r.randint(38, 61) / 10:.1f}",
    "YEAR": lambda r: str(r.randint(2016, 2024)),
    "YEAR0": lambda r: str(r.randint(1990, 2012)),
    "MONTH": lambda r: r.choice(MONTHS),
    "MONTH2": lambda r: r.choice(MONTHS),
    "WEEKDAY": lambda r: r.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]),
    "DAYN": lambda r: str(r.randint(1, 40)),
    "SEASON": lambda r: r.choice(["dry", "wet", "rainy", "monsoon", "summer", "winter"]),
    "ANALYTE": lambda r: r.choice(["nitrate", "arsenic", "lead", "phosphate", "fluoride", "mercury", "manganese"]),
    "DISEASE": lambda r: r.choice(["dengue", "cholera", "malaria", "measles", "typhoid", "leptospirosis"]),
    "LANG": lambda r: r.choice(["Spanish", "Khmer", "Swahili", "Portuguese", "French", "Hindi", "Lao", "Georgian"]),
    "DIR": lambda r: r.choice(["north", "south", "east", "west"]),
    "ORDINAL": lambda r: r.choice(["second", "third", "fourth", "fifth"]),
    "ROLE": lambda r: r.choice(ROLES),
}
MONTHS = "January February March April May June July August September October November December".split()

# Surfaces that take "the" ("along the Mekong", "in the United States"); rivers always do.
THE_SURFACES = {
    "United States",
    "USA",
    "United States of America",
    "United Kingdom",
    "UK",
    "Dominican Republic",
    "Democratic Republic of the Congo",
    "Republic of the Congo",
    "DRC",
    "Blue Mountains",
    "Sierra Nevada",
    "Dead Sea",
    "Tonlé Sap",
    "Tonle Sap",
    "Algarve",
    "Mekong Delta",
    "Cairngorms",
    "Maasai Mara",
    "Masai Mara",
    "Serengeti",
    "Matterhorn",
    "Sinai",
    "Sinai Peninsula",
    "Niger Delta",
    "Atacama Desert",
    "Atacama",
    "Great Smoky Mountains",
    "Four Thousand Islands",
    "Grand Duchy of Luxembourg",
    "Canton of Geneva",
    "Province of Luxembourg",
    "Region of Murcia",
    "Valencian Community",
    "Santiago Metropolitan Region",
    "Wellington Region",
    "Waikato Region",
    "Lake District",
    "Seychelles",
}
THE_PREFIXES = ("Isle of ", "Canton of ", "Province of ", "Region of ")
THE_SUFFIXES = (" Hills", " Mountains", " Islands")

SLOT_RE = re.compile(r"\{([A-Z0-9]+)\}|<<(.+?)>>")
LOC_SLOTS = ("P", "R", "N", "N2", "F", "C")  # C last: a shared river's country follows its town
ORG_TYPES = {"ORGR": "res", "ORGG": "gov", "ORGB": "biz", "ORGC": "club"}
KIND_WEIGHT = {
    "city": 3.0,
    "town": 2.5,
    "district": 1.5,
    "river": 1.6,
    "lake": 1.0,
    "mountain": 1.0,
    "island": 0.9,
    "park": 1.0,
    "region": 1.0,
    "country": 0.6,
}
N_FOLLOWUPS = {0: 0.15, 1: 0.35, 2: 0.32, 3: 0.18}
P_TRAP_SENTENCE = 0.22  # a follow-up is a place name that is not a location
P_REPEAT = 0.2  # a follow-up names the main place again
P_REAL_ORG = 0.35  # an organisation slot takes a real organisation rather than one named after a nearby place
P_KEEP_CONTEXT_FREE = 0.15  # keep a sentence whose one place has a shared name and nothing else to tell which


@dataclass
class Seg:
    """A piece of text: plain, an entity (`label`, `link`), or a place name that is no location."""

    text: str
    label: str | None = None
    link: str | None = None
    not_a_place: bool = False


def needs_the(surface: str, e: Entry) -> bool:
    return (
        e.kind == "river"
        or surface in THE_SURFACES
        or surface.startswith(THE_PREFIXES)
        or surface.endswith(THE_SUFFIXES)
    )


def word_pattern(strings: set[str] | frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(s) for s in sorted(strings, key=lambda s: (-len(s), s)))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


class Scene:
    """One document being written: its main place, the places and organisations chosen so far."""

    def __init__(self, world: World, split: str, rng: random.Random, main: Entry, surface: str) -> None:
        self.world, self.split, self.rng, self.main = world, split, rng, main
        self.chosen: dict[str, Entry] = {"P": main}
        self.surface: dict[str, str] = {main.id: surface}
        self.orgs: set[str] = set()

    def _candidates(self, slot: str) -> list[Entry]:
        w, e = self.world, self.main
        if slot == "R":
            return [w.region_of[id(e)]] if id(e) in w.region_of else []
        if slot == "C":
            if e.kind == "country":
                return []
            near = self.chosen.get("N")
            codes = [c for c in e.countries if c in w.country_entry and (near is None or c in near.countries)]
            return [w.country_entry[c] for c in codes]
        kinds = FEATURES if slot == "F" else SETTLEMENTS
        if e.kind in ("district", "river", "lake") and slot != "F":
            named = [o for o in w.named(e) if o.kind in kinds]  # a district's city, the towns on a river
            if named:
                return named
        return [o for o in w.neighbours[id(e)] if o.kind in kinds]

    def _fits(self, cand: Entry) -> bool:
        if not self.world.usable(cand, self.split):
            return False
        taken = {s for o in self.chosen.values() for s in o.surfaces}
        return all(cand is not o for o in self.chosen.values()) and not taken & set(cand.surfaces)

    def assign(self, slots: list[str]) -> bool:
        """Choose places for the slots not filled yet; all or nothing."""
        picked: dict[str, Entry] = {}
        for slot in sorted(set(slots) - set(self.chosen), key=LOC_SLOTS.index):
            before = dict(self.chosen)
            self.chosen.update(picked)
            pool = [c for c in self._candidates(slot) if self._fits(c)]
            self.chosen = before
            if not pool:
                return False
            # nearer places first: weight the head of the neighbour list
            picked[slot] = self.rng.choices(pool, [1.0 / (1 + i) for i in range(len(pool))])[0]
        self.chosen.update(picked)
        return True

    def surface_of(self, e: Entry) -> str:
        if e.id not in self.surface:
            usable = self.world.usable(e, self.split)
            alts = [s for s in usable if s != e.name]
            if e.name in usable and (not alts or self.rng.random() > P_ALT_SURFACE):
                self.surface[e.id] = e.name
            else:
                self.surface[e.id] = self.rng.choice(alts)
        return self.surface[e.id]

    def place(self, slot: str, appositive: bool) -> list[Seg]:
        """The place in `slot`, with "the" where its name takes one (not after a comma: "Hamilton, United Kingdom")."""
        e = self.chosen[slot]
        s = self.surface_of(e)
        the = needs_the(s, e) and not (appositive and e.kind in ("country", "region"))
        return ([Seg("the ")] if the else []) + [Seg(s, "LOC", e.id)]

    def org(self, slot: str) -> list[Seg] | None:
        rng = self.rng
        want = ORG_TYPES.get(slot) or rng.choice(["res", "gov", "intl"])
        for _ in range(30):
            real = want == "intl" or rng.random() < P_REAL_ORG
            org = self._real_org(want) if real else self._named_org(want)
            if org and org.name not in self.orgs and (self.split == "test" or not self.world.names_held_out(org.name)):
                self.orgs.add(org.name)
                return ([Seg("the ")] if org.the else []) + [Seg(org.name, "ORG")]
        return None

    def _real_org(self, want: str) -> Org | None:
        """A real organisation: international, or one from the main place's country, preferably named after a place in the text."""
        pool = [o for o in ORGS if o.type == want and (want == "intl" or set(o.countries) & set(self.main.countries))]
        named = [
            o for o in pool if any(re.search(rf"(?<!\w){re.escape(s)}(?!\w)", o.name) for s in self.surface.values())
        ]
        if named and self.rng.random() < 0.6:
            pool = named  # "Hamilton" and the "Hamilton City Council" in one text
        return self.rng.choice(pool) if pool else None

    def _named_org(self, want: str) -> Org | None:
        w, e = self.world, self.main
        pool = [e, *w.neighbours[id(e)][:6]]
        pool += [w.region_of[id(e)]] if id(e) in w.region_of else []
        pool += [w.country_entry[c] for c in e.countries if c in w.country_entry]
        source = self.rng.choice(pool)
        patterns = [p for p in ORG_PATTERNS[source.kind] if p[1] == want]
        usable = w.usable(source, self.split)
        if not patterns or not usable:
            return None
        pattern, kind, the = self.rng.choice(patterns)
        surface = source.name if source.name in usable else self.surface.get(source.id, usable[0])
        if needs_the(surface, source) and "of {}" in pattern:
            surface = "the " + surface  # "Geological Survey of the United States"
        return Org(pattern.format(surface), source.countries, kind, the)

    def person(self) -> Seg:
        rng = self.rng
        first = rng.choice(TRAP_FIRST) if rng.random() < P_TRAP_FIRST else rng.choice(FIRST_NAMES)
        last = rng.choice(TRAP_SURNAMES) if rng.random() < P_TRAP_SURNAME else rng.choice(SURNAMES)
        if last == first:
            last = rng.choice(SURNAMES)
        title = rng.choices(["", "Dr. ", "Prof. "], [0.67, 0.25, 0.08])[0]
        return Seg(f"{title}{first} {last}", not_a_place=True)

    def fill(self, template: str) -> list[Seg] | None:
        """The template as segments, or None when this scene cannot fill one of its slots."""
        names = [m.group(1) for m in SLOT_RE.finditer(template) if m.group(1)]
        if not self.assign([n for n in names if n in LOC_SLOTS]):
            return None
        segs: list[Seg] = []
        last = 0
        for m in SLOT_RE.finditer(template):
            segs.append(Seg(template[last : m.start()]))
            last = m.end()
            name = m.group(1)
            if m.group(2):
                segs.append(Seg(m.group(2), not_a_place=True))
            elif name in LOC_SLOTS:
                segs += self.place(name, template[: m.start()].endswith((", ", "(")))
            elif name.startswith("ORG"):
                org = self.org(name)
                if org is None:
                    return None
                segs += org
            elif name == "PER":
                segs.append(self.person())
            elif name == "KM":
                km = km_between(self.main, self.chosen["N"])
                if km < 5:
                    return None
                segs.append(Seg(str(int(round(km, -1)) if km > 30 else round(km))))
            else:
                segs.append(Seg(FILLERS[name](self.rng)))
        segs.append(Seg(template[last:]))
        segs = [s for s in segs if s.text]
        if segs[0].label is None and not segs[0].not_a_place:
            segs[0].text = segs[0].text[0].upper() + segs[0].text[1:]
        return segs


def pick_main(world: World, split: str, rng: random.Random) -> tuple[Entry, str]:
    """The document's main place and the name it goes by."""
    entries = world.entries
    if split == "test" and rng.random() < P_TEST_HELD_OUT:
        pool = [e for e in entries if set(e.surfaces) & world.held_out]
        e = rng.choices(pool, [KIND_WEIGHT[x.kind] for x in pool])[0]
        held = [s for s in e.surfaces if s in world.held_out]
        return e, e.name if e.name in held and rng.random() > P_ALT_SURFACE else rng.choice(held)
    pool = [e for e in entries if world.usable(e, split)]
    if rng.random() < P_AMBIGUOUS_MAIN:
        pool = [e for e in pool if world.ambiguous(e)]
    e = rng.choices(pool, [KIND_WEIGHT[x.kind] for x in pool])[0]
    usable = world.usable(e, split)
    shared = [s for s in usable if len(world.by_surface[s]) > 1]
    if shared and rng.random() < P_AMBIGUOUS_MAIN:
        return e, rng.choice(shared)
    return e, e.name if e.name in usable and rng.random() > P_ALT_SURFACE else rng.choice(usable)


def context_free(segs: list[Seg], world: World, rng: random.Random) -> bool:
    """True (mostly) for a sentence whose only place has a name several places share: nothing in it to link by."""
    places = {(s.text, s.link) for s in segs if s.label == "LOC"}
    if len(places) != 1:
        return False
    ((surface, _),) = places
    return len(world.by_surface[surface]) > 1 and rng.random() > P_KEEP_CONTEXT_FREE


def opener_group(e: Entry) -> list[str]:
    if e.kind == "district":
        return OPENERS["district"] + OPENERS["settlement"][:8]
    return OPENERS["settlement" if e.kind in ("city", "town") else e.kind]


def write_doc(world: World, split: str, rng: random.Random) -> list[list[Seg]] | None:
    """The sentences of one document (segments), or None if this main place fits no template."""
    main, surface = pick_main(world, split, rng)
    scene = Scene(world, split, rng, main, surface)
    openers = opener_group(main)
    first = None
    for template in rng.sample(openers, len(openers)):
        first = scene.fill(template)
        if first and not context_free(first, world, rng):
            break
        first = None
    if first is None:
        return None
    sentences = [first]
    used: set[str] = set()
    want = rng.choices(list(N_FOLLOWUPS), list(N_FOLLOWUPS.values()))[0]
    repeats = [t for t, kinds in REPEATS if main.kind in kinds]
    for _ in range(20):
        if len(sentences) > want:
            break
        roll = rng.random()
        pool = (
            TRAPS if roll < P_TRAP_SENTENCE else repeats if roll < P_TRAP_SENTENCE + P_REPEAT and repeats else FOLLOWUPS
        )
        template = rng.choice(pool)
        if template in used or (pool is TRAPS and used & set(TRAPS)):
            continue  # at most one such sentence a document
        segs = scene.fill(template)
        if segs and not context_free(segs, world, rng):
            used.add(template)
            sentences.append(segs)
    return sentences


@dataclass
class Doc:
    text: str
    spans: list[dict[str, object]]
    links: list[str | None]
    sentences: list[tuple[int, int]]
    not_places: list[tuple[int, int]] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        return {"text": self.text, "spans": self.spans, "links": self.links}


def assemble(sentences: list[list[Seg]]) -> Doc:
    parts: list[str] = []
    doc = Doc("", [], [], [])
    pos = 0
    for k, segs in enumerate(sentences):
        if k:
            parts.append(" ")
            pos += 1
        start = pos
        for seg in segs:
            end = pos + len(seg.text)
            if seg.label:
                doc.spans.append({"start": pos, "end": end, "label": seg.label})
                doc.links.append(seg.link)
            elif seg.not_a_place:
                doc.not_places.append((pos, end))
            parts.append(seg.text)
            pos = end
        doc.sentences.append((start, pos))
    doc.text = "".join(parts)
    return doc


def write_docs(world: World, split: str, n: int, rng: random.Random, seen: set[str]) -> list[Doc]:
    docs: list[Doc] = []
    tries = 0
    while len(docs) < n:
        tries += 1
        if tries > 50 * n:
            raise RuntimeError(f"could not write {n} distinct {split} documents")
        sentences = write_doc(world, split, rng)
        if sentences is None:
            continue
        doc = assemble(sentences)
        key = " ".join(doc.text.split()).casefold()
        if not MIN_WORDS <= len(doc.text.split()) <= MAX_WORDS or key in seen:
            continue
        seen.add(key)
        docs.append(doc)
    return docs


# ---------------------------------------------------------------------------
# Linking and reranking rows, checks, output.
# ---------------------------------------------------------------------------

N_HARD_NEGATIVES, N_RANDOM_NEGATIVES = 3, 2


def linking_rows(docs: list[Doc], world: World) -> list[dict[str, str]]:
    """One row per distinct LOC mention in its sentence, with the gazetteer entry it links to."""
    rows = []
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        for span, link in zip(doc.spans, doc.links, strict=True):
            if span["label"] != "LOC":
                continue
            start, end = span["start"], span["end"]
            sentence = next(doc.text[a:b] for a, b in doc.sentences if a <= start and end <= b)
            entry = world.by_id[link]
            query = f"{doc.text[start:end]} | {sentence}"
            if (query, entry.id) not in seen:
                seen.add((query, entry.id))
                rows.append({"query": query, "positive": render(entry), "gazetteer_id": entry.id})
    return rows


def hard_negatives(mention: str, gold: Entry, world: World, rng: random.Random) -> list[Entry]:
    """Places called the same, then places whose names contain the mention (or the other way), then same kind and country."""
    same = [o for o in world.by_surface[mention] if o is not gold]
    word = re.compile(rf"(?<!\w){re.escape(mention)}(?!\w)")
    containing = [
        o
        for o in world.entries
        if o is not gold
        and o not in same
        and any(word.search(s) or re.search(rf"(?<!\w){re.escape(s)}(?!\w)", mention) for s in o.surfaces)
    ]
    similar = [o for o in world.entries if o is not gold and o.kind == gold.kind and o.countries == gold.countries]
    similar = rng.sample(similar, len(similar))
    out: list[Entry] = []
    for o in same + containing + similar:
        if o not in out:
            out.append(o)
    return out[:N_HARD_NEGATIVES]


def rerank_rows(rows: list[dict[str, str]], world: World, rng: random.Random) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    cache: dict[tuple[str, str], list[Entry]] = {}
    for row in rows:
        gold = world.by_id[row["gazetteer_id"]]
        mention = row["query"].split(" | ", 1)[0]
        if (mention, gold.id) not in cache:
            cache[mention, gold.id] = hard_negatives(mention, gold, world, rng)
        hard = cache[mention, gold.id]
        others = [
            e for e in rng.sample(world.entries, N_RANDOM_NEGATIVES + len(hard) + 1) if e is not gold and e not in hard
        ]
        out.append({"query": row["query"], "passage": row["positive"], "label": 1})
        for e in hard + others[:N_RANDOM_NEGATIVES]:
            out.append({"query": row["query"], "passage": render(e), "label": 0})
    return out


def check(docs: list[Doc], world: World, all_names: re.Pattern[str]) -> None:
    """Exact offsets, no overlaps, links that exist, and every place name outside a LOC span accounted for."""
    for doc in docs:
        assert len(doc.spans) == len(doc.links)
        last_end = 0
        for span, link in zip(doc.spans, doc.links, strict=True):
            start, end = span["start"], span["end"]
            assert last_end <= start < end <= len(doc.text), doc.text
            last_end = end
            surface = doc.text[start:end]
            assert surface == surface.strip() and surface, doc.text
            if span["label"] == "LOC":
                assert link in world.by_id and surface in world.by_id[link].surfaces, (surface, link)
            else:
                assert span["label"] == "ORG" and link is None
        covered = [(s["start"], s["end"]) for s in doc.spans] + doc.not_places
        for m in all_names.finditer(doc.text):
            inside = any(a <= m.start() and m.end() <= b for a, b in covered)
            assert inside, f"unlabelled place name {m.group()!r} in {doc.text!r}"


def entity_strings(docs: list[Doc]) -> set[str]:
    return {doc.text[s["start"] : s["end"]] for doc in docs for s in doc.spans}


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_gazetteer(path: Path, entries: list[Entry]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["id", "name", "kind", "country", "admin1", "lat", "lon", "alt_names"])
        for e in entries:
            out.writerow(
                [e.id, e.name, e.kind, country_field(e), e.admin1, f"{e.lat:.2f}", f"{e.lon:.2f}", "|".join(e.alts)]
            )


def generate(seed: int, out: Path) -> dict[str, object]:
    rng = random.Random(seed)
    entries = build_gazetteer(rng)
    world = World(entries, rng)
    seen: set[str] = set()
    train = write_docs(world, "train", N_TRAIN_DOCS, rng, seen)
    test = write_docs(world, "test", N_TEST_DOCS, rng, seen)
    all_names = word_pattern({s for e in entries for s in e.surfaces})
    check(train + test, world, all_names)
    train_strings = entity_strings(train)
    assert not train_strings & world.held_out, "a held-out name is an entity in train"
    link_train, link_test = linking_rows(train, world), linking_rows(test, world)
    rerank = rerank_rows(link_train, world, rng)

    out.mkdir(parents=True, exist_ok=True)
    write_gazetteer(out / "gazetteer.csv", entries)
    write_jsonl(out / "gazetteer_corpus.jsonl", [{"id": e.id, "text": render(e)} for e in entries])
    write_jsonl(out / "ner_train.jsonl", [d.row() for d in train])
    write_jsonl(out / "ner_test.jsonl", [d.row() for d in test])
    write_jsonl(out / "linking_train.jsonl", link_train)
    write_jsonl(out / "linking_test.jsonl", link_test)
    write_jsonl(out / "rerank_train.jsonl", rerank)
    info = stats(world, train, test, link_train, link_test, rerank)
    assert info["test_loc_held_out"] >= 0.4, "fewer than 40% of the test mentions are held-out names"
    return info


def stats(
    world: World,
    train: list[Doc],
    test: list[Doc],
    link_train: list[dict[str, str]],
    link_test: list[dict[str, str]],
    rerank: list[dict[str, object]],
) -> dict[str, object]:
    entries = world.entries
    train_strings = entity_strings(train)
    test_loc = [d.text[s["start"] : s["end"]] for d in test for s in d.spans if s["label"] == "LOC"]
    labels = {
        name: Counter(s["label"] for d in docs for s in d.spans) for name, docs in (("train", train), ("test", test))
    }
    ambiguous_ids = {e.id for e in entries if world.ambiguous(e)}
    return {
        "gazetteer": len(entries),
        "kinds": dict(Counter(e.kind for e in entries)),
        "ambiguous_names": sum(1 for s, es in world.by_surface.items() if len(es) > 1),
        "ner_train": len(train),
        "ner_test": len(test),
        "spans": {k: dict(v) for k, v in labels.items()},
        "test_loc_held_out": sum(1 for s in test_loc if s not in train_strings) / len(test_loc),
        "linking_train": len(link_train),
        "linking_test": len(link_test),
        "linking_test_ambiguous_mention": sum(
            1 for r in link_test if len(world.by_surface[r["query"].split(" | ")[0]]) > 1
        )
        / len(link_test),
        "linking_test_ambiguous_entry": sum(1 for r in link_test if r["gazetteer_id"] in ambiguous_ids)
        / len(link_test),
        "rerank_train": len(rerank),
        "held_out_countries": world.held_countries,
        "held_out_names": len(world.held_out),
        "words": (min(len(d.text.split()) for d in train + test), max(len(d.text.split()) for d in train + test)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=29, help="random seed (default 29)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent, help="output folder (default: this script's folder)"
    )
    args = parser.parse_args()
    info = generate(args.seed, args.out)
    print(
        f"wrote {args.out}/: gazetteer.csv ({info['gazetteer']} entries), ner_train.jsonl ({info['ner_train']}), ner_test.jsonl ({info['ner_test']}),"
    )
    print(
        f"  linking_train.jsonl ({info['linking_train']}), linking_test.jsonl ({info['linking_test']}), rerank_train.jsonl ({info['rerank_train']}), gazetteer_corpus.jsonl"
    )
    for key in (
        "kinds",
        "ambiguous_names",
        "spans",
        "test_loc_held_out",
        "linking_test_ambiguous_mention",
        "linking_test_ambiguous_entry",
        "words",
        "held_out_names",
        "held_out_countries",
    ):
        value = info[key]
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")


if __name__ == "__main__":
    main()
