/* config.c - the configuration schema and what it drives directly:
 * defaults, value parsing, --set overrides, introspection and the cross-key
 * validation. Reading ini files is config_load.c; --show and --doc are
 * config_doc.c; both work through the public API of config.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"

/* ---- the schema ------------------------------------------------------------ */

typedef enum { T_INT, T_INT64, T_FLOAT, T_STR, T_BOOL, T_ENUM } key_type;

enum { LO_OPEN = 1, HI_OPEN = 2 }; /* float range bounds that are excluded */

typedef struct {
    const char *section, *name, *dotted;
    size_t offset, size;          /* of the field in clpt_config */
    key_type type;
    const char *def;              /* default, as text, parsed like any value */
    long long imin, imax;         /* T_INT, T_INT64 */
    double fmin, fmax;            /* T_FLOAT */
    int open;                     /* T_FLOAT: LO_OPEN | HI_OPEN */
    const char *const *choices;   /* T_ENUM: NULL-terminated, in enum order */
    const char *alt;              /* dotted key this one is an alternative to */
    const char *help;
} key_def;

/* Enum spellings, in the order of the C enums in config.h (checked by
 * schema_check for presets). */
static const char *const preset_names[] = {
    "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "tiny", "mini", "small", NULL};
static const char *const schedule_names[] = {"constant", "cosine", "linear", "wsd", NULL};
static const char *const backend_names[] = {"cpu", "cuda", "auto", "cpu-bf16", NULL};
static const char *const progress_names[] = {"auto", "always", "never", NULL};
const char *const clpt_cuda_gemm_names[] = {"default", "bf16", "bf16fast", "tf32", "fp32", NULL};
const char *const clpt_cuda_attention_names[] = {"default", "auto", "cudnn", "mma", "wmma", "simt", NULL};
const char *const clpt_cuda_activation_names[] = {"default", "fp32", "bf16", NULL};
const char *const clpt_cuda_gelu_fusion_names[] = {"default", "off", "on", NULL};
const char *const clpt_cuda_logits_names[] = {"default", "fp32", "bf16", NULL};
static const char *const bool_names[] = {"false", "true", NULL};

#define AT(sec, key, field)                                                    \
    .section = sec, .name = key, .dotted = sec "." key,                        \
    .offset = offsetof(clpt_config, field),                                    \
    .size = sizeof(((clpt_config *)0)->field)
#define INT(lo, hi) .type = T_INT, .imin = (lo), .imax = (hi)
#define I64(lo, hi) .type = T_INT64, .imin = (lo), .imax = (hi)
#define FLT(lo, hi, o) .type = T_FLOAT, .fmin = (lo), .fmax = (hi), .open = (o)
#define STR .type = T_STR
#define BOOL .type = T_BOOL
#define ENUM(names) .type = T_ENUM, .choices = (names)
#define BIG 1000000000000000LL /* 1e15: caps token counts and steps */

static const key_def keys[] = {
    {AT("model", "preset", model.preset), ENUM(preset_names), .def = "gpt2",
     .help = "Model size; the keys below override single dimensions of it."},
    {AT("model", "n_layer", model.n_layer), INT(0, 1024), .def = "0",
     .help = "Transformer blocks; 0 = from the preset."},
    {AT("model", "n_head", model.n_head), INT(0, 1024), .def = "0",
     .help = "Attention heads (n_embd must be a multiple); 0 = from the preset."},
    {AT("model", "n_embd", model.n_embd), INT(0, 65536), .def = "0",
     .help = "Channels; 0 = from the preset."},
    {AT("model", "n_ctx", model.n_ctx), INT(0, 1 << 20), .def = "0",
     .help = "Maximum sequence length (learned positions); 0 = from the preset."},
    {AT("model", "vocab_size", model.vocab_size), INT(0, 1 << 24), .def = "0",
     .help = "Vocabulary size; 0 = from the preset (50257, GPT-2's tokenizer). "
             "Set it for a small trained tokenizer."},
    {AT("model", "init", model.init), STR, .def = "random",
     .help = "`random` (GPT-2 initialisation from `seed`) or the path of a Hugging Face "
             "GPT-2 checkpoint directory (config.json + model.safetensors) whose sizes "
             "match the model."},
    {AT("model", "seed", model.seed), I64(0, INT64_MAX), .def = "1337",
     .help = "Seed of the random initialisation."},

    {AT("train", "batch_size", train.batch_size), INT(1, 65536), .def = "16",
     .help = "Sequences per micro-batch (B)."},
    {AT("train", "seq_len", train.seq_len), INT(0, 1 << 20), .def = "0",
     .help = "Tokens per sequence (T), at most n_ctx; 0 = n_ctx."},
    {AT("train", "grad_accum", train.grad_accum), INT(1, 65536), .def = "1",
     .help = "Micro-batches per optimizer step: a step sees batch_size * grad_accum sequences."},
    {AT("train", "steps", train.steps), I64(0, BIG), .def = "1000", .alt = "train.tokens",
     .help = "Optimizer steps. Set exactly one of `steps` and `tokens`: setting one "
             "clears the other unless both are in the same file."},
    {AT("train", "tokens", train.tokens), I64(0, BIG), .def = "0", .alt = "train.steps",
     .help = "Training length in tokens, the alternative to `steps`: steps = "
             "tokens / (batch_size * seq_len * grad_accum), rounded up. 0 = unused."},
    {AT("train", "epochs", train.epochs), FLT(0, 1e6, 0), .def = "0",
     .help = "Passes over each domain's training data, for experiment scripts that size "
             "training by the data (the study: 1). 0 = unused; `clpt train` uses steps/tokens."},
    {AT("train", "seed", train.seed), I64(0, INT64_MAX), .def = "1234",
     .help = "Seed of the data order (the random training windows)."},
    {AT("train", "log_every", train.log_every), INT(0, INT_MAX), .def = "10",
     .help = "Steps between training-loss log lines; 0 = off."},
    {AT("train", "save_every", train.save_every), INT(0, INT_MAX), .def = "0",
     .help = "Steps between checkpoints; 0 = only at the end."},
    {AT("train", "out_dir", train.out_dir), STR, .def = "runs/default",
     .help = "Directory for checkpoints, the results journal and logs."},

    {AT("optim", "lr", optim.lr), FLT(0, 10, LO_OPEN), .def = "1e-4",
     .help = "Peak learning rate."},
    {AT("optim", "beta1", optim.beta1), FLT(0, 1, HI_OPEN), .def = "0.9",
     .help = "AdamW first-moment decay."},
    {AT("optim", "beta2", optim.beta2), FLT(0, 1, HI_OPEN), .def = "0.95",
     .help = "AdamW second-moment decay."},
    {AT("optim", "eps", optim.eps), FLT(0, 1, LO_OPEN), .def = "1e-8",
     .help = "AdamW epsilon."},
    {AT("optim", "weight_decay", optim.weight_decay), FLT(0, 10, 0), .def = "0.1",
     .help = "Decoupled weight decay, applied to 2-D weights only."},
    {AT("optim", "grad_clip", optim.grad_clip), FLT(0, 1e6, 0), .def = "1.0",
     .help = "Clip the gradient's global L2 norm to this; 0 = off."},
    {AT("optim", "schedule", optim.schedule), ENUM(schedule_names), .def = "constant",
     .help = "Learning-rate schedule after warmup: `constant`; `cosine` or `linear` decay "
             "to min_lr_ratio * lr; `wsd` (warmup-stable-decay): constant, then a linear "
             "decay over the last decay_frac of the steps."},
    {AT("optim", "warmup_steps", optim.warmup_steps), INT(0, INT_MAX), .def = "0",
     .help = "Steps of linear warmup from 0 to lr."},
    {AT("optim", "min_lr_ratio", optim.min_lr_ratio), FLT(0, 1, 0), .def = "0.1",
     .help = "Final learning rate of a decaying schedule, as a fraction of lr."},
    {AT("optim", "decay_frac", optim.decay_frac), FLT(0, 1, 0), .def = "0.1",
     .help = "`wsd`: fraction of the steps spent in the final decay."},
    {AT("optim", "reset_per_domain", optim.reset_per_domain), BOOL, .def = "false",
     .help = "Zero the AdamW moments and step count when a new domain begins."},
    {AT("optim", "schedule_per_domain", optim.schedule_per_domain), BOOL, .def = "false",
     .help = "Run the schedule (warmup and decay) afresh within each domain instead of "
             "once over the whole run."},

    {AT("data", "train", data.train), STR, .def = "",
     .help = "Training tokens: a `.bin` token shard, a comma-separated list of shards, or "
             "a directory holding manifest.json. Needed by `clpt train`."},
    {AT("data", "valid", data.valid), STR, .def = "",
     .help = "Evaluation tokens, in the same forms as `train`; empty = no evaluation."},
    {AT("data", "domain", data.domain), STR, .def = "",
     .help = "A domain name inside the manifest; empty = not chosen here (experiment "
             "scripts pick domains)."},
    {AT("data", "tokenizer", data.tokenizer), STR, .def = "",
     .help = "Tokenizer directory (vocab.json + merges.txt), for decoding text; optional."},
    {AT("data", "max_train_tokens", data.max_train_tokens), I64(0, BIG), .def = "0",
     .help = "Cap on the training tokens read per domain; 0 = all."},
    {AT("data", "max_eval_tokens", data.max_eval_tokens), I64(0, BIG), .def = "0",
     .help = "Cap on the evaluation tokens read per domain; 0 = all."},
    {AT("data", "verify_shards", data.verify_shards), BOOL, .def = "true",
     .help = "Check each shard of a prepared corpus against the sha256 in its manifest "
             "before training or evaluation reads it; a corrupt shard is refused, naming "
             "the file. A shard checked before and untouched since is not hashed again "
             "(stamp `verified.json` beside the manifest). Hashing runs at about 110 MB/s "
             "on one core; `false` skips the check."},

    {AT("eval", "every", eval.every), INT(0, INT_MAX), .def = "0",
     .help = "Steps between evaluations during training; 0 = only at the end."},
    {AT("eval", "batch_size", eval.batch_size), INT(0, 65536), .def = "0",
     .help = "Sequences per evaluation forward pass; 0 = train batch_size."},
    {AT("eval", "max_tokens", eval.max_tokens), I64(0, BIG), .def = "0",
     .help = "Tokens scored per evaluation (non-overlapping n_ctx windows); 0 = all read."},
    {AT("eval", "rank", eval.rank), BOOL, .def = "false",
     .help = "Also compute the rank of the true next token (the knowledge metric)."},

    {AT("runtime", "backend", runtime.backend), ENUM(backend_names), .def = "auto",
     .help = "Compute backend; `auto` = cuda when built and a GPU is present, else cpu. "
             "`cpu-bf16` = cpu with activations stored in bf16, to see what that storage does "
             "to a run (docs/ARCHITECTURE.md)."},
    {AT("runtime", "threads", runtime.threads), INT(0, 4096), .def = "0",
     .help = "CPU threads; 0 = all cores."},
    {AT("runtime", "progress", runtime.progress), ENUM(progress_names), .def = "auto",
     .help = "Progress display: `auto` = only when stderr is a terminal."},
    {AT("runtime", "cuda_gemm", runtime.cuda_gemm), ENUM(clpt_cuda_gemm_names), .def = "default",
     .help = "GEMM precision on the cuda backend (docs/cuda.md): `bf16` operands with fp32 "
             "accumulation, `bf16fast` / `tf32` inside cuBLAS, or `fp32`; `default` = "
             "CLPT_CUDA_GEMM, else bf16. Ignored on the CPU."},
    {AT("runtime", "cuda_attention", runtime.cuda_attention), ENUM(clpt_cuda_attention_names),
     .def = "default",
     .help = "Attention kernels on the cuda backend: `cudnn` (cuDNN's fused attention; bf16 "
             "activations only, else mma), `mma` (bf16 tensor cores), `wmma`, `simt` "
             "(fp32), or `auto` (cudnn where it can run, else mma); `default` = CLPT_CUDA_ATTN, "
             "else auto. Ignored on the CPU."},
    {AT("runtime", "cuda_activations", runtime.cuda_activations), ENUM(clpt_cuda_activation_names),
     .def = "default",
     .help = "Activation storage on the cuda backend: `bf16` (half the activation memory, and "
             "every GEMM then takes bf16 operands whatever cuda_gemm says), or `fp32` (closer to "
             "the CPU); `default` = CLPT_CUDA_ACT, else bf16. Ignored on the CPU."},
    {AT("runtime", "cuda_gelu_fusion", runtime.cuda_gelu_fusion), ENUM(clpt_cuda_gelu_fusion_names),
     .def = "default",
     .help = "GELU inside cuBLASLt's GEMM epilogues on the cuda backend (`on`), or as separate "
             "kernels (`off`); `default` = CLPT_CUDA_GELU_FUSION, else on with bf16 activations "
             "and off with fp32. Ignored on the CPU."},
    {AT("runtime", "cuda_logits", runtime.cuda_logits), ENUM(clpt_cuda_logits_names),
     .def = "default",
     .help = "The logits the classifier's training pass takes on the cuda backend, with bf16 GEMM "
             "operands: `fp32`, or `bf16` (half the logit memory traffic; the softmax's inputs "
             "rounded to bf16, as PyTorch autocast has them). Evaluation always takes fp32 logits; "
             "`default` = CLPT_CUDA_LOGITS, else fp32. Ignored on the CPU."},
};

#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

static const char *const sections[] = {"model", "train", "optim", "data", "eval", "runtime", NULL};

int clpt_config_nkeys(void) { return NKEYS; }
const char *const *clpt_config_sections(void) { return sections; }

int clpt_config_key_index(const char *dotted)
{
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].dotted, dotted)) return i;
    return -1;
}

