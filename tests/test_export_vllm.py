"""The vLLM bundle: LoRA runs on one base served by one vLLM server, or refused with every reason, nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import serving
from hone.api import export_vllm
from hone.cli import app
from hone.export.chat_jinja import chat_template_jinja
from hone.export.vllm import (
    ADAPTER_FILES,
    check_vllm_limits,
    launch_command,
    max_lora_rank,
    vllm_available,
)
from hone.tasks.chat import Template, prompt_ids
from tiny import CHATML, write_tiny_causal


def _run(root: Path, model: Path, name: str, method: str = "lora", r: int = 4) -> Path:
    """A tiny instruct run trained for two steps: an adapter of rank `r` (alpha 2r) in runs/<name>."""
    return serving.chat_run(root, model, name, seed=0, steps=2, method=method, r=r)


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_causal: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vllm-runs")
    return {"small": _run(root, tiny_causal, "small", r=4), "big": _run(root, tiny_causal, "big", r=16)}


@pytest.fixture(scope="module")
def unservable(tmp_path_factory: pytest.TempPathFactory, tiny_causal: Path) -> dict[str, Path]:
    """Runs vLLM cannot serve as LoRA adapters, and a LoRA run on another base."""
    root = tmp_path_factory.mktemp("vllm-unservable")
    other_base = write_tiny_causal(tmp_path_factory.mktemp("other-base"), seed=1)
    return {
        "dora": _run(root, tiny_causal, "dora-run", "dora"),
        "prompt_tuning": _run(root, tiny_causal, "prompt-run", "prompt_tuning"),
        "full": _run(root, tiny_causal, "full-run", "full"),
        "other base": _run(root, other_base, "other-base-run"),
    }


def _after(command: list[str], flag: str, count: int = 1) -> list[str]:
    start = command.index(flag) + 1
    return command[start : start + count]


def test_bundle_serves_both_adapters_on_their_base(runs: dict[str, Path], tiny_causal: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = export_vllm([runs["small"], runs["big"]], out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    adapters = [f"adapters/{name}/{file}" for name in ("big", "small") for file in ADAPTER_FILES]
    assert files == [*adapters, "chat_template.jinja", "launch.sh", "vllm.json"]  # safetensors, never a pickle
    for name, run in runs.items():
        for file in ADAPTER_FILES:
            assert (out / "adapters" / name / file).read_bytes() == (run / "model" / file).read_bytes()
    spec = json.loads((out / "vllm.json").read_text())
    assert spec == {key: value for key, value in result.items() if key != "path"} and result["path"] == str(out)
    base = str(tiny_causal.resolve())
    assert spec["base"] == {"name": str(tiny_causal), "path": base, "served_model_name": tiny_causal.name}
    assert [(a["name"], a["rank"], a["alpha"], a["task"]) for a in spec["adapters"]] == [
        ("small", 4, 8, "instruct"),
        ("big", 16, 32, "instruct"),
    ]
    assert "model.layers.0.self_attn.q_proj" in spec["adapters"][0]["target_modules"]
    assert (spec["max_lora_rank"], spec["max_loras"]) == (16, 2)
    command = spec["command"]
    assert command[:4] == ["vllm", "serve", base, "--enable-lora"] and "--enable-prefix-caching" in command
    assert _after(command, "--lora-modules", 2) == ["small=adapters/small", "big=adapters/big"]
    assert _after(command, "--max-lora-rank") == ["16"] and _after(command, "--max-loras") == ["2"]
    assert _after(command, "--chat-template") == ["chat_template.jinja"]
    assert _after(command, "--served-model-name") == [tiny_causal.name]
    assert _after(command, "--host") == ["0.0.0.0"] and _after(command, "--port") == ["8000"]
    assert (out / "chat_template.jinja").read_text() == CHATML  # the tokenizer's, as the runs were trained with
    script = (out / "launch.sh").read_text()
    assert script.startswith("#!/usr/bin/env bash\n") and os.access(out / "launch.sh", os.X_OK)
    assert 'DIR="$(cd "$(dirname "$0")" && pwd -P)"' in script
    assert f"exec vllm serve {base} \\" in script
    assert '--lora-modules small="$DIR"/adapters/small big="$DIR"/adapters/big \\' in script
    assert '--chat-template "$DIR"/chat_template.jinja' in script and '--port "$PORT" "$@"' in script
    for line in ("--enable-lora", "--max-lora-rank 16", "--max-loras 2", "--enable-prefix-caching"):
        assert f"  {line} \\\n" in script
    assert subprocess.run(["bash", "-n", str(out / "launch.sh")]).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # the staging folder was renamed into place


def test_launch_sh_runs_the_command_launch_command_gives(runs: dict[str, Path], tmp_path: Path) -> None:
    export_vllm([runs["small"], runs["big"]], tmp_path / "bundle")
    moved = tmp_path / "moved here"  # the bundle works from anywhere, a space in its path included
    os.rename(tmp_path / "bundle", moved)
    bin_dir, args = tmp_path / "bin", tmp_path / "args.txt"
    bin_dir.mkdir()
    (bin_dir / "vllm").write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$VLLM_ARGS"\n')
    (bin_dir / "vllm").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "VLLM_ARGS": str(args), "HONE_VLLM_PORT": "9000"}
    subprocess.run([str(moved / "launch.sh"), "--max-model-len", "512"], env=env, check=True)
    command = launch_command(moved, port=9000)
    assert ["vllm", *args.read_text().splitlines()] == [*command, "--max-model-len", "512"]
    modules = _after(command, "--lora-modules", 2)
    assert modules == [f"small={moved.resolve()}/adapters/small", f"big={moved.resolve()}/adapters/big"]
    assert all(Path(module.split("=", 1)[1], "adapter_model.safetensors").is_file() for module in modules)
    assert Path(_after(command, "--chat-template")[0]).is_file() and _after(command, "--host") == ["0.0.0.0"]
    with pytest.raises(FileNotFoundError, match="not a vLLM bundle"):
        launch_command(tmp_path)


@pytest.mark.parametrize(
    ("ranks", "expected"), [([1], 1), ([2], 8), ([8, 4], 8), ([9], 16), ([300], 320), ([512], 512)]
)
def test_max_lora_rank_is_the_smallest_value_vllm_accepts(ranks: list[int], expected: int) -> None:
    assert max_lora_rank(ranks) == expected


def test_a_rank_above_512_is_refused() -> None:
    with pytest.raises(ValueError, match="above the largest --max-lora-rank"):
        max_lora_rank([513])


CONVERSATIONS = [
    [{"role": "user", "content": "say cat"}],
    [{"role": "system", "content": "Answer twice."}, {"role": "user", "content": "say dog"}],
    [
        {"role": "user", "content": "say sun"},
        {"role": "assistant", "content": "sun sun"},
        {"role": "user", "content": "say moon"},
    ],
]
ODD_SYSTEM = 'Be {{ brief }} %} {prompt} "x" \\ 😀\n{# not a comment'


@pytest.mark.parametrize("spec", ["chat", "alpaca", "plain", "Q: {prompt}\nA ({system}):"])
@pytest.mark.parametrize("system", [None, ODD_SYSTEM])
@pytest.mark.parametrize("bos", [False, True])
def test_chat_template_renders_the_prompt_tokens_hone_renders(
    tiny_causal: Path, spec: str, system: str | None, bos: bool
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_causal))
    tokenizer.add_bos_token = bos  # hone's tokenisation then puts BOS first; vLLM adds none to a chat prompt
    template = Template(spec, system)
    jinja = chat_template_jinja(template, tokenizer)
    for messages in CONVERSATIONS:
        rendered = tokenizer.apply_chat_template(
            messages, chat_template=jinja, tokenize=False, add_generation_prompt=True
        )
        assert rendered == (tokenizer.bos_token if bos else "") + template.prompt(messages, tokenizer)
        ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        assert ids == prompt_ids(messages, tokenizer, template, 1 << 30)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("dora", r"a DoRA adapter \(use_dora: true\), which vLLM does not support: .*--target merged"),
        ("prompt_tuning", r"a PROMPT_TUNING adapter \(model.method prompt_tuning\): vLLM serves LoRA adapters only"),
        ("full", r"holds full weights \(model.method full\), not a LoRA adapter.*`vllm serve "),
        ("other base", r"the runs are tuned on different base models \(small: .*; other-base-run: "),
    ],
)
def test_runs_vllm_cannot_serve_are_refused_and_nothing_is_written(
    runs: dict[str, Path], unservable: dict[str, Path], tmp_path: Path, kind: str, expected: str
) -> None:
    pair = [runs["small"], unservable[kind]]
    problems = check_vllm_limits(pair)
    assert len(problems) == 1, problems
    if kind != "other base":
        assert problems[0].startswith(f"{unservable[kind].name}: ")
    with pytest.raises(ValueError, match=expected):
        export_vllm(pair, tmp_path / "bundle")
    assert list(tmp_path.iterdir()) == []


def _edit_config(model: Path, **changes: object) -> None:
    config = json.loads((model / "adapter_config.json").read_text())
    (model / "adapter_config.json").write_text(json.dumps({**config, **changes}))


def _add_tensor(model: Path) -> None:
    weights = load_file(str(model / "adapter_model.safetensors"))
    weights["base_model.model.lm_head.weight"] = torch.zeros(4, 4)
    save_file(weights, str(model / "adapter_model.safetensors"))


def _add_token(model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    tokenizer.add_tokens(["<|new|>"])
    tokenizer.save_pretrained(str(model))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: _edit_config(m, modules_to_save=["lm_head"]), r"modules_to_save: lm_head"),
        (lambda m: _edit_config(m, r=1024), r"rank 1024 is above the largest --max-lora-rank vLLM accepts \(512\)"),
        (lambda m: _edit_config(m, rank_pattern={"q_proj": 8}), r"own rank or alpha \(rank_pattern, alpha_pattern\)"),
        (_add_tensor, r"holds 1 tensor\(s\) besides LoRA A/B matrices \(e.g. base_model.model.lm_head.weight\)"),
        (_add_token, r"tokenizer has \d+ tokens and the base model's \d+: .*extra vocabulary"),
    ],
)
def test_lora_adapters_vllm_cannot_load_are_refused(
    runs: dict[str, Path], tmp_path: Path, edit: Callable[[Path], None], expected: str
) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(runs["small"], edited)
    edit(edited / "model")
    with pytest.raises(ValueError, match=f"edited: .*{expected}.*`hone export {edited} --target merged"):
        export_vllm([edited], tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_every_problem_is_listed_at_once(runs: dict[str, Path], unservable: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / "has space"
    shutil.copytree(runs["small"], odd)
    with pytest.raises(ValueError) as refused:
        export_vllm([runs["small"], runs["small"], odd, unservable["dora"]], tmp_path / "bundle")
    message = str(refused.value)
    assert "nothing was written" in message
    assert "adapter name 'has space' (the run directory's name) must be" in message
    assert "2 of the runs are named 'small': adapter names (run directory names) must be unique" in message
    assert "dora-run: a DoRA adapter" in message
    assert not (tmp_path / "bundle").exists()
    assert check_vllm_limits([]) == ["no runs given: pass one or more trained run directories"]


def test_a_folder_with_files_is_never_overwritten(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="is a folder with files in it; export to a new or empty folder"):
        export_vllm([runs["small"]], out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_vllm(runs["small"], empty)["adapters"][0]["name"] == "small"  # an empty folder is fine
    with pytest.raises(ValueError, match="is a folder with files in it"):
        export_vllm([runs["small"]], empty)  # and a finished bundle is not replaced


def test_base_out_copies_the_base_into_the_bundle(runs: dict[str, Path], tiny_causal: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    spec = export_vllm([runs["small"]], out, base_out=out / "base")
    assert spec["base"]["path"] == "base" and spec["command"][2] == "base"
    assert (out / "base" / "model.safetensors").read_bytes() == (tiny_causal / "model.safetensors").read_bytes()
    assert {"config.json", "tokenizer.json"} <= {p.name for p in (out / "base").iterdir()}
    assert 'exec vllm serve "$DIR"/base \\' in (out / "launch.sh").read_text()
    assert launch_command(out)[2] == str(out.resolve() / "base")
    elsewhere = export_vllm([runs["small"]], tmp_path / "b2", base_out=tmp_path / "shared-base")
    assert elsewhere["base"]["path"] == str((tmp_path / "shared-base").resolve())
    assert (tmp_path / "shared-base" / "config.json").is_file()


def test_cli_exports_a_bundle_of_two_runs(runs: dict[str, Path], unservable: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    assert "vllm" in runner.invoke(app, ["export", "--help"]).output
    out = tmp_path / "bundle"
    result = runner.invoke(app, ["export", str(runs["small"]), str(runs["big"]), "--target", "vllm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "adapter(s) small, big" in result.output and str(out / "launch.sh") in result.output
    assert json.loads((out / "vllm.json").read_text())["max_lora_rank"] == 16
    refused = runner.invoke(
        app, ["export", str(runs["small"]), str(unservable["dora"]), "--target", "vllm", "-o", str(tmp_path / "r")]
    )
    assert refused.exit_code == 1 and "DoRA" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "r").exists()
    two = runner.invoke(app, ["export", str(runs["small"]), str(runs["big"]), "--target", "adapter", "-o", "x"])
    assert two.exit_code == 2 and "only --target vllm takes several runs" in " ".join(
        two.output.replace("│", "").split()
    )


def test_vllm_available_says_why_not(monkeypatch: pytest.MonkeyPatch) -> None:
    if "vllm" not in sys.modules:
        monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
        reason = vllm_available()
        assert reason is not None and "vLLM cannot be imported" in reason and "pip install vllm" in reason
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    reason = vllm_available()
    assert reason is not None and "needs an NVIDIA GPU" in reason
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert vllm_available() is None
