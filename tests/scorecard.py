"""The reliability scorecard: each guarantee, its target, the tests that prove it, and what they measured.

A test states what it measured with `record(item, figure)`: the figure is always printed (visible with
`pytest -s`, and in the captured output of a failing test), and when `HONE_SCORECARD_DIR` is set it is
also written to `$HONE_SCORECARD_DIR/<item>-<test>.json`. Rendering the folder after a run gives
RELIABILITY.md:

    HONE_SCORECARD_DIR=/tmp/figures python -m pytest && python tests/scorecard.py /tmp/figures > RELIABILITY.md

tests/test_scorecard.py checks that RELIABILITY.md lists every item here and that every test named exists.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    number: int
    guarantee: str
    target: str
    tests: tuple[str, ...]  # pytest node ids, without parameters


T, C, S = "tests/test_reliability_train.py", "tests/test_checkpoint.py", "tests/test_serve.py"
ISO = "tests/test_serve_isolation.py"
ITEMS = (
    Item(
        1,
        "SIGKILL at random moments and before every I/O call of a checkpoint save",
        "resume always from the newest complete checkpoint; steps lost ≤ save interval; N ≥ 10",
        (
            f"{C}::test_a_kill_before_any_io_call_of_a_save_leaves_a_loadable_newest_checkpoint",
            "tests/test_kill.py::test_sigkill_at_random_moments_then_resume",
            f"{C}::test_a_kill_while_rotating_never_leaves_a_half_deleted_checkpoint",
        ),
    ),
    Item(
        2,
        "Resume exactness",
        "interrupted + resumed run ends with the same weights and the same step losses",
        ("tests/test_train.py::test_resume_after_sigterm_reaches_identical_weights",),
    ),
    Item(
        3,
        "Changed data under a run",
        "`--resume` refuses, naming the changed file",
        ("tests/test_train.py::test_resume_refuses_changed_data",),
    ),
    Item(
        4,
        "SIGTERM in each phase (data prep, training, saving, final save, evaluation)",
        "a complete checkpoint before exit; exit 128+15, not 1; a second signal stops at once",
        (
            f"{T}::test_sigterm_while_preparing_data_stops_before_anything_is_written",
            f"{T}::test_sigterm_while_training_checkpoints_then_resume_finishes",
            f"{T}::test_sigterm_during_a_checkpoint_save_lets_it_complete",
            f"{T}::test_a_second_signal_during_a_save_stops_at_once_and_the_previous_checkpoint_stays",
            f"{T}::test_a_second_signal_during_a_training_step_stops_at_once_and_the_previous_checkpoint_stays",
            f"{T}::test_sigterm_during_the_final_save_leaves_a_complete_model",
            f"{T}::test_sigterm_during_evaluation_writes_no_partial_result",
        ),
    ),
    Item(
        5,
        "Disk full / write error during a save",
        "the previous checkpoint stays loadable; a clear message",
        (
            f"{T}::test_a_full_disk_during_a_save_keeps_the_previous_checkpoint",
            f"{C}::test_failed_write_leaves_previous_checkpoint",
        ),
    ),
    Item(
        6,
        "Corrupted checkpoints (truncated, flipped bytes, deleted, garbage with a matching checksum, wrong shapes, "
        "planted pickle)",
        "detected, never loaded silently",
        (
            f"{C}::test_corruption_detected_by_checksum",
            f"{C}::test_incomplete_checkpoint_is_skipped",
            f"{C}::test_a_malformed_file_with_a_matching_checksum_is_an_error_not_a_crash",
            f"{C}::test_weights_of_another_shape_are_refused_by_name",
            f"{C}::test_a_planted_pickle_makes_a_checkpoint_untrusted",
        ),
    ),
    Item(
        7,
        "Injected NaN/inf in loss, gradients or weights",
        "stopped on that step; no non-finite tensor is saved",
        (
            "tests/test_train.py::test_non_finite_loss_stops_the_run",
            "tests/test_train.py::test_non_finite_gradient_stops_the_run",
            f"{C}::test_non_finite_weights_are_never_saved",
        ),
    ),
    Item(
        8,
        "Out of memory mid-step (a real allocator refusal)",
        "a clear message with the run's sizes and the settings to lower; earlier checkpoint intact",
        (f"{T}::test_out_of_memory_mid_step_names_the_sizes_and_the_settings",),
    ),
    Item(
        9,
        "Pickles and malformed safetensors in model, adapter and checkpoint folders",
        "refused with an explanation; a planted pickle never executes; malformed files are errors",
        (
            f"{T}::test_a_base_model_with_only_pickle_weights_is_refused_and_never_unpickled",
            f"{T}::test_a_trained_model_with_a_pickle_or_broken_safetensors_is_refused",
            "tests/test_serve_adapters.py::test_bad_adapter_loads_are_4xx_and_open_nothing_outside_the_root",
        ),
    ),
    Item(
        10,
        "Malformed-input corpus (JSONL and CSV)",
        "≥ 100 defects of ≥ 20 kinds, each at its exact line and category; 0 false positives; flat memory on 1 GB",
        (
            "tests/test_data_corpus.py::test_corpus_reports_exactly_the_defects",
            "tests/test_data_corpus.py::test_corpus_is_large_and_varied",
            "tests/test_data_corpus.py::test_row_pass_memory_is_flat",
            "tests/test_data_corpus.py::test_row_pass_memory_is_flat_on_1_gb",
        ),
    ),
    Item(
        11,
        "Schema fuzzing of the OpenAPI spec (schemathesis), every route",
        "zero 5xx",
        ("tests/test_serve_fuzz.py",),
    ),
    Item(
        12,
        "Overload on loopback at 1x/2x/3x capacity",
        "every request answered (200 or 429); no 5xx; at 3x: goodput ≥ 90% of capacity and 429 p99 ≤ 50 ms "
        "(target, reported per run; the test fails below 60% / 150 ms)",
        ("tests/test_serve_load.py::test_overload_at_1x_2x_3x_capacity",),
    ),
    Item(
        13,
        "Soak",
        "memory growth < 1 MiB per 1,000 requests; p99 stable",
        ("tests/test_serve_load.py::test_soak_memory_and_latency_stay_flat",),
    ),
    Item(
        14,
        "Client disconnect mid-stream or while queued",
        "generation stops within one decode step; a queued call is dropped and the compute thread serves on",
        (
            "tests/test_serve_engine.py::test_cancelled_rows_stop_within_one_step",
            "tests/test_serve_socket.py::test_a_client_that_hangs_up_stops_its_generation",
            "tests/test_serve_engine.py::test_a_call_cancelled_while_it_waits_is_dropped_and_the_compute_thread_goes_on",
        ),
    ),
    Item(
        15,
        "SIGTERM to the server",
        "in-flight requests complete, new ones get 503, exit 0 within the drain timeout",
        ("tests/test_serve_socket.py::test_sigterm_drains_then_exits_zero",),
    ),
    Item(
        16,
        "Auth on every route but health, path tricks, HEAD/OPTIONS, constant-time comparison",
        "401 everywhere without the key",
        (
            f"{S}::test_every_route_but_health_needs_the_key",
            "tests/test_serve_security.py::test_path_tricks_need_a_key",
            "tests/test_serve_security.py::test_every_key_is_compared",
        ),
    ),
    Item(
        17,
        "Adapter names and paths: `..`, absolute, URL-encoded, symlink escapes",
        "4xx, and no file outside the root is opened (audit hook)",
        (
            "tests/test_serve_adapters.py::test_bad_adapter_loads_are_4xx_and_open_nothing_outside_the_root",
            "tests/test_serve_security.py::test_rejected_confine_opens_nothing_outside_root",
        ),
    ),
    Item(
        18,
        "Hot-loading and unloading adapters under load",
        "no failed request for other adapters",
        (
            "tests/test_serve_adapters.py::test_hot_loading_and_unloading_under_load_fails_no_other_request",
            "tests/test_serve_adapters.py::test_unloading_an_adapter_mid_answer_lets_that_answer_finish",
        ),
    ),
    Item(
        19,
        "Request limits (body, tokens, max_tokens, n, batch size)",
        "4xx in OpenAI's error format; small error bodies",
        (f"{S}::test_bad_requests_get_400_in_openai_format", f"{S}::test_malformed_json_and_huge_bodies_are_4xx"),
    ),
    Item(
        20,
        "Mixed-adapter batches",
        "outputs identical to single-adapter serving across many requests",
        (
            f"{S}::test_mixed_adapter_batches_give_the_same_answers_as_each_request_alone",
            "tests/test_serve_engine.py::test_mixed_rows_joining_midway_match_generate_row_by_row",
        ),
    ),
)


NEW_ITEMS = (  # added with the serving and run-directory hardening
    Item(
        21,
        "An adapter holding more than LoRA factors (a base weight, NaN, wrong shapes, untargeted modules)",
        "400 naming the first bad tensor; nothing written into the served base; other answers unchanged",
        (f"{ISO}::test_an_adapter_holding_more_than_lora_factors_is_refused_and_the_base_is_untouched",),
    ),
    Item(
        22,
        "Client keys against operator routes; unloading runs served at start",
        "client keys only call models (403 on adapters and /metrics); start-time runs cannot be unloaded",
        (
            f"{ISO}::test_client_keys_only_call_models_operators_manage_adapters",
            f"{ISO}::test_runs_served_from_the_command_line_cannot_be_unloaded",
            f"{ISO}::test_without_an_operator_key_adapter_routes_are_403",
        ),
    ),
    Item(
        23,
        "1,100 idle sockets, slow headers, idle keep-alive, a stalled body, an oversized body, a half-close",
        "a keyed request answered within 5 s; idle and slow connections closed; 408; the 413 read by the client",
        (
            "tests/test_serve_socket.py::test_a_thousand_idle_sockets_do_not_stop_keyed_requests",
            "tests/test_serve_socket.py::test_slow_headers_and_idle_keep_alive_are_closed",
            "tests/test_serve_socket.py::test_a_stalled_body_gets_408",
            "tests/test_serve_socket.py::test_an_oversized_body_gets_its_413_not_a_reset",
            "tests/test_serve_socket.py::test_a_half_closed_client_gets_its_reply",
        ),
    ),
    Item(
        24,
        "One bad input, call, row or adapter among many",
        "only its own request fails (400 for bad text, before it joins a batch); other rows exact",
        (
            f"{ISO}::test_one_bad_input_among_concurrent_requests_fails_only_its_own",
            f"{ISO}::test_a_failing_call_in_a_batch_fails_alone",
            f"{ISO}::test_a_row_whose_sampling_fails_ends_alone_and_its_neighbours_finish",
            f"{ISO}::test_a_nan_adapter_leaves_every_other_row_exact",
        ),
    ),
    Item(
        25,
        "Heavy requests and slow templates",
        "the HTTP process never loads a model, tokenizer or template engine; 30,000 messages refused before "
        "templating; a looping template stopped by its 250 ms budget; /health fast while 900 KB prompts flood in",
        (
            f"{ISO}::test_the_http_side_never_imports_a_model_a_tokenizer_or_a_template_engine",
            f"{ISO}::test_a_chat_with_thousands_of_messages_is_refused_before_templating",
            f"{ISO}::test_a_template_that_loops_is_stopped_by_its_budget",
            "tests/test_serve_socket.py::test_health_stays_fast_while_clients_send_huge_prompts",
        ),
    ),
    Item(
        26,
        "Adapter loads as a lever",
        "refused loads never reach the compute thread; loads rate-limited (429)",
        (f"{ISO}::test_refused_loads_never_reach_the_compute_thread", f"{ISO}::test_adapter_changes_are_rate_limited"),
    ),
    Item(
        27,
        "The model worker killed (SIGKILL) while serving",
        "503 at once, not ready, a new worker with the same models and runtime adapters, then 200",
        (f"{ISO}::test_a_killed_worker_is_replaced_and_requests_in_flight_get_503",),
    ),
    Item(
        28,
        "Two writers on one run directory; a writer SIGKILLed",
        "the second `hone train`/`eval` refused at once naming the holder, nothing written; a killed holder's "
        "lock never blocks `--resume`",
        (
            "tests/test_run_lock.py::test_hone_train_refused_at_once_writes_nothing",
            "tests/test_run_lock.py::test_training_holds_its_run_until_killed_then_resume_finishes",
            "tests/test_run_lock.py::test_a_sigkilled_holder_leaves_the_run_free",
        ),
    ),
    Item(
        29,
        "A damaged registry (random bytes, 0 bytes, a malformed database)",
        "one line naming the file and the fix; moved aside, never deleted; the index rebuilt from the run folders",
        (
            "tests/test_registry_rebuild.py::test_random_bytes_are_moved_aside_and_the_index_rebuilt",
            "tests/test_registry_rebuild.py::test_an_empty_registry_beside_run_folders_is_rebuilt",
            "tests/test_registry_rebuild.py::test_a_malformed_sqlite_registry_names_the_fix_and_rebuild_fixes_it",
        ),
    ),
)
ITEMS = ITEMS + NEW_ITEMS


def record(item: int, figure: str) -> None:
    """Print `figure` for scorecard item `item`; with `HONE_SCORECARD_DIR` set, also write it there."""
    print(f"scorecard item {item}: {figure}")
    folder = os.environ.get("HONE_SCORECARD_DIR")
    if not folder:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0]
    path = Path(folder) / f"{item}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', test)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")  # written whole, then renamed: a reader never sees half a file
    partial.write_text(json.dumps({"item": item, "test": test, "figure": figure}, ensure_ascii=False) + "\n")
    partial.replace(path)


def figures(folder: Path) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path in sorted(folder.glob("*.json")):
        entry = json.loads(path.read_text())
        found.setdefault(int(entry["item"]), []).append(entry["figure"])
    return found


def render(found: dict[int, list[str]], when: str) -> str:
    lines = [
        "# Reliability scorecard",
        "",
        "What hone guarantees when things go wrong, the figure each guarantee's tests measured in the last",
        f"full run ({when}), the target, and the command that reproduces it. Every test named here runs in",
        "the default `python -m pytest` (the `soak` tier included), so CI checks every line on every change.",
        "The table is written by `tests/scorecard.py` (see its docstring); `tests/test_scorecard.py` keeps it",
        "in step with the tests.",
        "",
        "| # | guarantee | target | measured in the last run | reproduce |",
        "|---|---|---|---|---|",
    ]
    for item in ITEMS:
        measured = "<br>".join(found.get(item.number, [])) or "passes (pass/fail check)"
        files = " ".join(sorted({t.split("::")[0] for t in item.tests}))
        names = " or ".join(t.split("::")[1] for t in item.tests if "::" in t)
        command = f"`python -m pytest {files}" + (f" -k '{names}'`" if names else "`")
        lines.append(f"| {item.number} | {item.guarantee} | {item.target} | {measured} | {command} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import datetime

    stamp = datetime.date.today().isoformat() + ", 2 CPU cores"
    sys.stdout.write(render(figures(Path(sys.argv[1])), stamp))
