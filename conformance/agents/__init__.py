"""Agents: small programs that let the runner drive an implementation (spec/conformance.md)."""
