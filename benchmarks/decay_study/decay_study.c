/* Decay-table study: how often does this machine's powf(rate, d) differ from the correctly rounded
 * float32 of the exact rate**d, for float32 rates in (0, 1) and d = 1..16?
 *
 * The exact power is computed with multi-word integers: a float32 rate is m * 2**e (m < 2**24), so
 * rate**d = m**d * 2**(e*d) with m**d below 2**384 (twelve 32-bit limbs). It is rounded once to
 * float32, to nearest, ties to even, subnormals and underflow to 0 included.
 *
 * Two samplings, from a fixed-seed splitmix64 generator:
 *   bits:  a float32 bit pattern uniform in [0x00000001, 0x3F7FFFFF] (every float32 in (0, 1), with
 *          subnormals, equally likely);
 *   value: k uniform in [1, 2**24 - 1], rate = k * 2**-24 (uniform in value on the 2**-24 grid).
 *
 * usage: decay_study [samples per sampling, default 10000000] [dump file]
 * The dump file gets "sampling rate_bits d powf_bits correct_bits" for every disagreement and for
 * every d of the first DUMP_AGREEING rates of each sampling, for crosscheck.py.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_D 16
#define LIMBS 13 /* 16 * 24 = 384 bits, plus one spare limb */
#define DUMP_AGREEING 2000

/* Through a volatile pointer, so the compiler can neither fold nor replace the libm call. */
static float (*volatile libm_powf)(float, float) = powf;

typedef struct {
    uint32_t limb[LIMBS]; /* little-endian */
    int used;
} Big;

