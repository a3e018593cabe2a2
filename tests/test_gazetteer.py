"""The dictionary baseline: longest non-overlapping matches of training entities, at word boundaries."""

from __future__ import annotations

from hone.baseline.gazetteer import Gazetteer
from hone.evaluate.ner_metrics import ner_score
from hone.tasks.ner_schema import NerExample, Span


def example(text: str, *entities: tuple[str, str]) -> NerExample:
    spans = tuple(Span(text.index(s), text.index(s) + len(s), label) for s, label in entities)
    return NerExample(text, spans, "train.jsonl", 1)


def fitted() -> Gazetteer:
    gazetteer = Gazetteer()
    gazetteer.fit(
        [
            example("I flew to New  York yesterday", ("New  York", "LOC")),
            example("New York City is big", ("New York City", "LOC")),
            example("New York Times reported", ("New York Times", "ORG")),
            example("Paris Hilton and Paris", ("Paris Hilton", "PER")),
            example("visit Paris now", ("Paris", "LOC")),
            example("Paris again", ("Paris", "LOC")),
            example("the Paris deal", ("Paris", "ORG")),
            example("Jordan spoke", ("Jordan", "PER")),
            example("Jordan spoke again", ("Jordan", "LOC")),
        ]
    )
    return gazetteer


def test_fit_builds_a_normalised_dictionary() -> None:
    gazetteer = fitted()
    assert gazetteer.name == "gazetteer"
    assert gazetteer.entries[("new", "york")] == "LOC"  # whitespace and case normalised
    assert gazetteer.entries[("paris",)] == "LOC"  # the most frequent label (2 LOC, 1 ORG)
    assert gazetteer.entries[("jordan",)] == "LOC"  # a tie goes to the alphabetically first
    assert gazetteer.lengths["new"] == [3, 2]  # candidate lengths by first word, longest first


def test_longest_match_left_to_right() -> None:
    text = "new york city and NEW YORK TIMES and new\tyork, paris hilton in paris"
    (spans,) = fitted().predict_spans([text])
    assert [(text[s.start : s.end], s.label) for s in spans] == [
        ("new york city", "LOC"),
        ("NEW YORK TIMES", "ORG"),
        ("new\tyork", "LOC"),
        ("paris hilton", "PER"),
        ("paris", "LOC"),
    ]


def test_matches_only_whole_words() -> None:
    (spans,) = fitted().predict_spans(["Parisian newyork jordans Paris."])
    assert spans == [Span(25, 30, "LOC")]


def test_no_match_and_empty_texts() -> None:
    assert fitted().predict_spans(["nothing to see", "", "new"]) == [[], [], []]
    assert Gazetteer().predict_spans(["Paris"]) == [[]]  # unfitted: knows nothing


def test_predict_interface_and_score() -> None:
    gazetteer = fitted()
    test = [example("We met in Paris and New York City", ("Paris", "LOC"), ("New York City", "LOC"))]
    spans, confidence = gazetteer.predict([ex.text for ex in test])
    assert confidence.tolist() == [1.0]
    assert ner_score(test, spans) == 1.0
