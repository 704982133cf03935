#include "shortest.h"

#include <string.h>

/* Set once by fp_shortest_init, before any fp_shortest, and only read after. */
static uint64_t pow5_table[FP_SHORTEST_POW5][2];
static uint64_t pow5_inv_table[FP_SHORTEST_POW5_INV][2];

void fp_shortest_init(const uint64_t *pow5, const uint64_t *pow5_inv) {
    memcpy(pow5_table, pow5, sizeof pow5_table);
    memcpy(pow5_inv_table, pow5_inv, sizeof pow5_inv_table);
}

/* floor(e * log10(2)) and floor(e * log10(5)), 0 <= e <= 1650 */
static uint32_t log10_pow2(uint32_t e) { return (e * 78913) >> 18; }
static uint32_t log10_pow5(uint32_t e) { return (e * 732923) >> 20; }
/* The bits of 5^e (1 for e = 0), 0 <= e <= 3528 */
static int32_t pow5_bits(uint32_t e) { return (int32_t)((e * 1217359) >> 19) + 1; }

static int multiple_of_pow5(uint64_t value, uint32_t p) {
    uint32_t count = 0;
    while (value != 0 && value % 5 == 0) {
        value /= 5;
        count++;
    }
    return count >= p;
}

static int multiple_of_pow2(uint64_t value, uint32_t p) {
    return (value & ((1ull << p) - 1)) == 0;
}

/* (m * factor) >> shift, factor a 125-bit table entry, 64 < shift */
static uint64_t mul_shift(uint64_t m, const uint64_t factor[2], int32_t shift) {
    unsigned __int128 low = (unsigned __int128)m * factor[0];
    unsigned __int128 high = (unsigned __int128)m * factor[1];
    return (uint64_t)(((low >> 64) + high) >> (shift - 64));
}

/* Drops the last digit of the value and of its bounds; returns the value's. */
static uint32_t drop_digit(uint64_t *vr, uint64_t *vp, uint64_t *vm) {
    uint32_t digit = (uint32_t)(*vr % 10);
    *vr /= 10;
    *vp /= 10;
    *vm /= 10;
    return digit;
}

typedef struct decimal {
    uint64_t digits;
    int32_t exponent; /* the value is digits * 10^exponent */
} decimal;

/* The shortest decimal in the double's rounding interval (the nearest of those). */
static decimal shortest_decimal(uint64_t ieee_mantissa, uint32_t ieee_exponent) {
    int32_t e2;
    uint64_t m2;
    if (ieee_exponent == 0) {
        e2 = 1 - 1023 - 52 - 2;
        m2 = ieee_mantissa;
    } else {
        e2 = (int32_t)ieee_exponent - 1023 - 52 - 2;
        m2 = (1ull << 52) | ieee_mantissa;
    }
    /* An even mantissa rounds to itself from both bounds: they are in the interval. */
    const int even = (m2 & 1) == 0;
    const uint64_t mv = 4 * m2;
    /* The lower bound is nearer where the exponent steps (a mantissa of 0). */
    const uint32_t mm_shift = ieee_mantissa != 0 || ieee_exponent <= 1;
    uint64_t vr, vp, vm;
    int32_t e10;
    int vm_zeros = 0, vr_zeros = 0; /* whether the digits dropped so far were all 0 */
    if (e2 >= 0) {
        const uint32_t q = log10_pow2((uint32_t)e2) - (e2 > 3);
        const int32_t shift = -e2 + (int32_t)q + FP_SHORTEST_BITS + pow5_bits(q) - 1;
        e10 = (int32_t)q;
        vr = mul_shift(mv, pow5_inv_table[q], shift);
        vp = mul_shift(mv + 2, pow5_inv_table[q], shift);
        vm = mul_shift(mv - 1 - mm_shift, pow5_inv_table[q], shift);
        if (q <= 21) {
            if (mv % 5 == 0)
                vr_zeros = multiple_of_pow5(mv, q);
            else if (even)
                vm_zeros = multiple_of_pow5(mv - 1 - mm_shift, q);
            else
                vp -= (uint64_t)multiple_of_pow5(mv + 2, q);
        }
    } else {
        const uint32_t q = log10_pow5((uint32_t)-e2) - (-e2 > 1);
        const uint32_t i = (uint32_t)(-e2 - (int32_t)q);
        const int32_t shift = (int32_t)q - (pow5_bits(i) - FP_SHORTEST_BITS);
        e10 = (int32_t)q + e2;
        vr = mul_shift(mv, pow5_table[i], shift);
        vp = mul_shift(mv + 2, pow5_table[i], shift);
        vm = mul_shift(mv - 1 - mm_shift, pow5_table[i], shift);
        if (q <= 1) {
            vr_zeros = 1;
            if (even)
                vm_zeros = mm_shift == 1;
            else
                --vp;
        } else if (q < 63) {
            /* vr is exact iff 2^q divides mv (the product is mv * 5^i / 2^q) */
            vr_zeros = multiple_of_pow2(mv, q);
        }
    }
    int32_t removed = 0;
    uint64_t output;
    if (vm_zeros || vr_zeros) {
        uint32_t last_removed = 0;
        while (vp / 10 > vm / 10) {
            vm_zeros &= vm % 10 == 0;
            vr_zeros &= last_removed == 0;
            last_removed = drop_digit(&vr, &vp, &vm);
            removed++;
        }
        while (vm_zeros && vm % 10 == 0) {
            vr_zeros &= last_removed == 0;
            last_removed = drop_digit(&vr, &vp, &vm);
            removed++;
        }
        if (vr_zeros && last_removed == 5 && vr % 2 == 0)
            last_removed = 4; /* exactly half way: to the even digit */
        output = vr + ((vr == vm && (!even || !vm_zeros)) || last_removed >= 5);
    } else {
        int round_up = 0;
        while (vp / 10 > vm / 10) {
            round_up = drop_digit(&vr, &vp, &vm) >= 5;
            removed++;
        }
        output = vr + (vr == vm || round_up);
    }
    return (decimal){output, e10 + removed};
}

