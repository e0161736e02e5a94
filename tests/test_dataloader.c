/* test_dataloader.c - sources across shard boundaries, random windows
 * (range, determinism, weights), epoch mode (each window once), exact
 * resume, evaluation windows (each target once), token caps. Streams are
 * built so that the token at stream position i is i (or a per-source offset
 * plus i), which makes every window's start readable from its contents. */
#define _XOPEN_SOURCE 700

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testdir.h"
#include "clpt.h"
#include "dataloader.h"
#include "fsutil.h"
#include "manifest.h"
#include "shard.h"


/* Shards s0..s3 of 100, 0, 57, 300 tokens; the stream is 0, 1, ..., 456. */
#define NSTREAM 457
static const uint64_t shard_len[4] = {100, 0, 57, 300};
static const char *shard_paths[4];

static void write_stream_shards(void)
{
    uint16_t tok[NSTREAM];
    for (int i = 0; i < NSTREAM; i++) tok[i] = (uint16_t)i;
    uint64_t off = 0;
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.bin", k);
        shard_paths[k] = strdup(P(name));
        CHECK(clpt_shard_write(shard_paths[k], tok + off, shard_len[k]) == 0);
        off += shard_len[k];
    }
}

static clpt_source *stream_source(uint64_t cap)
{
    clpt_source *s = NULL;
    CHECK(clpt_source_open(&s, shard_paths, 4, cap) == 0);
    return s;
}

/* Row check: inputs = base+s+t, targets = base+s+t+1; returns s or -1. */
static long row_start(const int *in, const int *tg, int T, int base)
{
    long s = in[0] - base;
    for (int t = 0; t < T; t++)
        if (in[t] != base + s + t || tg[t] != base + s + t + 1) return -1;
    return s;
}

static void test_source_read(void)
{
    clpt_source *s = stream_source(0);
    int buf[NSTREAM];
    CHECK(clpt_source_tokens(s) == NSTREAM);
    int bad = 0;
    for (uint64_t pos = 0; pos <= NSTREAM; pos++)
        for (uint64_t n = 0; pos + n <= NSTREAM; n += 13) {
            memset(buf, -1, sizeof buf);
            if (clpt_source_read(s, pos, n, buf)) bad++;
            for (uint64_t j = 0; j < n; j++) bad += buf[j] != (int)(pos + j);
            bad += n < NSTREAM && buf[n] != -1;  /* writes nothing past n */
        }
    CHECK_MSG(bad == 0, "%d bad reads", bad);
    CHECK(clpt_source_read(s, 450, 8, buf) == CLPT_EINVAL);
    CHECK(clpt_source_read(s, 458, 0, buf) == CLPT_EINVAL);
    CHECK(clpt_source_check_vocab(s, 457) == 0);
    CHECK(clpt_source_check_vocab(s, 200) == CLPT_EFORMAT);
    CHECK(has("s3.bin") && has("token 200") && has("position 43") && has("stream position 200"));
    clpt_source_free(s);

    s = stream_source(200);  /* the cap cuts inside the last shard */
    CHECK(clpt_source_tokens(s) == 200);
    CHECK(clpt_source_read(s, 150, 50, buf) == 0 && buf[49] == 199);
    CHECK(clpt_source_read(s, 150, 51, buf) == CLPT_EINVAL);
    CHECK(clpt_source_check_vocab(s, 200) == 0);  /* only capped tokens count */
    clpt_source_free(s);
    s = stream_source(10000);  /* a cap above the total changes nothing */
    CHECK(clpt_source_tokens(s) == NSTREAM);
    clpt_source_free(s);

    const char *missing[1] = {P("none.bin")};
    CHECK(clpt_source_open(&s, missing, 1, 0) == CLPT_EIO && has("none.bin"));
}

