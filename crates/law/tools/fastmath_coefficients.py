"""Coefficients of the polynomials in crates/law/src/fastmath.rs.

Each polynomial interpolates its target at the Chebyshev nodes of its interval, in 60-digit
arithmetic (mpmath); the coefficients are then rounded to f64 and the rounded polynomial's
worst relative error on a dense grid is printed. Chebyshev interpolation is within a small
factor of the minimax (Remez) polynomial of the same degree, and both errors here sit far
below half an ulp of the functions they feed, so the Remez exchange is not worth its code.

    python3 crates/law/tools/fastmath_coefficients.py
"""

import mpmath as mp

mp.mp.dps = 60


def chebyshev_fit(f, lo, hi, degree):
    """Monomial coefficients (c0, c1, ...) of the interpolant of f at degree+1 Chebyshev nodes."""
    n = degree + 1
    nodes = [
        (lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (2 * k + 1) / (2 * n)) for k in range(n)
    ]
    a = mp.matrix([[x**j for j in range(n)] for x in nodes])
    b = mp.matrix([f(x) for x in nodes])
    return list(mp.lu_solve(a, b))


def worst_relative_error(f, coeffs, lo, hi, samples=4000):
    worst = mp.mpf(0)
    for i in range(samples + 1):
        x = lo + (hi - lo) * mp.mpf(i) / samples
        p = mp.mpf(0)
        for c in reversed(coeffs):
            p = p * x + c
        fx = f(x)
        if fx != 0:
            worst = max(worst, abs((p - fx) / fx))
    return worst


def show(name, f, lo, hi, degree):
    coeffs = [float(c) for c in chebyshev_fit(f, lo, hi, degree)]
    err = worst_relative_error(f, [mp.mpf(c) for c in coeffs], lo, hi)
    print(f"{name}: degree {degree} on [{float(lo)}, {float(hi)}], worst relative error {mp.nstr(err, 3)}")
    for c in coeffs:
        print(f"    {c!r},")


# exp(r) = 1 + r + r^2 q(r) for |r| <= ln2/2 (plus slack for the rounding of n = round(x/ln2)).
def q_exp(r):
    if abs(r) < mp.mpf("1e-20"):
        return mp.mpf(1) / 2 + r / 6
    return (mp.exp(r) - 1 - r) / r**2


R = mp.mpf("0.3466")  # ln 2 / 2 = 0.34657...
for d in (8, 9):
    show("exp q(r)", q_exp, -R, R, d)

# ln(1+f) = 2 atanh(s), s = f/(2+f); 2 atanh(s) = 2s + s z P(z), z = s^2, for
# 1+f in [sqrt(1/2), sqrt(2)): |s| <= (sqrt2-1)/(sqrt2+1).
def p_log(z):
    if z < mp.mpf("1e-30"):
        return mp.mpf(2) / 3 + 2 * z / 5
    s = mp.sqrt(z)
    return 2 * (mp.atanh(s) / s - 1) / z


SMAX = (mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)
for d in (5, 6, 7):
    show("ln P(z)", p_log, mp.mpf(0), SMAX**2 * (1 + mp.mpf("1e-6")), d)
