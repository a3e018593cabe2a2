"""Turn labelled data (classify, ner, extract) into instruction data for an `instruct` run, FLAN-style.

Each example becomes a chat row `{"messages": [user, assistant], "source": "<file>:<line>", "template": id,
"split": name}`: the user message is one of several named phrasings of the task (`TEMPLATES`) filled with
the example's text, the assistant message is its labels written out as text. The data is read and checked
by hone's own checker, so bad rows follow `data.on_error` and the splits are the ones the original run
uses: the converted test split holds the same examples, and the two runs' scores compare. One JSONL file
per split is written, plus a ready `hone.yaml` that names all three files.

Which phrasing an example gets is a hash of (seed, file name, line), so reruns are byte-identical and
moving the data folder changes nothing; `templates="all"` writes every phrasing of every example.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from hone.config import ConfigError, HoneConfig, RunConfig, load_config
from hone.config.load import validate
from hone.config.schema import CausalModelConfig, ExtractDataConfig
from hone.data import problems as P
from hone.data.problems import Problem
from hone.data.split import SPLITS, split_examples
from hone.grammar import article

CONVERTIBLE = ("classify", "ner", "extract")
CONFIG_SUFFIXES = (".yaml", ".yml")
INSTRUCT_MAX_LENGTH = 512  # the instruct default; prompts need room beyond the source's text length
PROMPT_ROOM = 128  # tokens kept for the instruction and the answer on top of the source's max_length
Mode = Literal["one", "all"]


@dataclass(frozen=True)
class Template:
    """One phrasing of a task: `prompt` is a `str.format` string over the task's slots."""

    id: str
    prompt: str

    def render(self, slots: Mapping[str, str]) -> str:
        # Values are substituted, never parsed as format strings: braces in a text stay as they are.
        return self.prompt.format(**slots)


def _numbered(task: str, prompts: Sequence[str]) -> list[Template]:
    return [Template(f"{task}/{i}", prompt) for i, prompt in enumerate(prompts, start=1)]


_JSON_LINE = '{{"type": ..., "text": ...}}'

# Slots — classify: text, labels, pick; ner: text, types; extract: text, fields, instruction.
TEMPLATES: dict[str, list[Template]] = {
    "classify": _numbered(
        "classify",
        [
            "Classify the text. Labels: {labels}.\nAnswer with {pick}.\n\nText: {text}\nLabel:",
            "Text: {text}\n\nWhich of these labels fit the text: {labels}? Answer with {pick} and nothing else.",
            "Read the following text and label it with {pick} from this list: {labels}.\n\n{text}",
            "{text}\n\nCategorise the text above. Possible labels: {labels}. Reply with {pick}.",
            'You are labelling data. The labels are: {labels}.\nGive {pick} for this text:\n"""\n{text}\n"""',
        ],
    ),
    "ner": _numbered(
        "ner",
        [
            "List the {types} entities in the text as JSON lines, one " + _JSON_LINE + " object per entity in "
            "order of appearance; answer none if there are none.\n\nText: {text}",
            "Text: {text}\n\nFind every entity of type {types} in the text above. Write one JSON object per line "
            'with its "type" and its exact "text", in the order they appear, or none if there is none.',
            "Extract the named entities ({types}) from this text. Output each as " + _JSON_LINE + " on its own "
            "line, in order; output none when the text has no entities.\n\n{text}",
            "Which entities of the types {types} does this text mention? Answer with one JSON line per mention "
            "(" + _JSON_LINE + ") in order of appearance, or none.\n\n{text}",
        ],
    ),
    "extract": _numbered(
        "extract",
        [
            "{instruction}\nFields: {fields}.\n\nText: {text}",
            "Text: {text}\n\nFill in these fields from the text above as one JSON object: {fields}. Use null for "
            "a field the text does not give.",
            "Read the text and return a JSON object with the keys {fields}. A value the text does not state is "
            "null.\n\n{text}",
            "{text}\n\nWhat does the text above say about {fields}? Answer with a single JSON object; use null "
            "where it says nothing.",
        ],
    ),
}