int clpt_config_section_known(const char *s)
{
    for (int i = 0; sections[i]; i++)
        if (!strcmp(sections[i], s)) return 1;
    return 0;
}

/* Levenshtein distance (99 past 63 characters): a typo is 1 or 2 away. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

const char *clpt_config_suggest(const char *word, const char *const *cands)
{
    const char *best = NULL;
    int bd = 3;
    size_t lw = strlen(word);
    for (int i = 0; cands[i]; i++) {
        size_t lc = strlen(cands[i]);
        int d = distance(word, cands[i]);
        /* "optimizer" for "optim": one is a prefix of the other */
        if (lw >= 3 && lc >= 3 && !strncmp(word, cands[i], lw < lc ? lw : lc)) d = d < 2 ? d : 2;
        if (d < bd) bd = d, best = cands[i];
    }
    return best;
}

/* " (did you mean 'x'?)" into buf when a candidate is close, else "". */
static void suggest(char *buf, size_t n, const char *word, const char *const *cands)
{
    const char *best = clpt_config_suggest(word, cands);
    if (best) snprintf(buf, n, " (did you mean '%s'?)", best);
    else buf[0] = '\0';
}

/* "a, b, c" of the keys of a section into buf. */
static void section_keys(char *buf, size_t n, const char *section, const char **list, int max)
{
    size_t len = 0;
    int m = 0;
    buf[0] = '\0';
    for (int i = 0; i < NKEYS && len < n; i++) {
        if (strcmp(keys[i].section, section)) continue;
        len += snprintf(buf + len, n - len, "%s%s", len ? ", " : "", keys[i].name);
        if (list && m < max - 1) list[m++] = keys[i].name;
    }
    if (list) list[m] = NULL;
}

