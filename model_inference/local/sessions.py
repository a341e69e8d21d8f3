"""ONNX Runtime sessions of the built-in and user models, made one way."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


def cpu_session(model: str | bytes) -> InferenceSession:
    """A CPU session (model: path or bytes) on at most two threads of the cores this process may
    use, which sleep when idle: spinning threads would take the cores the other requests and
    the detector need (on one core, spinning made a 10-crop embedding 2.7× slower)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, min(2, len(os.sched_getaffinity(0))))
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