@dataclass(frozen=True)
class _Converter:
    """How one task's examples become prompt slots and an answer."""

    slots: Callable[[Any], dict[str, str]]
    answer: Callable[[Any], str]


@dataclass(frozen=True)
class Document:
    """An extract row: a text and its {field: value or None} (before the extract task has its own example)."""

    text: str
    fields: Mapping[str, Any]
    source: str
    line: int

    @property
    def labels(self) -> tuple[str, ...]:
        return ()

    @property
    def label_key(self) -> str:
        return json.dumps(self.fields, sort_keys=True, ensure_ascii=False)

    @property
    def stratify_key(self) -> str:
        return ""


# --- the API ----------------------------------------------------------------------------------


def to_instruct(
    config_or_path: RunConfig | str | Path | Mapping[str, Any],
    out_dir: str | Path,
    templates: Mode = "one",
    task: str | None = None,
    seed: int = 13,
) -> dict[str, Any]:
    """Write `<out_dir>/{train,dev,test}.jsonl` chat rows and a `task: instruct` `<out_dir>/hone.yaml`.

    `config_or_path` is a classify/ner/extract config (typed, a mapping, or a .yaml/.yml file) or a data
    file, which then needs `task`. Raises DataError for bad rows when `data.on_error` is abort, and
    ConfigError when the task is missing or cannot be converted. Returns counts: examples and rows per
    split, rows per template id, and bad rows skipped.
    """
    if templates not in ("one", "all"):
        raise ValueError(f"templates={templates!r}: choose `one` (one phrasing per example) or `all`")
    config = _config(config_or_path, task)
    splits, skipped = _read(config)
    every = [ex for name in SPLITS for ex in splits[name]]
    convert = _CONVERTERS[config.task](config, every)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_template: Counter[str] = Counter()
    rows: dict[str, int] = {}
    for name in SPLITS:
        chat = _rows(splits[name], name, TEMPLATES[config.task], convert, templates, seed)
        rows[name] = _write_jsonl(out / f"{name}.jsonl", chat, per_template)
    written = _write_config(out, config, {name: bool(splits[name]) for name in SPLITS})
    return {
        "task": config.task,
        "templates": templates,
        "out": str(out),
        "config": str(written),
        "examples": {name: len(splits[name]) for name in SPLITS},
        "rows": rows,
        "per_template": dict(sorted(per_template.items(), key=lambda kv: _template_order(kv[0]))),
        "skipped": skipped,
    }


def template_index(seed: int, source: str, line: int, count: int) -> int:
    """The phrasing of the example at `source:line`: by file name, so the data folder can move."""
    key = f"{seed}:{Path(source).name}:{line}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % count


def _template_order(template_id: str) -> tuple[str, int]:
    task, _, number = template_id.partition("/")
    return task, int(number)


# --- reading ----------------------------------------------------------------------------------


def _config(source: HoneConfig | str | Path | Mapping[str, Any], task: str | None) -> HoneConfig:
    if isinstance(source, RunConfig):
        config = source
    elif isinstance(source, Mapping) or Path(source).suffix.lower() in CONFIG_SUFFIXES:
        config = load_config(source)
    else:
        config = load_config(_quick_config(Path(source), task))
    if task is not None and config.task != task:
        raise ConfigError(f"the config is {article(config.task)} run but task={task!r} was given; drop --task")
    if config.task not in CONVERTIBLE:
        tasks = ", ".join(CONVERTIBLE)
        raise ConfigError(f"task {config.task!r} cannot be turned into instruction data; to-instruct converts {tasks}")
    return config


def _quick_config(path: Path, task: str | None) -> dict[str, Any]:
    """A data file alone: the task's defaults, so the splits are those `hone.tune(path, task=...)` draws."""
    if task is None:
        raise ConfigError(
            f"{path} is a data file; say which task its rows are for with --task ({', '.join(CONVERTIBLE)}) "
            "or pass the run's hone.yaml"
        )
    name = re.sub(r"[^A-Za-z0-9._-]", "-", path.stem).lstrip("._-")[:64] or "run"
    return {"task": task, "name": name, "data": {"train": str(path.resolve())}}


