"""SSEDecoder alone: every WPT vector (whole, chunked as given, one byte at a time), plus the places
where httpx-sse 0.4.3's own event parser departs from the spec (a leading BOM kept, data-less and
phantom events dispatched, ``retry`` read with ``int()``, ``charset`` honoured), each fixed here."""

from __future__ import annotations


import pytest

from deploytui.protocol.sse import SSEDecoder, SSEMessage, decode_all

from tests.data.sse_vectors import PARSE_CASES, case_chunks


def run(decoder: SSEDecoder, pieces: list[bytes]) -> list[dict]:
    events: list[SSEMessage] = []
    for piece in pieces:
        events += decoder.feed_bytes(piece)
    events += decoder.close()
    return [{"event": e.event, "data": e.data, "id": e.id} for e in events]


def check(case: dict, pieces: list[bytes]) -> None:
    decoder = SSEDecoder()
    assert run(decoder, pieces) == case["expected"]
    assert decoder.last_event_id == case["expected_last_event_id"]
    assert decoder.retry_ms == case["expected_retry_ms"]


@pytest.mark.parametrize("case", PARSE_CASES, ids=[c["name"] for c in PARSE_CASES])
def test_vector_as_chunked(case: dict) -> None:
    check(case, case_chunks(case))


@pytest.mark.parametrize("case", PARSE_CASES, ids=[c["name"] for c in PARSE_CASES])
def test_vector_whole(case: dict) -> None:
    check(case, [b"".join(case_chunks(case))])


@pytest.mark.parametrize("case", PARSE_CASES, ids=[c["name"] for c in PARSE_CASES])
def test_vector_byte_by_byte(case: dict) -> None:
    body = b"".join(case_chunks(case))
    check(case, [body[i : i + 1] for i in range(len(body))])


@pytest.mark.parametrize("case", PARSE_CASES, ids=[c["name"] for c in PARSE_CASES])
def test_vector_as_text_char_by_char(case: dict) -> None:
    text = b"".join(case_chunks(case)).decode("utf-8", errors="replace")
    decoder = SSEDecoder()
    events = [m for ch in text for m in decoder.feed_text(ch)] + decoder.close()
    assert [{"event": e.event, "data": e.data, "id": e.id} for e in events] == case["expected"]
    assert decoder.last_event_id == case["expected_last_event_id"]


def test_vectors_file_is_not_empty() -> None:
    assert len(PARSE_CASES) >= 25


# -- the httpx-sse deviations (httpx-sse 0.4.3), each fixed ----------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3])
def test_bom_split_across_chunks_is_stripped(split: int) -> None:
    body = b"\xef\xbb\xbfevent: a\ndata: 1\n\n"
    events, _ = decode_all(body)
    assert [(e.event, e.data) for e in events] == [("a", "1")]
    decoder = SSEDecoder()
    out = decoder.feed_bytes(body[:split]) + decoder.feed_bytes(body[split:]) + decoder.close()
    assert [(e.event, e.data) for e in out] == [("a", "1")]


def test_bom_not_at_start_of_body_is_kept() -> None:
    events, _ = decode_all(b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n")
    assert [e.data for e in events] == ["1"]


def test_no_dispatch_without_data_but_id_only_block_updates_last_event_id() -> None:
    events, decoder = decode_all("event: foo\n\nid: 7\n\nretry: 100\n\n: c\n\n\n\n")
    assert events == []
    assert decoder.last_event_id == "7"
    assert decoder.retry_ms == 100


def test_no_phantom_events_after_an_id() -> None:
    events, _ = decode_all("id: 1\ndata: a\n\n: ping\r\n\r\n\n\n: keepalive\ndata: b\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1")]


def test_empty_data_line_still_dispatches() -> None:
    events, _ = decode_all("data:\n\n")
    assert events == [SSEMessage(event="message", data="", id="", retry=None)]


@pytest.mark.parametrize("value", ["-5", "+5", " 5", "5 ", "1_000", "\uff15", "\u0661\u0660", "10a", ""])
def test_retry_ignored_unless_ascii_digits(value: str) -> None:
    _, decoder = decode_all(f"retry: 1000\nretry: {value}\ndata: x\n\n")
    assert decoder.retry_ms == 1000


