"""Export LoRA runs as a vLLM bundle: their shared base model serving each run's adapter, and a script to start it.

The contract: `export_vllm(runs, out)` writes `out/` only when `check_vllm_limits(runs)` finds nothing;
otherwise it raises ValueError listing every problem, and writes nothing. vLLM serves a run as it is
when its model is a plain PEFT LoRA adapter (no DoRA, no modules_to_save, no trained or added tokens,
one rank and alpha for every module, nothing in its weights but LoRA A/B matrices) of rank at most 512.
The runs must share one base model (the same folder once resolved) and one prompt rendering (vLLM has
one chat template per server), and their names (run directory names) must be unique and match `NAME`.

The bundle, built in a temporary folder beside `out` and renamed into place:

- `adapters/<name>/`: the run's adapter_config.json and adapter_model.safetensors (no pickle is copied);
- `chat_template.jinja`: the prompt rendering the runs were trained with, as Jinja: the tokenizer's chat
  template, or hone's own format-string templates (alpaca, plain, "...{prompt}...") rewritten, with
  the run's system prompt and BOS added where hone adds them, so vLLM feeds an adapter the same prompt
  tokens hone's inference feeds it (tested);
- `launch.sh`: `vllm serve` with every adapter (`--lora-modules name=path`), `--max-lora-rank` the
  smallest value vLLM accepts that holds the largest rank, prefix caching and the chat template. Paths
  are relative to the script; HONE_VLLM_HOST / HONE_VLLM_PORT set the address (0.0.0.0:8000); further
  arguments go on to `vllm serve`;
- `vllm.json`: the base, each adapter's rank, alpha and target modules, and the command as a list with
  paths relative to the bundle. `launch_command(bundle)` gives it with absolute paths, for
  `hone serve --backend vllm`.

Clients ask for an adapter by its name as the OpenAI `model`, and for the base by its served name.
hone answers greedily: a client sends temperature 0 to get the answers hone gives.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hone.export.chat_jinja import chat_template_jinja
from hone.export.staging import staged

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # an adapter name vLLM and URLs take as it is
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank accepts
DEFAULT_HOST, DEFAULT_PORT = "0.0.0.0", 8000
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
CHAT_TEMPLATE = "chat_template.jinja"
BUNDLE_FILES = ("adapters", CHAT_TEMPLATE, "launch.sh", "vllm.json")
LORA_TENSOR = re.compile(r"\.lora_[AB]\.weight$")
# Markers for what launch.sh leaves to bash: NUL cannot occur in a path, a name or an address.
_MARK = re.compile("\0(DIR|HOST|PORT)\0")
_SHELL = {"DIR": '"$DIR"', "HOST": '"$HOST"', "PORT": '"$PORT"'}


@dataclass(frozen=True)
class _Adapter:
    """A run vLLM can serve as a LoRA adapter, with what the bundle needs of it."""

    name: str
    run_dir: Path
    model_dir: Path
    meta: dict[str, Any]
    config: dict[str, Any]
    base: Path
    chat_template: str

    @property
    def rank(self) -> int:
        return int(self.config["r"])

    def describe(self) -> dict[str, Any]:
        targets = self.config.get("target_modules")
        return {
            "name": self.name,
            "run": str(self.run_dir.resolve()),
            "path": f"adapters/{self.name}",
            "task": self.meta.get("task"),
            "method": self.meta.get("method"),
            "rank": self.rank,
            "alpha": self.config.get("lora_alpha"),
            "use_rslora": bool(self.config.get("use_rslora")),
            "target_modules": sorted(targets) if isinstance(targets, list) else targets,
        }


def check_vllm_limits(run_dirs: Iterable[str | Path]) -> list[str]:
    """Every reason these runs cannot be served together as vLLM LoRA adapters; empty when they can."""
    return _plan([Path(r) for r in run_dirs])[1]


def export_vllm(run_dirs: Iterable[str | Path], out: str | Path, base_out: str | Path | None = None) -> dict[str, Any]:
    """Write the vLLM bundle of `run_dirs` to `out` (see the module docstring); returns vllm.json plus "path".

    `base_out`: also copy the base model's files (safetensors, config, tokenizer) there, inside `out`
    (e.g. out/base) or anywhere else, and serve the base from there: for a machine without hone's copy
    of the base. By default launch.sh serves the base from where hone found it. ValueError, with nothing
    written, when a check fails or `out` or `base_out` is a folder with files in it.
    """
    out = Path(out)
    base_out = None if base_out is None else Path(base_out)
    adapters, problems = _plan([Path(r) for r in run_dirs])
    problems += _target_problems(out, base_out, adapters[0].base if adapters else None)
    if problems:
        raise ValueError(f"cannot export a vLLM bundle; nothing was written to {out}:\n- " + "\n- ".join(problems))
    base = adapters[0].base
    spec = bundle_spec(adapters, _base_location(base, out, base_out))
    if base_out is not None and not _inside(base_out, out):
        with staged(base_out) as tmp:
            _copy_base(base, tmp)
    with staged(out) as tmp:
        if base_out is not None and _inside(base_out, out):
            _copy_base(base, tmp / spec["base"]["path"])
        _write_bundle(tmp, adapters, spec)
    return {**spec, "path": str(out)}


def launch_command(bundle_dir: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The `vllm serve` command of a bundle written by `export_vllm`, with absolute paths, to exec."""
    bundle = Path(bundle_dir).resolve()
    if not (bundle / "vllm.json").is_file():
        raise FileNotFoundError(
            f"{bundle} is not a vLLM bundle (no vllm.json); write one with `hone export RUN... --target vllm --out DIR`"
        )
    return _argv(json.loads((bundle / "vllm.json").read_text()), str(bundle), host, str(port))