static void test_random_windows(void)
{
    const int B = 8, T = 32;
    clpt_source *s = stream_source(0);
    clpt_loader *l;
    CHECK(clpt_loader_new(&l, &s, NULL, 1, 1) == 0);
    int in[8 * 32], tg[8 * 32], bad = 0, crossing = 0;
    long lo = 1 << 30, hi = -1;
    for (int it = 0; it < 500; it++) {
        CHECK(clpt_loader_next(l, in, tg, B, T) == 0);
        for (int b = 0; b < B; b++) {
            long st = row_start(in + b * T, tg + b * T, T, 0);
            bad += st < 0 || st > NSTREAM - T - 1;
            if (st < lo) lo = st;
            if (st > hi) hi = st;
            crossing += (st < 100 && st + T >= 100) || (st < 157 && st + T >= 157);
        }
    }
    CHECK_MSG(bad == 0, "%d bad rows", bad);
    CHECK_MSG(lo == 0 && hi == NSTREAM - T - 1, "starts span %ld..%ld", lo, hi);
    CHECK(crossing > 100);
    static int big_in[2 * NSTREAM], big_tg[2 * NSTREAM];
    CHECK(clpt_loader_next(l, big_in, big_tg, 2, NSTREAM) == CLPT_EINVAL && has("source 0"));
    CHECK(clpt_loader_next(l, big_in, big_tg, 2, NSTREAM - 1) == 0);  /* exactly T + 1 */
    CHECK(row_start(big_in + NSTREAM - 1, big_tg + NSTREAM - 1, NSTREAM - 1, 0) == 0);
    CHECK(clpt_loader_next(l, in, tg, 0, T) == CLPT_EINVAL);
    clpt_loader_free(l);

    /* a cap: windows never reach past it */
    clpt_source *c = stream_source(120);
    CHECK(clpt_loader_new(&l, &c, NULL, 1, 5) == 0);
    int maxtg = 0;
    for (int it = 0; it < 200; it++) {
        CHECK(clpt_loader_next(l, in, tg, B, T) == 0);
        for (int i = 0; i < B * T; i++) if (tg[i] > maxtg) maxtg = tg[i];
    }
    CHECK_MSG(maxtg == 119, "largest target %d, cap 120", maxtg);
    clpt_loader_free(l);
    clpt_source_free(c);
    clpt_source_free(s);
}

static void test_determinism(void)
{
    clpt_source *s = stream_source(0);
    clpt_loader *a, *b, *c;
    CHECK(clpt_loader_new(&a, &s, NULL, 1, 42) == 0);
    CHECK(clpt_loader_new(&b, &s, NULL, 1, 42) == 0);
    CHECK(clpt_loader_new(&c, &s, NULL, 1, 43) == 0);
    int ia[4 * 16], ta[4 * 16], ib[4 * 16], tb[4 * 16], same = 1, samec = 1;
    for (int it = 0; it < 20; it++) {
        clpt_loader_next(a, ia, ta, 4, 16);
        clpt_loader_next(b, ib, tb, 4, 16);
        same &= !memcmp(ia, ib, sizeof ia) && !memcmp(ta, tb, sizeof ta);
        clpt_loader_next(c, ib, tb, 4, 16);
        samec &= !memcmp(ia, ib, sizeof ia);
    }
    CHECK(same);
    CHECK(!samec);
    clpt_loader_free(a);
    clpt_loader_free(b);
    clpt_loader_free(c);
    clpt_source_free(s);
}

/* Three memory sources; source k holds tokens 20000k + i, i < 5000. */
static uint16_t mem[3][5000];

static void mem_sources(clpt_source **src, uint64_t len)
{
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 5000; i++) mem[k][i] = (uint16_t)(20000 * k + i);
        const uint16_t *seg[1] = {mem[k]};
        CHECK(clpt_source_from_memory(&src[k], seg, &len, 1, 0) == 0);
    }
}

