"""G.168 test equipment in software: echo paths, test signals, line, level meter.

Used by the G.168-named tests in ``tests/dsp/test_echo*.py`` and by the echo
bench (``tests/bench/bench_echo.py``).  Nothing here is product code.
"""
