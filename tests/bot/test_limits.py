from rosey.bot.limits import TokenBucket


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


def test_cooldown_blocks_and_empty_spends_everything():
    clock = Clock()
    bucket = TokenBucket(capacity=20, rate=10, clock=clock)
    bucket.block_for(0.5)
    assert not bucket.try_take() and abs(bucket.wait_time() - 0.5) < 1e-9
    clock.now += 0.5
    assert bucket.try_take()
    bucket.empty()
    assert not bucket.try_take()
    clock.now += 0.2
    assert bucket.try_take()