def _read(config: HoneConfig) -> tuple[dict[str, list[Any]], int]:
    """Usable examples per split and the number of bad rows skipped; raises DataError under abort."""
    from hone.data.check import check_data
    from hone.tasks import TASKS as SPECS

    # No tokenizer: token statistics describe the source model, not the instruct run; `hone check` on
    # the written hone.yaml measures the new prompts with the causal model's tokenizer.
    result = check_data(config, spec=SPECS[config.task]) if config.task in SPECS else _check_documents(config)
    result.raise_for_errors()
    splits = _as_documents(result.splits, config.data) if config.task == "extract" else result.splits
    skipped = len({(p.source, p.line) for p in result.errors() if p.line is not None})
    return splits, skipped


def _check_documents(config: HoneConfig) -> Any:
    """Extract data before the extract task is registered: rows read, checked and split here, as the checker does."""
    from hone.data.check import CheckResult

    problems: list[Problem] = []
    splits = _split_documents(_read_documents(config, problems), config)
    return CheckResult(splits, problems, {}, on_error=config.data.on_error)


def _read_documents(config: HoneConfig, problems: list[Problem]) -> dict[str, list[Document]]:
    from hone.data.read import read_rows

    data: Any = config.data
    given: dict[str, list[Document]] = {}
    for name, path in (("train", data.train), ("test", data.test), ("dev", data.dev)):
        if path is None:
            continue
        given[name] = []
        for item in read_rows(path, data.format, f"data.{name}"):
            parsed = item if isinstance(item, Problem) else _parse_document(item.data, data, item.source, item.line)
            if isinstance(parsed, Document):
                given[name].append(parsed)
            else:
                problems.extend(parsed if isinstance(parsed, list) else [parsed])
    return given


def _parse_document(
    record: Mapping[str, Any], data: ExtractDataConfig, source: str, line: int
) -> Document | list[Problem]:
    from hone.tasks.fields import required_text, type_name

    found: list[Problem] = []
    text = required_text(record, data.text_field, "the text", source, line, found, "data.text_field")
    name = data.fields_field
    fields = record.get(name)
    scalar = (str, int, float, bool, type(None))
    if not isinstance(fields, dict) or not all(isinstance(v, scalar) for v in fields.values()):
        what = f"got {type_name(fields)}" if name in record else "it is missing"
        message = f"{name!r} must be an object of {{field: value or null}} (or set data.fields_field); {what}"
        found.append(Problem(P.WRONG_TYPE if name in record else P.MISSING_FIELD, message, source, line, name))
    elif data.fields is not None and (unknown := sorted(set(fields) - set(data.fields))):
        message = f"field(s) {unknown} not in data.fields {list(data.fields)}; fix the row or declare them"
        found.append(Problem(P.UNKNOWN_LABEL, message, source, line, name))
    if found or text is None:
        return found
    return Document(text, fields, source, line)


def _split_documents(given: dict[str, list[Document]], config: HoneConfig) -> dict[str, list[Any]]:
    """As the checker splits: given files pass through, a missing test or dev split is drawn from train."""
    share = config.data.split
    test = 0.0 if "test" in given else share.test
    dev = 0.0 if "dev" in given else share.dev
    splits = split_examples(given["train"], test, dev, share.stratify, config.seed)
    return {**splits, **{name: given[name] for name in ("test", "dev") if name in given}}


def _as_documents(splits: dict[str, list[Any]], data: ExtractDataConfig) -> dict[str, list[Any]]:
    """Checked extract examples as Documents, their fields read back from the raw rows by source and line."""
    from hone.data.read import Record, read_rows

    if all(isinstance(ex, Document) for exs in splits.values() for ex in exs):
        return splits
    raw: dict[tuple[str, int], Mapping[str, Any]] = {}
    for path in (data.train, data.dev, data.test):
        if path is not None:
            raw.update(((r.source, r.line), r.data) for r in read_rows(path, data.format) if isinstance(r, Record))
    return {
        name: [Document(ex.text, raw[(ex.source, ex.line)][data.fields_field], ex.source, ex.line) for ex in exs]
        for name, exs in splits.items()
    }


