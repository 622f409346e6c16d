"""Helpers shared by the pytest suites that drive real processes (lab, daemon)."""
import time


def poll(predicate, timeout, what, interval=0.05):
    """Call predicate() until it returns a truthy value; return (value, seconds).

    Tests wait on observed state with this, never on fixed sleeps."""
    start = time.monotonic()
    last = None
    while True:
        last = predicate()
        if last:
            return last, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)
