"""Targets of issues 10 and 17 read from a run's results (services/bench/goals.py)."""

from __future__ import annotations

from services.bench import goals


def stored(permanent: int, short: int, tokens: int, text: int) -> dict:
    return {
        "tokens": tokens,
        "answers": tokens // 40,
        "text_bytes": text,
        "permanent": {"bytes": permanent},
        "short_lived": {"bytes": short},
        "all": {"bytes": permanent + short},
    }


def by_target(results: dict) -> dict[str, dict]:
    return {r["target"]: r for r in goals.evaluate(results)}


def test_storage_targets_add_up_every_scenario_at_30_tokens_per_second():
    results = {
        "scenarios": [
            {
                "name": "a",
                "clients": 10,
                "rate": 30.0,
                "tokens": 40,
                "parley": {"storage": stored(9000, 3000, 100, 500)},
            },
            {
                "name": "b",
                "clients": 10,
                "rate": 30.0,
                "tokens": 40,
                "parley": {"storage": stored(1000, 1000, 100, 500)},
            },
            {"name": "c", "clients": 9, "rate": 20.0, "tokens": 40, "parley": {"storage": stored(10**6, 0, 10, 50)}},
        ]
    }
    found = by_target(results)
    # 10,000 permanent bytes against a budget of 3 × 1,000 text bytes + 4 × 200 tokens = 3,800.
    log = found["permanent log ≤ 3 × the text's UTF-8 bytes + 4 B/token (× that budget)"]
    assert log["measured"] == 2.63 and log["met"] is False and log["load"] == "50 B/token, 200 tokens"
    everything = found["everything stored ≤ 150 bytes per token at 30 tok/s"]
    assert everything["measured"] == 70.0 and everything["met"] is True


def test_cpu_per_token_spread_and_fixed_cost_come_from_the_curve():
    def row(clients: int, tokens: int, per_token: float, per_answer: float | None) -> dict:
        return {
            "clients": clients,
            "tokens": tokens,
            "parley": {"cpu_per_token_us": per_token, "cpu_per_answer_ms": per_answer},
        }

    results = {
        "scaling": [
            row(25, 40, 400.0, 2.0),
            row(100, 40, 440.0, 2.0),
            row(800, 40, 600.0, 4.0),
            row(25, 400, 300.0, 2.0),
            row(800, 400, 330.0, 4.0),
        ]
    }
    found = by_target(results)
    spread = found["CPU per token flat within ±20 % from 25 to 800 streams (% off)"]
    assert spread["measured"] == 50.0 and spread["load"] == "800 vs 25 streams, 40-token answers"
    assert spread["miss"] == "over by 30 (2.50× the target)"
    fixed = found["fixed CPU per answer ≤ 3 ms, all processes"]
    assert fixed["measured"] == 2.0 and fixed["met"] is True  # the median of 2, 2, 4 (one per stream count)
    assert fixed["load"] == "median over 3 stream counts"


def test_nothing_measured_is_neither_met_nor_missed():
    assert all(r["met"] is None and r["miss"] is None for r in goals.evaluate({}))
