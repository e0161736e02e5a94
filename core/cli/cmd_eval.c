/* cmd_eval.c - `clpt eval --model DIR --data SHARD [--json]`: perplexity
 * over non-overlapping context-length windows, as M2D2's evaluator does. */
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "clpt.h"
#include "commands.h"
#include "evaluate.h"
#include "manifest.h"
#include "progress.h"
#include "train.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clpt eval --model DIR --data SPEC [--domain NAME] [--split test|valid|train]\n"
            "                 [--seq-len T] [--batch B] [--max-tokens N] [--rank] [--json]\n"
            "                 [--backend cpu|cpu-bf16|cuda|auto] [--threads N] [--no-verify]\n\n"
            "Perplexity of a Hugging Face-layout checkpoint over non-overlapping windows of\n"
            "T tokens (default: the model's context): ppl = exp(sum NLL / tokens).\n"
            "SPEC is a .bin shard, a comma-separated list of shards, or a prepared corpus\n"
            "directory (manifest.json; --domain picks one domain, default all, --split\n"
            "default test); its shards are checked against the manifest's sha256 first\n"
            "(--no-verify skips that). --json prints one JSON object: ppl, nll, tokens, ...\n");
}

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
    clpt_progress_bar *bar = ud;
    bar->total = total;
    clpt_progress_update(bar, done, NULL);
}

typedef struct eval_args {
    const char *model, *data, *domain, *backend;
    int split, T, B, rank, json, threads, no_verify;
    long long max_tokens;
} eval_args;

static int parse(eval_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "-h") || !strcmp(k, "--help")) return usage(stdout), 1;
        if (!strcmp(k, "--json")) a->json = 1;
        else if (!strcmp(k, "--rank")) a->rank = 1;
        else if (!strcmp(k, "--no-verify")) a->no_verify = 1;
        else if (!v) break;
        else if (!strcmp(k, "--model")) a->model = v, i++;
        else if (!strcmp(k, "--data")) a->data = v, i++;
        else if (!strcmp(k, "--domain")) a->domain = v, i++;
        else if (!strcmp(k, "--backend")) a->backend = v, i++;
        else if (!strcmp(k, "--seq-len")) a->T = atoi(v), i++;
        else if (!strcmp(k, "--batch")) a->B = atoi(v), i++;
        else if (!strcmp(k, "--threads")) a->threads = atoi(v), i++;
        else if (!strcmp(k, "--max-tokens")) a->max_tokens = atoll(v), i++;
        else if (!strcmp(k, "--split")) {
            if ((a->split = clpt_split_parse(v)) < 0) {
                fprintf(stderr, "clpt eval: --split must be train, valid or test (got '%s')\n", v);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "clpt eval: unknown or incomplete argument '%s'\n\n", k);
            return usage(stderr), 2;
        }
    }
    if (!a->model || !a->data) return usage(stderr), 2;
    if (a->B < 1 || a->T < 0 || a->max_tokens < 0) {
        fprintf(stderr, "clpt eval: --batch must be >= 1, --seq-len and --max-tokens >= 0\n");
        return 2;
    }
    return 0;
}

static void print_result(const eval_args *a, const clpt_eval_result *e, int T)
{
    if (!a->json) {
        printf("ppl %.4f  nll %.5f  tokens %llu  (T=%d, %.1f tok/s)", e->ppl, e->nll,
               (unsigned long long)e->tokens, T, e->tokens / (e->seconds > 0 ? e->seconds : 1));
        if (a->rank) printf("  rank mean %.2f median %.1f top1 %.4f", e->rank_mean, e->rank_median, e->top1);
        printf("\n");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "ppl", e->ppl);
    cJSON_AddNumberToObject(o, "nll", e->nll);
    cJSON_AddNumberToObject(o, "tokens", (double)e->tokens);
    cJSON_AddNumberToObject(o, "seq_len", T);
    cJSON_AddNumberToObject(o, "seconds", e->seconds);
    if (a->rank) {
        cJSON_AddNumberToObject(o, "rank_mean", e->rank_mean);
        if (!isnan(e->rank_median)) cJSON_AddNumberToObject(o, "rank_median", e->rank_median);
        cJSON_AddNumberToObject(o, "top1", e->top1);
    }
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

int clpt_cmd_eval(int argc, char **argv)
{
    eval_args a = {.split = CLPT_SPLIT_TEST, .B = 4, .backend = "auto", .domain = ""};
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.threads > 0) omp_set_num_threads(a.threads);
    const clpt_backend *be = clpt_backend_get(a.backend);
    clpt_model *m = NULL;
    clpt_source **src = NULL;
    int n = 0;
    if (!be || clpt_ckpt_load_model(&m, a.model, be)) goto fail;
    int T = a.T ? a.T : clpt_model_cfg(m)->n_ctx;
    if (clpt_data_open(a.data, a.domain, a.split, 0, !a.no_verify, "--data", &src, &n, NULL)) goto fail;
    /* several domains: one result over all their tokens */
    clpt_eval_result tot = {0}, e;
    clpt_progress_bar bar;
    clpt_progress_init(&bar, "eval", "tok", 0, 0, 0);
    for (int i = 0; i < n; i++) {
        if (clpt_source_check_vocab(src[i], clpt_model_cfg(m)->vocab_size)) goto fail;
        if (clpt_evaluate(m, src[i], T, a.B, (uint64_t)a.max_tokens, a.rank, &e, on_progress, &bar))
            goto fail;
        tot.tokens += e.tokens;
        tot.nll_sum += e.nll_sum;
        tot.seconds += e.seconds;
        tot.rank_mean += e.rank_mean * e.tokens;
        tot.top1 += e.top1 * e.tokens;
        /* a median does not combine across domains: reported for one only */
        tot.rank_median = n == 1 ? e.rank_median : NAN;
    }
    clpt_progress_end(&bar);
    tot.nll = tot.nll_sum / (double)tot.tokens;
    tot.ppl = exp(tot.nll);
    tot.rank_mean /= (double)tot.tokens;
    tot.top1 /= (double)tot.tokens;
    print_result(&a, &tot, T);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "clpt eval: %s\n", clpt_errmsg());
    rc = 1;
done:
    for (int i = 0; i < n; i++) clpt_source_free(src[i]);
    free(src);
    clpt_model_free(m);
    return rc;
}
