"""``nlp-tasks serve``: saved models of any task behind an HTTP API and a web page.

::

    nlp-tasks serve models/conll models/sst5 shakespeare=models/shake --port 8000 --open

One process loads every model first (a folder that fails to load stops the start with one line
and exit status 2), then serves them with uvicorn: the JSON API under ``/v1`` (:mod:`.app`; the
operations of each task are in its ``serve`` module, e.g. :mod:`tasks.ner.serve`),
OpenAPI documentation at ``/docs`` and a
page at ``/`` that runs every model on a text. Concurrent requests to the same model are grouped
into one batch (:mod:`.worker`). The dependencies come with ``pip install 'nlp-tasks[serve]'``.

On SIGINT or SIGTERM the server stops taking connections and answers every request still waiting
for a model 503 at once (a generation under way cannot be interrupted; its thread is a daemon and
its result is dropped), so it exits within seconds instead of waiting for long requests;
uvicorn's graceful shutdown waits at most :data:`GRACE_S` for the answers to go out.
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.serve.spec import Limits

INSTALL = "pip install 'nlp-tasks[serve]'"
GRACE_S = 3  # seconds uvicorn waits for open requests at shutdown before it cancels them
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def model_specs(specs) -> dict[str, Path]:
    """``{name: folder}`` from ``FOLDER`` or ``NAME=FOLDER`` arguments (the name: the folder's
    own name by default); names are unique and fit in a URL path."""
    found: dict[str, Path] = {}
    if not specs:
        raise UserError("nothing to serve: give one or more model folders")
    for spec in specs:
        name, sep, folder = str(spec).partition("=")
        if not sep or not NAME.fullmatch(name):  # a plain folder (which may itself hold '=')
            name, folder = Path(spec).resolve().name, spec
        if not NAME.fullmatch(name):
            raise UserError(f"{spec}: cannot name the model {name!r} (letters, digits, '_', '.', '-'): "
                            "give NAME=FOLDER")
        if name in found:
            raise UserError(f"two models are named {name!r}: give NAME=FOLDER to tell them apart")
        found[name] = Path(folder)
    return found


def load_models(specs) -> dict:
    """``{name: (pipeline, folder)}``, every model loaded and checked (:meth:`Pipeline.load`)."""
    from nlp_tasks.pipeline import Pipeline

    models = {}
    for name, folder in model_specs(specs).items():
        pipe = Pipeline.load(folder)
        pipe.serve_spec()  # a task that cannot be served stops the start, not the first request
        models[name] = (pipe, folder)
    return models


def listen(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: any free port); one line when the address cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(2048)  # connections made before the server's loop runs wait in the backlog
    return sock


def serve(specs, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,
          open_browser: bool = False, log_level: str = "warning") -> None:
    """Load the models of ``specs`` and serve them until interrupted (see the module docstring).

    The line ``serving N model(s) at http://HOST:PORT/`` on stdout says where (the real port
    when ``port`` is 0)."""
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import uvicorn
    except ImportError as err:
        raise UserError(f"serving needs {err.name}: {INSTALL}") from None
    from nlp_tasks.serve.app import create_app
    from nlp_tasks.serve.protocol import uvicorn_http

    limits = limits or Limits()
    models = load_models(specs)
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"

    def started():
        print(f"serving {len(models)} model(s) at {url} ({', '.join(models)}; API docs at {url}docs)", flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    app = create_app(models, limits, on_start=started)
    config = uvicorn.Config(app, log_level=log_level, access_log=log_level in ("info", "debug"),
                            timeout_graceful_shutdown=GRACE_S, **uvicorn_http(limits.max_header_bytes))

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):  # SIGINT, SIGTERM: waiting requests get 503 now (module docstring)
            super().handle_exit(sig, frame)
            drain = getattr(app.state, "drain", None)  # set once the application has started
            if drain is not None:
                drain()

    try:
        Server(config).run(sockets=[sock])
    finally:
        sock.close()
        print("server stopped", file=sys.stderr, flush=True)
