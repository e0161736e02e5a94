/* test_token_groups.c - clpt_group_tokens, which makes the CUDA backend's
 * token-embedding gradient deterministic: on random batches with many
 * repeated ids (small vocabularies) and with ids past 2^16 (the second
 * radix pass), order is a permutation, the groups cover it, ids rise
 * strictly, each group holds exactly that id's positions, in increasing
 * position order. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "token_groups.h"

static void check_groups(const int *tok, int n)
{
    int *order = malloc(n * sizeof *order), *tmp = malloc(n * sizeof *tmp);
    int *groups = malloc((2 * (size_t)n + 1) * sizeof *groups);
    char *seen = calloc(n, 1);
    int g = clpt_group_tokens(tok, n, order, tmp, groups);
    int distinct = 0;
    for (int i = 0; i < n; i++) { /* the distinct ids, counted the slow way */
        int first = 1;
        for (int j = 0; j < i && first; j++) first = tok[j] != tok[i];
        distinct += first;
    }
    CHECK_MSG(g == distinct, "n=%d: %d groups, %d distinct ids", n, g, distinct);
    CHECK(g < 0 || (groups[0] == 0 && groups[g] == n));
    for (int k = 0; k < g; k++) {
        int id = groups[g + 1 + k];
        CHECK_MSG(k == 0 || id > groups[g + k], "ids must rise: %d after %d", id, groups[g + k]);
        CHECK(groups[k] < groups[k + 1]);
        for (int i = groups[k]; i < groups[k + 1]; i++) {
            int p = order[i];
            CHECK_MSG(p >= 0 && p < n && !seen[p], "position %d twice or out of range", p);
            if (p >= 0 && p < n) seen[p] = 1;
            CHECK_MSG(tok[p] == id, "position %d has id %d, its group %d", p, tok[p], id);
            CHECK_MSG(i == groups[k] || order[i - 1] < p, "group %d: positions out of order", id);
        }
    }
    free(order), free(tmp), free(groups), free(seen);
}

int main(void)
{
    clpt_rng r;
    clpt_rng_seed(&r, 7);
    int sizes[] = {1, 2, 17, 1000, 4096};
    unsigned vocab[] = {1, 3, 50257, 1u << 20, 2147483647u};
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            int n = sizes[a], *tok = malloc(n * sizeof *tok);
            for (int i = 0; i < n; i++) tok[i] = (int)clpt_rng_below(&r, vocab[b]);
            check_groups(tok, n);
            free(tok);
        }
    CHECK_DONE();
}
