"""Inference: pipelines loaded from the database, one adapter per model protocol, and the
original's post-processing of boxes (scaling, overlap, colours)."""
