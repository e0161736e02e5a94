/* token_groups.c - positions grouped by token id (token_groups.h). */
#include "token_groups.h"

#include <stdlib.h>
#include <string.h>

int clpt_group_tokens(const int *tok, int n, int *order, int *tmp, int *groups)
{
    enum { DIGITS = 1 << 16 };
    int *count = malloc(DIGITS * sizeof *count);
    if (!count) return -1;
    /* least significant 16 bits first, then the rest: each pass is stable,
     * so equal ids keep their positions' order */
    int *src = order, *dst = tmp;
    for (int i = 0; i < n; i++) src[i] = i;
    for (int shift = 0; shift < 32; shift += 16) {
        memset(count, 0, DIGITS * sizeof *count);
        for (int i = 0; i < n; i++) count[((unsigned)tok[i] >> shift) & 0xffff]++;
        for (int d = 0, sum = 0; d < DIGITS; d++) {
            int k = count[d];
            count[d] = sum;
            sum += k;
        }
        for (int i = 0; i < n; i++) dst[count[((unsigned)tok[src[i]] >> shift) & 0xffff]++] = src[i];
        int *t = src;
        src = dst;
        dst = t;
    }
    free(count); /* after two passes the result is back in order[] */
    int g = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || tok[order[i]] != tok[order[i - 1]]) groups[g++] = i;
    groups[g] = n;
    for (int k = 0; k < g; k++) groups[g + 1 + k] = tok[order[groups[k]]];
    return g;
}
