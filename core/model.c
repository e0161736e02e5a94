/* model.c - GPT-2, written once against the backend ops of backend.h.
 *
 * Forward, per block (pre-LayerNorm):
 *   ln1 = LN(x); qkv = ln1 Wqkv + b; a = attn(qkv); res2 = x + a Wo + b
 *   ln2 = LN(res2); h = gelu(ln2 Wfc + b); res3 = res2 + h Wp + b
 * then lnf = LN(x_L) and the tied classifier. Backward walks the same
 * sequence in reverse with one residual-gradient buffer updated in place. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "rng.h"

/* per-block parameter tensor indices, in Hugging Face order */
enum { P_LN1W, P_LN1B, P_QKVW, P_QKVB, P_APW, P_APB, P_LN2W, P_LN2B,
       P_FCW, P_FCB, P_FPW, P_FPB, P_PER_LAYER };

typedef struct layer_acts {
    clpt_act *ln1, *qkv, *atty, *res2, *ln2, *fch, *fch_gelu, *res3;
    float *ln1_mean, *ln1_rstd, *lse, *ln2_mean, *ln2_rstd;
} layer_acts;

struct clpt_model {
    clpt_model_config cfg;
    const clpt_backend *be;
    size_t n_params;
    int n_tensors;
    clpt_tensor *tensors;
    float *params, *grads, *m, *v;  /* device slabs */
    int64_t step;
    /* activations, sized for act_bt = B*T rows: clpt_act tensors in one
     * slab (the backend's element format), fp32 row statistics in another */
    size_t act_bt, act_bytes;
    void *acts;
    float *stats;
    layer_acts *layers;
    clpt_act *encoded, *lnf, *dres, *dbig, *dmid, *dsmall;
    float *lnf_mean, *lnf_rstd, *losses;
    int *tokens, *targets, *ranks;  /* device, act_bt each */
};

/* ---- configuration and the tensor table ------------------------------------ */

int clpt_model_config_check(const clpt_model_config *c)
{
    if (c->n_layer < 1) return clpt_err(CLPT_EINVAL, "model: n_layer must be >= 1 (got %d)", c->n_layer);
    if (c->n_head < 1) return clpt_err(CLPT_EINVAL, "model: n_head must be >= 1 (got %d)", c->n_head);
    if (c->n_embd < 1 || c->n_embd % c->n_head)
        return clpt_err(CLPT_EINVAL, "model: n_embd (%d) must be a positive multiple of n_head (%d)",
                        c->n_embd, c->n_head);
    if (c->n_ctx < 1) return clpt_err(CLPT_EINVAL, "model: n_ctx must be >= 1 (got %d)", c->n_ctx);
    if (c->vocab_size < 2 || c->vocab_size > 1 << 24)
        return clpt_err(CLPT_EINVAL, "model: vocab_size must be in [2, 16777216] (got %d)", c->vocab_size);
    if (!(c->ln_eps > 0)) return clpt_err(CLPT_EINVAL, "model: ln_eps must be > 0");
    return 0;
}

static void add_tensor(clpt_model *m, const char *name, int d0, int d1, int decay)
{
    clpt_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->numel = (size_t)d0 * (d1 ? (size_t)d1 : 1);
    t->offset = m->n_params;
    t->decay = decay;
    m->n_params += t->numel;
}

static void build_tensor_table(clpt_model *m)
{
    const clpt_model_config *c = &m->cfg;
    int C = c->n_embd;
    char name[CLPT_TENSOR_NAME_MAX];
    static const struct { const char *suffix; int in, out; } block[P_PER_LAYER] = {
        {"ln_1.weight", 1, 0}, {"ln_1.bias", 1, 0},
        {"attn.c_attn.weight", 1, 3}, {"attn.c_attn.bias", 3, 0},
        {"attn.c_proj.weight", 1, 1}, {"attn.c_proj.bias", 1, 0},
        {"ln_2.weight", 1, 0}, {"ln_2.bias", 1, 0},
        {"mlp.c_fc.weight", 1, 4}, {"mlp.c_fc.bias", 4, 0},
        {"mlp.c_proj.weight", 4, 1}, {"mlp.c_proj.bias", 1, 0},
    };
    add_tensor(m, "transformer.wte.weight", c->vocab_size, C, 1);
    add_tensor(m, "transformer.wpe.weight", c->n_ctx, C, 1);
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < P_PER_LAYER; k++) {
            snprintf(name, sizeof name, "transformer.h.%d.%s", l, block[k].suffix);
            add_tensor(m, name, block[k].in * C, block[k].out * C, block[k].out != 0);
        }
    add_tensor(m, "transformer.ln_f.weight", C, 0, 0);
    add_tensor(m, "transformer.ln_f.bias", C, 0, 0);
}

