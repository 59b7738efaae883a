"""PUT /llm/config: the model allowlist (an unknown model is a 422 wherever a model is named) and
the token cap, which a PUT that leaves `limits` out keeps."""

from __future__ import annotations

import time

import httpx
import jwt

API = "/api/v1"
SECRET = "llm-config-test-secret-of-32-bytes-or-more"


def bearer(sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode({'sub': sub, 'exp': int(time.time()) + 600}, SECRET)}"}


async def test_model_allowlist_and_the_token_cap(make_system):
    system = make_system(
        env_extra={"PARLEY_JWT_SECRET": SECRET, "PARLEY_ADMIN_USERS": "root", "PARLEY_MAX_TOKENS": "300"}
    )
    admin, user = bearer("root"), bearer("alice")
    async with httpx.AsyncClient(base_url=system.edge_urls[0] + API, timeout=30) as client:
        before = (await client.get("/llm/config", headers=admin)).json()
        assert before["limits"]["max_tokens"] == 300 and before["models"] == {}

        # A PUT that only changes the failover keeps the cap (it used to drop it: no cap at all).
        put = await client.put("/llm/config", headers=admin, json={"default_provider": "local", "failover": []})
        assert put.status_code == 200 and put.json()["limits"]["max_tokens"] == 300

        allowed = {"default_provider": "local", "models": {"local": ["scripted", "other"]}}
        put = await client.put("/llm/config", headers=admin, json=allowed)
        assert put.status_code == 200 and put.json()["models"] == {"local": ["scripted", "other"]}
        assert put.json()["limits"]["max_tokens"] == 300
        bad_default = await client.put("/llm/config", headers=admin, json={**allowed, "default_model": "nope"})
        assert bad_default.status_code == 422

        sid = (await client.post("/chat/sessions", headers=user, json={"llm_model": "other"})).json()["id"]
        for method, path, body in [
            ("POST", "/chat/sessions", {"llm_model": "unknown-model"}),
            ("POST", "/chat/sessions", {"llm_provider": "local", "llm_model": "unknown-model"}),
            ("PATCH", f"/chat/sessions/{sid}", {"llm_model": "unknown-model"}),
        ]:
            response = await client.request(method, path, headers=user, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert response.json()["detail"][0]["loc"] == ["body", "llm_model"]
        sent = await client.post(f"/chat/sessions/{sid}/messages", headers=user, json={"content": "hi"})
        assert sent.status_code == 202
        regenerate = await client.post(f"/chat/sessions/{sid}/process-llm", headers=user, json={"llm_model": "x"})
        assert regenerate.status_code == 422
        # Another provider has no list: any model.
        other = await client.patch(
            f"/chat/sessions/{sid}", headers=user, json={"llm_provider": "openrouter", "llm_model": "any/model"}
        )
        assert other.status_code == 200
        assert (await client.patch(f"/chat/sessions/{sid}", headers=user, json={"llm_model": "x/y"})).status_code == 200