static void test_weights(void)
{
    clpt_source *src[3];
    mem_sources(src, 5000);
    const double w[3] = {5, 3, 2};  /* 0.5 / 0.3 / 0.2 */
    clpt_loader *l;
    CHECK(clpt_loader_new(&l, src, w, 3, 2024) == 0);
    int in[100 * 8], tg[100 * 8], n[3] = {0}, bad = 0;
    for (int it = 0; it < 100; it++) {
        CHECK(clpt_loader_next(l, in, tg, 100, 8) == 0);
        for (int b = 0; b < 100; b++) {
            int k = in[b * 8] / 20000;
            n[k]++;
            bad += row_start(in + b * 8, tg + b * 8, 8, 20000 * k) < 0;
        }
    }
    CHECK(bad == 0);
    CHECK_MSG(fabs(n[0] / 1e4 - 0.5) < 0.02 && fabs(n[1] / 1e4 - 0.3) < 0.02 &&
              fabs(n[2] / 1e4 - 0.2) < 0.02, "counts %d %d %d", n[0], n[1], n[2]);
    /* replay-style: one row from a chosen source, whatever its weight */
    for (int it = 0; it < 50; it++) {
        CHECK(clpt_loader_sample(l, 2, in, tg, 8) == 0);
        CHECK(in[0] / 20000 == 2 && row_start(in, tg, 8, 40000) >= 0);
    }
    CHECK(clpt_loader_sample(l, 3, in, tg, 8) == CLPT_EINVAL);
    CHECK(clpt_loader_sample(l, 0, in, tg, 5000) == CLPT_EINVAL && has("5000 tokens"));
    clpt_loader_free(l);

    /* a zero weight is never drawn, and a too-short zero-weight source is fine */
    const double w0[3] = {1, 0, 1};
    clpt_source *shortsrc[3] = {src[0], NULL, src[2]};
    uint64_t two = 2;
    const uint16_t *seg[1] = {mem[1]};
    CHECK(clpt_source_from_memory(&shortsrc[1], seg, &two, 1, 0) == 0);
    CHECK(clpt_loader_new(&l, shortsrc, w0, 3, 9) == 0);
    int n1 = 0;
    for (int it = 0; it < 20; it++) {
        CHECK(clpt_loader_next(l, in, tg, 100, 8) == 0);
        for (int b = 0; b < 100; b++) n1 += in[b * 8] / 20000 == 1;
    }
    CHECK(n1 == 0);
    clpt_loader_free(l);
    clpt_source_free(shortsrc[1]);

    const double neg[3] = {1, -1, 1}, zero[3] = {0, 0, 0}, nan_[3] = {1, NAN, 1};
    CHECK(clpt_loader_new(&l, src, neg, 3, 1) == CLPT_EINVAL && has("weight 1"));
    CHECK(clpt_loader_new(&l, src, zero, 3, 1) == CLPT_EINVAL);
    CHECK(clpt_loader_new(&l, src, nan_, 3, 1) == CLPT_EINVAL);
    CHECK(clpt_loader_new(&l, src, NULL, 0, 1) == CLPT_EINVAL);
    for (int k = 0; k < 3; k++) clpt_source_free(src[k]);
}

/* Collect one epoch's window starts; returns the number of windows seen. */
static int run_epoch(clpt_loader *l, int T, int B, int W, int *seen, long *order)
{
    int in[5 * 64], tg[5 * 64], rows, total = 0, bad = 0;
    uint64_t ep0, pos;
    clpt_loader_epoch_info(l, &ep0, &pos, NULL);
    do {
        CHECK(clpt_loader_epoch_next(l, in, tg, B, &rows) == 0);
        CHECK(rows >= 1 && rows <= B);
        if (rows < B) CHECK(total + rows == W);  /* only the last batch is short */
        for (int r = 0; r < rows; r++) {
            long st = row_start(in + r * T, tg + r * T, T, 0);
            bad += st < 0 || st % T != 0 || st / T >= W;
            if (st >= 0 && st % T == 0 && st / T < W) seen[st / T]++;
            order[total + r] = st;
        }
        total += rows;
        clpt_loader_epoch_info(l, NULL, &pos, NULL);
    } while (pos < (uint64_t)W && total < 10 * W);
    CHECK(bad == 0);
    return total;
}

