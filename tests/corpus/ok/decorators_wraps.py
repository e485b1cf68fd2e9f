"""Decorators with functools.wraps: call timing, and retry with arguments."""

import functools
import time


def timed(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            wrapper.calls += 1
            wrapper.total += time.perf_counter() - start

    wrapper.calls, wrapper.total = 0, 0.0
    return wrapper


def retry(times, exceptions=(Exception,)):
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for attempt in range(1, times + 1):
                try:
                    return func(*args, **kwargs)
                except exceptions:
                    if attempt == times:
                        raise
                    print(f"{func.__name__}: attempt {attempt} failed")

        return wrapper

    return decorate


@timed
def slow_square(x):
    """Square a number, slowly."""
    return x * x


state = {"n": 0}


@retry(times=3, exceptions=(ConnectionError,))
def flaky():
    state["n"] += 1
    if state["n"] < 3:
        raise ConnectionError("try again")
    return "connected"


print([slow_square(i) for i in range(5)], slow_square.calls, slow_square.__doc__, slow_square.__wrapped__(3))
print(flaky())