# --- converting -------------------------------------------------------------------------------


def _classify(config: Any, examples: Sequence[Any]) -> _Converter:
    labels = config.data.labels or sorted({label for ex in examples for label in ex.labels})
    pick = "every label that applies, separated by commas" if config.data.multi_label else "one label"
    fixed = {"labels": ", ".join(labels), "pick": pick}
    return _Converter(lambda ex: {**fixed, "text": ex.text}, lambda ex: ", ".join(sorted(ex.labels)))


def _ner(config: Any, examples: Sequence[Any]) -> _Converter:
    types = config.data.labels or sorted({span.label for ex in examples for span in ex.spans})
    fixed = {"types": ", ".join(types)}
    return _Converter(lambda ex: {**fixed, "text": ex.text}, _ner_answer)


def _ner_answer(example: Any) -> str:
    """One `{"type", "text"}` JSON object per entity, in text order; `none` for a text without entities."""
    spans = sorted(example.spans, key=lambda s: (s.start, s.end))
    lines = [json.dumps({"type": s.label, "text": example.text[s.start : s.end]}, ensure_ascii=False) for s in spans]
    return "\n".join(lines) or "none"


def _extract(config: Any, examples: Sequence[Document]) -> _Converter:
    declared = config.data.fields
    names = list(declared) if declared else sorted({name for ex in examples for name in ex.fields})
    fixed = {
        "fields": ", ".join(_field_text(name, declared.get(name) if declared else None) for name in names),
        "instruction": config.data.instruction_for(names),
    }

    def answer(ex: Document) -> str:
        return json.dumps({name: ex.fields.get(name) for name in names}, ensure_ascii=False)

    return _Converter(lambda ex: {**fixed, "text": ex.text}, answer)


def _field_text(name: str, field: Any) -> str:
    """`name`, with what the config declares about it: `size (the dimensions; integer)`."""
    if field is None:
        return name
    details = [field.description] if field.description else []
    details += [f"one of {' / '.join(field.values)}"] if field.values else []
    details += [field.type] if field.type != "string" else []
    return f"{name} ({'; '.join(details)})" if details else name


_CONVERTERS: dict[str, Callable[[Any, Sequence[Any]], _Converter]] = {
    "classify": _classify,
    "ner": _ner,
    "extract": _extract,
}


def _rows(
    examples: Sequence[Any], split: str, templates: Sequence[Template], convert: _Converter, mode: Mode, seed: int
) -> Iterator[dict[str, Any]]:
    for ex in examples:
        chosen = templates if mode == "all" else [templates[template_index(seed, ex.source, ex.line, len(templates))]]
        slots, answer = convert.slots(ex), convert.answer(ex)
        for template in chosen:
            yield {
                "messages": [
                    {"role": "user", "content": template.render(slots)},
                    {"role": "assistant", "content": answer},
                ],
                "source": f"{ex.source}:{ex.line}",
                "template": template.id,
                "split": split,
            }


# --- writing ----------------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]], per_template: Counter[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            per_template[row["template"]] += 1
            count += 1
    return count


def _write_config(out: Path, source: HoneConfig, present: dict[str, bool]) -> Path:
    """A `task: instruct` config over the written files; paths are relative, so the folder can move."""
    data: dict[str, Any] = {"train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"}
    if not present["dev"]:  # no dev examples: keep it that way rather than let the instruct run draw dev from train
        del data["dev"]
        data["split"] = {"dev": 0.0}
    data["max_length"] = min(8192, max(INSTRUCT_MAX_LENGTH, source.data.max_length + PROMPT_ROOM))
    raw: dict[str, Any] = {"task": "instruct", "name": f"{source.name}-instruct"[:64], "seed": source.seed}
    if isinstance(source.model, CausalModelConfig):  # an extract run's causal LM fits the instruct run too
        raw["model"] = source.model.model_dump(mode="json")
    raw["data"] = data
    validate(raw, str(out / "hone.yaml"))
    header = f"# Instruction data from {article(source.task)} run, written by `hone data to-instruct`; same splits.\n"
    path = out / "hone.yaml"
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
