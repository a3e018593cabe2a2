"""The models a server holds, by the name clients use: one copy of each causal base with every LoRA adapter
of that base on it, and each encoder run (classify, ner, embed, rerank) as its own small model.

Only safetensors are read, never pickle; `trust_remote_code` is never on; runtime adapter loads are
confined to the configured root (see `hone.serve.security.confine`) and every adapter is checked tensor by
tensor before it touches a shared base (`hone.serve.adapter_check`). A runtime load is checked first, off the
compute thread (`check_adapter_load`: a refusal costs only file reads), then applied on the scheduler's
thread between decode steps (`load_run`), so no forward pass ever sees a half-loaded adapter; after each load
and unload the engine re-stacks the adapters' LoRA weights for its batched forward (`hone.serve.multi_lora`).
Runs served from the command line are pinned: only runtime loads can be unloaded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from hone.serve.adapter_check import check_adapter
from hone.serve.cache import PrefixCache
from hone.serve.engine import CausalEngine
from hone.serve.errors import APIError

CAUSAL_TASKS = ("instruct", "extract", "preference", "pretrain")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")
ENCODER_KINDS = ("classify", "ner", "embed", "rerank")


@dataclass
class Served:
    """One name a request may put in `model`."""

    name: str
    kind: str  # "base", a causal task name, or an encoder task name
    task: Any
    tokenizer: Any
    engine: CausalEngine | None = None
    adapter: str | None = None  # the adapter's name on a shared base (None: the engine's model as is)
    model: nn.Module | None = None  # encoder runs
    path: Path | None = None
    base: str | None = None  # the base model this adapter sits on
    created: int = field(default_factory=lambda: int(time.time()))
    programs: dict[Any, Any] = field(default_factory=dict)  # extraction: compiled JSON programs per field set
    pinned: bool = True  # served from the command line: stays until the server stops

    @property
    def chat(self) -> bool:
        return self.engine is not None and (self.kind == "base" or hasattr(self.task, "chat_template"))


class KeptBaseline:
    """A kept baseline behind the interface the task routes call (`task.predict(model, tokenizer, texts, ...)`)."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor

    def predict(self, model: Any, tokenizer: Any, texts: list[str], batch_size: int, autocast: Any = None) -> Any:
        return self.predictor.predict(list(texts))


def default_name(model_dir: Path) -> str:
    """The name a model is served under by default: its run's (a kept baseline: the run's, plus -baseline)."""
    if model_dir.name == "model":
        return model_dir.parent.name
    if model_dir.name == "baseline-model":
        return f"{model_dir.parent.name}-baseline"
    return model_dir.name


def model_dir_of(path: Path) -> Path:
    """A run directory's model/ folder, or the folder itself when it already is one."""
    for candidate in (path / "model", path):
        if (candidate / "hone.json").is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no trained model here (expected model/hone.json); train the run first")


