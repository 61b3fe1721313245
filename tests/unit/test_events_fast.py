"""The hot paths build InstallEvent and SSEMessage without their __init__: every field must still be set."""

from __future__ import annotations

import dataclasses

from deploytui.protocol.events import InstallEvent, parse_event


def test_install_events_built_fast_equal_the_dataclasses_own() -> None:
    event = parse_event("install", '{"manager":"npm","stream":"stderr","line":"x","t":5}', seq=3)
    expected = InstallEvent(manager="npm", stream="stderr", line="x", seq=3, t=5, t_source="event",
                            raw={"manager": "npm", "stream": "stderr", "line": "x"})
    for field in dataclasses.fields(InstallEvent):  # a field added to Event must be set there too
        assert getattr(event, field.name) == getattr(expected, field.name), field.name
    assert event == expected and hash(event) == hash(expected) and repr(event) == repr(expected)
    assert dataclasses.replace(event, backfilled=True).backfilled


def test_sse_messages_built_fast_equal_the_dataclasses_own() -> None:
    from deploytui.protocol.sse import SSEMessage, decode_all

    (message,), _ = decode_all("id: 7\nevent: install\nretry: 5\ndata: a\ndata: b\n\n")
    for field in dataclasses.fields(SSEMessage):
        assert hasattr(message, field.name), field.name
    assert message == SSEMessage("install", "a\nb", "7", 5) and hash(message) == hash(SSEMessage("install", "a\nb", "7", 5))