/* ---- values ------------------------------------------------------------ */

static void *field(clpt_config *cfg, const key_def *k) { return (char *)cfg + k->offset; }
static const void *cfield(const clpt_config *cfg, const key_def *k)
{
    return (const char *)cfg + k->offset;
}

/* Decimal integer with an optional k/M/G/T suffix (powers of 1000). */
static int parse_integer(const char *s, long long *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s) && !((*s == '-' || *s == '+') && isdigit((unsigned char)s[1])))
        return -1;
    long long v = strtoll(s, &end, 10), mul = 1;
    if (errno == ERANGE) return -2;
    switch (*end) {
    case 'k': case 'K': mul = 1000LL; end++; break;
    case 'M': mul = 1000000LL; end++; break;
    case 'G': mul = 1000000000LL; end++; break;
    case 'T': mul = 1000000000000LL; end++; break;
    default: break;
    }
    if (*end) return -1;
    if (v > LLONG_MAX / mul || v < LLONG_MIN / mul) return -2;
    *out = v * mul;
    return 0;
}

static int parse_float(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || isspace((unsigned char)*s)) return -1;
    if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1)) return -2;
    *out = v;
    return 0;
}

static int parse_choice(const char *s, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (!strcmp(s, choices[i])) return i;
    return -1;
}

