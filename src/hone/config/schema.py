"""The typed config tree: every key hone.yaml may hold, its default and what it means.

Checked once at the edge (``hone.config.load``); code below it receives these objects and never
looks up keys with defaults of its own. Every field carries a description because the same text
feeds ``hone init`` (the commented config), ``--help`` and the docs.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SplitConfig(Section):
    test: float = Field(
        0.2, gt=0, lt=1, description="Share of examples held out for the test split when no test file is given."
    )
    dev: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Share of the remaining examples held out for dev-set evaluation and early stopping when no dev "
        "file is given (0 = none).",
    )
    stratify: bool = Field(True, description="Keep each label's share equal across splits.")
    seed: int | None = Field(
        None, description="Seed for drawing the splits; empty = the run's `seed`. Pin it to vary `seed` on one split."
    )
    train_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Train on this share of the train split (drawn with the run's `seed`, per label when "
        "stratifying); dev and test are unchanged. `hone sweep` sets it for learning curves.",
    )


class DataFiles(Section):
    """Where a task's examples are and how to read and check them (every task's data section has these)."""

    train: Path = Field(
        description="Training data: a JSONL or CSV file (relative paths are relative to the config file)."
    )
    test: Path | None = Field(None, description="Test data file; when empty, a test split is drawn from `train`.")
    dev: Path | None = Field(None, description="Dev data file; when empty, a dev split is drawn from `train`.")
    format: Literal["auto", "jsonl", "csv", "conll", "text"] = Field(
        "auto",
        description="File format; `auto` decides by extension (.jsonl/.json/.ndjson, .csv/.tsv, .conll/.bio/.iob "
        "column files for NER, or .txt/.md `text`: one document per blank-line-separated block).",
    )
    text_field: str = Field("text", description="Name of the field holding the input text.")
    labels: list[str] | None = Field(
        None,
        description="The allowed labels, in order. When set, any other label is an error; when empty, labels are "
        "read from the training data.",
    )
    max_length: int = Field(
        128, ge=8, le=8192, description="Tokens per example; longer texts are truncated (the check reports how many)."
    )
    on_error: Literal["abort", "skip"] = Field(
        "abort",
        description="What to do with bad rows: `abort` stops before training, `skip` drops them and records each in "
        "the data report.",
    )
    imbalance_ratio: float = Field(
        10.0, gt=1, description="Warn when the most frequent label has this many times the examples of the rarest."
    )
    split: SplitConfig = Field(
        default_factory=SplitConfig, description="How test/dev splits are drawn when not given as files."
    )

    @model_validator(mode="after")
    def _labels_unique(self) -> DataFiles:
        labels = self.labels
        if labels is not None and len(set(labels)) != len(labels):
            dupes = sorted({x for x in labels if labels.count(x) > 1})
            raise ValueError(f"data.labels lists {dupes} more than once; list each label once")
        return self


class DataConfig(DataFiles):
    """Classification data: a text and its label (or labels) per row."""

    label_field: str = Field(
        "label", description="Name of the field holding the label (a string; a list of strings when multi_label)."
    )
    multi_label: bool = Field(False, description="Each example may carry several labels (field holds a list).")


class LoraConfig(Section):
    r: int = Field(8, ge=1, le=512, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or `all-linear` for every linear layer but the head."
    )


class ModelConfig(Section):
    name: str = Field(
        "minilm",
        description="Base model: a bundled name (`minilm`), a local Hugging Face model directory, or a hub id "
        "already in the local cache.",
    )
    method: Literal["full", "freeze", "lora"] = Field(
        "full",
        description="`full` trains every weight, `freeze` only the new head, `lora` low-rank adapters plus the head "
        "(PEFT).",
    )
    lora: LoraConfig = Field(default_factory=LoraConfig, description="LoRA settings (used when method is `lora`).")


class TrainConfig(Section):
    epochs: int = Field(4, ge=1, description="Passes over the training split.")
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (overrides epochs when reached first)."
    )
    batch_size: int = Field(16, ge=1, description="Examples per forward pass.")
    grad_accum: int = Field(1, ge=1, description="Forward passes per optimizer step.")
    lr: float | None = Field(
        None,
        gt=0,
        description="Peak learning rate of the pretrained weights (or adapters). Empty: chosen by `model.method` - "
        "5e-5 for full (2e-5 for chat models: instruct, extract, preference), 5e-4 for lora/dora, 2e-4 for qlora, "
        "3e-2 for prompt_tuning/prefix_tuning; `hone train` prints the value and why.",
    )
    head_lr: float | None = Field(
        None,
        gt=0,
        description="Learning rate of a new, randomly initialised head (classify, ner, rerank). Empty: 1e-3 (or `lr` "
        "when higher) for full, 20x `lr` for freeze/lora.",
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not applied to biases and norms).")
    warmup_ratio: float = Field(
        0.1, ge=0, lt=1, description="Share of steps with linear warm-up; then linear decay to 0."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="`auto` uses bf16 autocast where the device supports it (CPUs with AMX, recent GPUs), else fp32.",
    )
    eval_every: int | None = Field(
        None, ge=1, description="Evaluate on dev every N optimizer steps; empty means once per epoch."
    )
    save_every: int | None = Field(
        None, ge=1, description="Write a checkpoint every N optimizer steps; empty means at every evaluation."
    )
    keep_checkpoints: int = Field(
        2, ge=1, description="Complete checkpoints kept; older ones are removed only after a newer one is complete."
    )
    patience: int | None = Field(
        3,
        ge=1,
        description="Stop when the dev primary metric has not improved for this many evaluations (empty = never).",
    )
    threads: int | None = Field(None, ge=1, description="CPU threads for torch; empty leaves torch's default.")
    gradient_checkpointing: bool = Field(
        False,
        description="Keep fewer activations and recompute them in the backward pass: less memory for longer rows "
        "or bigger batches, at about a third more compute per step. Same losses and weights.",
    )
    report_to: list[Literal["mlflow", "tensorboard", "wandb"]] = Field(
        [],
        description="Experiment trackers that also get the config, every logged step, the evaluation and the report: "
        "any of mlflow, tensorboard, wandb (each needs its pip extra, e.g. `pip install 'hone[track-mlflow]'`).",
    )
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; empty means $MLFLOW_TRACKING_URI, else `sqlite:///<runs_dir>/mlflow.db`.",
    )
    experiment: str | None = Field(
        None, description="MLflow experiment (W&B project) the run is logged under; empty means the run's name."
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _known_trackers(cls, value: object) -> object:
        """One name may stand for a list; an unknown name says which it resembles (hone.track lists them)."""
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list):
            return value
        known = ("mlflow", "tensorboard", "wandb")
        for name in names:
            if isinstance(name, str) and name not in known:
                close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(f"unknown tracker {name!r}; {hint}hone reports to {', '.join(known)}")
        return list(dict.fromkeys(names))


class EvalConfig(Section):
    bootstrap: int = Field(
        1000, ge=100, description="Bootstrap resamples for the confidence interval of the gain over the baseline."
    )
    worst_examples: int = Field(
        20, ge=0, description="How many wrongly predicted test examples eval.json and the report keep."
    )
    batch_size: int = Field(64, ge=1, description="Examples per forward pass at evaluation and prediction.")
    leaked: Literal["exclude", "keep"] = Field(
        "exclude",
        description="Test examples whose text is also in train (case, spacing and punctuation ignored): `exclude` "
        "scores the model and the baselines without them (eval.json gives the score with them too); `keep` "
        "scores every test example.",
    )


class BaselineConfig(Section):
    methods: list[Literal["majority", "tfidf_lr", "embed_lr"]] = Field(
        ["majority", "tfidf_lr", "embed_lr"],
        description="Baselines run by `hone baseline`: majority class, TF-IDF + logistic regression, frozen "
        "base-encoder embeddings + logistic regression.",
    )


# Learning-rate defaults by method (`train.lr`, `train.head_lr` left empty); `learning_rate_defaults` applies them.
# full: the pretrained weights move little per step. 5e-5 is the top of BERT's 2e-5..5e-5 range, where small encoders
# like MiniLM do best; a chat model fine-tuned whole forgets fastest, so 2e-5 (`RunConfig.full_lr`).
FULL_LR = 5e-5
# PEFT: adapters start at zero (LoRA's B) or random (virtual tokens) and are few, so they need far larger steps.
# 5e-4 is what the LoRA paper used on base-size models and what examples/*/hone.yaml use on SmolLM2; QLoRA's 2e-4
# suits the larger models it is for; prompt and prefix tuning train only a few vectors (PEFT's guides: 3e-2).
PEFT_LR = {"lora": 5e-4, "dora": 5e-4, "qlora": 2e-4, "prompt_tuning": 3e-2, "prefix_tuning": 3e-2}
# A new head starts random: at the body's 5e-5 it barely moves in an epoch (NER tagged everything O). 1e-3 is Adam's
# usual rate for a fresh linear layer (20x the full-tuning lr); under freeze/lora the head carries more of the task.
HEAD_LR = 1e-3
HEAD_LR_FACTOR = 20


class RunConfig(Section):
    """What every run has, whatever its task."""

    full_lr: ClassVar[float] = FULL_LR  # `train.lr` for method `full` when empty
    _defaults_chosen: dict[str, str] = PrivateAttr(default_factory=dict)

    name: str = Field(
        "run",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="Run name: the run directory is `<runs_dir>/<name>`.",
    )
    runs_dir: Path = Field(Path("runs"), description="Where run directories and the registry live.")
    seed: int = Field(13, description="Seed for splits, initialisation and data order.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Which base model and how to adapt it.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Optimisation settings.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation settings.")

    @model_validator(mode="after")
    def _learning_rates(self) -> RunConfig:
        # Runs again on every assignment to the config (validate_assignment): keep what the first run chose.
        chosen = learning_rate_defaults(self.train, self.model.method, self.full_lr)
        self._defaults_chosen = {**self._defaults_chosen, **chosen}
        return self

    @property
    def defaults_chosen(self) -> dict[str, str]:
        """The keys this config left empty and were chosen for it ({"train.lr": "5e-4: the lora default ..."})."""
        return dict(self._defaults_chosen)


def learning_rate_defaults(train: TrainConfig, method: str, full_lr: float) -> dict[str, str]:
    """Fill an empty `train.lr` and `train.head_lr` for `method`; return each key filled with the value and why."""
    chosen: dict[str, str] = {}
    if train.lr is None:
        train.lr = PEFT_LR.get(method, full_lr)
        why = {
            "full": "pretrained weights need small steps",
            "freeze": "unused: only the head trains",
        }.get(method, "adapters start untrained and need larger steps than pretrained weights")
        chosen["train.lr"] = f"{train.lr:g}, the default for method {method} ({why})"
    if train.head_lr is None:
        if method == "full":
            train.head_lr = max(HEAD_LR, train.lr)
            why = "it starts random and needs larger steps than the pretrained body"
        else:
            train.head_lr = HEAD_LR_FACTOR * train.lr
            why = f"{HEAD_LR_FACTOR}x train.lr: with the body frozen or low-rank, the head carries the task"
        chosen["train.head_lr"] = f"{train.head_lr:g} for a new head ({why})"
    return chosen


class ClassifyConfig(RunConfig):
    """A text-classification run: one label (or several) per text."""

    task: Literal["classify"] = Field("classify", description="What is learned: `classify` assigns labels to texts.")
    data: DataConfig = Field(description="Where the examples are and how to read them.")
    baseline: BaselineConfig = Field(default_factory=BaselineConfig, description="What fine-tuning has to beat.")


class NerDataConfig(DataFiles):
    """NER data: `text` + character `spans`, or `tokens` + `tags` (BIO/IOB2, IOB1, BIOES), per row."""

    spans_field: str = Field("spans", description="Field with [{start, end, label}] character spans (end exclusive).")
    tokens_field: str = Field("tokens", description="Field with a list of tokens (used when a row has no spans).")
    tags_field: str = Field("tags", description="Field with one tag per token (used with tokens).")
    tag_scheme: Literal["auto", "iob2", "iob1", "bioes"] = Field(
        "auto", description="Tagging scheme of `tags`; `auto` reads BIOES when E-/S- tags occur, else IOB2."
    )
    stride: int = Field(
        32, ge=0, description="Tokens shared by consecutive windows of a long document (windows are max_length long)."
    )


class NerBaselineConfig(Section):
    methods: list[Literal["gazetteer"]] = Field(
        ["gazetteer"],
        description="Baselines run by `hone baseline`: a gazetteer of training entities matched exactly.",
    )


class NerConfig(RunConfig):
    """A named-entity recognition run: typed character spans in texts of any length."""

    task: Literal["ner"] = Field("ner", description="What is learned: `ner` finds typed entity spans in texts.")
    data: NerDataConfig = Field(description="Where the examples are and how to read them.")
    baseline: NerBaselineConfig = Field(default_factory=NerBaselineConfig, description="What fine-tuning has to beat.")


class EmbedDataConfig(DataFiles):
    """Retrieval pairs: a query and the passage that answers it (+ optional hard negatives), per row."""

    text_field: str = Field("query", description="Name of the field holding the query.")
    positive_field: str = Field("positive", description="Field with the passage that answers the query.")
    negative_field: str = Field(
        "negative", description="Optional field with a passage (or list) that looks relevant but is not."
    )
    corpus: Path | None = Field(
        None,
        description="JSONL of {id, text} chunks searched at evaluation; when empty, every positive and negative "
        "passage forms the corpus.",
    )


class EmbedTrainConfig(Section):
    scale: float = Field(20.0, gt=0, description="Similarity scale (inverse temperature) of the contrastive loss.")
    hard_negatives: int = Field(
        0, ge=0, le=32, description="Hard negatives mined per query with the base model before training (0 = none)."
    )
    mining_margin: float = Field(
        0.05,
        ge=0,
        description="Mined passages scoring within this margin of the positive are skipped: likely unlabelled "
        "positives.",
    )


class EmbedBaselineConfig(Section):
    methods: list[Literal["bm25", "base"]] = Field(
        ["bm25", "base"], description="Baselines run by `hone baseline`: BM25, and the untuned base embedder."
    )


class EmbedConfig(RunConfig):
    """A retrieval run: an embedding model that puts each query near the passage that answers it."""

    task: Literal["embed"] = Field("embed", description="What is learned: `embed` fine-tunes a retrieval embedder.")
    data: EmbedDataConfig = Field(description="Where the pairs (and the corpus) are and how to read them.")
    embed: EmbedTrainConfig = Field(default_factory=EmbedTrainConfig, description="Contrastive training settings.")
    baseline: EmbedBaselineConfig = Field(default_factory=EmbedBaselineConfig, description="What tuning must beat.")


class RerankDataConfig(DataFiles):
    """Reranking data: a query, a passage and whether the passage answers it (1) or not (0), per row."""

    text_field: str = Field("query", description="Name of the field holding the query.")
    passage_field: str = Field("passage", description="Field with the candidate passage.")
    label_field: str = Field("label", description="Field with the relevance: 1 (answers the query) or 0.")
    corpus: Path | None = Field(
        None,
        description="JSONL of {id, text} passages the first-stage retriever searches; when empty, every passage of "
        "the data forms the corpus.",
    )


class RerankSettings(Section):
    retriever: str = Field(
        "bm25",
        description="First stage whose top-k is reranked: `bm25`, or the run directory of an `embed` run.",
    )
    top_k: int = Field(20, ge=2, le=1000, description="Candidates per query taken from the retriever and reranked.")
    mined_negatives: int = Field(
        0,
        ge=0,
        le=100,
        description="Per training query with a relevant passage, add this many non-relevant pairs taken from the "
        "retriever's own top-k (skipping the query's relevant passages, their copies and pairs already given), so "
        "the cross-encoder learns on the candidates it will rerank. Set it when `retriever` is an embed run whose "
        "candidates differ from the negatives in the data (e.g. BM25's).",
    )


class RerankBaselineConfig(Section):
    methods: list[Literal["retriever"]] = Field(
        ["retriever"], description="Baselines run by `hone baseline`: the retriever's own order, before reranking."
    )


class RerankConfig(RunConfig):
    """A reranking run: a cross-encoder that reorders a retriever's top-k for each query."""

    task: Literal["rerank"] = Field("rerank", description="What is learned: `rerank` trains a cross-encoder.")
    data: RerankDataConfig = Field(description="Where the (query, passage, label) rows are and how to read them.")
    rerank: RerankSettings = Field(default_factory=RerankSettings, description="Which candidates are reranked.")
    baseline: RerankBaselineConfig = Field(default_factory=RerankBaselineConfig, description="What tuning must beat.")


