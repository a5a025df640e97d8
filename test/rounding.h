/*
 * rounding.h: rounding a float to half precision or bfloat16, for the tests,
 * by another road than safetensors.c's integer carries: double arithmetic.
 *
 * Around |v| the representable values of a format with `mant` fraction bits
 * are spaced 2^(exponent - mant), where exponent is v's binary exponent, or
 * the smallest normal one `emin` below it (the subnormals share its
 * spacing). |v| / spacing, rounded to an integer by nearbyint in the default
 * rounding mode (to nearest, ties to even), times the spacing, is the
 * nearest representable value; past the largest finite one it is infinity.
 */
#ifndef GPT2C_TEST_ROUNDING_H
#define GPT2C_TEST_ROUNDING_H

#include <math.h>

static float round_to_format(float v, int mant, int emin, int max_exp) {
    if (isnan(v) || isinf(v) || v == 0.0f) return v;
    int e;
    frexp(fabs((double)v), &e); /* |v| in [2^(e-1), 2^e) */
    int exponent = e - 1 < emin ? emin : e - 1;
    double spacing = ldexp(1.0, exponent - mant);
    double r = nearbyint(fabs((double)v) / spacing) * spacing;
    if (r >= ldexp(1.0, max_exp + 1)) r = INFINITY;
    return (float)copysign(r, (double)v);
}

/* IEEE half: 10 fraction bits, exponents -14..15. */
__attribute__((unused)) static float round_to_half(float v) { return round_to_format(v, 10, -14, 15); }
/* bfloat16: 7 fraction bits, float's exponents -126..127. */
__attribute__((unused)) static float round_to_bf16(float v) { return round_to_format(v, 7, -126, 127); }

#endif
