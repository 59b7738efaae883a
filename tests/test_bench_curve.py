"""The scaling curve (services/bench/curve.py) and the fit of fixed and per-token CPU
(services/bench/stats.py)."""

from __future__ import annotations

import pytest

from services.bench import curve, stats


def test_the_fit_separates_the_cost_of_an_answer_from_the_cost_of_its_tokens():
    # 2 ms per answer and 300 µs per token, at short and long answers.
    def cores(answers: float, tokens: float) -> float:
        return 0.002 * answers + 0.0003 * tokens

    fit = stats.fixed_and_marginal([(cores(30, 1200), 30, 1200), (cores(3, 1200), 3, 1200)])
    assert fit == pytest.approx((0.002, 0.0003))
    # Answers and tokens in the same proportion cannot be told apart.
    assert stats.fixed_and_marginal([(1.0, 10, 400), (2.0, 20, 800)]) is None
    assert stats.fixed_and_marginal([(1.0, 10, 400)]) is None


def side(cores: float, answers: float, tokens: float, p99: float = 5.0) -> dict:
    dist = {"n": 9, "p50": p99 / 2, "p99": p99}
    return {
        "cpu": {"total": {"cores": cores}},
        "answers_per_s": answers,
        "tokens_per_s": tokens,
        "latency_ms": dist,
        "ttft_overhead_ms": dist,
    }


def point(clients: int, tokens: int, parley: dict, baseline: dict, group: str = "scaling") -> dict:
    return {"clients": clients, "rate": 30.0, "tokens": tokens, "group": group, "parley": parley, "baseline": baseline}


def test_rows_pair_the_answer_lengths_of_each_stream_count():
    scenarios = [
        point(25, 40, side(0.002 * 18 + 0.0004 * 750, 18, 750), side(0.0005 * 18 + 0.0002 * 750, 18, 750)),
        point(25, 400, side(0.002 * 1.8 + 0.0004 * 750, 1.8, 750), side(0.0005 * 1.8 + 0.0002 * 750, 1.8, 750)),
        point(50, 40, side(1.0, 36, 1500), side(0.4, 36, 1500)),  # no long-answer partner: no fit
        {"clients": 25, "rate": 30.0, "tokens": 40, "arrival_rate": 5.0, "parley": side(9, 1, 1)},  # open loop
    ]
    rows = curve.rows(scenarios)
    assert [(r["clients"], r["tokens"]) for r in rows] == [(25, 40), (25, 400), (50, 40)]
    first = rows[0]
    assert first["parley"]["cpu_per_answer_ms"] == 2.0 and first["parley"]["marginal_cpu_per_token_us"] == 400.0
    assert first["baseline"]["cpu_per_answer_ms"] == 0.5
    assert first["parley"]["cpu_per_token_us"] == pytest.approx(448.0, abs=0.1)
    assert first["cpu_per_token_ratio"] == pytest.approx(448 / 212, abs=0.01)
    assert rows[2]["parley"]["cpu_per_answer_ms"] is None and rows[2]["parley"]["fit"] is None


def test_a_negative_fit_is_noise_and_left_out():
    rows = curve.rows(
        [
            point(10, 40, side(0.5, 10, 400), side(0.1, 10, 400)),
            point(10, 400, side(0.6, 1, 400), side(0.1, 1, 400)),  # fewer answers, more CPU
        ]
    )
    assert rows[0]["parley"]["fit"][0] < 0 and rows[0]["parley"]["cpu_per_answer_ms"] is None


def test_a_quick_runs_latency_scenario_pairs_with_its_longer_point():
    rows = curve.rows(
        [
            point(40, 40, side(0.5, 20, 800), side(0.2, 20, 800), group=""),
            point(40, 90, side(0.45, 9, 800), side(0.18, 9, 800)),
            point(150, 40, side(1, 1, 1), side(1, 1, 1), group=""),  # not a point of the curve
        ]
    )
    assert [(r["clients"], r["tokens"]) for r in rows] == [(40, 40), (40, 90)]


def test_table_and_plot(tmp_path):
    rows = curve.rows(
        [
            point(25, 40, side(0.3, 18, 750), side(0.1, 18, 750)),
            point(50, 40, side(0.6, 36, 1500, p99=8.0), side(0.2, 36, 1500)),
        ]
    )
    text = "\n".join(curve.markdown(rows))
    assert "| 50 × 30 | 40 | 1,500 / 1,500 | 4.0 / 2.5 | 8.0 / 5.0 |" in text
    assert curve.plot(rows, tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    assert curve.markdown([]) == [] and curve.plot([], tmp_path / "none.png") is None