# --- generative tasks: a causal LM (SmolLM2 by default) adapted with PEFT ---------------------------------------


class CausalModelConfig(ModelConfig):
    """A causal language model and how to adapt it."""

    name: str = Field(
        "smollm2",
        description="Base model: a bundled name (`smollm2`: SmolLM2-135M-Instruct), a local Hugging Face causal LM "
        "directory, or a hub id already in the local cache.",
    )
    method: Literal["lora", "dora", "qlora", "prompt_tuning", "prefix_tuning", "full"] = Field(
        "lora",
        description="`lora` low-rank adapters on every linear layer, `dora` weight-decomposed LoRA, `qlora` LoRA on a "
        "4-bit base (CUDA only), `prompt_tuning`/`prefix_tuning` learned virtual tokens, `full` every weight.",
    )
    virtual_tokens: int = Field(
        20, ge=1, le=512, description="Virtual tokens learned by prompt_tuning and prefix_tuning."
    )


def _causal_train() -> TrainConfig:
    return TrainConfig(batch_size=8, epochs=3, patience=2)


class GenerateConfig(Section):
    max_new_tokens: int = Field(128, ge=1, le=4096, description="Most tokens generated per answer.")
    packing: bool = Field(
        True,
        description="Pack several short examples into one training row (each attends only to itself), so little "
        "compute goes to padding. Not used with prompt_tuning/prefix_tuning.",
    )


