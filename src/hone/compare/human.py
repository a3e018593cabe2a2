"""The human judge: a local web page that shows a prompt and two answers (A/B, order randomised per pair).

Buttons "A is better" / "B is better" / "Tie" / "Skip", or the keys a / b / t / s. Each choice is POSTed
and appended to judgments.jsonl at once (judge "human"); a skipped pair comes back in a later session.
When no pair is left the page moves to /done, which shows the current ratings and writes compare.json.
Plain JS inlined in the page: no CDN, no build step.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from hone.compare import Comparison
from hone.compare.judges import from_shown, judgment, shown
from hone.compare.view import page, report_body

JUDGE = "human"

PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
#prompt{white-space:pre-wrap;background:#f6f6f6;padding:.8rem;border-radius:6px}
.answers{display:flex;gap:1rem;margin:1rem 0}.answer{flex:1;border:1px solid #ccc;border-radius:6px;padding:.8rem}
.answer pre{white-space:pre-wrap;font-family:inherit;margin:0}
button{font-size:1rem;margin-right:.5rem;padding:.4rem .9rem}
kbd{border:1px solid #aaa;border-radius:3px;padding:0 .25rem;font-size:.8rem}
"""

PAGE_JS = """
let token = null;
function show(state) {
  document.getElementById('progress').textContent = state.judged + ' of ' + state.total + ' judged';
  if (state.done) { window.location.href = '/done'; return; }
  token = state.pair.token;
  document.body.dataset.token = String(token);
  document.getElementById('prompt').textContent = state.pair.prompt;
  document.getElementById('answer-a').textContent = state.pair.A;
  document.getElementById('answer-b').textContent = state.pair.B;
}
async function load() {
  const r = await fetch('/api/next');
  show(await r.json());
}
async function choose(choice) {
  if (token === null) return;
  const sent = token;
  token = null;
  const r = await fetch('/api/judge', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                        body: JSON.stringify({token: sent, choice: choice})});
  if (!r.ok) { document.getElementById('status').textContent = 'not saved: ' + (await r.text()); return; }
  show(await r.json());
}
const KEYS = {a: 'A', b: 'B', t: 'tie', s: 'skip'};
document.addEventListener('keydown', (e) => { if (KEYS[e.key]) choose(KEYS[e.key]); });
for (const [id, choice] of [['pick-a', 'A'], ['pick-b', 'B'], ['pick-tie', 'tie'], ['pick-skip', 'skip']]) {
  document.getElementById(id).addEventListener('click', () => choose(choice));
}
load();
"""

PAGE_BODY = """<h1>Which answer is better?</h1><p id=progress></p><h2>Prompt</h2><div id=prompt></div>
<div class=answers><div class=answer><h3>A</h3><pre id=answer-a></pre></div>
<div class=answer><h3>B</h3><pre id=answer-b></pre></div></div>
<p><button id=pick-a>A is better <kbd>a</kbd></button><button id=pick-b>B is better <kbd>b</kbd></button>
<button id=pick-tie>Tie <kbd>t</kbd></button><button id=pick-skip>Skip <kbd>s</kbd></button></p>
<p id=status></p>"""


class Choice(BaseModel):
    token: int
    choice: Literal["A", "B", "tie", "skip"]


class HumanSession:
    """Which pair is next for the person judging; skipped pairs are left for a later session."""

    def __init__(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.skipped: set[int] = set()
        self.lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        pairs = self.comparison.pairs
        done = self.comparison.log.decided(JUDGE)
        judged = sum(p.key in done for p in pairs)
        token = next((k for k, p in enumerate(pairs) if p.key not in done and k not in self.skipped), None)
        state: dict[str, Any] = {"done": token is None, "judged": judged, "total": len(pairs)}
        if token is not None:
            pair = pairs[token]
            first, second = shown(pair, self.comparison.systems)
            state["pair"] = {
                "token": token,
                "prompt": self.comparison.systems.prompt(pair.prompt_id),
                "A": first,
                "B": second,
            }
        return state

    def choose(self, choice: Choice) -> dict[str, Any]:
        with self.lock:
            if not 0 <= choice.token < len(self.comparison.pairs):
                raise HTTPException(400, f"token {choice.token}: no such pair (0..{len(self.comparison.pairs) - 1})")
            pair = self.comparison.pairs[choice.token]
            if choice.choice == "skip":
                self.skipped.add(choice.token)
            elif pair.key not in self.comparison.log.decided(JUDGE):  # a double click records once
                self.comparison.log.append(
                    judgment(pair, from_shown(pair, choice.choice), JUDGE, shown_as=choice.choice)
                )
            return self.state()


def human_app(task_state: Comparison) -> FastAPI:
    """The judging page for `task_state`'s pairs; verdicts append to its judgments.jsonl."""
    session = HumanSession(task_state)
    app = FastAPI(title="hone compare", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page("hone compare — judge", f"<style>{PAGE_CSS}</style>{PAGE_BODY}<script>{PAGE_JS}</script>")

    @app.get("/api/next")
    def next_pair() -> dict[str, Any]:
        return session.state()

    @app.post("/api/judge")
    def judge(choice: Choice) -> dict[str, Any]:
        return session.choose(choice)

    @app.get("/done", response_class=HTMLResponse)
    def done() -> str:
        result = task_state.write(JUDGE)
        left = len(task_state.pending(JUDGE))
        note = (
            f"<p><a href='/'>{left} pairs left (skipped) — judge them</a></p>" if left else "<p>All pairs judged.</p>"
        )
        return page("hone compare — ratings", note + report_body(result))

    return app


def serve_human(comparison: Comparison, host: str = "127.0.0.1", port: int = 8766) -> dict[str, Any]:
    """Serve the judging page until interrupted, then write compare.json/html from the human verdicts."""
    import uvicorn

    try:
        uvicorn.run(human_app(comparison), host=host, port=port, log_level="warning")
    except KeyboardInterrupt:  # uvicorn passes on the Ctrl-C that stopped it: here it is the normal way out
        pass
    return comparison.write(JUDGE)