static void big_mul_small(Big *x, uint32_t m) {
    uint64_t carry = 0;
    for (int i = 0; i < x->used; i++) {
        uint64_t t = (uint64_t)x->limb[i] * m + carry;
        x->limb[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry) x->limb[x->used++] = (uint32_t)carry;
    while (x->used > 0 && x->limb[x->used - 1] == 0) x->used--;
}

static int big_bit_length(const Big *x) {
    if (x->used == 0) return 0;
    uint32_t top = x->limb[x->used - 1];
    int bits = 0;
    while (top) { bits++; top >>= 1; }
    return 32 * (x->used - 1) + bits;
}

static int big_bit(const Big *x, int i) {
    if (i < 0 || i / 32 >= x->used) return 0;
    return (x->limb[i / 32] >> (i % 32)) & 1;
}

/* Any bit below position i set? */
static int big_any_below(const Big *x, int i) {
    for (int j = 0; j < x->used && 32 * j < i; j++) {
        uint32_t mask = (i - 32 * j >= 32) ? 0xFFFFFFFFu : ((1u << (i - 32 * j)) - 1);
        if (x->limb[j] & mask) return 1;
    }
    return 0;
}

/* x >> shift, for a result known to be below 2**64. */
static uint64_t big_shift_right(const Big *x, int shift) {
    uint64_t q = 0;
    for (int i = 63; i >= 0; i--) q = (q << 1) | (uint64_t)big_bit(x, shift + i);
    return q;
}

/* Bit pattern of the float32 nearest to x * 2**scale (x < 2**384, value < 2**128); *tie set when
 * the value lies exactly halfway between two float32. */
static uint32_t round_to_float32_bits(const Big *x, int scale, int *tie) {
    *tie = 0;
    int length = big_bit_length(x);
    if (length == 0) return 0;
    int top_exp = length - 1 + scale;
    int quantum_exp = (top_exp > -126 ? top_exp : -126) - 23;
    int shift = quantum_exp - scale;
    uint64_t q;
    if (shift <= 0) {
        q = big_shift_right(x, 0) << -shift; /* at most 24 bits: exact */
    } else {
        q = shift > length ? 0 : big_shift_right(x, shift);
        int round_bit = big_bit(x, shift - 1);
        int sticky = big_any_below(x, shift - 1);
        *tie = round_bit && !sticky;
        if (round_bit && (sticky || (q & 1))) q++;
    }
    /* One formula for normal and subnormal results (quantum_exp == -149 below 2**-126), and for a
     * carry into the next binade. */
    return (uint32_t)((int64_t)(quantum_exp + 150) * (1 << 23) + (int64_t)q - (1 << 23));
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct {
    uint64_t differ[MAX_D + 1], ties[MAX_D + 1], tie_differ[MAX_D + 1];
    uint64_t powf_above[MAX_D + 1], beyond_one_ulp[MAX_D + 1], subnormal_or_zero[MAX_D + 1];
} Counts;

static void study_rate(uint32_t rate_bits, Counts *c, FILE *dump, const char *name, int dump_all) {
    uint32_t exp_field = rate_bits >> 23, frac = rate_bits & 0x7FFFFF;
    uint32_t m = exp_field ? (frac | 0x800000) : frac;
    int e = exp_field ? (int)exp_field - 150 : -149;
    float rate = u2f(rate_bits);
    Big power = {{1}, 1};
    for (int d = 1; d <= MAX_D; d++) {
        big_mul_small(&power, m);
        int tie;
        uint32_t correct = round_to_float32_bits(&power, e * d, &tie);
        uint32_t got = f2u(libm_powf(rate, (float)d));
        int differs = got != correct;
        c->ties[d] += tie;
        c->subnormal_or_zero[d] += correct < 0x00800000u;
        if (differs) {
            c->differ[d]++;
            c->tie_differ[d] += tie;
            c->powf_above[d] += got > correct;
            c->beyond_one_ulp[d] += (got > correct ? got - correct : correct - got) > 1;
        }
        if (dump && (differs || dump_all))
            fprintf(dump, "%s %08" PRIx32 " %d %08" PRIx32 " %08" PRIx32 "\n", name, rate_bits, d, got, correct);
    }
}

static void report(const char *name, const char *what, uint64_t samples, const Counts *c) {
    printf("\nsampling %s: %" PRIu64 " rates, %s\n", name, samples, what);
    printf("%3s %12s %9s %10s %12s %11s %11s %13s\n", "d", "powf!=exact", "percent", "ties",
           "tie,differs", "powf above", ">1 ulp off", "subnormal/0");
    uint64_t t[6] = {0};
    for (int d = 1; d <= MAX_D; d++) {
        printf("%3d %12" PRIu64 " %8.4f%% %10" PRIu64 " %12" PRIu64 " %11" PRIu64 " %11" PRIu64
               " %13" PRIu64 "\n", d, c->differ[d], 100.0 * (double)c->differ[d] / (double)samples,
               c->ties[d], c->tie_differ[d], c->powf_above[d], c->beyond_one_ulp[d],
               c->subnormal_or_zero[d]);
        t[0] += c->differ[d]; t[1] += c->ties[d]; t[2] += c->tie_differ[d];
        t[3] += c->powf_above[d]; t[4] += c->beyond_one_ulp[d]; t[5] += c->subnormal_or_zero[d];
    }
    printf("all %12" PRIu64 " %8.4f%% %10" PRIu64 " %12" PRIu64 " %11" PRIu64 " %11" PRIu64 " %13" PRIu64
           "   (of %" PRIu64 " (rate, d) pairs)\n", t[0], 100.0 * (double)t[0] / (double)(samples * MAX_D),
           t[1], t[2], t[3], t[4], t[5], samples * MAX_D);
}

int main(int argc, char **argv) {
    uint64_t samples = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
    if (samples == 0) {
        fprintf(stderr, "usage: %s [samples per sampling > 0] [dump file]\n", argv[0]);
        return 2;
    }
    FILE *dump = NULL;
    if (argc > 2 && !(dump = fopen(argv[2], "w"))) {
        perror(argv[2]);
        return 2;
    }
    static const char *names[2] = {"bits", "value"};
    static const char *whats[2] = {"bit pattern uniform in [0x00000001, 0x3F7FFFFF]",
                                   "k * 2**-24 with k uniform in [1, 2**24 - 1]"};
    for (int s = 0; s < 2; s++) {
        Counts c;
        memset(&c, 0, sizeof c);
        uint64_t state = 20261201u + (uint64_t)s;
        for (uint64_t i = 0; i < samples; i++) {
            uint64_t r = splitmix64(&state);
            uint32_t rate_bits = s == 0 ? 1 + (uint32_t)(r % 0x3F7FFFFFu)
                                        : f2u(ldexpf((float)(1 + r % 0xFFFFFFu), -24));
            study_rate(rate_bits, &c, dump, names[s], i < DUMP_AGREEING);
        }
        report(names[s], whats[s], samples, &c);
    }
    if (dump && fclose(dump)) {
        perror(argv[2]);
        return 1;
    }
    return 0;
}