size_t clpt_model_config_nparams(const clpt_model_config *c)
{
    size_t C = c->n_embd;
    size_t per = 2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C + C;
    return (size_t)c->vocab_size * C + (size_t)c->n_ctx * C + per * c->n_layer + 2 * C;
}

/* ---- lifetime -------------------------------------------------------------- */

int clpt_model_new(clpt_model **out, const clpt_model_config *cfg, const clpt_backend *be)
{
    *out = NULL;
    int rc = clpt_model_config_check(cfg);
    if (rc) return rc;
    clpt_model *m = calloc(1, sizeof *m);
    if (!m) return clpt_err(CLPT_ENOMEM, "model: out of memory");
    m->cfg = *cfg;
    m->be = be;
    m->tensors = calloc((size_t)cfg->n_layer * P_PER_LAYER + 4, sizeof *m->tensors);
    if (!m->tensors) goto nomem;
    build_tensor_table(m);
    size_t bytes = m->n_params * sizeof(float);
    m->params = be->alloc(bytes);
    m->grads = be->alloc(bytes);
    m->m = be->alloc(bytes);
    m->v = be->alloc(bytes);
    if (!m->params || !m->grads || !m->m || !m->v) goto nomem;
    *out = m;
    return 0;
nomem:
    rc = clpt_err(CLPT_ENOMEM, "model: cannot allocate %zu parameters (4 slabs of %.1f MB) on %s",
                  m->n_params, m->n_params * 4.0 / 1e6, be->name);
    clpt_model_free(m);
    return rc;
}

static void free_acts(clpt_model *m)
{
    if (m->acts) m->be->free(m->acts);
    if (m->stats) m->be->free(m->stats);
    if (m->tokens) m->be->free(m->tokens);
    free(m->layers);
    m->acts = NULL;
    m->stats = NULL;
    m->tokens = m->targets = m->ranks = NULL;
    m->layers = NULL;
    m->act_bt = m->act_bytes = 0;
}

void clpt_model_free(clpt_model *m)
{
    if (!m) return;
    free_acts(m);
    const clpt_backend *be = m->be;
    if (m->params) be->free(m->params);
    if (m->grads) be->free(m->grads);
    if (m->m) be->free(m->m);
    if (m->v) be->free(m->v);
    free(m->tensors);
    free(m);
}

/* Activation tensors start on 64-byte boundaries (the GPU kernels load 16
 * bytes at a time, and q/k/v slices sit inside the qkv rows). */
#define ACT_ALIGN 64

/* Carve the activation slab and the stats slab in a fixed order (base and
 * stats NULL: only measure them); returns the activation slab's size in
 * bytes and the stats slab's in floats (*nstat). */
static size_t carve_acts(clpt_model *m, char *base, float *stats, size_t BT, size_t *nstat)
{
    const clpt_model_config *c = &m->cfg;
    size_t C = c->n_embd, L = c->n_layer, NH = c->n_head, eb = (size_t)m->be->act_bytes;
    size_t off = 0, q = 0;
#define ACT(n) (off = (off + ACT_ALIGN - 1) / ACT_ALIGN * ACT_ALIGN, off += (n) * eb, \
                base ? (clpt_act *)(base + off - (n) * eb) : NULL)
