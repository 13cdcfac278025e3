import pytest

from rosey.bot.limits import Pacer, TokenBucket


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_bucket_allows_a_burst_then_the_refill_rate():
    clock = Clock()
    bucket = TokenBucket(capacity=5, rate=0.1, clock=clock)  # CyTube's connect bucket
    assert all(bucket.try_take() for _ in range(5))
    assert not bucket.try_take()
    assert abs(bucket.wait_time() - 10.0) < 1e-9
    clock.now += 10.0
    assert bucket.try_take() and not bucket.try_take()


def test_an_emptied_bucket_waits_for_its_refill():
    clock = Clock()
    bucket = TokenBucket(capacity=20, rate=10, clock=clock)
    bucket.empty()
    assert not bucket.try_take() and abs(bucket.wait_time() - 0.1) < 1e-9
    clock.now += 0.11
    assert bucket.try_take() and not bucket.try_take()


def test_pacer_allows_a_burst_then_one_per_interval():
    clock = Clock()
    pacer = Pacer(burst=3, per_second=10, quiet=2.0, clock=clock)
    assert all(pacer.try_take() for _ in range(3))
    assert not pacer.try_take() and abs(pacer.wait_time() - 0.1) < 1e-9
    clock.now += 0.1
    assert pacer.try_take() and not pacer.try_take()


def test_a_pause_shorter_than_quiet_earns_no_new_burst_a_longer_one_does():
    clock = Clock()
    pacer = Pacer(burst=3, per_second=10, quiet=2.0, clock=clock)
    assert all(pacer.try_take() for _ in range(3))
    clock.now += 1.0  # a token bucket at 10/s would hold a full burst again by now
    assert pacer.try_take() and not pacer.try_take()
    clock.now += 2.01
    assert all(pacer.try_take() for _ in range(3)) and not pacer.try_take()


def test_cooldown_blocks_the_pacer():
    clock = Clock()
    pacer = Pacer(burst=20, per_second=10, quiet=2.0, clock=clock)
    pacer.block_for(0.5)
    assert not pacer.try_take() and abs(pacer.wait_time() - 0.5) < 1e-9
    clock.now += 0.5
    assert pacer.try_take()


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError):
        TokenBucket(capacity=0, rate=1)
    with pytest.raises(ValueError):
        Pacer(burst=1, per_second=0, quiet=1)