static size_t put(char *out, size_t at, const char *text) {
    size_t length = strlen(text);
    memcpy(out + at, text, length);
    return at + length;
}

size_t fp_shortest(double value, char *out) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    const uint32_t ieee_exponent = (uint32_t)(bits >> 52) & 0x7ff;
    const uint64_t ieee_mantissa = bits & ((1ull << 52) - 1);
    size_t n = 0;
    if (ieee_exponent == 0x7ff) {
        n = put(out, 0, ieee_mantissa ? "nan" : bits >> 63 ? "-inf" : "inf");
        out[n] = '\0';
        return n;
    }
    if (bits >> 63)
        out[n++] = '-';
    if (ieee_exponent == 0 && ieee_mantissa == 0) {
        n = put(out, n, "0.0");
        out[n] = '\0';
        return n;
    }
    if (value > -1e16 && value < 1e16 && value == (double)(int64_t)value) {
        /* A whole number (most of an exporter's: counts): its digits and ".0", quicker. */
        char reversed[20];
        int count = 0;
        for (uint64_t rest = (uint64_t)(value < 0 ? -value : value); rest != 0; rest /= 10)
            reversed[count++] = (char)('0' + rest % 10);
        while (count > 0)
            out[n++] = reversed[--count];
        n = put(out, n, ".0");
        out[n] = '\0';
        return n;
    }
    decimal d = shortest_decimal(ieee_mantissa, ieee_exponent);
    while (d.digits != 0 && d.digits % 10 == 0) {
        d.digits /= 10;
        d.exponent++;
    }
    char digits[20] = {0};
    int count = 0;
    for (uint64_t rest = d.digits; rest != 0; rest /= 10)
        digits[count++] = (char)('0' + rest % 10);
    for (int i = 0; i < count / 2; i++) {
        char swap = digits[i];
        digits[i] = digits[count - 1 - i];
        digits[count - 1 - i] = swap;
    }
    /* repr: positional from 1e-4 up to below 1e16, else an exponent of two digits or more */
    const int point = d.exponent + count; /* digits before the decimal point */
    if (point > -4 && point <= 16) {
        if (point <= 0) {
            n = put(out, n, "0.");
            for (int i = 0; i < -point; i++)
                out[n++] = '0';
            memcpy(out + n, digits, (size_t)count);
            n += (size_t)count;
        } else if (point >= count) {
            memcpy(out + n, digits, (size_t)count);
            n += (size_t)count;
            for (int i = count; i < point; i++)
                out[n++] = '0';
            n = put(out, n, ".0");
        } else {
            memcpy(out + n, digits, (size_t)point);
            n += (size_t)point;
            out[n++] = '.';
            memcpy(out + n, digits + point, (size_t)(count - point));
            n += (size_t)(count - point);
        }
    } else {
        out[n++] = digits[0];
        if (count > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, (size_t)(count - 1));
            n += (size_t)(count - 1);
        }
        int exponent = point - 1;
        out[n++] = 'e';
        out[n++] = exponent < 0 ? '-' : '+';
        if (exponent < 0)
            exponent = -exponent;
        char text[4];
        int length = 0;
        do {
            text[length++] = (char)('0' + exponent % 10);
            exponent /= 10;
        } while (exponent != 0);
        if (length == 1)
            text[length++] = '0';
        while (length > 0)
            out[n++] = text[--length];
    }
    out[n] = '\0';
    return n;
}