/* statistics start on 16-byte boundaries too (cuDNN reads lse in 16-byte pieces) */
#define STAT(n) (q = (q + 3) / 4 * 4, q += (n), stats ? stats + q - (n) : NULL)
    m->encoded = ACT(BT * C);
    for (size_t l = 0; l < L; l++) {
        layer_acts *a = &m->layers[l];
        a->ln1 = ACT(BT * C); a->qkv = ACT(3 * BT * C); a->atty = ACT(BT * C);
        a->res2 = ACT(BT * C); a->ln2 = ACT(BT * C);
        a->fch = ACT(4 * BT * C); a->fch_gelu = ACT(4 * BT * C); a->res3 = ACT(BT * C);
        a->ln1_mean = STAT(BT); a->ln1_rstd = STAT(BT); a->lse = STAT(NH * BT);
        a->ln2_mean = STAT(BT); a->ln2_rstd = STAT(BT);
    }
    m->lnf = ACT(BT * C);
    m->dres = ACT(BT * C); m->dbig = ACT(4 * BT * C); m->dmid = ACT(3 * BT * C);
    m->dsmall = ACT(BT * C);
    m->lnf_mean = STAT(BT); m->lnf_rstd = STAT(BT); m->losses = STAT(BT);
#undef ACT
#undef STAT
    *nstat = q;
    return off;
}

/* The activation slabs for BT rows. */
static int ensure_acts(clpt_model *m, size_t BT)
{
    if (BT <= m->act_bt) return 0;
    free_acts(m);
    const clpt_model_config *c = &m->cfg;
    m->layers = calloc((size_t)c->n_layer, sizeof *m->layers);
    size_t nstat = 0, bytes = m->layers ? carve_acts(m, NULL, NULL, BT, &nstat) : 0;
    if (m->layers) {
        m->acts = m->be->alloc(bytes);
        m->stats = m->be->alloc(nstat * sizeof(float));
        m->tokens = m->be->alloc(3 * BT * sizeof(int));
    }
    if (!m->acts || !m->stats || !m->tokens || !m->layers) {
        free_acts(m);
        return clpt_err(CLPT_ENOMEM, "model: cannot allocate activations for %zu tokens (%.1f MB)",
                        BT, (bytes + nstat * sizeof(float)) / 1e6);
    }
    carve_acts(m, m->acts, m->stats, BT, &nstat);
    m->targets = m->tokens + BT;
    m->ranks = m->tokens + 2 * BT;
    m->act_bt = BT;
    m->act_bytes = bytes + nstat * sizeof(float);
    return 0;
}

/* ---- accessors --------------------------------------------------------------- */

const clpt_model_config *clpt_model_cfg(const clpt_model *m) { return &m->cfg; }
const clpt_backend *clpt_model_backend(const clpt_model *m) { return m->be; }
size_t clpt_model_nparams(const clpt_model *m) { return m->n_params; }
int clpt_model_ntensors(const clpt_model *m) { return m->n_tensors; }
const clpt_tensor *clpt_model_tensor(const clpt_model *m, int i)
{
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}
const clpt_tensor *clpt_model_find(const clpt_model *m, const char *name)
{
    static const char pre[] = "transformer.";
    for (int i = 0; i < m->n_tensors; i++) {
        const char *t = m->tensors[i].name;
        if (!strcmp(t, name) || !strcmp(t + sizeof pre - 1, name)) return &m->tensors[i];
    }
    return NULL;
}
float *clpt_model_params(clpt_model *m) { return m->params; }
float *clpt_model_grads(clpt_model *m) { return m->grads; }
float *clpt_model_adam_m(clpt_model *m) { return m->m; }
float *clpt_model_adam_v(clpt_model *m) { return m->v; }
int64_t clpt_model_step(const clpt_model *m) { return m->step; }
void clpt_model_set_step(clpt_model *m, int64_t step) { m->step = step; }
size_t clpt_model_activation_bytes(const clpt_model *m)
{
    return m->act_bytes + 3 * m->act_bt * sizeof(int);
}

void clpt_model_get_params(clpt_model *m, float *host)
{
    m->be->to_host(host, m->params, m->n_params * sizeof(float));
}
void clpt_model_set_params(clpt_model *m, const float *host)
{
    m->be->to_device(m->params, host, m->n_params * sizeof(float));
}

/* ---- initialisation -------------------------------------------------------- */

