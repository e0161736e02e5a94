/* token_groups.h - the positions of a batch grouped by token id.
 *
 * The token-embedding gradient sums dout's rows per token id. Summing each
 * id's rows in position order, with one writer per id, makes it
 * deterministic where a scatter with atomics is not; the CUDA backend does
 * this with the groups made here (on the host: the ids are a few thousand
 * ints per step). */
#ifndef CLPT_TOKEN_GROUPS_H
#define CLPT_TOKEN_GROUPS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Group the n positions of tok (ids >= 0) by id with a stable two-pass
 * radix sort. order (n) receives the positions sorted by (id, position);
 * groups (2n + 1) receives the g + 1 group starts (indices into order, the
 * last one n), then the g ids in increasing order; tmp (n) is workspace.
 * Returns g, the number of distinct ids, or -1 when out of memory. */
int clpt_group_tokens(const int *tok, int n, int *order, int *tmp, int *groups);

#ifdef __cplusplus
}
#endif

#endif
