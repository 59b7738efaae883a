"""Hostile input: every row of issue 11's table, and the family (NaN/Infinity, lone surrogates,
NUL, non-UTF-8 bodies, huge integers, non-canonical UUIDs) on every text field and query
parameter. Nothing gets a 5xx; nothing reaches the stream that the projection cannot store."""

from __future__ import annotations

import uuid

import httpx
import pytest
import websockets

from services.edge import inbound, inputs
from services.edge.errors import BadFrame
from tests.support.sockets import recv, until, ws_url

API = "/api/v1"
SURROGATE = '"\\ud800"'  # JSON text of a lone surrogate


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [1, {"b": "x\x00"}]}, ("a", 1, "b")),
        ({"title": "\ud800"}, ("title",)),
        ({"\udfff": 1}, ("\udfff",)),
        ({"t": float("nan")}, ("t",)),
        ({"t": float("inf")}, ("t",)),
        ({"n": 2**63}, ("n",)),
        ({"n": -(2**63) - 1}, ("n",)),
    ],
)
def test_problem_names_the_bad_value(value, where):
    found = inputs.problem(value)
    assert found is not None and found[0] == where


def test_problem_accepts_ordinary_documents():
    assert inputs.problem({"a": ["é", 1.5, 2**63 - 1, -(2**63), True, None, {"b": "ok 🙂"}]}) is None
    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert inputs.problem(deep) is not None


def test_one_canonical_uuid_form():
    u = uuid.uuid4()
    for form in (str(u).upper(), u.hex, f"{{{u}}}", f"urn:uuid:{u}"):
        assert inputs.canonical_id(form) == str(u)
    for bad in ("", "not-a-uuid", "x" * 100, str(u) + "\x00"):
        assert inputs.canonical_id(bad) is None


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "send", "content": "a\\u0000b"}',
        '{"type": "send", "content": "x", "client_message_id": "\\u0000"}',
        '{"type": "regenerate", "llm_model": "m\\u0000"}',
        '{"type": "send", "content": "x", "n": 1e999}',
        '{"type": "send", "content": "x", "n": 99999999999999999999999}',
        '{"type": "send", "content": ' + SURROGATE + "}",
        '{"type": "send", "content": NaN}',
        b'{"type": "send", "content": "\xff"}',
        "[" * 5000 + "]" * 5000,  # deeper than msgspec decodes
    ],
)
def test_frames_with_unstorable_values_are_refused(raw):
    with pytest.raises(BadFrame) as refused:
        inbound.parse(raw)
    assert refused.value.code in {"invalid_frame", "bad_json"}