def vllm_available() -> str | None:
    """None when vLLM can serve here (it imports and torch sees a CUDA GPU); otherwise why it cannot."""
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # a missing or broken install fails in many ways; its message is the reason
        return (
            f"vLLM cannot be imported ({type(exc).__name__}: {exc}); install it on a machine with an NVIDIA GPU "
            "(pip install vllm), or serve with `hone serve` and its default backend"
        )
    import torch

    if not torch.cuda.is_available():
        return (
            "vLLM needs an NVIDIA GPU and torch sees none here; serve with `hone serve` and its default backend, "
            "or copy the bundle of `hone export RUN... --target vllm` to a GPU machine and run its launch.sh"
        )
    return None


def max_lora_rank(ranks: Iterable[int]) -> int:
    """The smallest --max-lora-rank vLLM accepts that holds every rank; ValueError above the largest."""
    largest = max(ranks)
    for allowed in LORA_RANKS:
        if allowed >= largest:
            return allowed
    raise ValueError(f"rank {largest} is above the largest --max-lora-rank vLLM accepts ({LORA_RANKS[-1]})")


def bundle_spec(adapters: list[_Adapter], base_path: str) -> dict[str, Any]:
    """vllm.json: what the bundle serves, and the command that serves it (paths relative to the bundle)."""
    base_model = str(adapters[0].meta["base_model"])
    spec = {
        "format": 1,
        "base": {"name": base_model, "path": base_path, "served_model_name": _served_name(base_model)},
        "adapters": [adapter.describe() for adapter in adapters],
        "max_lora_rank": max_lora_rank(adapter.rank for adapter in adapters),
        "max_loras": len(adapters),
        "chat_template": CHAT_TEMPLATE,
        "host": DEFAULT_HOST,
        "port": DEFAULT_PORT,
    }
    return {**spec, "command": _argv(spec, "", DEFAULT_HOST, str(DEFAULT_PORT))}


# ---- checks ------------------------------------------------------------------------------------------


def _plan(paths: list[Path]) -> tuple[list[_Adapter], list[str]]:
    """The runs that vLLM can serve, and every problem found (the bundle is written only when there is none)."""
    if not paths:
        return [], ["no runs given: pass one or more trained run directories"]
    problems = _name_problems(paths)
    adapters = []
    for path in paths:
        adapter, found = _inspect(path)
        problems += found
        if adapter is not None:
            adapters.append(adapter)
    return adapters, problems + _shared_problems(adapters)


def _name(run_dir: Path) -> str:
    return run_dir.resolve().name