void clpt_model_init_random(clpt_model *m, uint64_t seed)
{
    float *h = malloc(m->n_params * sizeof(float));
    if (!h) return;
    clpt_rng r;
    clpt_rng_seed(&r, seed);
    double resid = 0.02 / sqrt(2.0 * m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const clpt_tensor *t = &m->tensors[i];
        float *p = h + t->offset;
        const char *dot = strrchr(t->name, '.');
        int is_ln = strstr(t->name, ".ln_") != NULL;
        if (t->ndim == 1) {
            float v = is_ln && !strcmp(dot, ".weight") ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->numel; j++) p[j] = v;
            continue;
        }
        double std = strstr(t->name, "c_proj.weight") ? resid : 0.02;
        for (size_t j = 0; j < t->numel; j++) p[j] = (float)(std * clpt_rng_normal(&r));
    }
    clpt_model_set_params(m, h);
    free(h);
}

/* ---- forward ------------------------------------------------------------------- */

static const float *P(const clpt_model *m, int layer, int k)
{
    return m->params + m->tensors[2 + layer * P_PER_LAYER + k].offset;
}
static float *G(const clpt_model *m, int layer, int k)
{
    return m->grads + m->tensors[2 + layer * P_PER_LAYER + k].offset;
}
#define WTE(m) ((m)->params + (m)->tensors[0].offset)
#define WPE(m) ((m)->params + (m)->tensors[1].offset)
#define LNF(m, k) ((m)->params + (m)->tensors[(m)->n_tensors - 2 + (k)].offset)
#define GLNF(m, k) ((m)->grads + (m)->tensors[(m)->n_tensors - 2 + (k)].offset)

static int check_batch(clpt_model *m, const int *inputs, const int *targets, int B, int T)
{
    if (B < 1 || T < 1 || T > m->cfg.n_ctx)
        return clpt_err(CLPT_EINVAL, "model: batch %dx%d invalid (T must be in [1, n_ctx=%d])",
                        B, T, m->cfg.n_ctx);
    for (int i = 0; i < B * T; i++) {
        if (inputs[i] < 0 || inputs[i] >= m->cfg.vocab_size)
            return clpt_err(CLPT_EINVAL, "model: input token %d at position %d is outside the vocabulary (%d)",
                            inputs[i], i, m->cfg.vocab_size);
        if (targets && (targets[i] < 0 || targets[i] >= m->cfg.vocab_size))
            return clpt_err(CLPT_EINVAL, "model: target token %d at position %d is outside the vocabulary (%d)",
                            targets[i], i, m->cfg.vocab_size);
    }
    int rc = ensure_acts(m, (size_t)B * T);
    if (rc) return rc;
    m->be->to_device(m->tokens, inputs, (size_t)B * T * sizeof(int));
    if (targets) m->be->to_device(m->targets, targets, (size_t)B * T * sizeof(int));
    return 0;
}

/* the transformer body up to lnf, for B*T rows already on the device */
static void body_forward(clpt_model *m, int B, int T)
{
    const clpt_backend *be = m->be;
    int C = m->cfg.n_embd, NH = m->cfg.n_head, N = B * T;
    float eps = m->cfg.ln_eps;
    be->encoder_forward(m->encoded, m->tokens, WTE(m), WPE(m), B, T, C);
    const clpt_act *x = m->encoded;
    size_t row_bytes = (size_t)N * C * be->act_bytes;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        layer_acts *a = &m->layers[l];
        be->layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, P(m, l, P_LN1W), P(m, l, P_LN1B), N, C, eps);
        be->matmul_forward(a->qkv, a->ln1, P(m, l, P_QKVW), P(m, l, P_QKVB), N, C, 3 * C, 0.0f);
        be->attention_forward(a->atty, a->lse, a->qkv, B, T, C, NH);
        be->copy(a->res2, x, row_bytes);
        be->matmul_forward(a->res2, a->atty, P(m, l, P_APW), P(m, l, P_APB), N, C, C, 1.0f);
        be->layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, P(m, l, P_LN2W), P(m, l, P_LN2B), N, C, eps);
        if (be->matmul_gelu_forward) {
            be->matmul_gelu_forward(a->fch_gelu, a->fch, a->ln2, P(m, l, P_FCW), P(m, l, P_FCB), N, C, 4 * C);
        } else {
            be->matmul_forward(a->fch, a->ln2, P(m, l, P_FCW), P(m, l, P_FCB), N, C, 4 * C, 0.0f);
            be->gelu_forward(a->fch_gelu, a->fch, (size_t)N * 4 * C);
        }
        be->copy(a->res3, a->res2, row_bytes);
        be->matmul_forward(a->res3, a->fch_gelu, P(m, l, P_FPW), P(m, l, P_FPB), N, 4 * C, C, 1.0f);
        x = a->res3;
    }
    be->layernorm_forward(m->lnf, m->lnf_mean, m->lnf_rstd, x, LNF(m, 0), LNF(m, 1), N, C, eps);
}