class ModelPool:
    def __init__(self, cache: PrefixCache | None, autocast: Any, batch_size: int = 32) -> None:
        self.cache, self.autocast, self.batch_size = cache, autocast, batch_size
        self.models: dict[str, Served] = {}
        self.engines: dict[str, CausalEngine] = {}  # key: the base model's directory
        self.loads = 0

    def cards(self) -> list[dict[str, Any]]:
        """Every served model as `/v1/models` lists it, with its task and whether it serves chat."""
        return [
            {
                "id": s.name,
                "object": "model",
                "created": s.created,
                "owned_by": "hone",
                "root": self.parent(s) or s.name,
                "parent": self.parent(s),
                "task": s.kind,
                "chat": s.chat,
                "generates": s.engine is not None,
                "pinned": s.pinned,
            }
            for s in self.models.values()
        ]

    def get(self, name: str) -> Served:
        served = self.models.get(name)
        if served is None:
            raise APIError(
                404,
                f"The model `{name}` does not exist; GET /v1/models lists the served models.",
                code="model_not_found",
                param="model",
            )
        return served

    def parent(self, served: Served) -> str | None:
        """The name of the base model an adapter is served on (None for a base, or a model of its own)."""
        if served.kind == "base" or served.engine is None:
            return None
        return next((s.name for s in self.models.values() if s.kind == "base" and s.engine is served.engine), None)

    # --- loading -----------------------------------------------------------------------------------

    def load_run(self, path: Path, name: str | None = None, pinned: bool = True) -> Served:
        """Serve a trained run under `name` (default: its directory's name); `pinned`: never unloaded."""
        from hone.tasks import task_from_description

        model_dir = model_dir_of(Path(path))
        name = name or default_name(model_dir)
        if name in self.models:
            raise APIError(
                409,
                f"a model named `{name}` is already served; unload it first or pick another name",
                code="model_exists",
                param="name",
            )
        _refuse_pickles(model_dir)
        meta = _meta(model_dir)
        if meta.get("kind") == "baseline":
            served = self._load_baseline(name, model_dir, str(meta.get("task")))
            served.pinned = pinned
            self.models[name] = served
            return served
        try:
            task = task_from_description(meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise APIError(400, f"hone.json does not describe a hone task ({exc})", code="bad_adapter") from None
        adapter = _adapter_config(model_dir)
        if task.name in CAUSAL_TASKS:
            served = self._load_causal(name, model_dir, meta, task, adapter)
        else:
            served = self._load_encoder(name, model_dir)
        served.pinned = pinned
        self.models[name] = served
        return served

    def _load_causal(self, name: str, model_dir: Path, meta: dict[str, Any], task: Any, adapter: dict | None) -> Served:
        from hone.models.resolve import resolve_model

        if adapter is not None and adapter.get("peft_type") != "LORA":
            raise APIError(
                400,
                f"{name}: {adapter.get('peft_type')} adapters are not served (only LoRA and DoRA); "
                "retrain with model.method lora",
                code="unsupported_adapter",
            )
        if adapter is None or adapter.get("use_dora"):  # full weights, or DoRA (PEFT cannot mix it per row)
            return self._own_engine(name, model_dir)
        base_dir = resolve_model(meta["base_model"])
        engine = self.engines.get(str(base_dir))
        # PEFT keys modules by adapter name: served names may hold dots, or be a substring of "lora_"
        # (which PEFT may re-initialise on load), so each load gets an internal name of its own.
        self.loads += 1
        internal = f"hone{self.loads}"
        if engine is None:
            engine = self._base_engine(base_dir, task, model_dir, adapter, internal)
        else:
            check_adapter(model_dir, adapter, engine.model.get_base_model())
            _load_adapter(engine.model, model_dir, internal)
            engine.adapters_changed()  # re-stack the batched LoRA weights now, not on the next request's step
        tokenizer = self._adapter_tokenizer(model_dir, base_dir)
        return Served(name, task.name, task, tokenizer, engine, adapter=internal, path=model_dir, base=str(base_dir))

    def _adapter_tokenizer(self, model_dir: Path, base_dir: Path) -> Any:
        """The adapter's own tokenizer (its chat template may differ), else its base's: a LoRA adapter that holds
        no tokenizer files adds no tokens (adapters that add tokens train embeddings, refused by `check_adapter`)."""
        if any((model_dir / f).is_file() for f in TOKENIZER_FILES):
            return _tokenizer(model_dir)
        base = next(s for s in self.models.values() if s.kind == "base" and s.path == base_dir)
        return base.tokenizer

    def _base_engine(
        self, base_dir: Path, task: Any, model_dir: Path, adapter: dict[str, Any], name: str
    ) -> CausalEngine:
        """The first adapter of a base: load the base once, serve it too under its own name."""
        from peft import PeftModel

        from hone.models.resolve import quiet_transformers
        from hone.tasks import causal

        quiet_transformers()
        base = task.build_model(str(base_dir))
        check_adapter(model_dir, adapter, base)
        model = PeftModel.from_pretrained(base, str(model_dir), adapter_name=name)
        tokenizer = _tokenizer(base_dir)
        engine = CausalEngine(model, causal.eos_ids(model, tokenizer), self.cache, self.autocast, mixed=True)
        self.engines[str(base_dir)] = engine
        base_name = base_dir.name if base_dir.name not in self.models else f"{base_dir.name}-base"
        self.models[base_name] = Served(base_name, "base", None, tokenizer, engine, path=base_dir, base=str(base_dir))
        return engine

    def _own_engine(self, name: str, model_dir: Path) -> Served:
        from hone.models.load import load_trained
        from hone.tasks import causal

        loaded = load_trained(model_dir)
        engine = CausalEngine(loaded.model, causal.eos_ids(loaded.model, loaded.tokenizer), self.cache, self.autocast)
        self.engines[f"own:{name}"] = engine
        return Served(name, loaded.task.name, loaded.task, loaded.tokenizer, engine, path=model_dir)

    def _load_encoder(self, name: str, model_dir: Path) -> Served:
        from hone.models.load import load_trained
        from hone.models.onnx_runtime import is_onnx_export, load_onnx

        # an ONNX export (`hone export --target onnx`) is served through ONNX Runtime
        loaded = load_onnx(model_dir) if is_onnx_export(model_dir) else load_trained(model_dir)
        return Served(name, loaded.task.name, loaded.task, loaded.tokenizer, model=loaded.model, path=model_dir)

    def check_adapter_load(self, root: Path, name: str, relative: str) -> Path:
        """The model folder of a LoRA adapter under `root` that may be loaded onto a base this server holds, or a
        4xx `APIError` (messages name paths relative to `root`, never the server's own). Reads files only."""
        from hone.models.resolve import resolve_model
        from hone.serve.security import check_name, confine

        check_name(name)
        if name in self.models:
            raise APIError(409, f"a model named `{name}` is already served; pick another name", "model_exists", "name")
        model_dir = model_dir_of_confined(confine(root, relative), root)
        _refuse_pickles(model_dir)
        meta = _meta(model_dir)
        try:
            base = str(resolve_model(str(meta.get("base_model"))))
        except FileNotFoundError:
            base = None
        if base not in self.engines or meta.get("task") not in CAUSAL_TASKS:
            raise APIError(
                400,
                "runtime loads take LoRA adapters of a base model this server already serves "
                f"({', '.join(s.name for s in self.models.values() if s.kind == 'base') or 'none'})",
                code="unsupported_adapter",
            )
        adapter = _adapter_config(model_dir)
        if adapter is None or adapter.get("use_dora") or adapter.get("peft_type") != "LORA":
            raise APIError(
                400, "runtime loads take LoRA adapters only (not full models or DoRA)", code="unsupported_adapter"
            )
        check_adapter(model_dir, adapter, self.engines[base].model.get_base_model())
        return model_dir

    def _load_baseline(self, name: str, model_dir: Path, task: str) -> Served:
        """A run's kept baseline (`hone.baseline.saved`), served on its task's route like a tuned encoder."""
        from hone.baseline import saved

        try:
            predictor = saved.load(model_dir)
        except (KeyError, TypeError, ValueError) as exc:
            raise APIError(400, f"the kept baseline cannot be loaded: {exc}", code="bad_adapter") from None
        return Served(name, task, KeptBaseline(predictor), None, model=predictor, path=model_dir)

    def load_adapter(self, model_dir: Path, name: str) -> Served:
        """Put an adapter `check_adapter_load` accepted onto its base (on the compute thread, between steps)."""
        return self.load_run(model_dir, name, pinned=False)

    def unload(self, name: str) -> None:
        """Stop serving an adapter (its base stays while other adapters or the base name use it)."""
        served = self.get(name)
        if served.kind == "base":
            raise APIError(400, f"`{name}` is a base model; unload its adapters instead", code="cannot_unload")
        if served.pinned:
            raise APIError(
                403,
                f"`{name}` was served from the command line; it stays until the server restarts (only adapters "
                "loaded through POST /v1/adapters can be unloaded)",
                code="cannot_unload",
            )
        del self.models[name]
        engine = served.engine
        if engine is None:
            return
        key = engine.cache_key(served.adapter)
        if served.base is None:
            self.engines.pop(f"own:{name}", None)
        if self.cache is not None:
            self.cache.drop_adapter(key)
        if served.base is not None and served.adapter is not None:
            # rows of this adapter already decoding finish first; PEFT forgets it once none is left
            engine.retire(served.adapter, lambda: self._forget(engine, served.adapter, key))

    def _forget(self, engine: CausalEngine, adapter: str, key: str) -> None:
        engine.model.delete_adapter(adapter)
        engine.adapters_changed()  # the stacks drop its weights (they hold a copy)
        if self.cache is not None:
            self.cache.drop_adapter(key)


def model_dir_of_confined(path: Path, root: Path) -> Path:
    """`model_dir_of` for a client-named path: every file it holds must resolve inside `root` too."""
    try:
        model_dir = model_dir_of(path)
    except FileNotFoundError:
        raise APIError(
            404,
            "no trained model at that path (expected a run directory with model/hone.json)",
            code="adapter_not_found",
            param="path",
        ) from None
    inside = root.resolve()
    if any(not p.resolve().is_relative_to(inside) for p in [model_dir, *model_dir.iterdir()]):
        raise APIError(
            403, "the adapter directory links outside the adapter root", code="path_outside_root", param="path"
        )
    return model_dir


def _meta(model_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads((model_dir / "hone.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise APIError(400, "hone.json is not valid JSON", code="bad_adapter") from None
    if not isinstance(meta, dict):
        raise APIError(400, "hone.json must hold a JSON object", code="bad_adapter")
    return meta


def _refuse_pickles(model_dir: Path) -> None:
    from hone.models.resolve import is_pickle_name

    found = sorted(p.name for p in model_dir.iterdir() if is_pickle_name(p))
    if found:
        raise APIError(
            400,
            f"the model folder holds pickle files {found}: refused by name (hone never unpickles a file); "
            "hone loads safetensors only",
            code="pickle_refused",
        )


def _tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)


def _adapter_config(model_dir: Path) -> dict[str, Any] | None:
    path = model_dir / "adapter_config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(
            400, f"{path.name} is not valid JSON ({exc}); re-export the adapter", code="bad_adapter"
        ) from None
    if not isinstance(config, dict):
        raise APIError(400, f"{path.name} must hold a JSON object", code="bad_adapter")
    if not (model_dir / "adapter_model.safetensors").is_file():
        raise APIError(
            400, "the adapter has no adapter_model.safetensors (hone loads safetensors only)", code="bad_adapter"
        )
    _check_safetensors(model_dir / "adapter_model.safetensors")
    return config


def _check_safetensors(path: Path) -> None:
    """Read the header only: a truncated or garbled file is a client error, not a crash mid-load."""
    from hone.models.load import check_safetensors

    try:
        check_safetensors(path)
    except ValueError:  # its message names server paths, which a client is not told
        raise APIError(400, f"{path.name} is not a readable safetensors file", code="bad_adapter") from None


def _load_adapter(model: Any, model_dir: Path, name: str) -> None:
    try:
        model.load_adapter(str(model_dir), adapter_name=name)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        if name in getattr(model, "peft_config", {}):
            model.delete_adapter(name)
        why = str(exc).replace(str(model_dir), model_dir.name)  # the server's paths are not the client's business
        raise APIError(400, f"the adapter does not fit the served base model: {why}", code="bad_adapter") from None
