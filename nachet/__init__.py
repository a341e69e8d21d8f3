"""The process: configuration, logs, metrics, the services it opens (runtime.py) and the command
line. No Quart here: the services meet Quart in api/extension.py."""

__version__ = "1.2.0"

import os

# One BLAS thread per process, set before numpy loads (it loads lazily, with the built-in models):
# the service runs CPU work on its own pool, one thread per core, and OpenBLAS's own threads
# deadlock a fork (pg_ctl at shutdown) made while another thread is inside a BLAS call: its
# atfork handler waits for workers that the call holds.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