static int parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    char low[8];
    size_t i;
    for (i = 0; s[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)s[i]);
    low[i] = '\0';
    if (s[i]) return -1;
    if (parse_choice(low, yes) >= 0) return 1;
    if (parse_choice(low, no) >= 0) return 0;
    return -1;
}

static int power_of_ten(long long v) /* k when v == 10^k, else -1 */
{
    int e = 0;
    if (v <= 0) return -1;
    while (v % 10 == 0) v /= 10, e++;
    return v == 1 ? e : -1;
}

static void bound_text(char *buf, size_t n, long long v)
{
    int e = power_of_ten(v);
    if (v == INT_MAX) snprintf(buf, n, "2^31-1");
    else if (v == INT64_MAX) snprintf(buf, n, "2^63-1");
    else if (e >= 6) snprintf(buf, n, "10^%d", e);
    else snprintf(buf, n, "%lld", v);
}

/* "[lo, hi]"; an excluded end is written with a round bracket. */
static void range_text(char *buf, size_t n, const key_def *k)
{
    char lo[32], hi[32];
    if (k->type == T_FLOAT) {
        snprintf(lo, sizeof lo, "%.10g", k->fmin);
        snprintf(hi, sizeof hi, "%.10g", k->fmax);
    } else {
        bound_text(lo, sizeof lo, k->imin);
        bound_text(hi, sizeof hi, k->imax);
    }
    snprintf(buf, n, "%c%s, %s%c", k->open & LO_OPEN ? '(' : '[', lo, hi,
             k->open & HI_OPEN ? ')' : ']');
}

