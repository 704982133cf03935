/*
 * The shortest decimal that reads back as a given double, written as Python's
 * repr() writes it (0.0001, 5.2e-06, 1796283086.4106688, 1e+16), without the
 * GIL and without Python's dtoa.
 *
 * An exporter's scrape writes millions of numbers, and prometheus_client, whose
 * text the exporter's must equal byte for byte, writes each as repr(float).
 * Python's repr is David Gay's dtoa, exact by big-integer arithmetic: 0.5-1 µs
 * for the 16- and 17-digit values that RTTs in seconds are, half the time of a
 * scrape. This is the Ryu algorithm (Ulf Adams, PLDI 2018): the double's
 * rounding interval [lower, upper] scaled by a power of ten through 128-bit
 * multiplications by tables of powers of five, then digits dropped while the
 * interval still tells them apart; the result is the shortest decimal in the
 * interval and, of those, the nearest to the double (ties to an even digit),
 * which is what repr gives. The tables are 125-bit powers of five and their
 * inverses, computed once by the caller (exactly, with big integers) and
 * handed over by fp_shortest_init.
 */
#ifndef FASTPING_SHORTEST_H
#define FASTPING_SHORTEST_H

#include <stddef.h>
#include <stdint.h>

#define FP_SHORTEST_POW5 326     /* entries of the powers of five: 5^0 .. 5^325 */
#define FP_SHORTEST_POW5_INV 342 /* entries of their inverses */
#define FP_SHORTEST_BITS 125     /* bits each entry keeps */
#define FP_SHORTEST_MAX 32       /* bytes the longest text takes, with its '\0' */

/* The tables, each entry as two 64-bit halves (low, high):
 * pow5[i] = 5^i scaled to 125 bits (shifted left or right, truncated);
 * pow5_inv[i] = floor(2^(bits(5^i) - 1 + 125) / 5^i) + 1. Copied. */
void fp_shortest_init(const uint64_t *pow5, const uint64_t *pow5_inv);

/* Writes value as repr(value) does into out (FP_SHORTEST_MAX bytes), with a
 * '\0'; returns its length. NaN and infinities as repr: nan, inf, -inf. */
size_t fp_shortest(double value, char *out);

#endif
