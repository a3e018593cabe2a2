"""The length check of the retrieval tasks (embed, rerank): queries and passages measured apart, in tokens.

Passages are what gets cut: they are longer than queries, and a passage cut at `data.max_length` is searched
(or reranked) by its beginning only, silently. So the check counts the passages of the data and of the corpus
file that do not fit, and warns when a large share of them do (`LARGE_SHARE`), with what to do. The embed task
embeds each passage alone; the rerank task reads the query and the passage as one pair, where the passage gets
what the query leaves (`truncation="only_second"`), so its passages are measured against that room.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any

from hone.data import problems as P
from hone.data.lengths import length_stats, token_lengths
from hone.data.problems import Problem
from hone.tasks.embed_schema import read_corpus

LARGE_SHARE = 0.10  # passages cut before the check warns: a few long ones are normal, a tenth is lost text
MAX_MEASURED = 20_000  # passages tokenized at most (a seeded sample of a larger corpus): the share is what counts
SAMPLE_SEED = 0


def embed_token_check(
    examples: Sequence[Any], tokenizer: Any, data: Any
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Query and passage lengths; passages are embedded alone, so each has all `max_length` tokens."""
    passages = _passages([text for ex in examples for text in (ex.positive, *ex.negatives)], data)
    return _check([ex.query for ex in examples], passages, tokenizer, data.max_length, pair=False)


def rerank_token_check(
    examples: Sequence[Any], tokenizer: Any, data: Any
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Query and passage lengths; a passage shares `max_length` with its query (the median query is assumed)."""
    passages = _passages([ex.passage for ex in examples], data)
    return _check([ex.query for ex in examples], passages, tokenizer, data.max_length, pair=True)


def _passages(from_data: list[str], data: Any) -> tuple[list[str], int]:
    """The distinct passages of the data and the corpus file (at most `MAX_MEASURED`, sampled), and how many
    there are in all."""
    texts = list(dict.fromkeys(from_data))
    if data.corpus is not None:
        known = set(texts)
        texts += [doc.text for doc in read_corpus(data.corpus) if doc.text not in known]
    if len(texts) <= MAX_MEASURED:
        return texts, len(texts)
    return random.Random(SAMPLE_SEED).sample(texts, MAX_MEASURED), len(texts)


def _check(
    queries: list[str], passages: tuple[list[str], int], tokenizer: Any, max_length: int, pair: bool
) -> tuple[dict[str, Any] | None, list[Problem]]:
    query_lengths = token_lengths(list(dict.fromkeys(queries)), tokenizer)
    texts, total = passages
    if not query_lengths or not texts:
        return None, []
    passage_lengths = token_lengths(texts, tokenizer)
    room = max_length
    if pair:  # [CLS] query [SEP] passage [SEP]: the passage keeps what the query and the markers leave
        single = tokenizer.num_special_tokens_to_add(pair=False)
        query_room = statistics.median(query_lengths) - single
        room = int(max_length - query_room - tokenizer.num_special_tokens_to_add(pair=True) + single)
    stats = {
        "max_length": max_length,
        "queries": _side(query_lengths, max_length),
        "passages": {**_side(passage_lengths, room), "measured": len(texts), "distinct": total},
    }
    stats["summary"] = _summary(stats, pair)
    problems = _problems(stats, pair, getattr(tokenizer, "model_max_length", None))
    return stats, problems


def _side(lengths: list[int], room: int) -> dict[str, Any]:
    cut = sum(n > room for n in lengths)
    return {**length_stats(lengths), "room": room, "truncated": cut, "truncated_share": cut / len(lengths)}


def _summary(stats: dict[str, Any], pair: bool) -> list[str]:
    q, p = stats["queries"], stats["passages"]
    sampled = f", a sample of {p['measured']:,} of {p['distinct']:,}" if p["measured"] < p["distinct"] else ""
    room = f" (what a median query leaves of max_length {stats['max_length']})" if pair else ""
    return [
        f"query tokens: median {q['median']:g}, p95 {q['p95']}, max {q['max']}; {q['truncated']:,} "
        f"({q['truncated_share']:.1%}) longer than max_length {stats['max_length']}",
        f"passage tokens{sampled}: median {p['median']:g}, p95 {p['p95']}, max {p['max']}; {p['truncated']:,} "
        f"({p['truncated_share']:.1%}) cut at {p['room']}{room}",
    ]


def _problems(stats: dict[str, Any], pair: bool, model_max: int | None) -> list[Problem]:
    q, p, max_length = stats["queries"], stats["passages"], stats["max_length"]
    found = []
    if q["truncated"]:
        found.append(
            Problem(
                P.TRUNCATED,
                f"{q['truncated']:,} queries ({q['truncated_share']:.1%}) are longer than data.max_length="
                f"{max_length} tokens and will be cut (longest: {q['max']})",
                severity="warning",
            )
        )
    if p["truncated_share"] >= LARGE_SHARE:
        found.append(Problem(P.TRUNCATED, _passage_message(p, max_length, pair, model_max), severity="warning"))
    return found


def _passage_message(p: dict[str, Any], max_length: int, pair: bool, model_max: int | None) -> str:
    where = "beside its query " if pair else ""
    need = p["p95"] + (max_length - p["room"])  # the max_length at which 95% of passages fit
    limit = model_max if model_max is not None and model_max < 100_000 else None  # some tokenizers say 1e30
    raise_to = f"raise data.max_length to about {min(need, limit) if limit else need}"
    if limit is not None and need > limit:
        raise_to += f" (the model reads at most {limit} tokens)"
    return (
        f"{p['truncated_share']:.0%} of passages ({p['truncated']:,} of {p['measured']:,}) are longer than the "
        f"{p['room']} tokens a passage gets {where}at data.max_length={max_length}: only their beginning is "
        f"{'reranked' if pair else 'embedded'}, and an answer further in is never found (median passage "
        f"{p['median']:g} tokens, p95 {p['p95']}). {raise_to}, or split long passages into chunks of about "
        f"{max(p['room'] - 16, 16)} tokens in the corpus (one {{id, text}} line per chunk)"
    )