static void test_epoch(void)
{
    clpt_source *s = stream_source(0), *tiny;
    const int T = 16, W = 28;  /* (457 - 1) / 16 */
    CHECK(clpt_loader_epoch_windows(s, T) == W);
    clpt_loader *l;
    CHECK(clpt_loader_new(&l, &s, NULL, 1, 3) == 0);
    int in[5 * 64], tg[5 * 64], rows, seen[64] = {0};
    long order0[64], order1[64];
    CHECK(clpt_loader_epoch_next(l, in, tg, 5, &rows) == CLPT_ESTATE);
    CHECK(clpt_loader_epoch_begin(l, 0, T) == 0);
    CHECK(run_epoch(l, T, 5, W, seen, order0) == W);
    int once = 1, sorted = 1;
    for (int w = 0; w < W; w++) once &= seen[w] == 1;
    for (int w = 1; w < W; w++) sorted &= order0[w] > order0[w - 1];
    CHECK_MSG(once, "epoch 0 did not visit every window exactly once");
    CHECK(!sorted);
    uint64_t ep, pos, wins;
    clpt_loader_epoch_info(l, &ep, &pos, &wins);
    CHECK(ep == 0 && pos == (uint64_t)W && wins == (uint64_t)W);
    memset(seen, 0, sizeof seen);
    CHECK(run_epoch(l, T, 5, W, seen, order1) == W);  /* rolls over to epoch 1 */
    clpt_loader_epoch_info(l, &ep, NULL, NULL);
    CHECK(ep == 1);
    once = 1;
    for (int w = 0; w < W; w++) once &= seen[w] == 1;
    CHECK(once);
    CHECK(memcmp(order0, order1, W * sizeof *order0) != 0);
    /* the same seed replays epoch 0 */
    clpt_loader *l2;
    long again[64];
    memset(seen, 0, sizeof seen);
    CHECK(clpt_loader_new(&l2, &s, NULL, 1, 3) == 0 && clpt_loader_epoch_begin(l2, 0, T) == 0);
    CHECK(run_epoch(l2, T, 7, W, seen, again) == W);
    CHECK(!memcmp(order0, again, W * sizeof *again));
    clpt_loader_free(l2);
    clpt_loader_free(l);

    /* window count edges: W = floor((n - 1) / T) */
    const uint16_t *seg[1] = {mem[0]};
    uint64_t lens[] = {0, 1, 16, 17, 32, 33};
    uint64_t want[] = {0, 0, 0, 1, 1, 2};
    for (int i = 0; i < 6; i++) {
        CHECK(clpt_source_from_memory(&tiny, seg, &lens[i], 1, 0) == 0);
        CHECK_MSG(clpt_loader_epoch_windows(tiny, 16) == want[i], "n=%d",
                  (int)lens[i]);
        if (i == 2) {
            CHECK(clpt_loader_new(&l, &tiny, NULL, 1, 1) == 0);
            CHECK(clpt_loader_epoch_begin(l, 0, 16) == CLPT_EINVAL);
            CHECK(clpt_loader_epoch_begin(l, 1, 16) == CLPT_EINVAL);
            clpt_loader_free(l);
        }
        clpt_source_free(tiny);
    }
    clpt_source_free(s);

    /* a capped source: epoch windows stay inside the cap */
    s = stream_source(200);
    CHECK(clpt_loader_epoch_windows(s, 16) == 12);
    CHECK(clpt_loader_new(&l, &s, NULL, 1, 4) == 0 && clpt_loader_epoch_begin(l, 0, 16) == 0);
    memset(seen, 0, sizeof seen);
    CHECK(run_epoch(l, 16, 5, 12, seen, order0) == 12);
    clpt_loader_free(l);
    clpt_source_free(s);
}

/* Interleave random and epoch batches; `out` receives everything. */
static void drive(clpt_loader *l, int steps, int *out)
{
    int rows;
    for (int i = 0; i < steps; i++) {
        CHECK(clpt_loader_next(l, out, out + 3 * 16, 3, 16) == 0);
        out += 6 * 16;
        memset(out, 0, 10 * 16 * sizeof *out);
        CHECK(clpt_loader_epoch_next(l, out, out + 5 * 16, 5, &rows) == 0);
        out += 10 * 16;
    }
}

