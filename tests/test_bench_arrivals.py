"""Open-loop arrivals (services/bench/arrivals.py): a Poisson schedule and its split."""

from __future__ import annotations

import numpy as np

from services.bench import arrivals


def test_a_poisson_schedule_has_the_rate_and_exponential_gaps():
    times = arrivals.poisson(50.0, 200.0, seed=1)
    assert all(0 <= t < 200.0 for t in times) and times == sorted(times)
    assert abs(len(times) - 10_000) < 400  # mean 10,000, sd 100
    gaps = np.diff(times)
    # Exponential: the standard deviation equals the mean (a fixed pace would have none).
    assert abs(gaps.mean() - 0.02) < 0.001 and abs(gaps.std() / gaps.mean() - 1) < 0.05


def test_the_same_seed_gives_the_same_schedule_and_nothing_asked_gives_nothing():
    assert arrivals.poisson(5.0, 10.0, seed=3) == arrivals.poisson(5.0, 10.0, seed=3)
    assert arrivals.poisson(5.0, 10.0, seed=3) != arrivals.poisson(5.0, 10.0, seed=4)
    assert arrivals.poisson(0.0, 10.0) == [] and arrivals.poisson(5.0, 0.0) == []


def test_shares_of_a_schedule_keep_every_arrival_once():
    times = arrivals.poisson(20.0, 5.0, seed=2)
    parts = [arrivals.share(times, 3, i) for i in range(3)]
    assert sorted(t for part in parts for t in part) == times
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_sockets_cover_the_answers_in_flight_with_room():
    # Little's law: 75 prompts/s of 1.33 s answers keep 100 in flight.
    assert arrivals.sockets_needed(75.0, 40 / 30) >= 200
    assert arrivals.sockets_needed(0.1, 0.1) == 5  # one in flight at most, and four spare
