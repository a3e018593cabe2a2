"""The locations chain end to end: NER finds place mentions, embed retrieves gazetteer entries,
rerank picks one. Prints the share of test mentions linked to the right gazetteer id for the
untuned chain (gazetteer-lookup NER + the base MiniLM embedder), the tuned NER + embed chain, and
the tuned chain with the reranker.

    hone train examples/locations/ner.yaml
    hone train examples/locations/embed.yaml
    hone train examples/locations/rerank.yaml
    python examples/locations/chain.py runs/locations-ner runs/locations-embed runs/locations-rerank
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def gold_links(path: Path) -> tuple[list[str], list[list[tuple[int, int, str | None]]]]:
    texts, gold = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts.append(row["text"])
        gold.append([(s["start"], s["end"], link) for s, link in zip(row["spans"], row["links"], strict=True)])
    return texts, gold


def untuned_chain(corpus: Path) -> object:
    """The cheaper alternative: exact lookup of training mentions, then the untuned embedder."""
    from hone.baseline.gazetteer import Gazetteer
    from hone.models.resolve import resolve_model
    from hone.pipelines import EntityLinker, _first
    from hone.tasks.embed import BaseEmbedder, EmbedTask
    from hone.tasks.embed_schema import read_corpus
    from hone.tasks.ner_schema import parse_ner_example

    rows = [json.loads(x) for x in (HERE / "ner_train.jsonl").read_text(encoding="utf-8").splitlines()]
    gazetteer = Gazetteer()
    gazetteer.fit([parse_ner_example(r, source="ner_train.jsonl", line=i + 1) for i, r in enumerate(rows)])
    base = BaseEmbedder(EmbedTask(max_length=96, corpus=read_corpus(corpus)), str(resolve_model("minilm")))
    return EntityLinker(lambda texts: gazetteer.predict_spans(texts), lambda q: base.predict(q)[0] if q else [], _first)


def main() -> None:
    from hone.pipelines import EntityLinker, linking_accuracy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ner_run")
    parser.add_argument("embed_run")
    parser.add_argument("rerank_run", nargs="?", help="optional: without it the embedder's first hit is taken")
    args = parser.parse_args()
    corpus = HERE / "gazetteer_corpus.jsonl"
    texts, gold = gold_links(HERE / "ner_test.jsonl")
    scores = {"untuned chain": linking_accuracy(untuned_chain(corpus).link(texts), gold)}  # type: ignore[attr-defined]
    two_steps = EntityLinker.from_runs(args.ner_run, args.embed_run, None, corpus)
    scores["ner + embed"] = linking_accuracy(two_steps.link(texts), gold)
    if args.rerank_run:
        three_steps = EntityLinker.from_runs(args.ner_run, args.embed_run, args.rerank_run, corpus)
        scores["ner + embed + rerank"] = linking_accuracy(three_steps.link(texts), gold)
    for name, value in scores.items():
        print(f"{name:>20}: {value:.3f} of test place mentions linked to the right gazetteer entry")


if __name__ == "__main__":
    main()
