"""The command line: an option given before the command is kept by the command (argparse's
subcommands would otherwise reset it to their own default)."""

from __future__ import annotations

import pytest

from deploytui.cli import build_parser


@pytest.mark.parametrize("argv", [
    ["--data-dir", "/srv/d", "server", "stop"],
    ["server", "stop", "--data-dir", "/srv/d"],
    ["--data-dir", "/srv/d", "server", "status"],
    ["--data-dir", "/srv/d", "serve"],
    ["serve", "--data-dir", "/srv/d"],
    ["--data-dir", "/srv/d", "list"],
])
def test_data_dir_before_or_after_the_command(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).data_dir == "/srv/d"


def test_server_credentials_before_the_command() -> None:
    args = build_parser().parse_args(["--user", "ops", "--password", "pw", "server", "status"])
    assert (args.user, args.password) == ("ops", "pw")


def test_no_data_dir_given_is_none() -> None:
    assert build_parser().parse_args(["server", "stop"]).data_dir is None