def test_retry_on_message_is_block_scoped_and_decoder_keeps_it() -> None:
    events, decoder = decode_all("retry: 0250\ndata: a\n\ndata: b\n\n")
    assert [e.retry for e in events] == [250, None]
    assert decoder.retry_ms == 250


def test_charset_is_ignored_bytes_are_utf8_and_invalid_bytes_replaced() -> None:
    events, _ = decode_all("data: ok\u2026\n\n".encode() + b"data: \xff\n\n")
    assert [e.data for e in events] == ["ok\u2026", "\ufffd"]


def test_multibyte_character_split_across_chunks() -> None:
    body = "data: \u2026\U0001f680\n\n".encode()
    events = run(SSEDecoder(), [body[i : i + 1] for i in range(len(body))])
    assert events == [{"event": "message", "data": "\u2026\U0001f680", "id": ""}]


def test_unicode_line_separators_are_not_line_endings() -> None:
    events, _ = decode_all('data: {"a":"x\u2028y\u0085z\x0b\x0c"}\n\n')
    assert events[0].data == '{"a":"x\u2028y\u0085z\x0b\x0c"}'


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    out = decoder.feed_bytes(b"data: a\r") + decoder.feed_bytes(b"\ndata: b\r") + decoder.feed_bytes(b"\n\r\n")
    assert [e.data for e in out] == ["a\nb"]


def test_trailing_cr_at_eof_ends_the_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_bytes(b"data: a\n\r") == []
    assert [e.data for e in decoder.close()] == ["a"]


def test_eof_discards_pending_event_and_unterminated_line() -> None:
    events, decoder = decode_all("data: a\n\nid: 9\ndata: b\nretry: 5")
    assert [e.data for e in events] == ["a"]
    assert decoder.last_event_id == ""
    assert decoder.retry_ms is None


def test_resume_starts_from_previous_last_event_id() -> None:
    decoder = SSEDecoder(last_event_id="41", retry_ms=3000)
    events = decoder.feed_text("data: x\n\n")
    assert events[0].id == "41"
    assert decoder.retry_ms == 3000


def test_message_json() -> None:
    (event,), _ = decode_all('event: phase\ndata: {"phase": "prepare", "status": "start"}\n\n')
    assert event.json() == {"phase": "prepare", "status": "start"}


def test_feed_after_close_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(RuntimeError):
        decoder.feed_text("data: x\n\n")


def test_usual_blocks_fast_path_agrees_with_the_line_rules() -> None:
    """Blocks of the usual shape take one regex each; mixed with every other kind of line and cut
    anywhere, the events and the decoder's state are those of the line rules (char by char, a
    piece never holds a whole block, so only the line rules run)."""
    import random

    pieces = ["id: 1\nevent: install\ndata: {\"line\":\"a\"}\n\n", "event: phase\ndata: x\n\n", "id: \nevent: e\ndata: \n\n",
              "id: 7\0\nevent: e\ndata: nul id\n\n", ": comment\n\n", "retry: 50\n", "data:nospace\n\n", "data: a\ndata: b\n\n",
              "event:  two spaces\ndata: y\n\n", "id: 9\n\n", "event: e\r\ndata: crlf\r\n\r\n", "event: \ndata: typeless\n\n",
              "id: 10\nevent: é\ndata: ü ✓\n\n", "event: e\ndata: no end", "\n", "id: 11\n", "event: x\n"]
    rng = random.Random(5)
    for _ in range(300):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        reference = SSEDecoder()
        expected = [m for c in body for m in reference.feed_text(c)] + reference.close()
        decoder = SSEDecoder()
        got, at = [], 0
        while at < len(body):
            step = rng.randint(1, 80)
            got += decoder.feed_text(body[at:at + step])
            at += step
        got += decoder.close()
        assert got == expected, repr(body)
        assert (decoder.last_event_id, decoder.retry_ms) == (reference.last_event_id, reference.retry_ms), repr(body)
        whole, state = decode_all(body)
        assert whole == expected and state.last_event_id == reference.last_event_id, repr(body)
