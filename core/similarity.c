/* similarity.c - unigram distributions of domains, their similarity, and
 * the greedy chain schedule (similarity.h). */
#include "similarity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "dataloader.h"

int clpt_sim_parse(const char *name)
{
    if (!strcmp(name, "overlap")) return CLPT_SIM_OVERLAP;
    if (!strcmp(name, "cosine")) return CLPT_SIM_COSINE;
    return -1;
}

#define CHUNK 65536

int clpt_domain_unigrams(const clpt_manifest *m, int domain, int split, uint64_t max_tokens,
                         float *p)
{
    int V = clpt_manifest_tokenizer_info(m)->vocab_size;
    const clpt_domain *d = clpt_manifest_domain(m, domain);
    clpt_source *src = NULL;
    int *buf = NULL, rc = clpt_source_from_split(&src, m, domain, split, max_tokens, NULL);
    if (rc) return rc;
    uint64_t n = clpt_source_tokens(src);
    double *count = calloc(V, sizeof *count);
    buf = malloc(CHUNK * sizeof *buf);
    if (!count || !buf) rc = clpt_err(CLPT_ENOMEM, "similarity: out of memory");
    else if (!n) rc = clpt_err(CLPT_EINVAL, "domain '%s' has no %s tokens", d->name, clpt_split_name(split));
    for (uint64_t pos = 0; !rc && pos < n; pos += CHUNK) {
        uint64_t k = n - pos < CHUNK ? n - pos : CHUNK;
        if ((rc = clpt_source_read(src, pos, k, buf))) break;
        for (uint64_t i = 0; i < k; i++) {
            if (buf[i] < 0 || buf[i] >= V) {
                rc = clpt_err(CLPT_EFORMAT, "domain '%s': token %d at %llu is outside the vocabulary (%d)",
                              d->name, buf[i], (unsigned long long)(pos + i), V);
                break;
            }
            count[buf[i]]++;
        }
    }
    for (int t = 0; !rc && t < V; t++) p[t] = (float)(count[t] / (double)n);
    free(count);
    free(buf);
    clpt_source_free(src);
    return rc;
}

static double sim_pair(const float *p, const float *q, int V, int measure)
{
    double s = 0, pp = 0, qq = 0;
    if (measure == CLPT_SIM_OVERLAP) {
        for (int t = 0; t < V; t++) s += p[t] < q[t] ? p[t] : q[t];
        return s;
    }
    for (int t = 0; t < V; t++) s += (double)p[t] * q[t], pp += (double)p[t] * p[t], qq += (double)q[t] * q[t];
    return pp > 0 && qq > 0 ? s / sqrt(pp * qq) : 0;
}

int clpt_similarity_matrix(const clpt_manifest *m, const int *idx, int n, int split,
                           uint64_t max_tokens, int measure, double *out)
{
    if (measure != CLPT_SIM_OVERLAP && measure != CLPT_SIM_COSINE)
        return clpt_err(CLPT_EINVAL, "similarity: unknown measure %d", measure);
    int V = clpt_manifest_tokenizer_info(m)->vocab_size, rc = 0;
    float *p = malloc((size_t)n * V * sizeof *p);
    if (!p) return clpt_err(CLPT_ENOMEM, "similarity: %d domains x %d tokens do not fit in memory", n, V);
    for (int i = 0; i < n && !rc; i++) {
        if (!clpt_manifest_domain(m, idx[i])) rc = clpt_err(CLPT_EINVAL, "similarity: no domain %d", idx[i]);
        else rc = clpt_domain_unigrams(m, idx[i], split, max_tokens, p + (size_t)i * V);
    }
    /* pairs are independent: spread them over the cores */
    #pragma omp parallel for schedule(dynamic) if (!rc && n > 8)
    for (int i = 0; i < n; i++) {
        if (rc) continue;
        out[(size_t)i * n + i] = 1;
        for (int j = i + 1; j < n; j++)
            out[(size_t)i * n + j] = out[(size_t)j * n + i] =
                sim_pair(p + (size_t)i * V, p + (size_t)j * V, V, measure);
    }
    free(p);
    return rc;
}

int clpt_similarity_chain(const double *sim, int n, int start, int *order)
{
    if (n < 1 || start < 0 || start >= n)
        return clpt_err(CLPT_EINVAL, "similarity chain: start %d outside 0..%d", start, n - 1);
    char *seen = calloc(n, 1);
    if (!seen) return clpt_err(CLPT_ENOMEM, "similarity: out of memory");
    order[0] = start;
    seen[start] = 1;
    for (int k = 1; k < n; k++) {
        int last = order[k - 1], best = -1;
        for (int j = 0; j < n; j++)
            if (!seen[j] && (best < 0 || sim[(size_t)last * n + j] > sim[(size_t)last * n + best]))
                best = j;
        order[k] = best;
        seen[best] = 1;
    }
    free(seen);
    return 0;
}