/* The mean of the N per-token losses into *out (and each into losses_out
 * if given); CLPT_ENOMEM without host memory to read them into. */
static int mean_loss_of(clpt_model *m, int N, float *losses_out, float *out)
{
    float *h = losses_out ? losses_out : malloc((size_t)N * sizeof(float));
    double s = 0;
    if (!h) return clpt_err(CLPT_ENOMEM, "model: no host memory for %d losses", N);
    m->be->to_host(h, m->losses, (size_t)N * sizeof(float));
    for (int i = 0; i < N; i++) s += h[i];
    if (!losses_out) free(h);
    *out = (float)(s / N);
    return 0;
}

int clpt_model_status(const clpt_model *m) { return m->be->status ? m->be->status() : 0; }

int clpt_model_forward(clpt_model *m, const int *inputs, const int *targets,
                       int B, int T, float *mean_loss, float *losses_out, int *ranks_out)
{
    int rc = check_batch(m, inputs, targets, B, T);
    if (rc) return rc;
    body_forward(m, B, T);
    if (!targets) return clpt_model_status(m);
    int N = B * T;
    m->be->classifier(m->losses, ranks_out ? m->ranks : NULL, NULL, NULL, m->lnf, WTE(m),
                      m->targets, N, m->cfg.n_embd, m->cfg.vocab_size, 0.0f);
    if ((rc = clpt_model_status(m))) return rc;
    if (ranks_out) m->be->to_host(ranks_out, m->ranks, (size_t)N * sizeof(int));
    float ml = NAN;
    if ((rc = mean_loss_of(m, N, losses_out, &ml))) return rc;
    if (mean_loss) *mean_loss = ml;
    return clpt_model_status(m); /* the copies to the host too */
}

int clpt_model_logits(clpt_model *m, const int *inputs, int B, int T, float *logits_out)
{
    int rc = check_batch(m, inputs, NULL, B, T);
    if (rc) return rc;
    body_forward(m, B, T);
    size_t n = (size_t)B * T * m->cfg.vocab_size;
    float *d = m->be->alloc(n * sizeof(float));
    if (!d) return clpt_err(CLPT_ENOMEM, "model: cannot allocate logits (%zu floats)", n);
    m->be->logits(d, m->lnf, WTE(m), B * T, m->cfg.n_embd, m->cfg.vocab_size);
    m->be->to_host(logits_out, d, n * sizeof(float));
    m->be->free(d);
    return clpt_model_status(m);
}

/* ---- backward ------------------------------------------------------------------ */

