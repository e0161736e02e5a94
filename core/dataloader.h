/* dataloader.h - token streams (sources), seeded training windows, and
 * evaluation windows. Everything here is deterministic given a seed.
 *
 * Shapes: `inputs` and `targets` are (B, T) int arrays, row-major; row b
 * holds one window: inputs[b][t] = stream[s + t], targets[b][t] =
 * stream[s + t + 1] for the window's start s. Token positions and counts
 * are in tokens. Sources are read-only once built and may be shared by
 * several loaders and threads; a loader is used by one thread at a time. */
#ifndef CLPT_DATALOADER_H
#define CLPT_DATALOADER_H

#include <stdint.h>

#include "manifest.h"
#include "shardcheck.h"

struct cJSON;

/* ---- sources: a list of shards viewed as one token stream -------------- */

typedef struct clpt_source clpt_source;

/* A stream made of the shard files `paths[0..n)` in that order (each opened
 * and mapped; the source owns them). `cap` > 0 keeps only the first `cap`
 * tokens of the stream; 0 keeps all. Caller frees with clpt_source_free(). */
int clpt_source_open(clpt_source **out, const char *const *paths, int n, uint64_t cap);

/* The stream of split `split` (CLPT_SPLIT_*) of domain `domain` of `m`.
 * Each shard's header count must equal the manifest's "tokens"
 * (CLPT_EFORMAT naming the shard otherwise). With a checker (may be NULL),
 * each shard's bytes must also match the manifest's sha256 (shardcheck.h),
 * checked once mapped and before the source exists. `m` may be freed
 * afterwards. */
int clpt_source_from_split(clpt_source **out, const clpt_manifest *m, int domain,
                           int split, uint64_t cap, clpt_shardcheck *check);

/* A stream over caller memory: segments segs[i] of lens[i] tokens, in order.
 * The memory is borrowed and must outlive the source. */
int clpt_source_from_memory(clpt_source **out, const uint16_t *const *segs,
                            const uint64_t *lens, int n, uint64_t cap);

void clpt_source_free(clpt_source *s);

/* Tokens in the stream, after the cap. */
uint64_t clpt_source_tokens(const clpt_source *s);

/* Copy stream[pos .. pos+n) into dst as ints, crossing shard boundaries as
 * needed. CLPT_EINVAL if the range passes clpt_source_tokens(). */
int clpt_source_read(const clpt_source *s, uint64_t pos, uint64_t n, int *dst);

/* 0 if every token of the stream (after the cap) is < vocab_size, else
 * CLPT_EFORMAT naming the shard and position of the first one that is not. */
int clpt_source_check_vocab(const clpt_source *s, int vocab_size);

/* ---- training windows --------------------------------------------------- */

typedef struct clpt_loader clpt_loader;

/* A loader drawing from sources[0..n) (borrowed: they must outlive the
 * loader) with the given weights (>= 0, finite, not all zero; NULL = equal).
 * Weights need not sum to 1. Caller frees with clpt_loader_free(). */
int clpt_loader_new(clpt_loader **out, clpt_source *const *sources, const double *weights,
                    int n, uint64_t seed);

void clpt_loader_free(clpt_loader *l);

int clpt_loader_nsources(const clpt_loader *l);

/* Random mode: fill B rows. Per row, pick a source with probability
 * weight / sum(weights), then a start s uniform in [0, n - T - 1] where n is
 * that source's token count, and copy the window (it may cross shards).
 * Every source with a positive weight must have n >= T + 1 (CLPT_EINVAL
 * naming it otherwise, checked before any draw). */
int clpt_loader_next(clpt_loader *l, int *inputs, int *targets, int B, int T);

/* One random window (a row: T inputs, T targets) from source `src`,
 * whatever its weight: the building block of replay strategies that
 * compose their own batches. Same RNG as clpt_loader_next(). */
int clpt_loader_sample(clpt_loader *l, int src, int *inputs, int *targets, int T);

/* Epoch mode. A source's epoch windows are the windows starting at
 * multiples of T: window w covers stream[wT .. wT + T] (T + 1 tokens), so
 * inputs of different windows never overlap, neither do targets, and one
 * epoch predicts every token in stream[1 .. W*T] exactly once. The count is
 * W = floor((n - 1) / T) (0 when n <= T); the tail after W*T is unused. */
