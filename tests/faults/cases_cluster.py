"""Multi-worker start-up (issue 22 item 9): a peer that never comes, a taken port, a bad timeout.

Each case is one worker of a two-worker cluster on free ports of 127.0.0.1; its peer is never
started. All but one end before TensorFlow is imported, so those subprocess cases cost about a second.
Signals and a peer lost mid-training need two processes: ``tests/nlp_tasks/test_distribute.py``.
"""

from __future__ import annotations

import json
import socket

from tests.faults.harness import Case, free_ports
from tests.faults.models import sentiment_train_argv, write_sentiment_data

_held: list[socket.socket] = []  # sockets kept open while a case runs, closed by its check


def _worker(env: dict, *extra: str, hold_own_port: bool = False, fake_peer: bool = False):
    """A setup that writes worker 0's TF_CONFIG into ``env`` (the case's environment, filled in
    when it runs, so the ports are free then) and returns its train command."""

    def setup(tmp, models):
        ports = free_ports(2)
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                       "task": {"type": "worker", "index": 0}})
        if hold_own_port:  # another program already listens on this worker's address
            taken = socket.socket()
            taken.bind(("127.0.0.1", ports[0]))
            taken.listen(1)
            _held.append(taken)
        if fake_peer:  # something answers at worker 1's address but never joins the cluster
            peer = socket.socket()
            peer.bind(("127.0.0.1", ports[1]))
            peer.listen(8)
            _held.append(peer)
        return sentiment_train_argv(write_sentiment_data(tmp), tmp / "out", "--strategy", "multi-worker", *extra)

    return setup


def _nothing_written(tmp, result):
    while _held:
        _held.pop().close()
    assert not (tmp / "out").exists()


_missing, _from_env, _never_joins = {}, {"NLP_TASKS_WORKER_TIMEOUT": "1.5"}, {}
_taken, _bad_env = {"NLP_TASKS_WORKER_TIMEOUT": "10"}, {"NLP_TASKS_WORKER_TIMEOUT": "soon"}

CASES = [
    Case("22.9", "a worker whose peer never starts", _worker(_missing, "--worker-timeout", "2"), subprocess=True,
         timeout=60, env=_missing, error=r"worker 1 \(127\.0\.0\.1:\d+\) did not answer within 2 s",
         check=_nothing_written),
    Case("22.9", "a worker timeout from the environment", _worker(_from_env), subprocess=True, timeout=60,
         env=_from_env, error=r"worker 1 \(127\.0\.0\.1:\d+\) did not answer within 1\.5 s", check=_nothing_written),
    # TensorFlow then waits for the peer in C++, holding the interpreter: a watchdog process ends
    # the worker (SIGKILL, so the status is -9) after printing the line.
    Case("22.9", "a peer that answers but never joins the cluster", _worker(_never_joins, "--worker-timeout", "3",
                                                                            fake_peer=True),
         subprocess=True, timeout=120, env=_never_joins, exit=-9,
         error=r"the cluster did not form within 3 s after every worker had answered", check=_nothing_written),
    Case("22.9", "a worker whose own port is taken", _worker(_taken, hold_own_port=True), subprocess=True, timeout=60,
         env=_taken, error=r"cannot listen on 127\.0\.0\.1:\d+, this worker 0's address in TF_CONFIG",
         check=_nothing_written),
    Case("22.9", "a worker timeout in the environment that is not a number", _worker(_bad_env), subprocess=True,
         timeout=60, env=_bad_env, error=r"NLP_TASKS_WORKER_TIMEOUT must be a positive number of seconds, got 'soon'",
         check=_nothing_written),
    Case("22.9", "a worker timeout of zero",
         lambda tmp, models: sentiment_train_argv(write_sentiment_data(tmp), tmp / "out", "--strategy", "multi-worker",
                                                  "--worker-timeout", "0"),
         error=r"--worker-timeout", check=_nothing_written),
    Case("22.9", "a worker timeout without multi-worker",
         lambda tmp, models: sentiment_train_argv(write_sentiment_data(tmp), tmp / "out", "--worker-timeout", "5"),
         error=r"--worker-timeout only applies to --strategy multi-worker", check=_nothing_written),
]