class ChatDataFiles(DataFiles):
    """Conversations: `messages` [{role, content}] or `prompt` + `completion`, per row."""

    max_length: int = Field(
        512,
        ge=8,
        le=8192,
        description="Tokens per example (prompt + completion); longer prompts are cut from the left.",
    )
    messages_field: str = Field("messages", description="Field with chat messages [{role, content}, ...].")
    prompt_field: str = Field("prompt", description="Field with the prompt (used when a row has no messages).")
    completion_field: str = Field("completion", description="Field with the reference completion.")
    template: str = Field(
        "chat",
        description="Prompt template: `chat` (the tokenizer's chat template), `alpaca` (### Instruction / ### Input / "
        "### Response), `plain`, or a custom string with `{prompt}` (and optionally `{system}`).",
    )
    system: str | None = Field(
        None, description="System prompt added to rows without one (empty: the template's own default, if any)."
    )


class InstructBaselineConfig(Section):
    methods: list[Literal["zero_shot", "k_shot"]] = Field(
        ["zero_shot", "k_shot"],
        description="Baselines run by `hone baseline`: the base model zero-shot, and with k training examples "
        "retrieved by embedding similarity as demonstrations.",
    )
    shots: int = Field(3, ge=1, le=16, description="Demonstrations per prompt for `k_shot`.")
    retriever: str = Field("minilm", description="Embedding model that picks the demonstrations most like the prompt.")


