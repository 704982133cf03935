/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random function
 * of short inputs, 64 bits out. The engine keys it with a secret drawn at
 * open to make each probe's cookie (icmp.h), which no one who has not the
 * key can compute from any number of other probes' cookies.
 *
 * Pure: no I/O, no globals, no allocation; reads exactly len bytes of data.
 */
#ifndef FASTPING_SIPHASH_H
#define FASTPING_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define FP_SIPHASH_KEY_LEN 16

uint64_t fp_siphash24(const uint8_t key[FP_SIPHASH_KEY_LEN], const void *data, size_t len);

#endif