static int bad_value(const key_def *k, const char *where, const char *value, const char *why)
{
    char range[96];
    range_text(range, sizeof range, k);
    return clpt_err(CLPT_ECONFIG, "%s: %s: bad value '%s': %s; valid: %s in %s", where,
                    k->dotted, value, why,
                    k->type == T_FLOAT ? "a number" : "an integer", range);
}

static int set_number(clpt_config *cfg, const key_def *k, const char *value, const char *where)
{
    if (k->type == T_FLOAT) {
        double v;
        int rc = parse_float(value, &v);
        if (rc) return bad_value(k, where, value, rc == -1 ? "not a number" : "out of range");
        int lo = k->open & LO_OPEN ? v <= k->fmin : v < k->fmin;
        int hi = k->open & HI_OPEN ? v >= k->fmax : v > k->fmax;
        if (lo || hi) return bad_value(k, where, value, "out of range");
        *(double *)field(cfg, k) = v;
        return 0;
    }
    long long v;
    int rc = parse_integer(value, &v);
    if (rc) return bad_value(k, where, value, rc == -1 ? "not an integer (digits, optional k/M/G/T)"
                                                       : "out of range");
    if (v < k->imin || v > k->imax) return bad_value(k, where, value, "out of range");
    if (k->type == T_INT) *(int *)field(cfg, k) = (int)v;
    else *(int64_t *)field(cfg, k) = v;
    return 0;
}

static int set_string(clpt_config *cfg, const key_def *k, const char *value, const char *where)
{
    size_t len = strlen(value);
    if (len >= CLPT_CONFIG_STR_MAX)
        return clpt_err(CLPT_ECONFIG, "%s: %s: value too long (%zu bytes; at most %d)", where,
                        k->dotted, len, CLPT_CONFIG_STR_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)value[i] < 0x20)
            return clpt_err(CLPT_ECONFIG, "%s: %s: value contains a control character", where,
                            k->dotted);
    memcpy(field(cfg, k), value, len + 1);
    return 0;
}