class InstructConfig(RunConfig):
    """An instruction-tuning run: a causal LM learns to answer prompts the way the references do."""

    full_lr: ClassVar[float] = 2e-5  # a chat model tuned whole forgets fastest

    task: Literal["instruct"] = Field("instruct", description="What is learned: `instruct` tunes a chat model.")
    model: CausalModelConfig = Field(
        default_factory=CausalModelConfig, description="Which base LM and how to adapt it."
    )
    train: TrainConfig = Field(default_factory=_causal_train, description="Optimisation settings.")
    data: ChatDataFiles = Field(description="Where the conversations are and how to render them.")
    generate: GenerateConfig = Field(default_factory=GenerateConfig, description="Generation and packing settings.")
    baseline: InstructBaselineConfig = Field(
        default_factory=InstructBaselineConfig, description="What tuning must beat."
    )


class ExtractField(Section):
    type: Literal["string", "integer", "number", "boolean"] = Field("string", description="The value's JSON type.")
    values: list[str] | None = Field(None, description="Allowed values (the decoder can emit only these, or null).")
    description: str | None = Field(None, description="What the field means (shown to the model in the prompt).")
    normalised: bool = Field(
        False,
        description="The value is written in a normal form, not copied from the text (a unit name, a category, an "
        "ISO date): grounding checks skip it, so it never counts as an ungrounded value.",
    )


