/* evaluate.h - perplexity and prediction rank of a model on a token stream.
 *
 * Windows are M2D2's: non-overlapping, stride = T, every token after the
 * first predicted exactly once (dataloader.h, clpt_evalwin). Full windows
 * run B at a time; a shorter last window runs alone. */
#ifndef CLPT_EVALUATE_H
#define CLPT_EVALUATE_H

#include <stdint.h>

#include "dataloader.h"
#include "model.h"

typedef struct clpt_eval_result {
    uint64_t tokens;     /* predictions scored */
    double nll_sum;      /* sum of -log p(target), nats */
    double nll;          /* nll_sum / tokens */
    double ppl;          /* exp(nll) */
    double rank_mean;    /* mean rank of the true token (1 = top-1); 0 if not asked */
    double rank_median;  /* median rank; 0 if not asked */
    double top1;         /* fraction of tokens ranked first; 0 if not asked */
    double seconds;      /* wall time */
} clpt_eval_result;

/* Progress callback: called after each batch with tokens done and total;
 * may be NULL. */
typedef void (*clpt_eval_progress)(void *ud, uint64_t done, uint64_t total);

/* Evaluate `m` on the first max_tokens (0 = all) tokens of `src` with
 * windows of T tokens, B windows per forward. with_rank also computes the
 * rank statistics. 0 or a negative CLPT_E* code. */
int clpt_evaluate(clpt_model *m, const clpt_source *src, int T, int B,
                  uint64_t max_tokens, int with_rank, clpt_eval_result *out,
                  clpt_eval_progress progress, void *ud);

#endif