uint64_t clpt_loader_epoch_windows(const clpt_source *s, int T);

/* Start epoch mode on source `src` with window length T, at epoch 0,
 * position 0. Each epoch visits all W windows once, in an order that is a
 * seeded permutation of the loader's seed, the source index, T and the
 * epoch number (so it differs between epochs). Random mode is unaffected.
 * CLPT_EINVAL if W = 0 or W >= 2^32. */
int clpt_loader_epoch_begin(clpt_loader *l, int src, int T);

/* Fill up to B rows with the next windows of the current epoch; *rows gets
 * the number filled (1..B; < B only for the last batch of an epoch). An
 * exhausted epoch rolls over to the next one at the start of a call, so a
 * batch never mixes epochs. Rows past *rows are left untouched. */
int clpt_loader_epoch_next(clpt_loader *l, int *inputs, int *targets, int B, int *rows);

/* Where epoch mode stands (any pointer may be NULL): the current epoch
 * number, windows already yielded in it, and W. All 0 before _begin. */
void clpt_loader_epoch_info(const clpt_loader *l, uint64_t *epoch, uint64_t *position,
                            uint64_t *windows);

/* ---- exact resume ------------------------------------------------------- */

/* Everything that decides the loader's future output besides its sources
 * and weights: restoring it into a loader built over the same sources and
 * weights makes the following batches equal the uninterrupted ones. */
typedef struct clpt_loader_state {
    uint64_t rng[4];        /* random-mode generator (xoshiro256** words) */
    uint64_t seed;          /* epoch permutations derive from it */
    uint64_t epoch;         /* epoch mode: current epoch number */
    uint64_t position;      /* epoch mode: windows already yielded this epoch */
    int32_t epoch_source;   /* epoch mode source, -1 when not begun */
    int32_t epoch_T;        /* epoch mode window length, 0 when not begun */
    int32_t n_sources;      /* checked on restore */
} clpt_loader_state;

void clpt_loader_get_state(const clpt_loader *l, clpt_loader_state *st);

/* CLPT_EINVAL (naming the field) if the state does not fit this loader:
 * other source count, epoch source out of range, position past W. The
 * loader is unchanged on failure. */
int clpt_loader_set_state(clpt_loader *l, const clpt_loader_state *st);

/* The state as a JSON object (64-bit words as 16-digit hex strings); caller
 * frees with cJSON_Delete(). NULL on allocation failure. */
struct cJSON *clpt_loader_state_to_json(const clpt_loader_state *st);

/* Parse what _to_json() wrote; CLPT_EFORMAT naming the missing or bad key. */
int clpt_loader_state_from_json(clpt_loader_state *st, const struct cJSON *j);

/* ---- evaluation windows ------------------------------------------------- */

/* Non-overlapping evaluation windows over the first n tokens of a source,
 * n = min(source tokens, max_tokens) (max_tokens 0 = all), M2D2-style:
 * window i starts at token iT and holds up to T + 1 tokens,
 * stream[iT .. min(iT + T, n - 1)]; it scores len = min(T, n - 1 - iT)
 * predictions, targets stream[iT + 1 .. iT + len]. Windows start at
 * multiples of T; the last one may be shorter. So every token at positions
 * 1..n-1 is a target exactly once, and token 0 never is; the number of
 * scored tokens is n - 1 (0 when n < 2). A POD the caller owns; the source
 * is borrowed. */
typedef struct clpt_evalwin {
    const clpt_source *src;
    int T;
    uint64_t n;             /* tokens covered */
} clpt_evalwin;

int clpt_evalwin_init(clpt_evalwin *ew, const clpt_source *src, int T, uint64_t max_tokens);

/* ceil((n - 1) / T), 0 when n < 2. */
uint64_t clpt_evalwin_count(const clpt_evalwin *ew);

/* Fill window i: inputs[0..len) and targets[0..len) as above; the rest of
 * the T slots get input 0 and target -1 (no prediction), so a batch of
 * windows can be evaluated as a (B, T) block with -1 targets ignored. */
int clpt_evalwin_get(const clpt_evalwin *ew, uint64_t i, int *inputs, int *targets,
                     int *len);

#endif