static int set_choice(clpt_config *cfg, const key_def *k, const char *value, const char *where)
{
    int v = k->type == T_BOOL ? parse_bool(value) : parse_choice(value, k->choices);
    if (v >= 0) {
        *(int *)field(cfg, k) = v;
        return 0;
    }
    if (k->type == T_BOOL)
        return clpt_err(CLPT_ECONFIG, "%s: %s: bad value '%s'; valid: true, false "
                        "(also yes/no, on/off, 1/0)", where, k->dotted, value);
    char list[256] = "", hint[64];
    for (int i = 0; k->choices[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 k->choices[i]);
    suggest(hint, sizeof hint, value, k->choices);
    return clpt_err(CLPT_ECONFIG, "%s: %s: bad value '%s'%s; valid: %s", where, k->dotted, value,
                    hint, list);
}

/* Keep the end of a long origin: the file name and line matter most. */
static void set_origin(clpt_config *cfg, int i, const char *origin)
{
    size_t len = strlen(origin), max = CLPT_CONFIG_ORIGIN_MAX - 1;
    if (len <= max) memcpy(cfg->origin[i], origin, len + 1);
    else snprintf(cfg->origin[i], CLPT_CONFIG_ORIGIN_MAX, "...%s", origin + len - (max - 3));
}

static int is_nonzero(const clpt_config *cfg, const key_def *k)
{
    return k->type == T_INT64 ? *(const int64_t *)cfield(cfg, k) != 0
                              : *(const int *)cfield(cfg, k) != 0;
}

/* Parse and store one value; where names its source in messages. */
static int set_key(clpt_config *cfg, int i, const char *value, const char *where)
{
    const key_def *k = &keys[i];
    int rc;
    switch (k->type) {
    case T_STR: rc = set_string(cfg, k, value, where); break;
    case T_BOOL:
    case T_ENUM: rc = set_choice(cfg, k, value, where); break;
    default: rc = set_number(cfg, k, value, where); break;
    }
    if (rc) return rc;
    set_origin(cfg, i, where);
    /* steps and tokens are alternatives: the newer one wins */
    if (k->alt && is_nonzero(cfg, k)) {
        int j = clpt_config_key_index(k->alt);
        if (j >= 0 && is_nonzero(cfg, &keys[j])) {
            char why[CLPT_CONFIG_ORIGIN_MAX + 64];
            snprintf(why, sizeof why, "cleared by %s at %s", k->dotted, where);
            set_key(cfg, j, "0", why);
        }
    }
    return 0;
}

/* ---- public: defaults, set, get ------------------------------------------- */

static size_t type_size(key_type t)
{
    switch (t) {
    case T_INT64: return sizeof(int64_t);
    case T_FLOAT: return sizeof(double);
    case T_STR: return CLPT_CONFIG_STR_MAX;
    default: return sizeof(int);
    }
}

/* Catch a schema entry that disagrees with the struct before it corrupts it. */
static int schema_check(void)
{
    if (NKEYS > CLPT_CONFIG_MAX_KEYS)
        return clpt_err(CLPT_ESTATE, "config schema: %d keys, room for %d", NKEYS,
                        CLPT_CONFIG_MAX_KEYS);
    for (int i = 0; i < NKEYS; i++)
        if (keys[i].size != type_size(keys[i].type) || !clpt_config_section_known(keys[i].section))
            return clpt_err(CLPT_ESTATE, "config schema: %s does not match its field",
                            keys[i].dotted);
    for (int p = 0; p < CLPT_PRESET_COUNT; p++)
        if (!preset_names[p] || strcmp(preset_names[p], clpt_preset_name((clpt_preset)p)))
            return clpt_err(CLPT_ESTATE, "config schema: preset %d misnamed", p);
    return 0;
}

int clpt_config_defaults(clpt_config *cfg)
{
    int rc = schema_check();
    if (rc) return rc;
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < NKEYS; i++) {
        rc = set_key(cfg, i, keys[i].def, "default");
        if (rc) return clpt_err_wrap(CLPT_ESTATE, "config schema: bad default: ");
    }
    return 0;
}

int clpt_config_set(clpt_config *cfg, const char *dotted_key, const char *value,
                    const char *origin)
{
    if (!origin) origin = "override";
    int i = clpt_config_key_index(dotted_key);
    if (i >= 0) return set_key(cfg, i, value, origin);
    const char *dot = strchr(dotted_key, '.');
    char sec[32] = "", list[512], hint[64];
    if (dot && (size_t)(dot - dotted_key) < sizeof sec)
        memcpy(sec, dotted_key, (size_t)(dot - dotted_key));
    if (!dot || !clpt_config_section_known(sec)) {
        size_t len = 0;
        for (int i = 0; sections[i]; i++)
            len += snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", sections[i]);
        suggest(hint, sizeof hint, sec[0] ? sec : dotted_key, sections);
        return clpt_err(CLPT_ECONFIG, "%s: unknown key '%s'%s: expected section.key with a "
                        "section among %s", origin, dotted_key, hint, list);
    }
    const char *names[CLPT_CONFIG_MAX_KEYS + 1];
    section_keys(list, sizeof list, sec, names, CLPT_CONFIG_MAX_KEYS + 1);
    suggest(hint, sizeof hint, dot + 1, names);
    return clpt_err(CLPT_ECONFIG, "%s: unknown key '%s' in [%s]%s; valid keys: %s", origin,
                    dot + 1, sec, hint, list);
}

