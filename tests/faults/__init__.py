"""The fault and bad-input suite: tables of cases, one module per area (``cases_*.py``).

``tests/test_faults.py`` collects every ``CASES`` list here and runs each case, in process
through ``cli.main`` or, where a case may crash, hang or exhaust memory, in a subprocess with a
timeout. The count of cases is printed at the end of the test run.
"""
