"""The chain API with stand-in steps: spans become queries with their sentence, links land on spans."""

from __future__ import annotations

from hone.pipelines import EntityLinker, Link, linking_accuracy, sentence_around
from hone.tasks.ner_schema import Span


def test_sentence_around_picks_the_sentence_of_the_span() -> None:
    text = "Rain fell in Perth. Roads near Cambridge, Ontario closed! Nothing else."
    start = text.index("Cambridge")
    assert sentence_around(text, start, start + len("Cambridge")) == "Roads near Cambridge, Ontario closed!"
    assert sentence_around(text, 13, 18) == "Rain fell in Perth."


def test_linker_builds_queries_and_places_links() -> None:
    texts = ["We met in Perth. Then Paris.", "No places here."]
    seen: list[list[str]] = []

    def find(batch):
        return [[Span(10, 15, "LOC"), Span(22, 27, "LOC"), Span(0, 2, "PER")], []]

    def rank(queries):
        seen.append(queries)
        return [["G1", "G2"] if q.startswith("Perth") else ["G9"] for q in queries]

    linker = EntityLinker(find, rank, lambda queries, cands: [c[0] for c in cands])
    links = linker.link(texts)
    assert seen == [["Perth | We met in Perth.", "Paris | Then Paris."]]
    assert links == [[Link(10, 15, "Perth", "LOC", "G1"), Link(22, 27, "Paris", "LOC", "G9")], []]
    gold = [[(10, 15, "G1"), (22, 27, "G8"), (0, 2, None)], []]
    assert linking_accuracy(links, gold) == 0.5