class ExtractDataConfig(ChatDataFiles):
    """Extraction data: a `text` and its `fields` {name: value or null}, per row."""

    fields_field: str = Field("fields", description="Field with the {name: value or null} object to extract.")
    fields: dict[str, ExtractField] | None = Field(
        None,
        description="The fields to extract, in output order, with optional type and allowed values; when empty, "
        "every field name in the training data (as strings).",
    )
    instruction: str | None = Field(
        None,
        description="The instruction placed before the fields and the text in the prompt; when empty, one naming "
        "the fields: 'Extract <field>, <field> and <field> from the text as JSON. Use null when the text does not "
        "say.'",
    )

    def instruction_for(self, names: list[str]) -> str:
        """`instruction`, or the neutral one naming the fields `names` (in output order)."""
        if self.instruction:
            return self.instruction
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names) or "the fields"
        return f"Extract {listed} from the text as JSON. Use null when the text does not say."


class ExtractGenerateConfig(GenerateConfig):
    decode: Literal["object", "fanout"] = Field(
        "object",
        description="How an object is decoded: `object` writes the whole object in one row, keys forced token by "
        "token; `fanout` reads the document once, then decodes every field's value in a row of its own (sharing "
        "the document's KV states), all rows in one batch: as many decode steps as the longest value, not the sum; "
        "`max_new_tokens` then bounds each value. Training follows the setting: under `fanout` each example is one "
        "row holding the document once, then every field's opening, key and value, each field attending to the "
        "document and itself only; loss on the values alone.",
    )


