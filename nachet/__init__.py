"""Operator-facing pieces shared by the service: configuration and the command line."""