def _name_problems(paths: list[Path]) -> list[str]:
    names = [_name(path) for path in paths]
    problems = [
        f"{path}: the adapter name {name!r} (the run directory's name) must be 1 to 64 letters, digits, '.', '_' "
        "or '-', starting with a letter or digit; rename the run directory"
        for path, name in zip(paths, names, strict=True)
        if not NAME.fullmatch(name)
    ]
    return problems + [
        f"{count} of the runs are named {name!r}: adapter names (run directory names) must be unique; pass each run "
        "once and rename run directories that share a name"
        for name, count in Counter(names).items()
        if count > 1
    ]


def _inspect(path: Path) -> tuple[_Adapter | None, list[str]]:
    try:
        found = _read(path)
    except (ValueError, FileNotFoundError, PermissionError) as exc:  # no model, not causal, no base, no template
        found = [str(exc)]
    if isinstance(found, _Adapter):
        return found, []
    return None, [f"{_name(path)}: {problem}" for problem in found]


def _read(path: Path) -> _Adapter | list[str]:
    """The run as an adapter for the bundle, or why vLLM cannot serve it."""
    from hone.models.resolve import resolve_model
    from hone.tasks.chat import Template

    model_dir, meta = _adapter_dir(path)
    config = json.loads((model_dir / "adapter_config.json").read_text())
    problems = _lora_problems(config, meta, path) or _tensor_problems(model_dir, path)
    if problems:
        return problems
    base = resolve_model(str(meta["base_model"]))
    tokenizer = _tokenizer(model_dir)
    _check_vocabulary(tokenizer, base, path)
    template = chat_template_jinja(Template(str(meta.get("template") or "chat"), meta.get("system")), tokenizer)
    return _Adapter(_name(path), path, model_dir, meta, config, base, template)