async def test_every_row_of_the_table_gets_a_4xx_not_a_5xx(make_system):
    system = make_system()
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url + API, timeout=30) as client:
        sid = (await client.post("/chat/sessions")).json()["id"]

        async def raw(method: str, path: str, body: bytes, content_type: str = "application/json") -> httpx.Response:
            return await client.request(method, path, content=body, headers={"content-type": content_type})

        bodies = [
            b'{"settings": {"temperature": NaN}}',
            b'{"settings": {"temperature": 1e999}}',
            b'{"settings": {"top_p": -Infinity}}',
            b'{"title": Infinity}',
            b'{"title": ' + SURROGATE.encode() + b"}",
            b'{"title": "a\\u0000"}',
            b'{"llm_model": "\\u0000"}',
            b'{"settings": {"system_prompt": "\\u0000"}}',
            b'{"settings": {"max_tokens": 100000000000000000000000}}',
            b'{"title": ' + b"9" * 5000 + b"}",  # more digits than Python parses
            b'{"title": "\xff\xfe"}',  # not UTF-8
            b"[" * 5000 + b"]" * 5000,
        ]
        for body in bodies:
            for method, path in (("POST", "/chat/sessions"), ("PATCH", f"/chat/sessions/{sid}")):
                response = await raw(method, path, body)
                assert response.status_code == 422, (method, body[:60], response.text)
        for body in (
            b'{"content": ' + SURROGATE.encode() + b"}",
            b'{"content": "x\\u0000"}',
            b'{"content": "x", "client_message_id": "\\u0000"}',
            b'{"content": NaN}',
        ):
            response = await raw("POST", f"/chat/sessions/{sid}/messages", body)
            assert response.status_code == 422, (body, response.text)
        for body in (b'{"llm_model": "\\u0000"}', b'{"message_id": ' + SURROGATE.encode() + b"}"):
            response = await raw("POST", f"/chat/sessions/{sid}/process-llm", body)
            assert response.status_code == 422, (body, response.text)
        config = await raw("PUT", "/llm/config", b'{"default_provider": "local", "limits": {"max_tokens": NaN}}')
        assert config.status_code == 422, config.text

        # A body that is not JSON at all, declared as text: refused, and the refusal encodes.
        for content_type in ("text/plain", "application/octet-stream"):
            response = await raw("POST", f"/chat/sessions/{sid}/messages", b"\xff", content_type)
            assert response.status_code in (415, 422), response.text
        response = await raw("POST", "/chat/sessions", b"\xff\xfe", "text/plain")
        assert response.status_code in (415, 422), response.text

        # Query parameters: huge integers, NUL, bad UTF-8.
        for path in ("/chat/sessions", f"/chat/sessions/{sid}/messages"):
            for query in ("page=100000000000000000000", "page_size=100000000000000000000", "page=-1", "page=1.5"):
                response = await client.get(f"{path}?{query}")
                assert response.status_code == 422, (path, query, response.text)
            for query in ("q=%00", "before=%00", "q=%FF%FE", "q=%ED%A0%80", "before=%ED%A0%80"):
                response = await client.get(f"{path}?{query}")
                assert response.status_code in (200, 422), (path, query, response.text)
        assert (await client.get("/chat/sessions?q=%00")).status_code == 422
        assert (await client.get("/chat/sessions?page=999999")).json() == []

        # Nothing above reached the stream: the session is as it was created, with no message.
        session = (await client.get(f"/chat/sessions/{sid}")).json()
        assert session["title"] == "New chat" and session["message_count"] == 0
        assert (await client.get(f"/chat/sessions/{sid}/messages")).json() == []


async def test_a_session_id_in_any_uuid_form_is_one_session(make_system):
    system = make_system()
    url = system.edge_urls[0]
    async with httpx.AsyncClient(base_url=url + API, timeout=30) as client:
        sid = (await client.post("/chat/sessions")).json()["id"]
        upper = sid.upper()  # as Swift's uuidString sends it
        assert (await client.get(f"/chat/sessions/{upper}")).json()["id"] == sid
        async with websockets.connect(ws_url(url, f"{API}/chat/websocket/{upper}?after_seq=0")) as ws:
            connected = await recv(ws)
            assert connected["session_id"] == sid
            sent = await client.post(f"/chat/sessions/{upper}/messages", json={"content": "hello"})
            assert sent.status_code == 202, sent.text
            assert sent.json()["message"]["session_id"] == sid
            answer_id = sent.json()["answer_message_id"]
            done = await until(
                ws, lambda f: f["message_id"] == answer_id and f["data"].get("event") in ("completed", "failed"), 60
            )
            assert done["data"]["event"] == "completed", done
            # An answer socket by an upper-case answer id streams that answer.
            async with websockets.connect(ws_url(url, f"{API}/chat/llm-stream/{answer_id.upper()}")) as answer:
                final = await until(answer, lambda f: f["data"].get("event") == "completed", 15)
                assert final["message_id"] == answer_id
            cancel = await client.post(f"/chat/sessions/{upper}/messages/{answer_id.upper()}/cancel")
            assert cancel.status_code == 202 and cancel.json()["message_id"] == answer_id
        # Read-your-writes as a client does it: the read waits for the read model to include the
        # completed frame's seq (without it the read races the projection, which runs niced and
        # writes within its 25 ms settle window).
        read = await client.get(f"/chat/sessions/{upper}/messages", headers={"X-Parley-Seq": str(done["seq"])})
        messages = read.json()
        assert [m["status"] for m in messages] == ["complete", "complete"]
        assert {m["session_id"] for m in messages} == {sid}
