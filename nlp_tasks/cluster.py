"""A multi-worker cluster's processes: where this worker is, waiting for its peers, signals, a lost peer.

``TF_CONFIG`` is read and checked by :func:`cluster_task`.

A multi-worker run cannot hang on a missing peer: before TensorFlow starts, :func:`wait_for_peers`
listens on this worker's own address and connects to every other chief and worker of
``TF_CONFIG`` until all answered or ``--worker-timeout`` (``NLP_TASKS_WORKER_TIMEOUT``, default
300 s) has passed, then fails with one line naming those that never came. TensorFlow's own
start-up then waits for every peer to register in C++ code that holds the interpreter (no
timeout on the first worker, no Python signal handler or thread runs, and it installs a SIGTERM
handler of its own): :func:`startup_watchdog`, a small separate process, ends the worker with
one line if that takes longer than the timeout (a peer that answered, then stopped) or on
SIGINT.

:func:`guarded`, around the whole train command, ends the process on SIGTERM or SIGINT with one
line and status 143 or 130, keeping the checkpoint of the last finished epoch (written
atomically), even while the main thread waits in a collective; and turns the error TensorFlow
raises when a peer is lost mid-training (``UnavailableError`` after its heartbeat timeout) into
one line naming the peer.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time

from nlp_tasks.errors import UserError

WORKER_TIMEOUT = 300.0  # seconds a worker waits for its peers at start-up, unless told otherwise
WORKER_TIMEOUT_ENV = "NLP_TASKS_WORKER_TIMEOUT"


def cluster_task() -> dict:
    """This worker's place in the cluster, from ``TF_CONFIG``: ``{"type", "index", "chief"}``;
    a one-line error when it is missing or malformed."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--strategy multi-worker needs TF_CONFIG, e.g. TF_CONFIG='{\"cluster\": {\"worker\": "
                        "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}'")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG is not valid JSON: {error}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UserError("TF_CONFIG needs a \"cluster\" object and a \"task\" object")
    for role, addresses in cluster.items():
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise UserError(f"TF_CONFIG cluster {role!r} must be a list of \"host:port\" addresses")
    if not set(cluster) <= {"worker", "chief", "evaluator"} or "worker" not in cluster and "chief" not in cluster:
        raise UserError(f"TF_CONFIG cluster must list \"worker\" (and optionally \"chief\") addresses, got "
                        f"{sorted(cluster)}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise UserError(f"TF_CONFIG task {task!r} does not name a member of the cluster")
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return {"type": kind, "index": index, "chief": chief, "cluster": cluster}


def worker_timeout_seconds(value: float | None = None) -> float:
    """``value``, else ``NLP_TASKS_WORKER_TIMEOUT``, else :data:`WORKER_TIMEOUT`; a positive number."""
    if value is None:
        raw = os.environ.get(WORKER_TIMEOUT_ENV, "").strip()
        if not raw:
            return WORKER_TIMEOUT
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0 < value < float("inf"):
            raise UserError(f"{WORKER_TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    if not 0 < value < float("inf"):
        raise UserError(f"the worker timeout must be a positive number of seconds, got {value!r}")
    return float(value)


def _members(cluster: dict) -> dict[str, str]:
    """``{"worker 1": "host:port", ...}`` for the members that take part in the collectives."""
    return {f"{role} {i}": address for role in ("chief", "worker") for i, address in enumerate(cluster.get(role, []))}


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "localhost", int(port)


def wait_for_peers(task: dict, timeout: float, poll: float = 0.2) -> None:
    """Return once every other chief and worker of the cluster answers at its address; a one-line
    error naming those that did not within ``timeout`` seconds.

    Meanwhile this worker listens at its own address so that its peers find it too. It accepts
    nobody: a peer's connection completes in the kernel's backlog, which is all it checks, and
    is reset when the listener closes, just before TensorFlow's server takes the port.
    """
    members = _members(task["cluster"])
    me = f"{task['type']} {task['index']}"
    listener = _listen(me, members[me], backlog=len(members)) if me in members else None
    pending = {name: address for name, address in members.items() if name != me}
    deadline = time.monotonic() + timeout
    try:
        while pending:
            for name, address in list(pending.items()):
                try:
                    socket.create_connection(_split(address), timeout=min(1.0, timeout)).close()
                except OSError:
                    continue
                del pending[name]
            if not pending:
                break
            if time.monotonic() >= deadline:
                missing = ", ".join(f"{name} ({address})" for name, address in pending.items())
                raise UserError(f"{missing} did not answer within {timeout:g} s: start every member of TF_CONFIG's "
                                f"cluster, or allow longer with --worker-timeout or {WORKER_TIMEOUT_ENV}")
            time.sleep(poll)
    finally:
        if listener is not None:
            listener.close()


def _listen(name: str, address: str, backlog: int) -> socket.socket:
    host, port = _split(address)
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            listener.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRNOTAVAIL:
                raise
            listener.bind(("", port))  # a name this machine is reached by but does not own (NAT)
        listener.listen(max(backlog, 16))  # every peer's connection stays queued until it closes
    except OSError as error:
        listener.close()
        raise UserError(f"cannot listen on {address}, this {name}'s address in TF_CONFIG: "
                        f"{error.strerror or error}") from None
    return listener


# The watchdog process of startup_watchdog: reads signal numbers (the parent's wakeup fd) from
# stdin until it closes; on SIGINT/SIGTERM or after the timeout it prints one line and kills the
# parent, which is stuck in TensorFlow's C++ code, holding the interpreter.
_STARTUP_WATCHDOG = """
import os, select, signal, sys, time
parent, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + timeout
while True:
    ready = select.select([0], [], [], max(0.0, deadline - time.monotonic()))[0]
    if not ready:
        break
    data = os.read(0, 64)
    if not data:
        sys.exit(0)
    caught = [n for n in data if n in (signal.SIGINT, signal.SIGTERM)]
    if caught:
        message = "interrupted (%s) while the cluster was starting" % signal.Signals(caught[0]).name
        break
os.write(2, ("error: " + message + chr(10)).encode())
os.kill(parent, signal.SIGKILL)
"""


@contextlib.contextmanager
def startup_watchdog(timeout: float):
    """Around the creation of ``MultiWorkerMirroredStrategy``, which waits for every peer to
    register in C++ code that keeps Python's signal handlers and threads from running: a small
    separate process ends this one with one line when that takes longer than ``timeout`` seconds
    (a peer answered :func:`wait_for_peers`, then stopped before joining) or on SIGINT. (SIGTERM
    too until TensorFlow installs its own handler, which keeps it from Python: a SIGTERM then
    is lost, and the timeout still applies.)"""
    import subprocess

    message = (f"the cluster did not form within {timeout:g} s after every worker had answered (one stopped while "
               "starting?): start every worker again")
    watchdog = subprocess.Popen([sys.executable, "-I", "-S", "-c", _STARTUP_WATCHDOG, str(os.getpid()), str(timeout),
                                 message], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=_guard["stderr"] if _guard["stderr"] is not None else None)
    os.set_blocking(watchdog.stdin.fileno(), False)
    in_main = threading.current_thread() is threading.main_thread()
    previous_fd = signal.set_wakeup_fd(watchdog.stdin.fileno(), warn_on_full_buffer=False) if in_main else None
    try:
        yield
    finally:
        if in_main:
            signal.set_wakeup_fd(previous_fd)
        watchdog.stdin.close()
        watchdog.wait()


class Interrupted(UserError):
    """SIGINT or SIGTERM during a multi-worker run; the exit status is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted ({signal.Signals(signum).name}); the checkpoint of the last finished epoch "
                         "is kept: run the same command to resume")
        self.exit_code = 128 + signum


SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE = 3.0  # seconds the main thread has to stop by itself before the watchdog ends the process
_guard: dict = {"active": False, "lock": threading.Lock(), "stderr": None, "signal": None}


def _raise_interrupted(signum, frame):
    _guard["signal"] = signum  # remembered: library code may catch the exception and raise another
    raise Interrupted(signum)


def reinstall_handlers() -> None:
    if _guard["active"]:
        for signum in SIGNALS:
            signal.signal(signum, _raise_interrupted)


def _exit_now(code: int, message: str) -> None:
    """Print ``error: message`` and end the process at once, whatever its threads are doing
    (TensorFlow's shutdown may wait for a peer that is gone)."""
    with _guard["lock"]:  # held until the process is gone: one line, even from two threads
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            os.write(_guard["stderr"] if _guard["stderr"] is not None else 2, f"error: {message}\n".encode())
        os._exit(code)


def _watchdog(read_fd: int) -> None:
    """Wait for a signal number on the wakeup pipe; give the main thread :data:`GRACE` seconds
    to stop (it may be blocked in a collective, where Python handlers never run), then end it."""
    try:
        while True:
            data = os.read(read_fd, 64)
            if not data or 0 in data:  # closed, or the guard's own "stop" byte
                return
            for signum in data:
                if signum in SIGNALS:
                    time.sleep(GRACE)
                    error = Interrupted(signum)
                    _exit_now(error.exit_code, error.message)
    except OSError:
        pass
    finally:
        os.close(read_fd)


_PEER = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}")
# lines of TensorFlow's error text that say where, not what
_NOISE = ("Graph execution error", "Detected at node", "File ", "[[", "Additional GRPC", ":UNKNOWN", "Traceback")


def _lost_peer(error) -> UserError:
    """One line for a TensorFlow error raised when a peer is lost, naming it when TensorFlow does."""
    try:
        task = cluster_task()  # TF_CONFIG, already checked when the run started
    except UserError:
        task = {}
    members = _members(task.get("cluster") or {})
    me = f"{task.get('type')} {task.get('index')}"
    text = str(getattr(error, "message", None) or error)
    named = [f"{job} {index}" for job, index in _PEER.findall(text)]
    peers = [name for name in dict.fromkeys(named) if name != me and name in members]
    who = ", ".join(f"{name} ({members[name]})" for name in peers) or "a peer worker"
    lines = [_FUNCTION_NODE.sub("", line).strip() for line in text.splitlines()]
    detail = next((line for line in lines if line and not line.startswith(_NOISE)), "")
    detail = f": {detail[:160]}" if detail else ""
    return UserError(f"lost contact with {who} during multi-worker training ({type(error).__name__}{detail}); the "
                     "checkpoint of the last finished epoch is kept: start every worker again to resume")


@contextlib.contextmanager
def guarded(active: bool = True):
    """Around a multi-worker train command: SIGINT and SIGTERM end it with one line (status 130
    or 143), within :data:`GRACE` seconds even while a collective waits for a lost peer; a
    TensorFlow error from a lost peer becomes a :class:`UserError`. Does nothing when not
    ``active``."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    sys.stderr.flush()
    _guard.update(active=True, stderr=os.dup(2), signal=None)
    reinstall_handlers()
    threading.Thread(target=_watchdog, args=(read_fd,), name="nlp-tasks-signal-watchdog", daemon=True).start()
    # TensorFlow's native log (peers connecting, collectives aborted) is held back and shown
    # afterwards, unless the command ends with a one-line error (always with NLP_TASKS_TF_LOGS=1).
    log = None if os.environ.get("NLP_TASKS_TF_LOGS") == "1" else tempfile.TemporaryFile()
    if log is not None:
        os.dup2(log.fileno(), 2)
    show_log = True
    try:
        yield
    except Interrupted as error:
        _exit_now(error.exit_code, error.message)
    except Exception as error:
        if _guard["signal"] is not None:  # the signal's exception, re-raised as another by TensorFlow
            interrupted = Interrupted(_guard["signal"])
            _exit_now(interrupted.exit_code, interrupted.message)
        if isinstance(error, UserError):
            show_log = False
            raise
        tf = sys.modules.get("tensorflow")
        if tf is not None and isinstance(error, tf.errors.OpError):
            show_log = False
            raise _lost_peer(error) from None
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(previous_fd)
        with _guard["lock"]:  # not while the watchdog is ending the process
            _guard["active"] = False
            sys.stderr.flush()
            os.dup2(_guard["stderr"], 2)
            os.close(_guard["stderr"])
            _guard["stderr"] = None
        os.write(write_fd, b"\0")  # stops the watchdog, which closes its end
        os.close(write_fd)
        if log is not None:
            if show_log:
                log.seek(0)
                sys.stderr.write(log.read().decode("utf-8", "replace"))
                sys.stderr.flush()
            log.close()
