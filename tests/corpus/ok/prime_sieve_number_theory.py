"""Number theory: sieve of Eratosthenes, factorisation, gcd/lcm, modular inverse, Collatz."""

import math


def sieve(limit):
    is_prime = bytearray([1]) * (limit + 1)
    is_prime[:2] = b"\x00\x00"
    for n in range(2, math.isqrt(limit) + 1):
        if is_prime[n]:
            is_prime[n * n :: n] = bytearray(len(range(n * n, limit + 1, n)))
    return [n for n, flag in enumerate(is_prime) if flag]


def factorise(n):
    factors, d = {}, 2
    while d * d <= n:
        while n % d == 0:
            factors[d] = factors.get(d, 0) + 1
            n //= d
        d += 1
    if n > 1:
        factors[n] = factors.get(n, 0) + 1
    return factors


def collatz_length(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


primes = sieve(100)
print(len(primes), primes[-5:], len(sieve(100_000)))
print(factorise(360), factorise(9_999_991), factorise(2**10 * 3**4))
print(math.gcd(462, 1071), math.lcm(4, 6, 10), pow(3, -1, 11), pow(2, 100, 1_000_007))
print(max(range(1, 10_000), key=collatz_length), math.comb(52, 5), math.perm(10, 3), math.factorial(20))
print([n for n in range(2, 30) if all(n % p for p in primes if p * p <= n)] == sieve(29))