static void body_backward(clpt_model *m, int B, int T)
{
    const clpt_backend *be = m->be;
    int C = m->cfg.n_embd, NH = m->cfg.n_head, N = B * T, L = m->cfg.n_layer;
    const clpt_act *xL = m->layers[L - 1].res3;
    be->act_zero(m->dres, (size_t)N * C);
    be->layernorm_backward(m->dres, GLNF(m, 0), GLNF(m, 1), m->dsmall, xL, LNF(m, 0),
                           m->lnf_mean, m->lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *a = &m->layers[l];
        const clpt_act *x = l ? m->layers[l - 1].res3 : m->encoded;
        /* MLP: res3 = res2 + gelu(ln2 Wfc) Wp */
        if (be->matmul_backward_gelu) {
            be->matmul_backward_gelu(m->dbig, G(m, l, P_FPW), G(m, l, P_FPB), m->dres, a->fch_gelu,
                                     P(m, l, P_FPW), a->fch, N, 4 * C, C);
        } else {
            be->matmul_backward(m->dbig, G(m, l, P_FPW), G(m, l, P_FPB), m->dres, a->fch_gelu,
                                P(m, l, P_FPW), N, 4 * C, C);
            be->gelu_backward(m->dbig, a->fch, m->dbig, (size_t)N * 4 * C);
        }
        be->matmul_backward(m->dsmall, G(m, l, P_FCW), G(m, l, P_FCB), m->dbig, a->ln2,
                            P(m, l, P_FCW), N, C, 4 * C);
        be->layernorm_backward(m->dres, G(m, l, P_LN2W), G(m, l, P_LN2B), m->dsmall, a->res2,
                               P(m, l, P_LN2W), a->ln2_mean, a->ln2_rstd, N, C);
        /* attention: res2 = x + attn(ln1 Wqkv) Wo */
        be->matmul_backward(m->dsmall, G(m, l, P_APW), G(m, l, P_APB), m->dres, a->atty,
                            P(m, l, P_APW), N, C, C);
        be->attention_backward(m->dmid, m->dsmall, a->qkv, a->atty, a->lse, B, T, C, NH);
        be->matmul_backward(m->dsmall, G(m, l, P_QKVW), G(m, l, P_QKVB), m->dmid, a->ln1,
                            P(m, l, P_QKVW), N, C, 3 * C);
        be->layernorm_backward(m->dres, G(m, l, P_LN1W), G(m, l, P_LN1B), m->dsmall, x,
                               P(m, l, P_LN1W), a->ln1_mean, a->ln1_rstd, N, C);
    }
    be->encoder_backward(m->grads + m->tensors[0].offset, m->grads + m->tensors[1].offset,
                         m->dres, m->tokens, B, T, C);
}

int clpt_model_forward_backward(clpt_model *m, const int *inputs, const int *targets,
                                int B, int T, float grad_scale, float *mean_loss)
{
    if (!targets) return clpt_err(CLPT_EINVAL, "model: forward_backward needs targets");
    int rc = check_batch(m, inputs, targets, B, T);
    if (rc) return rc;
    body_forward(m, B, T);
    int N = B * T;
    m->be->classifier(m->losses, NULL, m->dsmall, m->grads + m->tensors[0].offset, m->lnf,
                      WTE(m), m->targets, N, m->cfg.n_embd, m->cfg.vocab_size,
                      grad_scale / (float)N);
    body_backward(m, B, T);
    if ((rc = clpt_model_status(m))) return rc;
    if (mean_loss && (rc = mean_loss_of(m, N, NULL, mean_loss))) return rc;
    return clpt_model_status(m);
}

/* ---- optimizer ------------------------------------------------------------------ */

void clpt_model_zero_grad(clpt_model *m) { m->be->fill(m->grads, 0.0f, m->n_params); }

double clpt_model_grad_norm(clpt_model *m)
{
    return sqrt(m->be->dot(m->grads, m->grads, m->n_params));
}

double clpt_model_adamw_step(clpt_model *m, const clpt_adamw *o, float lr)
{
    double norm = clpt_model_grad_norm(m);
    float gscale = 1.0f;
    /* torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6), if < 1 */
    if (o->grad_clip > 0) {
        double coef = o->grad_clip / (norm + 1e-6);
        if (coef < 1.0) gscale = (float)coef;
    }
    m->step++;
    float bc1 = 1.0f - powf(o->beta1, (float)m->step);
    float bc2 = 1.0f - powf(o->beta2, (float)m->step);
    /* one call per run of adjacent tensors with the same decay: the update
     * is element-wise, and fewer calls are fewer kernel launches on a GPU */
    for (int i = 0, j; i < m->n_tensors; i = j) {
        const clpt_tensor *t = &m->tensors[i];
        size_t n = t->numel;
        for (j = i + 1; j < m->n_tensors && m->tensors[j].decay == t->decay &&
                        m->tensors[j].offset == t->offset + n;
             j++)
            n += m->tensors[j].numel;
        m->be->adamw(m->params + t->offset, m->grads + t->offset, m->m + t->offset,
                     m->v + t->offset, n, lr, o->beta1, o->beta2, o->eps,
                     t->decay ? o->weight_decay : 0.0f, bc1, bc2, gscale);
    }
    return norm;
}

void clpt_model_reset_optimizer(clpt_model *m)
{
    m->be->fill(m->m, 0.0f, m->n_params);
    m->be->fill(m->v, 0.0f, m->n_params);
    m->step = 0;
}
