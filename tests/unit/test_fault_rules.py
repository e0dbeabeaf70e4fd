"""Fault rules that hit a share of requests: the chaos run's 5 % of everything, reproducibly."""

from __future__ import annotations

import pytest

from devhost.storage.faults import FaultInjector


def hits(injector: FaultInjector, requests: int) -> int:
    return sum(
        injector.take("request", "GET", "/acct/c/b", "") is not None for _ in range(requests)
    )


def test_a_rule_with_a_probability_hits_about_that_share_and_counts_them() -> None:
    """5 % of 4,000 requests is 200; a seeded injector lands near it and counts each hit."""
    injector = FaultInjector(seed=7)
    injector.fail(status=503, code="ServerBusy", times=None, probability=0.05)
    hit = hits(injector, 4000)
    assert 140 <= hit <= 260
    assert injector.injected() == {"request": hit, "source": 0, "destination": 0}


def test_the_same_seed_hits_the_same_requests() -> None:
    """A chaos run is repeatable: the seed decides which requests fail."""

    def pattern(seed: int) -> list[bool]:
        injector = FaultInjector(seed=seed)
        injector.fail(status=500, code="InternalError", times=None, probability=0.3)
        return [injector.take("request", "PUT", "/a/c/b", "") is not None for _ in range(50)]

    assert pattern(3) == pattern(3)
    assert pattern(3) != pattern(4)


def test_a_miss_uses_none_of_a_rules_times() -> None:
    """`times` counts faults injected, not requests seen: two hits, however many misses."""
    injector = FaultInjector(seed=1)
    injector.fail(status=500, code="InternalError", times=2, probability=0.1)
    assert hits(injector, 2000) == 2


@pytest.mark.parametrize("probability", [0.0, -0.1, 1.5])
def test_a_probability_outside_zero_to_one_is_refused(probability: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        FaultInjector().fail(status=500, code="InternalError", probability=probability)


def test_clear_forgets_rules_and_counts() -> None:
    injector = FaultInjector()
    injector.fail(status=500, code="InternalError", times=None)
    hits(injector, 3)
    injector.clear()
    assert hits(injector, 3) == 0 and injector.injected()["request"] == 0
