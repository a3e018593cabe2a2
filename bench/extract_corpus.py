"""extract-corpus: 20 fields from each of 8 product descriptions through a real `hone serve` /v1/extract.

hone: one `python -m hone serve` process serving two extract runs on one base (LoRA on SmolLM2, trained for one
step: a throughput figure needs no better weights): one with `generate.decode: fanout` (one prefill of the
document, then one row per field), one with `object` (the whole object in one row). 8 client tasks send one
document per request (closed loop, httpx). The figure is documents/s. The comparison is the naive loop, in
this process, on the fan-out run's model in the same precision: one `model.generate` per field on the
document plus a question about that field (`extract_prefix.naive_loop`), on `naive_documents` documents per
repeat (a loop over documents one at a time: its rate does not depend on how many it is given; a document
takes about 35 s on 2 cores). 8 documents per timed run (one wave of 8 clients), not the 100 of a corpus pass:
on 2 cores a run of the whole object takes about a minute, and a figure is the median of 3 runs.

Every timed run sends documents no earlier run sent: a document seen before would be read from the prefix
cache. The notes say, per document, the server's decode steps (the decode batches its /metrics counted during
the run, divided by the documents) and how much of the prompt tokens came from the prefix cache (`usage`).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import COMPARISON, HONE, Case, Result, Settings, measure
from bench.data import product_documents
from bench.extract_prefix import FIELDS, naive_loop
from bench.serve_batch import Server, _load, _parameters

NAME = "extract-corpus"
CLIENTS = 8
# Fan-out decodes 20 rows per document: with 8 documents in flight, 160 rows. hone's default `max_batch` (16 rows
# per base model) would fan out one document at a time; both runs get the same server.
ADMIN = "bench-admin"  # /metrics is the operator's
SERVE = {"max_batch": 160, "batch_wait_ms": 5.0, "max_queue": 64, "admin_keys": [ADMIN]}


@dataclass(frozen=True)
class Sizes:
    documents: int  # per timed run of a hone case
    naive_documents: int  # per timed run of the naive loop
    fields: int
    value_tokens: int  # each value's budget (fan-out), the naive loop's max_new_tokens per field


FULL = Sizes(documents=8, naive_documents=1, fields=20, value_tokens=16)
SMOKE = Sizes(documents=4, naive_documents=1, fields=4, value_tokens=4)


def build(root: Path, smoke: bool, sizes: Sizes) -> dict[str, Path]:
    """The two runs (object, fanout), each trained one step on 16 documents of another seed."""
    import hone
    from bench import models

    fields = FIELDS[: sizes.fields]
    train = root / "train.jsonl"
    with train.open("w", encoding="utf-8") as f:
        for text, values in product_documents(16, seed=1):
            f.write(json.dumps({"text": text, "fields": {name: values[name] for name, *_ in fields}}) + "\n")
    spec = {
        name: {"type": kind, **({"values": allowed} if allowed else {}), **({"description": about} if about else {})}
        for name, kind, allowed, about in fields
    }
    runs = {}
    for decode in ("object", "fanout"):
        config = {
            "task": "extract",
            "name": f"attrs-{decode}",
            "runs_dir": str(root / "runs"),
            "data": {"train": str(train), "max_length": 1024, "fields": spec, "split": {"test": 0.25, "dev": 0.0}},
            "model": {"name": str(models.model_dir(smoke)), "method": "lora", "lora": {"r": 8, "alpha": 16}},
            "train": {"max_steps": 1, "batch_size": 2, "lr": 1e-4, "precision": "fp32", "patience": None},
            "generate": {"decode": decode, "max_new_tokens": sizes.value_tokens if decode == "fanout" else 320},
        }
        runs[decode] = hone.train(hone.load_config(config), progress=False).path
    return runs


class Bench:
    def __init__(self, settings: Settings, root: Path, threads: int) -> None:
        from hone.models.load import load_trained
        from hone.train.setup import autocast_for_inference

        self.sizes = SMOKE if settings.smoke else FULL
        self.runs = build(root, settings.smoke, self.sizes)
        self.server = Server(root, HONE, [self.runs["object"], self.runs["fanout"]], threads, settings=SERVE)
        self.server.wait_ready()
        loaded = load_trained(self.runs["fanout"] / "model")
        self.model, self.tokenizer = loaded.model.eval(), loaded.tokenizer
        self.autocast = autocast_for_inference()
        self.pool = product_documents(self.sizes.documents * (settings.repeats + 2) * 2 + 64, seed=2)
        self.used = 0
        self.right: dict[str, list[int]] = {"fanout": [0, 0], "object": [0, 0]}  # fields right, fields asked

    def close(self) -> None:
        self.server.stop()

    def fresh(self, n: int) -> list[tuple[str, dict[str, Any]]]:
        """`n` documents no run has sent yet."""
        out, self.used = self.pool[self.used : self.used + n], self.used + n
        if len(out) < n:
            raise RuntimeError("the benchmark ran out of fresh documents")
        return out

    def decode_steps(self) -> float:
        import httpx

        text = httpx.get(f"{self.server.url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30).text
        found = re.search(r'^hone_batch_size_count\{kind="decode"\} ([0-9.e+]+)$', text, re.M)
        return float(found.group(1)) if found else float("nan")

    def served(self, decode: str, warm: bool = False) -> dict[str, Any]:
        documents = self.fresh(CLIENTS if warm else self.sizes.documents)
        model = f"attrs-{decode}"
        bodies = [{"model": model, "input": text, "max_tokens": self.budget(decode)} for text, _ in documents]
        steps = self.decode_steps()
        results = asyncio.run(_load(self.server.url, "/v1/extract", bodies, CLIENTS))
        steps = self.decode_steps() - steps
        failed = [answer for _, answer in results if not isinstance(answer, dict)]
        if failed:
            raise RuntimeError(f"{len(failed)} extract requests ({decode}) failed: {failed[0][:500]}")
        answers = [answer for _, answer in results]
        usage = [answer["usage"] for answer in answers]
        prompt = sum(u["prompt_tokens"] for u in usage)
        cached = sum(u["prompt_tokens_details"]["cached_tokens"] for u in usage)
        data = [answer["data"][0] for answer in answers]
        if not warm:
            for (_, gold), d in zip(documents, data, strict=True):
                got = d["object"] or {}
                self.right[decode][0] += sum(got.get(name) == gold[name] for name, *_ in FIELDS[: self.sizes.fields])
                self.right[decode][1] += self.sizes.fields
        return {
            "documents": len(results),
            "valid_json": sum(d["valid"] for d in data),
            "decode_steps_per_document": steps / len(results),
            "rows_per_document": sum(u["rows"] for u in usage) / len(results),
            "prompt_tokens": prompt,
            "cached_tokens": cached,
            "cached_share": cached / max(prompt, 1),
            "generated_tokens": sum(u["completion_tokens"] for u in usage),
            "p50_ms": 1000 * statistics.median(seconds for seconds, _ in results),
        }

    def served_case(self, decode: str, label: str) -> Case:
        """hone's case for the `decode` run: documents/s through the server, warmed with one wave of clients."""
        return Case(
            decode,
            label,
            HONE,
            lambda: self.served(decode),
            per="documents",
            warm=lambda: self.served(decode, warm=True),
        )

    def budget(self, decode: str) -> int:
        """Fan-out: each value's budget. Object: the keys and punctuation plus every value's budget."""
        from hone.tasks.json_decode import JsonProgram

        if decode == "fanout":
            return self.sizes.value_tokens
        names = [name for name, *_ in FIELDS[: self.sizes.fields]]
        allowed = {name: values for name, _, values, _ in FIELDS[: self.sizes.fields]}
        program = JsonProgram(self.tokenizer, names, allowed)
        return program.forced_tokens + len(names) * self.sizes.value_tokens

    def naive(self) -> dict[str, Any]:
        fields = FIELDS[: self.sizes.fields]
        notes = [
            naive_loop(self.model, self.tokenizer, text, fields, self.sizes.value_tokens, self.autocast)
            for text, _ in self.fresh(self.sizes.naive_documents)
        ]
        return {
            "documents": len(notes),
            "prefills": sum(n["prefills"] for n in notes),
            "prompt_tokens": sum(n["prompt_tokens"] for n in notes),
            "generated_tokens": sum(n["generated_tokens"] for n in notes),
        }

    def accuracy(self) -> dict[str, float]:
        """The share of fields each mode got exactly right on the documents it was sent. The weights barely
        moved from the base model's: this says whether the two modes read alike, not how good a trained run is."""
        return {decode: right / max(asked, 1) for decode, (right, asked) in self.right.items()}