static void test_resume(void)
{
    clpt_source *s = stream_source(0);
    clpt_source *src[2] = {s, s};
    const double w[2] = {1, 2};
    enum { STEPS = 9, PER = 16 * 16 };
    static int ref[STEPS * PER], got[STEPS * PER];
    clpt_loader *a, *b, *c;
    clpt_loader_state st, st2;
    CHECK(clpt_loader_new(&a, src, w, 2, 77) == 0);
    CHECK(clpt_loader_epoch_begin(a, 1, 16) == 0);
    drive(a, 4, got);  /* mid-epoch: 20 of 28 windows */
    clpt_loader_get_state(a, &st);
    CHECK(st.position == 20 && st.epoch == 0 && st.epoch_source == 1 && st.n_sources == 2);
    drive(a, STEPS, ref);  /* crosses into epoch 1 and beyond */

    CHECK(clpt_loader_new(&b, src, w, 2, 12345) == 0);  /* another seed, no epoch */
    CHECK(clpt_loader_set_state(b, &st) == 0);
    drive(b, STEPS, got);
    CHECK_MSG(!memcmp(ref, got, sizeof ref), "restored loader diverged");

    cJSON *j = clpt_loader_state_to_json(&st);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    j = cJSON_Parse(text);
    free(text);
    CHECK(clpt_loader_state_from_json(&st2, j) == 0);
    CHECK(!memcmp(&st, &st2, sizeof st));
    CHECK(clpt_loader_new(&c, src, w, 2, 0) == 0 && clpt_loader_set_state(c, &st2) == 0);
    memset(got, 0, sizeof got);
    drive(c, STEPS, got);
    CHECK_MSG(!memcmp(ref, got, sizeof ref), "loader restored from JSON diverged");
    cJSON_DeleteItemFromObject(j, "position");
    CHECK(clpt_loader_state_from_json(&st2, j) == CLPT_EFORMAT && has("position"));
    cJSON_Delete(j);

    /* states that do not fit are refused, leaving the loader as it was */
    clpt_loader_get_state(c, &st2);
    st = st2; st.n_sources = 3;
    CHECK(clpt_loader_set_state(c, &st) == CLPT_EINVAL && has("n_sources"));
    st = st2; st.epoch_source = 2;
    CHECK(clpt_loader_set_state(c, &st) == CLPT_EINVAL && has("epoch_source"));
    st = st2; st.position = 29;
    CHECK(clpt_loader_set_state(c, &st) == CLPT_EINVAL && has("position 29"));
    clpt_loader_get_state(c, &st);
    CHECK(!memcmp(&st, &st2, sizeof st));
    /* random mode only: a state without epoch mode round-trips too */
    clpt_loader *d;
    CHECK(clpt_loader_new(&d, src, w, 2, 5) == 0);
    clpt_loader_get_state(d, &st);
    CHECK(st.epoch_source == -1);
    CHECK(clpt_loader_set_state(c, &st) == 0);
    uint64_t wins;
    clpt_loader_epoch_info(c, NULL, NULL, &wins);
    CHECK(wins == 0);
    int i1[3 * 16], t1[3 * 16], i2[3 * 16], t2[3 * 16];
    CHECK(clpt_loader_next(c, i1, t1, 3, 16) == 0 && clpt_loader_next(d, i2, t2, 3, 16) == 0);
    CHECK(!memcmp(i1, i2, sizeof i1));
    /* a failed batch draws nothing */
    clpt_loader_get_state(d, &st);
    CHECK(clpt_loader_next(d, i1, t1, 3, 1000) == CLPT_EINVAL);
    clpt_loader_get_state(d, &st2);
    CHECK(!memcmp(&st, &st2, sizeof st));
    clpt_loader_free(a);
    clpt_loader_free(b);
    clpt_loader_free(c);
    clpt_loader_free(d);
    clpt_source_free(s);
}

/* Every stream position 1..n-1 is a target exactly once; 0 never. */
static void check_evalwin(const clpt_source *s, int T, uint64_t max, uint64_t n_expect)
{
    clpt_evalwin ew;
    CHECK(clpt_evalwin_init(&ew, s, T, max) == 0);
    uint64_t count = clpt_evalwin_count(&ew);
    uint64_t want = n_expect < 2 ? 0 : (n_expect - 1 + T - 1) / T;
    CHECK_MSG(count == want, "T=%d max=%d: %d windows, want %d", T, (int)max, (int)count,
              (int)want);
    int *hits = calloc(NSTREAM + 1, sizeof *hits), in[64], tg[64], len, bad = 0;
    for (uint64_t i = 0; i < count; i++) {
        CHECK(clpt_evalwin_get(&ew, i, in, tg, &len) == 0);
        bad += len < 1 || len > T || (i + 1 < count && len != T);
        for (int t = 0; t < len; t++) {
            bad += in[t] != (int)(i * T + t) || tg[t] != in[t] + 1;
            if (tg[t] >= 0 && tg[t] <= NSTREAM) hits[tg[t]]++;
        }
        for (int t = len; t < T; t++) bad += in[t] != 0 || tg[t] != -1;
    }
    for (uint64_t p = 0; p <= NSTREAM; p++)
        bad += hits[p] != (p >= 1 && p < n_expect);
    CHECK_MSG(bad == 0, "T=%d max=%d: %d bad", T, (int)max, bad);
    CHECK(clpt_evalwin_get(&ew, count, in, tg, &len) == CLPT_EINVAL);
    free(hits);
}

