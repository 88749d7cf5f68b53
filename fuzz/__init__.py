"""Fuzz harnesses for grtmp's parsers (atheris), runnable without atheris as plain functions.

Each ``fuzz_*.py`` module exposes ``test_one_input(data: bytes) -> None``: it feeds ``data`` to
one or more parsers and lets through only :class:`grtmp.errors.RTMPError` (caught) -- any other
exception escapes and is a finding. See fuzz/README.md.
"""