class ExtractBaselineConfig(InstructBaselineConfig):
    pass


class ExtractConfig(RunConfig):
    """A structured-extraction run: a causal LM emits one JSON object of declared fields per text."""

    full_lr: ClassVar[float] = 2e-5  # a chat model tuned whole forgets fastest

    task: Literal["extract"] = Field("extract", description="What is learned: `extract` fills fields from text.")
    model: CausalModelConfig = Field(
        default_factory=CausalModelConfig, description="Which base LM and how to adapt it."
    )
    train: TrainConfig = Field(default_factory=_causal_train, description="Optimisation settings.")
    data: ExtractDataConfig = Field(description="Where the documents are and which fields to extract.")
    generate: ExtractGenerateConfig = Field(
        default_factory=ExtractGenerateConfig, description="Generation, decoding and packing settings."
    )
    baseline: ExtractBaselineConfig = Field(default_factory=ExtractBaselineConfig, description="What tuning must beat.")

    @model_validator(mode="after")
    def _fanout_needs_plain_tokens(self) -> ExtractConfig:
        if self.generate.decode == "fanout" and self.model.method in ("prompt_tuning", "prefix_tuning"):
            raise ValueError(
                "generate.decode fanout trains on rows with their own attention mask and decodes from the model's "
                f"KV cache, which {self.model.method}'s virtual tokens do not fit; set model.method lora (or "
                "generate.decode object)"
            )
        return self


class PretrainDataConfig(DataFiles):
    """Raw domain text: .txt files (one document per blank-line-separated block) or JSONL with a text field."""

    max_length: int = Field(256, ge=8, le=8192, description="Tokens per training block.")
    objective: Literal["auto", "clm", "mlm"] = Field(
        "auto", description="`clm` next-token (decoders), `mlm` masked tokens (encoders); `auto` picks by model."
    )
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="Share of tokens masked for `mlm`.")


class PretrainConfig(RunConfig):
    """Continued pre-training on domain text; the result is a base model for later runs."""

    task: Literal["pretrain"] = Field("pretrain", description="What is learned: `pretrain` adapts to domain text.")
    model: CausalModelConfig = Field(
        default_factory=lambda: CausalModelConfig(method="full"), description="Which base model and how to adapt it."
    )
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(batch_size=8, epochs=1, patience=None),
        description="Optimisation settings.",
    )
    data: PretrainDataConfig = Field(description="Where the text is.")


class PreferenceDataConfig(ChatDataFiles):
    """Preference pairs: a prompt (or messages) with a `chosen` and a `rejected` completion, per row."""

    chosen_field: str = Field("chosen", description="Field with the preferred completion.")
    rejected_field: str = Field("rejected", description="Field with the dispreferred completion.")


class DpoConfig(Section):
    beta: float = Field(0.1, gt=0, description="DPO temperature: how far the tuned model may move from the reference.")


class PreferenceConfig(RunConfig):
    """A preference run: DPO against the frozen base (the model with adapters off)."""

    full_lr: ClassVar[float] = 2e-5  # a chat model tuned whole forgets fastest

    task: Literal["preference"] = Field("preference", description="What is learned: `preference` runs DPO.")
    model: CausalModelConfig = Field(
        default_factory=CausalModelConfig, description="Which base LM and how to adapt it."
    )
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(batch_size=4, epochs=2, patience=2), description="Optimisation."
    )
    data: PreferenceDataConfig = Field(description="Where the preference pairs are.")
    dpo: DpoConfig = Field(default_factory=DpoConfig, description="DPO settings.")
    generate: GenerateConfig = Field(default_factory=GenerateConfig, description="Generation settings.")


HoneConfig = (
    ClassifyConfig
    | NerConfig
    | EmbedConfig
    | RerankConfig
    | InstructConfig
    | ExtractConfig
    | PretrainConfig
    | PreferenceConfig
)
"""Any run's config; `task` decides which."""

TASK_CONFIGS: dict[str, type[RunConfig]] = {
    "classify": ClassifyConfig,
    "ner": NerConfig,
    "embed": EmbedConfig,
    "rerank": RerankConfig,
    "instruct": InstructConfig,
    "extract": ExtractConfig,
    "pretrain": PretrainConfig,
    "preference": PreferenceConfig,
}