static void test_evalwin(void)
{
    clpt_source *s = stream_source(0);
    check_evalwin(s, 16, 0, NSTREAM);    /* 456 = 28 * 16 + 8: a partial last window */
    check_evalwin(s, 8, 0, NSTREAM);     /* 456 = 57 * 8: exact */
    check_evalwin(s, 64, 0, NSTREAM);
    check_evalwin(s, 16, 50, 50);        /* capped: targets 1..49 */
    check_evalwin(s, 16, 17, 17);        /* one full window */
    check_evalwin(s, 16, 18, 18);        /* one full + one of length 1 */
    check_evalwin(s, 16, 2, 2);
    check_evalwin(s, 16, 1, 1);          /* nothing to predict */
    check_evalwin(s, 16, 5000, NSTREAM); /* cap above the total */
    clpt_source_free(s);
    s = stream_source(60);               /* the source's own cap */
    check_evalwin(s, 16, 0, 60);
    check_evalwin(s, 16, 40, 40);
    clpt_evalwin ew;
    CHECK(clpt_evalwin_init(&ew, s, 0, 0) == CLPT_EINVAL);
    clpt_source_free(s);
}

static void test_from_split(void)
{
    clpt_manifest *m;
    const char *sha = "0000000000000000000000000000000000000000000000000000000000000000";
    CHECK(clpt_manifest_new(&m, dir) == 0);
    CHECK(clpt_manifest_add_domain(m, "d", "a", "b", 0, NULL) == 0);
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.bin", k);
        CHECK(clpt_manifest_add_shard(m, 0, CLPT_SPLIT_TEST, name, shard_len[k], sha) == 0);
    }
    CHECK(clpt_manifest_add_shard(m, 0, CLPT_SPLIT_VALID, "s2.bin", 58, sha) == 0);
    clpt_source *s;
    int buf[NSTREAM];
    CHECK(clpt_source_from_split(&s, m, 0, CLPT_SPLIT_TEST, 0, NULL) == 0);
    CHECK(clpt_source_tokens(s) == NSTREAM && clpt_source_read(s, 0, NSTREAM, buf) == 0);
    CHECK(buf[0] == 0 && buf[99] == 99 && buf[100] == 100 && buf[456] == 456);
    clpt_source_free(s);
    CHECK(clpt_source_from_split(&s, m, 0, CLPT_SPLIT_TRAIN, 0, NULL) == 0);  /* empty split */
    CHECK(clpt_source_tokens(s) == 0);
    clpt_evalwin ew;
    CHECK(clpt_evalwin_init(&ew, s, 4, 0) == 0 && clpt_evalwin_count(&ew) == 0);
    clpt_source_free(s);
    CHECK(clpt_source_from_split(&s, m, 0, CLPT_SPLIT_VALID, 0, NULL) == CLPT_EFORMAT);
    CHECK(has("s2.bin") && has("57 tokens") && has("58") && has("\"d\""));
    CHECK(clpt_source_from_split(&s, m, 1, CLPT_SPLIT_VALID, 0, NULL) == CLPT_EINVAL);
    clpt_manifest_free(m);
}

int main(void)
{
    snprintf(dir, sizeof dir, "loadertest.XXXXXX");
    if (!mkdtemp(dir)) SKIP_TEST("cannot create a temporary directory");
    write_stream_shards();
    test_source_read();
    test_random_windows();
    test_determinism();
    test_weights();
    test_epoch();
    test_resume();
    test_evalwin();
    test_from_split();
    for (int k = 0; k < 4; k++) free((void *)shard_paths[k]);
    clpt_fs_remove_tree(dir);
    CHECK_DONE();
}
