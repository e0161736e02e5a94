/* similarity.h - how alike two domains' texts are, from token statistics,
 * and the "similarity chain" schedule built on it.
 *
 * A domain's unigram distribution p is its token histogram over the first
 * `max_tokens` tokens of one split, normalised to sum 1. Two measures:
 *   overlap  sum_t min(p_t, q_t)          = 1 - total variation, in [0, 1]
 *   cosine   p.q / (|p| |q|)              in [0, 1]
 * Both are 1 for identical distributions and 0 for disjoint vocabularies. */
#ifndef CLPT_SIMILARITY_H
#define CLPT_SIMILARITY_H

#include <stdint.h>

#include "manifest.h"

typedef enum { CLPT_SIM_OVERLAP, CLPT_SIM_COSINE } clpt_sim_measure;

/* "overlap" / "cosine" -> measure, or -1. */
int clpt_sim_parse(const char *name);

/* The normalised unigram distribution of split `split` of domain `domain`
 * (first max_tokens tokens, 0 = all) into p[0..vocab_size) of the
 * manifest's tokenizer. CLPT_EINVAL when the split is empty; CLPT_EFORMAT
 * on a token outside the vocabulary. */
int clpt_domain_unigrams(const clpt_manifest *m, int domain, int split, uint64_t max_tokens,
                         float *p);

/* The n x n similarity of the domains idx[0..n) (manifest indices) into
 * out (row-major, symmetric, 1 on the diagonal). Reads every domain once;
 * memory n * vocab_size floats. */
int clpt_similarity_matrix(const clpt_manifest *m, const int *idx, int n, int split,
                           uint64_t max_tokens, int measure, double *out);

/* The greedy chain through an n x n similarity matrix: start at `start`,
 * then always step to the most similar domain not yet visited (ties go to
 * the lower index). order[0..n) receives positions 0..n-1. */
int clpt_similarity_chain(const double *sim, int n, int start, int *order);

#endif
