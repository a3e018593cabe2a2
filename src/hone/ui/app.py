"""`hone ui`'s web app: HTML pages, the JSON API behind them, the playground proxy and the job launcher.

`create_app(runs_dir)` reads everything from `runs_dir` on each request, so the pages follow runs that
other processes are writing. Pages: `/`, `/runs/<name>`, `/compare?runs=a,b`, `/curves`, `/ratings`,
`/playground`, `/new`; their data: `/api/...` with the same names.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from hone.ui import jobs, pages, runs_data
from hone.ui.playground import Playground

STATIC = Path(__file__).parent / "static"


def create_app(
    runs_dir: str | Path = "runs",
    serve_url: str | None = None,
    api_key: str | None = None,
    data_root: str | Path | None = None,
) -> FastAPI:
    """The dashboard over `runs_dir`; the playground talks to `serve_url`; /new lists data under `data_root`
    (default: the current directory)."""
    app = FastAPI(title="hone ui", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runs_dir = Path(runs_dir)
    app.state.data_root = Path(data_root or Path.cwd()).resolve()
    app.state.playground = Playground(serve_url, api_key)
    app.state.jobs: dict[str, subprocess.Popen[bytes]] = {}
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _errors(app)
    _page_routes(app)
    _api_routes(app)
    _job_routes(app)
    return app


def _errors(app: FastAPI) -> None:
    from hone.config import ConfigError

    @app.exception_handler(runs_data.UnknownRun)
    async def unknown(request: Request, exc: runs_data.UnknownRun) -> Any:
        message = str(exc).strip("'\"")
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=404)
        return HTMLResponse(pages.not_found(message), status_code=404)

    @app.exception_handler(jobs.JobError)
    @app.exception_handler(ConfigError)
    async def bad_request(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)


def _page_routes(app: FastAPI) -> None:
    simple = {
        "/": pages.runs_page,
        "/compare": pages.compare_page,
        "/curves": pages.curves_page,
        "/ratings": pages.ratings_page,
        "/playground": pages.playground_page,
        "/new": pages.new_page,
    }
    for path, render in simple.items():
        app.add_api_route(path, _html(render), methods=["GET"], response_class=HTMLResponse)

    @app.get("/favicon.ico")
    async def favicon() -> Response:  # report.html (written by `hone report`) names no icon; browsers ask anyway
        return Response(status_code=204)

    @app.get("/runs/{name}", response_class=HTMLResponse)
    async def run_page(name: str) -> str:
        runs_data.run_detail(app.state.runs_dir, name)  # 404 now, not an empty page
        return pages.run_page(name)

    @app.get("/runs/{name}/report.html")
    async def report(name: str) -> FileResponse:
        path = runs_data.run_path(app.state.runs_dir, name) / "report.html"
        if not path.is_file():
            raise runs_data.UnknownRun(f"run {name!r} has no report.html yet; write it with `hone report`")
        return FileResponse(path, media_type="text/html")


def _html(render: Any) -> Any:
    async def page() -> str:
        return render()

    return page


def _api_routes(app: FastAPI) -> None:
    @app.get("/api/runs")
    async def runs() -> dict[str, Any]:
        _reap(app)
        return {"runs_dir": str(app.state.runs_dir), "runs": runs_data.list_runs(app.state.runs_dir)}

    @app.get("/api/runs/{name}")
    async def run(name: str) -> dict[str, Any]:
        _reap(app)
        return runs_data.run_detail(app.state.runs_dir, name)

    @app.get("/api/compare")
    async def compare(runs: str = "") -> dict[str, Any]:
        names = [n.strip() for n in runs.split(",") if n.strip()]
        return runs_data.compare_runs(app.state.runs_dir, names)

    @app.get("/api/sweeps")
    async def sweeps() -> dict[str, Any]:
        return {"sweeps": runs_data.find_kind(app.state.runs_dir, "sweep.json", "sweep")}

    @app.get("/api/ratings")
    async def ratings() -> dict[str, Any]:
        return {"comparisons": runs_data.find_kind(app.state.runs_dir, "compare.json", "compare")}

    @app.get("/api/playground/models")
    async def models() -> dict[str, Any]:
        return {**await app.state.playground.models(), "serve_url": app.state.playground.serve_url}

    @app.post("/api/playground/{kind}")
    async def playground(kind: str, body: Any = Body(...)) -> dict[str, Any]:
        return await app.state.playground.send(kind, body)


def _job_routes(app: FastAPI) -> None:
    @app.get("/api/new")
    async def choices() -> dict[str, Any]:
        root = app.state.data_root
        return {
            "data_root": str(root),
            "files": jobs.data_files(root, app.state.runs_dir),
            "tasks": jobs.default_models(),
            "fields": jobs.field_settings(),
        }

    @app.post("/api/columns")
    async def columns(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """The columns of a listed file ({"data": path}) or of an upload's first bytes ({"filename", "head"})."""
        if body.get("data"):
            path = jobs.resolve_data(str(body["data"]), app.state.data_root, app.state.runs_dir)
            return {"columns": jobs.columns(path.name, jobs.read_head(path))}
        return {"columns": jobs.columns(str(body.get("filename") or ""), str(body.get("head") or ""))}

    @app.post("/api/uploads")
    async def upload(body: dict[str, Any] = Body(...)) -> dict[str, str]:
        path = jobs.save_upload(app.state.runs_dir, str(body.get("filename") or ""), str(body.get("content") or ""))
        return {"path": str(path)}

    @app.post("/api/jobs")
    async def start(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        cfg = jobs.job_config(body, app.state.data_root, app.state.runs_dir)
        config = jobs.write_job_config(cfg)
        app.state.jobs[cfg.name] = jobs.launch(config)
        return {"name": cfg.name, "config": str(config), "url": f"/runs/{cfg.name}"}


def _reap(app: FastAPI) -> None:
    """Collect finished drivers, so no zombie outlives its job (and liveness checks see it gone)."""
    for name, process in list(app.state.jobs.items()):
        if process.poll() is not None:
            del app.state.jobs[name]