def _adapter_dir(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The run's adapter folder and hone.json (`adapter_model_dir`), with vLLM's advice for a full fine-tune."""
    from hone.export.llm import adapter_model_dir
    from hone.tasks import TASKS

    try:
        return adapter_model_dir(run_dir)
    except ValueError:
        model_dir = run_dir / "model"
        meta = json.loads((model_dir / "hone.json").read_text())
        spec = TASKS.get(str(meta.get("task")))
        if spec is None or spec.task.peft_task_type != "CAUSAL_LM" or (model_dir / "adapter_config.json").exists():
            raise
        raise ValueError(
            f"its model holds full weights (model.method {meta.get('method')}), not a LoRA adapter that vLLM can put "
            f"on a shared base; serve it as its own model: `vllm serve {model_dir}`"
        ) from None


def _merged_advice(run_dir: Path) -> str:
    return (
        f"export it with `hone export {run_dir} --target merged --out DIR` and serve that as its own model "
        f"(`vllm serve DIR`), or retrain it as plain LoRA (model.method lora, model.lora.r at most {LORA_RANKS[-1]})"
    )


def _lora_problems(config: dict[str, Any], meta: dict[str, Any], run_dir: Path) -> list[str]:
    if config.get("peft_type") != "LORA":
        return [
            f"a {config.get('peft_type')} adapter (model.method {meta.get('method')}): vLLM serves LoRA adapters "
            "only, and learned virtual tokens can be neither served by it nor merged; retrain with model.method "
            "lora, or serve the run with `hone serve`"
        ]
    rank, saved = int(config.get("r") or 0), ", ".join(config.get("modules_to_save") or [])
    failed = {
        "a DoRA adapter (use_dora: true), which vLLM does not support": config.get("use_dora"),
        f"trains whole modules beside LoRA (modules_to_save: {saved}; a new head or embeddings)": saved,
        "trains token embeddings (trainable_token_indices)": config.get("trainable_token_indices"),
        "gives modules their own rank or alpha (rank_pattern, alpha_pattern), which vLLM ignores": (
            config.get("rank_pattern") or config.get("alpha_pattern")
        ),
        f"rank {rank} is above the largest --max-lora-rank vLLM accepts ({LORA_RANKS[-1]})": rank > LORA_RANKS[-1],
    }
    return [f"{why}: vLLM's LoRA cannot serve it; {_merged_advice(run_dir)}" for why, bad in failed.items() if bad]


def _tensor_problems(model_dir: Path, run_dir: Path) -> list[str]:
    """Whatever else the adapter's weights hold (biases, saved modules, magnitudes): vLLM loads A and B only."""
    from safetensors import safe_open

    with safe_open(str(model_dir / "adapter_model.safetensors"), framework="pt") as weights:
        extra = sorted(key for key in weights.keys() if not LORA_TENSOR.search(key))
    if not extra:
        return []
    return [
        f"adapter_model.safetensors holds {len(extra)} tensor(s) besides LoRA A/B matrices (e.g. {extra[0]}), which "
        f"vLLM's LoRA loader cannot use; {_merged_advice(run_dir)}"
    ]


def _tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    from hone.models.resolve import quiet_transformers

    quiet_transformers()
    return AutoTokenizer.from_pretrained(str(directory))


def _check_vocabulary(tokenizer: Any, base: Path, run_dir: Path) -> None:
    """vLLM tokenises with the base's tokenizer: tokens added in training would be unknown to it."""
    size, base_size = len(tokenizer), len(_tokenizer(base))
    if size > base_size:
        raise ValueError(
            f"its tokenizer has {size} tokens and the base model's {base_size}: tokens added in training are extra "
            f"vocabulary, which vLLM's LoRA cannot serve; {_merged_advice(run_dir)}"
        )


def _shared_problems(adapters: list[_Adapter]) -> list[str]:
    """What one vLLM server needs all its adapters to share: the base model and the chat template."""
    problems = _differing(
        adapters,
        lambda a: str(a.base),
        lambda a: str(a.base),
        "the runs are tuned on different base models",
        "one vLLM server serves the LoRA adapters of one base: export each base's runs as a bundle of its own",
    )
    problems += _differing(
        adapters,
        lambda a: a.chat_template,
        _prompting,
        "the runs render prompts differently",
        "one vLLM server has one chat template: export them as separate bundles, or train them with the same "
        "data.template and data.system",
    )
    served = _served_name(str(adapters[0].meta["base_model"])) if adapters else None
    return problems + [
        f"{a.name}: the adapter's name is the base model's served name; rename the run directory"
        for a in adapters
        if a.name == served
    ]


def _differing(
    adapters: list[_Adapter], key: Callable[[_Adapter], str], label: Callable[[_Adapter], str], what: str, fix: str
) -> list[str]:
    groups: dict[str, list[_Adapter]] = {}
    for adapter in adapters:
        groups.setdefault(key(adapter), []).append(adapter)
    if len(groups) < 2:
        return []
    parts = "; ".join(f"{', '.join(a.name for a in group)}: {label(group[0])}" for group in groups.values())
    return [f"{what} ({parts}); {fix}"]


def _prompting(adapter: _Adapter) -> str:
    system = adapter.meta.get("system")
    return f"template {adapter.meta.get('template') or 'chat'}" + (f", system {json.dumps(system)}" if system else "")


def _served_name(base_model: str) -> str:
    """The base model's name for clients: as configured (e.g. smollm2), or a local folder's own name."""
    path = Path(base_model).expanduser()
    return path.resolve().name if path.is_dir() else base_model


def _target_problems(out: Path, base_out: Path | None, base: Path | None) -> list[str]:
    problems = _folder_problems(out, "--out")
    if base_out is None:
        return problems
    problems += _folder_problems(base_out, "base_out")
    if _inside(base_out, out) and (base_out.resolve() == out.resolve() or _relative(base_out, out)[0] in BUNDLE_FILES):
        problems.append(f"base_out {base_out} is not a folder of its own inside the bundle; use e.g. {out / 'base'}")
    if base is not None and not any(base.glob("*.safetensors")):
        problems.append(
            f"the base model at {base} has no safetensors weights to copy to base_out (hone copies no pickle)"
        )
    return problems


def _folder_problems(path: Path, flag: str) -> list[str]:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        return [f"{flag} {path} exists and is not a folder; choose another path"]
    if path.is_dir() and any(path.iterdir()):
        return [f"{flag} {path} is a folder with files in it; export to a new or empty folder"]
    return []


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _relative(path: Path, folder: Path) -> tuple[str, ...]:
    return path.resolve().relative_to(folder.resolve()).parts


def _base_location(base: Path, out: Path, base_out: Path | None) -> str:
    """The base model's path in the command: hone's copy, or the copy at base_out (relative when in the bundle)."""
    if base_out is None:
        return str(base)
    if _inside(base_out, out):
        return "/".join(_relative(base_out, out))
    return str(base_out.resolve())


# ---- writing -----------------------------------------------------------------------------------------


def _argv(spec: dict[str, Any], root: str, host: str, port: str) -> list[str]:
    """`vllm serve` for a bundle at `root`: relative paths in `spec` are joined to it, absolute ones kept."""
    base, adapters = spec["base"], spec["adapters"]
    modules = [f"{adapter['name']}={os.path.join(root, adapter['path'])}" for adapter in adapters]
    limits = f"--max-lora-rank {spec['max_lora_rank']} --max-loras {spec['max_loras']} --enable-prefix-caching"
    return [
        *("vllm", "serve", os.path.join(root, base["path"]), "--enable-lora", "--lora-modules", *modules),
        *limits.split(),
        *("--chat-template", os.path.join(root, spec["chat_template"])),
        *("--served-model-name", base["served_model_name"], "--host", host, "--port", port),
    ]


def _write_bundle(folder: Path, adapters: list[_Adapter], spec: dict[str, Any]) -> None:
    for adapter in adapters:
        target = folder / "adapters" / adapter.name
        target.mkdir(parents=True)
        for name in ADAPTER_FILES:
            shutil.copyfile(adapter.model_dir / name, target / name)
    (folder / CHAT_TEMPLATE).write_text(adapters[0].chat_template, encoding="utf-8")
    (folder / "launch.sh").write_text(_launch_script(spec), encoding="utf-8")
    (folder / "launch.sh").chmod(0o755)
    (folder / "vllm.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")


def _launch_script(spec: dict[str, Any]) -> str:
    base, served = (json.dumps(spec["base"][key]) for key in ("name", "served_model_name"))
    names = ", ".join(adapter["name"] for adapter in spec["adapters"])
    command = _shell_command(_argv(spec, "\0DIR\0", "\0HOST\0", "\0PORT\0"))
    return f"""#!/usr/bin/env bash
# Serve {base} with {len(spec["adapters"])} LoRA adapter(s) on vLLM; written by `hone export --target vllm`.
# Clients name an adapter as the OpenAI `model`: {names}; the base alone is {served}.
# HONE_VLLM_HOST / HONE_VLLM_PORT set the address (default {DEFAULT_HOST}:{DEFAULT_PORT}).
# Arguments go on to `vllm serve`, e.g. ./launch.sh --max-model-len 4096
set -euo pipefail
DIR="$(cd "$(dirname "$0")" && pwd -P)"
HOST="${{HONE_VLLM_HOST:-{DEFAULT_HOST}}}"
PORT="${{HONE_VLLM_PORT:-{DEFAULT_PORT}}}"
exec {command} "$@"
"""


def _shell_command(argv: list[str]) -> str:
    """`argv` as bash words, one option and its values per line."""
    lines: list[list[str]] = []
    for arg in argv:
        if not lines or arg.startswith("--"):
            lines.append([])
        lines[-1].append(_shell_word(arg))
    return " \\\n  ".join(" ".join(line) for line in lines)


def _shell_word(arg: str) -> str:
    """`arg` quoted for bash, with the marked $DIR, $HOST and $PORT left for bash to expand."""
    parts = _MARK.split(arg)  # the split keeps the marked names at odd indices
    return "".join(_SHELL[part] if i % 2 else shlex.quote(part) for i, part in enumerate(parts) if part)


def _copy_base(base: Path, target: Path) -> None:
    """The base model's files (weights, config, tokenizer); never a pickle, and no subfolders."""
    from hone.models.resolve import is_pickle_name

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(base.iterdir()):
        if path.is_file() and not is_pickle_name(path):
            shutil.copy2(path, target / path.name)