int clpt_config_set_arg(clpt_config *cfg, const char *assignment, const char *origin)
{
    const char *eq = strchr(assignment, '=');
    char key[128];
    if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof key)
        return clpt_err(CLPT_ECONFIG, "%s: expected section.key=value, got '%s'",
                        origin ? origin : "override", assignment);
    memcpy(key, assignment, (size_t)(eq - assignment));
    key[eq - assignment] = '\0';
    return clpt_config_set(cfg, key, eq + 1, origin);
}

/* Shortest %g that reads back as the same double. */
static void format_double(char *buf, size_t n, double v)
{
    for (int p = 6; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void format_value(const clpt_config *cfg, const key_def *k, char *buf, size_t n)
{
    const void *p = cfield(cfg, k);
    switch (k->type) {
    case T_INT: snprintf(buf, n, "%d", *(const int *)p); break;
    case T_INT64: snprintf(buf, n, "%" PRId64, *(const int64_t *)p); break;
    case T_FLOAT: format_double(buf, n, *(const double *)p); break;
    case T_STR: snprintf(buf, n, "%s", (const char *)p); break;
    case T_BOOL: snprintf(buf, n, "%s", bool_names[*(const int *)p != 0]); break;
    case T_ENUM: {
        int v = *(const int *)p, m = 0;
        while (k->choices[m]) m++;
        snprintf(buf, n, "%s", v >= 0 && v < m ? k->choices[v] : "?");
        break;
    }
    }
}

int clpt_config_get(const clpt_config *cfg, const char *dotted_key, char *buf, size_t n)
{
    int i = clpt_config_key_index(dotted_key);
    if (i < 0) return clpt_err(CLPT_ECONFIG, "unknown key '%s'", dotted_key);
    format_value(cfg, &keys[i], buf, n);
    return 0;
}

const char *clpt_config_origin(const clpt_config *cfg, const char *dotted_key)
{
    int i = clpt_config_key_index(dotted_key);
    return i >= 0 ? cfg->origin[i] : NULL;
}

int clpt_config_key_info(int i, clpt_config_keyinfo *out)
{
    static const char *const type_names[] = {"int", "int64", "float", "string", "bool", "enum"};
    if (i < 0 || i >= NKEYS) return clpt_err(CLPT_EINVAL, "config key index %d out of range", i);
    const key_def *k = &keys[i];
    *out = (clpt_config_keyinfo){.section = k->section, .name = k->name, .dotted = k->dotted,
                                 .type = type_names[k->type], .def = k->def, .alt = k->alt,
                                 .help = k->help};
    const char *const *list = k->type == T_BOOL ? bool_names : k->choices;
    if (list) {
        size_t len = 0;
        for (int j = 0; list[j] && len < sizeof out->valid; j++)
            len += snprintf(out->valid + len, sizeof out->valid - len, "%s%s", j ? ", " : "",
                            list[j]);
    } else if (k->type == T_STR) {
        snprintf(out->valid, sizeof out->valid, "at most %d bytes", CLPT_CONFIG_STR_MAX - 1);
    } else {
        range_text(out->valid, sizeof out->valid, k);
    }
    return 0;
}

/* ---- cross-key checks ------------------------------------------------------- */

/* "n_embd (768, from preset gpt2)" or "(100, from x.ini:3)". */
static void dim_source(const clpt_config *cfg, const char *dotted, int override, int resolved,
                       char *buf, size_t n)
{
    if (override)
        snprintf(buf, n, "%s (%d, from %s)", dotted, resolved, clpt_config_origin(cfg, dotted));
    else
        snprintf(buf, n, "%s (%d, from preset %s)", dotted, resolved,
                 clpt_preset_name((clpt_preset)cfg->model.preset));
}

int clpt_config_model(const clpt_config *cfg, clpt_model_config *out)
{
    clpt_model_config m;
    clpt_preset_model((clpt_preset)cfg->model.preset, &m);
    if (cfg->model.n_layer) m.n_layer = cfg->model.n_layer;
    if (cfg->model.n_head) m.n_head = cfg->model.n_head;
    if (cfg->model.n_embd) m.n_embd = cfg->model.n_embd;
    if (cfg->model.n_ctx) m.n_ctx = cfg->model.n_ctx;
    if (cfg->model.vocab_size) m.vocab_size = cfg->model.vocab_size;
    if (m.n_embd % m.n_head) {
        char a[160], b[160];
        dim_source(cfg, "model.n_embd", cfg->model.n_embd, m.n_embd, a, sizeof a);
        dim_source(cfg, "model.n_head", cfg->model.n_head, m.n_head, b, sizeof b);
        return clpt_err(CLPT_ECONFIG, "%s is not a multiple of %s", a, b);
    }
    if (m.vocab_size < 2)
        return clpt_err(CLPT_ECONFIG, "model.vocab_size (%d, from %s) must be 0 (preset) or >= 2",
                        m.vocab_size, clpt_config_origin(cfg, "model.vocab_size"));
    *out = m;
    return 0;
}

static int model_n_ctx(const clpt_config *cfg)
{
    clpt_model_config m;
    clpt_preset_model((clpt_preset)cfg->model.preset, &m);
    return cfg->model.n_ctx ? cfg->model.n_ctx : m.n_ctx;
}

int clpt_config_seq_len(const clpt_config *cfg)
{
    return cfg->train.seq_len ? cfg->train.seq_len : model_n_ctx(cfg);
}

static int64_t tokens_per_step(const clpt_config *cfg)
{
    return (int64_t)cfg->train.batch_size * clpt_config_seq_len(cfg) * cfg->train.grad_accum;
}

int64_t clpt_config_total_steps(const clpt_config *cfg)
{
    if (cfg->train.steps) return cfg->train.steps;
    int64_t per = tokens_per_step(cfg);
    return per > 0 ? (cfg->train.tokens + per - 1) / per : 0;
}

static int check_length(const clpt_config *cfg)
{
    const char *so = clpt_config_origin(cfg, "train.steps");
    const char *to = clpt_config_origin(cfg, "train.tokens");
    if (!cfg->train.steps && !cfg->train.tokens)
        return clpt_err(CLPT_ECONFIG, "train.steps (from %s) and train.tokens (from %s) are both "
                        "0: set exactly one of them", so, to);
    if (cfg->train.steps && cfg->train.tokens)
        return clpt_err(CLPT_ECONFIG, "train.steps (%" PRId64 ", from %s) and train.tokens (%"
                        PRId64 ", from %s) are both set: set exactly one of them",
                        cfg->train.steps, so, cfg->train.tokens, to);
    int64_t per = tokens_per_step(cfg);
    if (cfg->train.tokens && cfg->train.tokens < per)
        return clpt_err(CLPT_ECONFIG, "train.tokens (%" PRId64 ", from %s) is less than one "
                        "optimizer step (batch_size * seq_len * grad_accum = %" PRId64 ")",
                        cfg->train.tokens, to, per);
    return 0;
}

int clpt_config_validate(const clpt_config *cfg)
{
    clpt_model_config m;
    int rc = clpt_config_model(cfg, &m);
    if (rc) return rc;
    if (cfg->train.seq_len > m.n_ctx) {
        char b[160];
        dim_source(cfg, "model.n_ctx", cfg->model.n_ctx, m.n_ctx, b, sizeof b);
        return clpt_err(CLPT_ECONFIG, "train.seq_len (%d, from %s) exceeds %s",
                        cfg->train.seq_len, clpt_config_origin(cfg, "train.seq_len"), b);
    }
    rc = check_length(cfg);
    if (rc) return rc;
    int64_t steps = clpt_config_total_steps(cfg);
    if (!cfg->optim.schedule_per_domain && cfg->optim.warmup_steps > steps)
        return clpt_err(CLPT_ECONFIG, "optim.warmup_steps (%d, from %s) exceeds the run's %"
                        PRId64 " steps", cfg->optim.warmup_steps,
                        clpt_config_origin(cfg, "optim.warmup_steps"), steps);
    return 0;
}