def run(settings: Settings) -> Result:
    import torch

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="hone-bench-corpus-") as folder:
        bench = Bench(settings, Path(folder), threads)
        try:
            n = bench.sizes.fields
            cases = [
                bench.served_case("fanout", f"hone serve, fan-out: {n} value rows per document, {CLIENTS} clients"),
                Case(
                    "naive",
                    f"naive loop: {n} generate calls per document, one document at a time",
                    COMPARISON,
                    bench.naive,
                    per="documents",
                ),
                bench.served_case("object", f"hone serve, whole object: 1 row per document, {CLIENTS} clients"),
            ]
            figures = measure(cases, settings)
        finally:
            bench.close()
        rates = {f.key: f.value for f in figures}
        checks = {
            "fanout_vs_object": rates["fanout"] / rates["object"],
            "fanout_vs_naive": rates["fanout"] / rates["naive"],
            "object_vs_naive": rates["object"] / rates["naive"],
            "fields_right": bench.accuracy(),
        }
        described = workload(bench, settings, threads)
    return Result(NAME, __doc__.splitlines()[0], described, figures, settings, checks)


def workload(bench: Bench, settings: Settings, threads: int) -> dict[str, Any]:
    from hone.models.resolve import resolve_model

    meta = json.loads((bench.runs["fanout"] / "model" / "hone.json").read_text(encoding="utf-8"))
    return {
        "model": {
            "name": "tiny random Llama (tests/tiny.py)" if settings.smoke else "SmolLM2-135M-Instruct + LoRA r 8",
            "parameters": _parameters(resolve_model(meta["base_model"])),
        },
        "server": {"settings": SERVE, "torch_threads": threads},
        "documents_per_run": bench.sizes.documents,
        "naive_documents_per_run": bench.sizes.naive_documents,
        "fields": bench.sizes.fields,
        "value_tokens": bench.sizes.value_tokens,
        "clients": CLIENTS,
        "documents": "bench.data.product_documents (seeded backpack listings, ~210 tokens each)",
        "precision": "the server's: bf16 autocast on CPUs with AMX, else fp32; the naive loop the same",
    }
