"""Caps the data segment of a fault case's child process at ``NLP_TASKS_TEST_DATA_LIMIT_MB``
megabytes (``RLIMIT_DATA``: the heap and private writable mappings, where TensorFlow's tensors
live), so that a command that would allocate gigabytes fails its case on any machine, as it
would on a smaller one (``std::bad_alloc``), instead of passing where memory happens to suffice.

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``: a case puts this folder there
(:data:`tests.faults.cases_r2_models.MEMORY_LIMIT`). Nothing else imports it.
"""

import os
import resource

_limit = int(os.environ.get("NLP_TASKS_TEST_DATA_LIMIT_MB", "0")) * 2**20
if _limit > 0:
    resource.setrlimit(resource.RLIMIT_DATA, (_limit, _limit))
