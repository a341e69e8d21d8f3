"""Models that run inside the service, with no network: the classical seed detector, the
classifier that learns from labelled uploads and feedback, and user-supplied ONNX models."""
