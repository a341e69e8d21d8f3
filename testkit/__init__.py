"""Instruments for the tests and benchmarks, kept out of the service (an import-linter contract):
synthetic seed trays with their ground truth (synthetic.py) and an OpenID issuer on loopback
with signing keys made here (identity_issuer.py)."""
