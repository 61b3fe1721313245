"""The headless commands: ``list``, ``watch``, ``deploy`` and ``demo``, for CI logs, pipes and scripts.

Each module has ``run(args) -> int`` (the exit code), called by :mod:`deploytui.cli`. They never import
Textual nor the server package. Conventions shared by all (see :mod:`.common`): data on stdout,
diagnostics and progress on stderr; exit 0 when the deploy succeeded, 1 when it failed, 2 for
usage, connection and authentication errors, with one clear line on stderr.
"""
