"""The local model server (`python -m nachet serve-models`): the built-in models over the Azure ML
protocol, a small web application of its own beside the engine it serves (ARCHITECTURE.md)."""
