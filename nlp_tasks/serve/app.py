"""The FastAPI application: the JSON API, its errors, the body limit and the web page.

Paths (``/docs`` has the OpenAPI description of every body)::

    GET  /                                   the web page (nlp_tasks/serve/static, no CDN, works offline)
    GET  /docs, /redoc                       the API documentation (fastapi-offline: no CDN either)
    GET  /health                             {"status": "ok", "models": [...]}
    GET  /v1/models                          every loaded model: task, path, config, labels, metrics, operations
    GET  /v1/models/{name}                   one of them
    POST /v1/models/{name}/{operation}       an operation of the model's task (tasks/<task>/serve.py)

Every error is a 4xx (5xx for a failure of ours) with a one-line JSON body ``{"error": "..."}``:
the message the CLI prints for the same mistake where there is one (413 for a request over one
of the server's limits). No traceback reaches a client; the server logs unexpected ones on stderr
and keeps running. When the server stops, requests still waiting for a model are answered 503
(:meth:`ModelWorker.drain`, called by ``app.state.drain()``, which is safe from a signal handler
or another thread, and at the latest when the lifespan ends).
"""

# No `from __future__ import annotations` here: FastAPI reads each route's body type from the
# annotation of a function defined at run time (one route per model and operation).

import json
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.serve.spec import Limits
from nlp_tasks.serve.worker import InternalError, ModelWorker, Unavailable

STATIC = Path(__file__).resolve().parent / "static"
API = "/v1"


def error_response(status: int, message: str):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def validation_message(errors) -> str:
    """One line for pydantic's list of errors: ``text: Input should be a valid string; ...``."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        if error.get("type") == "json_invalid":
            return f"malformed JSON: {error.get('ctx', {}).get('error', error.get('msg', ''))}"
        if error.get("type") == "missing" and where == "body":
            return "the request needs a JSON body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts[:5]) + (f" (and {len(parts) - 5} more)" if len(parts) > 5 else "")


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413, whether it says its length
    (Content-Length) or not (chunked), before the body is parsed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"the request body is larger than the limit of {self.max_bytes:,} bytes (--max-body-bytes)"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await error_response(413, message)(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            event = await receive()
            if event["type"] == "http.request":
                seen += len(event.get("body", b""))
                if seen > self.max_bytes:  # FastAPI passes an HTTPException on while reading the body
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, message)
            return event

        await self.app(scope, limited_receive, send)


def create_app(models: dict, limits: Limits | None = None, on_start=None):
    """The application serving ``models`` (``{name: (pipeline, folder)}``); ``on_start()`` is
    called once the server has started (``--open`` opens the page then)."""
    import asyncio
    import contextlib
    import time

    from fastapi.exceptions import RequestValidationError
    from fastapi_offline import FastAPIOffline  # /docs with Swagger UI shipped in the package, not from a CDN
    from starlette.exceptions import HTTPException
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.staticfiles import StaticFiles

    from nlp_tasks import __version__

    limits = limits or Limits()
    served = {}
    for name, (pipe, folder) in models.items():
        spec = pipe.serve_spec()
        served[name] = {"pipe": pipe, "folder": str(folder), "spec": spec,
                        "worker": ModelWorker(name, limits, spec.operations),
                        "operations": {op.name: op for op in spec.operations}}

    def drain():
        for entry in served.values():
            entry["worker"].drain()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        app.state.drain = lambda: loop.call_soon_threadsafe(drain)  # the workers' futures belong to the loop
        if on_start is not None:
            on_start()
        yield
        drain()
        deadline = time.monotonic() + 1  # for all the workers: a busy one is a daemon thread, not waited for
        for entry in served.values():
            entry["worker"].stop(timeout=max(0.0, deadline - time.monotonic()))

    app = FastAPIOffline(title="nlp-tasks", version=__version__, lifespan=lifespan,
                         description="Recurrent sequence models served over HTTP: " + ", ".join(sorted(models)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        message = validation_message(exc.errors())
        status = 400 if message.startswith(("malformed JSON", "the request needs")) else 422
        return error_response(status, message)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such path: {request.url.path} (see /docs)"
        return error_response(exc.status_code, detail)

    @app.exception_handler(UserError)
    async def user_error(request, exc):
        return error_response(getattr(exc, "status", 400), exc.message)  # OverLimit: 413

    @app.exception_handler(Unavailable)
    async def unavailable(request, exc):
        return error_response(503, str(exc))

    @app.exception_handler(InternalError)
    async def internal_error(request, exc):
        return error_response(500, f"internal error: {exc}; see the server log")

    @app.exception_handler(Exception)
    async def unexpected(request, exc):  # Starlette logs the traceback on the server's stderr
        return error_response(500, f"internal error: {type(exc).__name__}; see the server log")

    def describe(name: str) -> dict:
        entry = served[name]
        pipe = entry["pipe"]
        # The folder's name only: a server does not disclose its file system.
        return {"name": name, "task": pipe.task, "folder": Path(entry["folder"]).name, "config": pipe.config.to_dict(),
                "labels": list(pipe.labels), "metrics": pipe.metrics, "info": entry["spec"].info,
                "operations": [{"name": op.name, "path": f"{API}/models/{name}/{op.name}", "doc": op.doc,
                                "batched": op.batched} for op in entry["spec"].operations],
                "batching": {"calls": entry["worker"].calls, "items": entry["worker"].items,
                             "waiting": len(entry["worker"].pending)}}

    def find(name: str) -> dict:
        if name not in served:
            raise HTTPException(404, f"unknown model {name!r} (loaded: {', '.join(sorted(served))})")
        return served[name]

    @app.get("/health")
    async def health():
        """Whether the server is up, and the names of the models it serves."""
        return {"status": "ok", "models": sorted(served)}

    @app.get(f"{API}/models")
    async def list_models():
        """Every loaded model: its task, folder, config, labels, metrics and operations."""
        return {"models": [describe(name) for name in served]}

    @app.get(API + "/models/{name}")
    async def one_model(name: str):
        """One loaded model (as in the list)."""
        find(name)
        return describe(name)

    def add_route(name: str, entry: dict, op, path_name: str):
        body_type = op.body
        path = f"{API}/models/{name}/{op.name}"
        old = path_name != op.name  # a former name (Operation.aliases): answered as the operation, and said so
        headers = {"Deprecation": "true", "Link": f'<{path}>; rel="successor-version"'} if old else None

        async def endpoint(body: body_type):
            items = op.items(body, limits)
            results = await entry["worker"].submit(op, items)
            answer = op.respond(body, results)
            if not isinstance(answer, Response):
                answer = JSONResponse(answer)
            answer.headers.update(headers or {})
            return answer

        doc = f"Deprecated: the former name of {path}." if old else op.doc
        app.post(f"{API}/models/{name}/{path_name}", summary=f"{name}: {path_name}", description=doc,
                 name=f"{name}-{path_name}", deprecated=old or None)(endpoint)

    for name, entry in served.items():
        for op in entry["spec"].operations:
            for path_name in (op.name, *op.aliases):
                add_route(name, entry, op, path_name)

    @app.post(API + "/models/{name}/{operation}", include_in_schema=False)
    async def unknown_operation(name: str, operation: str):
        entry = find(name)
        raise HTTPException(404, f"model {name!r} ({entry['pipe'].task}) has no operation {operation!r} "
                                 f"(it has: {', '.join(entry['operations'])})")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return app
