"""``python cli.py ARGS`` in a process of its own, without paying TensorFlow's import each time.

Importing TensorFlow, Keras and the tasks takes about 6.5 s of CPU here, and the suite starts
about sixty such processes (fault cases in a process of their own, killed and resumed runs,
clusters of workers): a fifth of its CPU time on a 2-core machine. So each pytest process keeps
one *zygote*: a process that imported all of them once (TensorFlow's runtime not started: no op
has run, so forking it is safe) and forks a child per command. The child is a real process of
its own (its pid, signals, exit status, stdin/stdout/stderr on the pipes the test made) that
runs ``cli.py`` with the command's arguments, environment and working folder, as
``python cli.py`` would, only with those modules already imported.

:func:`run_command` is ``subprocess.run(capture_output=True)`` and :func:`popen` is
``subprocess.Popen`` (a :class:`Process`: the part of Popen the tests use) for such commands, and
the real thing for any other; :func:`run` takes the CLI's arguments alone. Tests about how a
process starts (TensorFlow's log lines, what importing the library changes, being refused before
TensorFlow starts) keep using real ``python`` processes. ``NLP_TASKS_TEST_FORK=0`` makes these
real ``python cli.py`` processes too.

The zygote (``python -m tests.forked SOCKET``) serves one Unix socket: a request is the command
(JSON) with the child's three file descriptors (``SCM_RIGHTS``); it answers the child's pid, and
later its wait status, on the same connection. It has one thread: it learns of ended children
from SIGCHLD through a wake-up pipe.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "cli.py"
DEVNULL = subprocess.DEVNULL
PIPE = subprocess.PIPE

_zygote: dict = {}
_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get("NLP_TASKS_TEST_FORK", "1") != "0"


def _address() -> str:
    """The socket of this pytest process's zygote, started on first use."""
    with _lock:
        process = _zygote.get("process")
        if process is not None and process.poll() is None:
            return _zygote["address"]
        folder = tempfile.mkdtemp(prefix="nlp-tasks-zygote-")
        address = os.path.join(folder, "socket")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen([sys.executable, "-m", "tests.forked", address], cwd=ROOT, env=env,
                                   stdin=DEVNULL, stdout=DEVNULL, stderr=open(os.path.join(folder, "log"), "wb"))
        deadline = time.monotonic() + 120
        while not os.path.exists(address + ".ready"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test zygote did not start: {Path(folder, 'log').read_text()[-2000:]}")
            time.sleep(0.05)
        _zygote.update(process=process, address=address)
        atexit.register(_stop, process, folder)
        return address


def _stop(process, folder: str) -> None:
    """The zygote ended with the pytest process that started it, and its folder removed."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(folder, ignore_errors=True)


class Process:
    """A child of the zygote running ``cli.py ARGS`` (made by :func:`popen`): ``pid``,
    ``returncode``, ``poll``, ``wait``, ``communicate``, ``send_signal``, ``terminate``, ``kill``,
    and ``stdout`` / ``stderr`` file objects where PIPE was asked for (text when ``text``).
    ``stdin``, ``stdout``, ``stderr``: PIPE (outputs only), DEVNULL, None (this process's) or a
    file."""

    def __init__(self, args, env=None, cwd=None, stdin=DEVNULL, stdout=None, stderr=None, text=False):
        self.returncode, self.stdout, self.stderr = None, None, None
        ends, opened = [], []  # the child's three descriptors; those made here, closed once sent
        for name, how, fd in (("stdin", stdin, 0), ("stdout", stdout, 1), ("stderr", stderr, 2)):
            if how == PIPE and name != "stdin":
                read, write = os.pipe()
                setattr(self, name, os.fdopen(read, "r" if text else "rb"))
                ends.append(write)
                opened.append(write)
            elif how == DEVNULL:
                ends.append(os.open(os.devnull, os.O_RDWR))
                opened.append(ends[-1])
            elif how is None:
                ends.append(fd)
            elif how == PIPE:
                raise ValueError("a forked process takes no stdin pipe")
            else:  # a file object or a descriptor
                ends.append(how if isinstance(how, int) else how.fileno())
        request = {"argv": [str(CLI), *map(str, args)], "env": dict(os.environ if env is None else env),
                   "cwd": str(cwd or os.getcwd())}
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.connect(_address())
        socket.send_fds(self._socket, [json.dumps(request).encode() + b"\n"], ends)
        for fd in opened:
            os.close(fd)
        self._reader = self._socket.makefile("r")
        self.pid = int(self._reader.readline())

    def poll(self):
        if self.returncode is None:
            import select

            if select.select([self._socket], [], [], 0)[0]:  # the status: one line, sent when the child ended
                self.returncode = os.waitstatus_to_exitcode(int(self._reader.readline()))
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            self._socket.settimeout(timeout)
            try:
                line = self._reader.readline()
            except (TimeoutError, socket.timeout):
                raise subprocess.TimeoutExpired(["cli.py"], timeout) from None
            finally:
                self._socket.settimeout(None)
            self.returncode = os.waitstatus_to_exitcode(int(line))
        return self.returncode

    def communicate(self, timeout=None):
        """Both outputs read to their end (in threads, so neither pipe fills), then the status."""
        results: dict = {}

        def drain(name):
            stream = getattr(self, name)
            results[name] = stream.read() if stream is not None else None

        threads = [threading.Thread(target=drain, args=(name,), daemon=True) for name in ("stdout", "stderr")]
        for thread in threads:
            thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0, deadline - time.monotonic()))
            if thread.is_alive():
                raise subprocess.TimeoutExpired(["cli.py"], timeout)
        self.wait(None if deadline is None else max(0.1, deadline - time.monotonic()))
        for name in ("stdout", "stderr"):
            if getattr(self, name) is not None:
                getattr(self, name).close()
        return results["stdout"], results["stderr"]

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def _cli_arguments(command) -> list[str] | None:
    """The arguments of a ``[sys.executable, ".../cli.py", *args]`` command when forking is on,
    else None."""
    command = [str(part) for part in command]
    if enabled() and len(command) >= 2 and command[0] == sys.executable and Path(command[1]) == CLI:
        return command[2:]
    return None


def popen(command, *, env=None, cwd=None, stdin=None, stdout=None, stderr=None, text=False):
    """``subprocess.Popen(command, ...)``; a ``python cli.py ARGS`` command as a child of the zygote."""
    arguments = _cli_arguments(command)
    if arguments is None:
        return subprocess.Popen(command, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, text=text)
    return Process(arguments, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, text=text)


def run_command(command, *, env=None, cwd=None, timeout=None, text=True) -> subprocess.CompletedProcess:
    """``subprocess.run(command, capture_output=True, stdin=DEVNULL, ...)``; a ``python cli.py ARGS``
    command as a child of the zygote (killed past ``timeout``, and TimeoutExpired raised)."""
    arguments = _cli_arguments(command)
    if arguments is None:
        return subprocess.run(command, env=env, cwd=cwd, timeout=timeout, text=text, capture_output=True,
                              stdin=DEVNULL)
    process = Process(arguments, env=env, cwd=cwd, stdin=DEVNULL, stdout=PIPE, stderr=PIPE, text=text)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(list(command), process.returncode, out, err)


def run(args, env=None, cwd=None, timeout=None, text=True) -> subprocess.CompletedProcess:
    """``python cli.py ARGS`` as :func:`run_command` runs it."""
    return run_command([sys.executable, str(CLI), *map(str, args)], env=env, cwd=cwd, timeout=timeout, text=text)


# ---------------------------------------------------------------------------------------- the zygote
def _child(request: dict, fds: list[int]) -> None:
    """In the forked child: become ``python cli.py ARGS`` and never return to the zygote's loop."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        # stdio objects anew on the new descriptors (text, line-buffered where a terminal)
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", closefd=False, buffering=-1)
        sys.stderr = open(2, "w", closefd=False, buffering=1, errors="backslashreplace")
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        sys.path[0] = str(Path(sys.argv[0]).parent)
        import runpy

        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
            code = 0
        except SystemExit as end:
            code = end.code
        except KeyboardInterrupt:  # uncaught, Python ends the process by SIGINT itself
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        # The atexit handlers of the command run as at any interpreter's end; then out.
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _serve(address: str) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import selectors

    # What `python cli.py` does before TensorFlow loads (its C++ log off, glibc's malloc tuned):
    # TensorFlow reads its log level when it loads, here, not in the child (an AVX-512 machine
    # prints an ERROR line at the first training step that the CLI turns off).
    from nlp_tasks.runtime import configure_process

    configure_process()

    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    import nlp_tasks.cli.main  # noqa: F401
    import tasks.charlm.cli  # noqa: F401
    import tasks.g2p.cli  # noqa: F401
    import tasks.music.cli  # noqa: F401
    import tasks.ner.cli  # noqa: F401
    import tasks.sentiment.cli  # noqa: F401

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    Path(address + ".ready").touch()
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    waiting: dict[int, socket.socket] = {}
    parent = os.getppid()
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.data == "accept":
                connection, _ = listener.accept()
                message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
                while not message.endswith(b"\n"):
                    message += connection.recv(1 << 20)
                request = json.loads(message)
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    connection.close()
                    _child(request, fds)
                for fd in fds:
                    os.close(fd)
                connection.sendall(f"{pid}\n".encode())
                waiting[pid] = connection
            else:
                os.read(wake_read, 4096)
        while waiting:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            connection = waiting.pop(pid, None)
            if connection is not None:
                try:
                    connection.sendall(f"{status}\n".encode())
                except OSError:
                    pass
                connection.close()
        if os.getppid() != parent:  # the pytest process is gone (xdist's workers end without atexit)
            shutil.rmtree(os.path.dirname(address), ignore_errors=True)
            return


if __name__ == "__main__":
    _serve(sys.argv[1])
