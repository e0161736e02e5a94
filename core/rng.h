/* rng.h - the one seeded random generator of clpt (xoshiro256**, seeded by
 * splitmix64). Its whole state is four words, so it saves and restores
 * exactly with checkpoints. Header-only: every function is static inline. */
#ifndef CLPT_RNG_H
#define CLPT_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct clpt_rng { uint64_t s[4]; } clpt_rng;

static inline uint64_t clpt_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void clpt_rng_seed(clpt_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = clpt_splitmix64(&seed);
}

static inline uint64_t clpt_rng_next(clpt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5, res = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}

/* uniform in [0, 1) with 53 bits */
static inline double clpt_rng_uniform(clpt_rng *r)
{
    return (double)(clpt_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform integer in [0, n), n > 0, without modulo bias */
static inline uint64_t clpt_rng_below(clpt_rng *r, uint64_t n)
{
    uint64_t lim = -n % n, x;
    do x = clpt_rng_next(r); while (x < lim);
    return x % n;
}

/* standard normal (Box-Muller; one value per call, deterministic) */
static inline double clpt_rng_normal(clpt_rng *r)
{
    double u1 = clpt_rng_uniform(r), u2 = clpt_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
