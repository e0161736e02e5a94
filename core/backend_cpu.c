/* backend_cpu.c - the CPU reference backend: fp32, OpenMP, OpenBLAS GEMMs.
 * Every other backend is tested against these ops. Shapes follow backend.h. */
#define _POSIX_C_SOURCE 200809L
#include "backend.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu_ref.h"
#include "clpt.h"

/* ---- memory -------------------------------------------------------------- */

static void *cpu_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64)) return NULL;
    memset(p, 0, bytes);
    return p;
}
static void cpu_free(void *p) { free(p); }
static void cpu_memcpy(void *dst, const void *src, size_t n) { memmove(dst, src, n); }
static void cpu_sync(void) {}

/* Scratch that grows on demand, one per purpose. Backend calls come from one
 * host thread at a time, so a static buffer is safe here. Ops cannot return
 * errors, so a failed allocation is recorded as the backend's status (below)
 * and the op does nothing; the model reports it after the op. */
/* the first failure (backend.h status) and its message */
static int cpu_failed;
static char cpu_failure[256];

static int cpu_status(void)
{
    return cpu_failed ? clpt_err(cpu_failed, "%s", cpu_failure) : 0;
}

/* Grow a scratch buffer; NULL (recorded as the backend's status) when there
 * is no memory. CLPT_CPU_SCRATCH_LIMIT_MB refuses larger ones, to test that
 * path. */
float *clpt_cpu_scratch(float **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
        const char *lim = getenv("CLPT_CPU_SCRATCH_LIMIT_MB");
        int refuse = lim && *lim && n * 4.0 / 1e6 > atof(lim);
        if (refuse || posix_memalign((void **)buf, 64, n * sizeof(float))) {
            *buf = NULL;
            if (!cpu_failed) {
                cpu_failed = CLPT_ENOMEM;
                snprintf(cpu_failure, sizeof cpu_failure, "cpu backend: out of memory for %.1f MB of scratch",
                         n * 4.0 / 1e6);
                fprintf(stderr, "clpt: %s\n", cpu_failure);
            }
            return NULL;
        }
        *cap = n;
    }
    return *buf;
}

/* ---- vectorisable exp ------------------------------------------------------- */
/* expf by range reduction to r in [-ln2/2, ln2/2] and a degree-6 polynomial:
 * relative error below 2e-7 over the float range. Branch-free and with no
 * library call (the rounding is the 1.5 * 2^23 trick), so the loops that call
 * it vectorise; libm's expf/tanhf do not, and dominated GELU and softmax. */
static inline float fast_expf(float x)
{
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    float t = x * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23; /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* ---- encoder --------------------------------------------------------------- */

void clpt_cpu_encoder_forward(float *out, const int *tokens, const float *wte,
                              const float *wpe, int B, int T, int C)
{
#pragma omp parallel for
    for (int bt = 0; bt < B * T; bt++) {
        float *o = out + (size_t)bt * C;
        const float *e = wte + (size_t)tokens[bt] * C, *p = wpe + (size_t)(bt % T) * C;
        for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
    }
}

void clpt_cpu_encoder_backward(float *dwte, float *dwpe, const float *dout,
                               const int *tokens, int B, int T, int C)
{
    /* rows that share a token must not race: split the channels instead */
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int c0 = C * id / nt, c1 = C * (id + 1) / nt;
        for (int bt = 0; bt < B * T; bt++) {
            const float *d = dout + (size_t)bt * C;
            float *e = dwte + (size_t)tokens[bt] * C, *p = dwpe + (size_t)(bt % T) * C;
            for (int c = c0; c < c1; c++) {
                e[c] += d[c];
                p[c] += d[c];
            }
        }
    }
}

/* ---- layernorm --------------------------------------------------------------- */

void clpt_cpu_layernorm_forward(float *out, float *mean, float *rstd,
                                const float *inp, const float *w, const float *b,
                                int N, int C, float eps)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C;
        float *o = out + (size_t)i * C;
        float m = 0, v = 0;
#pragma omp simd reduction(+ : m)
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        float s = 1.0f / sqrtf(v / C + eps);
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[i] = m;
        rstd[i] = s;
    }
}

void clpt_cpu_layernorm_backward(float *dinp, float *dw, float *db,
                                 const float *dout, const float *inp,
                                 const float *w, const float *mean,
                                 const float *rstd, int N, int C)
{
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *d = dout + (size_t)i * C, *x = inp + (size_t)i * C;
        float *dx = dinp + (size_t)i * C, m = mean[i], s = rstd[i];
        float dm = 0, dnm = 0;
#pragma omp simd reduction(+ : dm, dnm)
        for (int c = 0; c < C; c++) {
            float wd = w[c] * d[c];
            dm += wd;
            dnm += wd * (x[c] - m) * s;
        }
        dm /= C;
        dnm /= C;
        for (int c = 0; c < C; c++) {
            float n = (x[c] - m) * s;
            dx[c] += (w[c] * d[c] - dm - n * dnm) * s;
        }
    }
    /* parameter gradients: each thread owns a slice of channels */
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int c0 = C * id / nt, c1 = C * (id + 1) / nt;
        for (int i = 0; i < N; i++) {
            const float *d = dout + (size_t)i * C, *x = inp + (size_t)i * C;
            float m = mean[i], s = rstd[i];
            for (int c = c0; c < c1; c++) {
                dw[c] += d[c] * (x[c] - m) * s;
                db[c] += d[c];
            }
        }
    }
}

/* ---- matmul (weights in Conv1D layout [in, out]) ------------------------------ */

void clpt_cpu_matmul_forward(float *out, const float *inp, const float *w,
                             const float *bias, int N, int IN, int OUT, float beta)
{
    if (bias) {
#pragma omp parallel for
        for (int i = 0; i < N; i++) {
            float *o = out + (size_t)i * OUT;
            if (beta == 0.0f) memcpy(o, bias, (size_t)OUT * sizeof(float));
            else
                for (int j = 0; j < OUT; j++) o[j] += bias[j];
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, OUT, IN, 1.0f,
                inp, IN, w, OUT, beta, out, OUT);
}

void clpt_cpu_matmul_backward(float *dinp, float *dw, float *dbias,
                              const float *dout, const float *inp, const float *w,
                              int N, int IN, int OUT)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, IN, OUT, 1.0f,
                dout, OUT, w, OUT, 0.0f, dinp, IN);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, IN, OUT, N, 1.0f,
                inp, IN, dout, OUT, 1.0f, dw, OUT);
    if (!dbias) return;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int j0 = OUT * id / nt, j1 = OUT * (id + 1) / nt;
        for (int i = 0; i < N; i++) {
            const float *d = dout + (size_t)i * OUT;
            for (int j = j0; j < j1; j++) dbias[j] += d[j];
        }
    }
}

/* ---- attention ------------------------------------------------------------- */
/* Per (batch, head), with the head's q/k/v rows strided by 3C inside qkv:
 * S = q k^T / sqrt(hd) (causal), P = softmax(S), out = P v. Each head runs
 * single-threaded GEMMs (OpenBLAS's OpenMP build does not nest) on a (T,T)
 * scratch owned by the thread; only the row log-sum-exp is kept. */

static float *att_scratch;
static size_t att_scratch_cap;

static void causal_softmax_rows(float *S, float *lse, int T, float scale)
{
    for (int t = 0; t < T; t++) {
        float *row = S + (size_t)t * T, mx = -INFINITY, sum = 0;
        for (int j = 0; j <= t; j++) {
            row[j] *= scale;
            mx = row[j] > mx ? row[j] : mx;
        }
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= t; j++) {
            row[j] = fast_expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j <= t; j++) row[j] *= inv;
        for (int j = t + 1; j < T; j++) row[j] = 0.0f;
        if (lse) lse[t] = mx + logf(sum);
    }
}

void clpt_cpu_attention_forward(float *out, float *lse, const float *qkv,
                                int B, int T, int C, int NH)
{
    int hd = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hd);
    float *buf = clpt_cpu_scratch(&att_scratch, &att_scratch_cap,
                         (size_t)omp_get_max_threads() * 2 * T * T);
    if (!buf) return;
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            float *S = buf + (size_t)omp_get_thread_num() * 2 * T * T;
            const float *q = qkv + (size_t)b * T * C3 + h * hd;
            const float *k = q + C, *v = q + 2 * C;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f,
                        q, C3, k, C3, 0.0f, S, T);
            causal_softmax_rows(S, lse + ((size_t)b * NH + h) * T, T, scale);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f,
                        S, T, v, C3, 0.0f, out + (size_t)b * T * C + h * hd, C);
        }
    }
}

/* P = exp(S*scale - lse) with the causal mask, recomputed for backward */
static void recompute_probs(float *S, const float *lse, int T, float scale)
{
    for (int t = 0; t < T; t++) {
        float *row = S + (size_t)t * T;
#pragma omp simd
        for (int j = 0; j <= t; j++) row[j] = fast_expf(row[j] * scale - lse[t]);
        for (int j = t + 1; j < T; j++) row[j] = 0.0f;
    }
}

void clpt_cpu_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                 const float *out, const float *lse,
                                 int B, int T, int C, int NH)
{
    int hd = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hd);
    float *buf = clpt_cpu_scratch(&att_scratch, &att_scratch_cap,
                         (size_t)omp_get_max_threads() * 2 * T * T);
    if (!buf) return;
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            float *P = buf + (size_t)omp_get_thread_num() * 2 * T * T, *dP = P + (size_t)T * T;
            size_t base = (size_t)b * T * C3 + h * hd, obase = (size_t)b * T * C + h * hd;
            const float *q = qkv + base, *k = q + C, *v = q + 2 * C;
            const float *dO = dout + obase, *O = out + obase, *L = lse + ((size_t)b * NH + h) * T;
            float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f,
                        q, C3, k, C3, 0.0f, P, T);
            recompute_probs(P, L, T, scale);
            /* dv = P^T dO ; dP = dO v^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f,
                        P, T, dO, C, 0.0f, dv, C3);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f,
                        dO, C, v, C3, 0.0f, dP, T);
            /* dS = P * (dP - rowsum(dO * O)) */
            for (int t = 0; t < T; t++) {
                const float *dor = dO + (size_t)t * C, *orow = O + (size_t)t * C;
                float D = 0;
                for (int i = 0; i < hd; i++) D += dor[i] * orow[i];
                float *pr = P + (size_t)t * T, *dpr = dP + (size_t)t * T;
                for (int j = 0; j <= t; j++) pr[j] = pr[j] * (dpr[j] - D);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale,
                        P, T, k, C3, 0.0f, dq, C3);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale,
                        P, T, q, C3, 0.0f, dk, C3);
        }
    }
}

/* ---- GELU (tanh approximation) --------------------------------------------- */

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* 0.5 x (1 + tanh(u)) = x * sigmoid(2u): one exp, stable for large |x| */
void clpt_cpu_gelu_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], u = GELU_K * (x + 0.044715f * x * x * x);
        out[i] = x / (1.0f + fast_expf(-2.0f * u));
    }
}

/* d/dx = s + 2 x s (1 - s) u', with s = sigmoid(2u) */
void clpt_cpu_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], u = GELU_K * (x + 0.044715f * x * x * x);
        float s = 1.0f / (1.0f + fast_expf(-2.0f * u));
        float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = (s + 2.0f * x * s * (1.0f - s) * du) * dout[i];
    }
}

/* ---- fused classifier -------------------------------------------------------- */

static float *cls_scratch;
static size_t cls_scratch_cap;

/* one row: loss, rank, and (optionally) the softmax gradient in place */
static void classifier_row(float *row, int V, int target, float *loss, int *rank,
                           float dscale, int want_grad)
{
    float mx = -INFINITY, sum = 0, tl = row[target];
    int greater = 0;
#pragma omp simd reduction(max : mx) reduction(+ : greater)
    for (int j = 0; j < V; j++) {
        mx = row[j] > mx ? row[j] : mx;
        greater += row[j] > tl;
    }
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < V; j++) sum += fast_expf(row[j] - mx);
    *loss = logf(sum) + mx - tl;
    if (rank) *rank = greater + 1;
    if (!want_grad) return;
    float k = dscale / sum;
#pragma omp simd
    for (int j = 0; j < V; j++) row[j] = fast_expf(row[j] - mx) * k;
    row[target] -= dscale;
}

void clpt_cpu_classifier(float *losses, int *ranks, float *dinp, float *dwte,
                         const float *inp, const float *wte, const int *targets,
                         int N, int C, int V, float dscale)
{
    /* rows per chunk: about 256 MB of logits, so no (N,V) tensor is needed */
    size_t rows = ((size_t)64 << 20) / (size_t)V;
    if (rows < 1) rows = 1;
    if (rows > (size_t)N) rows = N;
    float *L = clpt_cpu_scratch(&cls_scratch, &cls_scratch_cap, rows * V);
    if (!L) return;
    for (int r0 = 0; r0 < N; r0 += (int)rows) {
        int R = N - r0 < (int)rows ? N - r0 : (int)rows;
        const float *x = inp + (size_t)r0 * C;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, V, C, 1.0f,
                    x, C, wte, C, 0.0f, L, V);
#pragma omp parallel for
        for (int i = 0; i < R; i++)
            classifier_row(L + (size_t)i * V, V, targets[r0 + i], &losses[r0 + i],
                           ranks ? &ranks[r0 + i] : NULL, dscale, dinp != NULL);
        if (!dinp) continue;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C, V, 1.0f,
                    L, V, wte, C, 0.0f, dinp + (size_t)r0 * C, C);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, C, R, 1.0f,
                    L, V, x, C, 1.0f, dwte, C);
    }
}

void clpt_cpu_logits(float *out, const float *inp, const float *wte, int N, int C, int V)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, V, C, 1.0f,
                inp, C, wte, C, 0.0f, out, V);
}

/* ---- AdamW (torch.optim.AdamW, foreach=False) --------------------------------- */

static void cpu_adamw(float *p, const float *g, float *m, float *v, size_t n,
                      float lr, float b1, float b2, float eps, float wd,
                      float bc1, float bc2, float gscale)
{
    float step = lr / bc1, bc2s = sqrtf(bc2), decay = 1.0f - lr * wd;
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gscale;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) / bc2s + eps);
    }
}

/* ---- vector algebra ------------------------------------------------------------- */

static void cpu_fill(float *x, float a, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) x[i] = a;
}
static void cpu_axpy(float *y, float a, const float *x, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}
static void cpu_scale(float *x, float a, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) x[i] *= a;
}
static double cpu_dot(const float *x, const float *y, size_t n)
{
    double s = 0;
#pragma omp parallel for simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * y[i];
    return s;
}
static void cpu_mul_acc(float *y, float a, const float *x1, const float *x2, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) y[i] += a * x1[i] * x2[i];
}
static void cpu_sq_acc(float *y, float a, const float *x, size_t n)
{
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) y[i] += a * x[i] * x[i];
}

/* ---- the vtable: fp32 activations are plain float arrays ------------------------ */

#define F(x) ((float *)(x))
#define CF(x) ((const float *)(x))

static void act_to_host(float *dst, const clpt_act *src, size_t n) { memmove(dst, src, n * sizeof(float)); }
static void act_to_device(clpt_act *dst, const float *src, size_t n) { memmove(dst, src, n * sizeof(float)); }
static void act_zero(clpt_act *x, size_t n) { memset(x, 0, n * sizeof(float)); }

static void act_encoder_forward(clpt_act *out, const int *tokens, const float *wte,
                                const float *wpe, int B, int T, int C)
{
    clpt_cpu_encoder_forward(F(out), tokens, wte, wpe, B, T, C);
}
static void act_encoder_backward(float *dwte, float *dwpe, const clpt_act *dout,
                                 const int *tokens, int B, int T, int C)
{
    clpt_cpu_encoder_backward(dwte, dwpe, CF(dout), tokens, B, T, C);
}
static void act_layernorm_forward(clpt_act *out, float *mean, float *rstd, const clpt_act *inp,
                                  const float *w, const float *b, int N, int C, float eps)
{
    clpt_cpu_layernorm_forward(F(out), mean, rstd, CF(inp), w, b, N, C, eps);
}
static void act_layernorm_backward(clpt_act *dinp, float *dw, float *db, const clpt_act *dout,
                                   const clpt_act *inp, const float *w, const float *mean,
                                   const float *rstd, int N, int C)
{
    clpt_cpu_layernorm_backward(F(dinp), dw, db, CF(dout), CF(inp), w, mean, rstd, N, C);
}
static void act_matmul_forward(clpt_act *out, const clpt_act *inp, const float *w,
                               const float *bias, int N, int IN, int OUT, float beta)
{
    clpt_cpu_matmul_forward(F(out), CF(inp), w, bias, N, IN, OUT, beta);
}
static void act_matmul_backward(clpt_act *dinp, float *dw, float *dbias, const clpt_act *dout,
                                const clpt_act *inp, const float *w, int N, int IN, int OUT)
{
    clpt_cpu_matmul_backward(F(dinp), dw, dbias, CF(dout), CF(inp), w, N, IN, OUT);
}
static void act_attention_forward(clpt_act *out, float *lse, const clpt_act *qkv, int B, int T,
                                  int C, int NH)
{
    clpt_cpu_attention_forward(F(out), lse, CF(qkv), B, T, C, NH);
}
static void act_attention_backward(clpt_act *dqkv, const clpt_act *dout, const clpt_act *qkv,
                                   const clpt_act *out, const float *lse, int B, int T, int C,
                                   int NH)
{
    clpt_cpu_attention_backward(F(dqkv), CF(dout), CF(qkv), CF(out), lse, B, T, C, NH);
}
static void act_gelu_forward(clpt_act *out, const clpt_act *inp, size_t n)
{
    clpt_cpu_gelu_forward(F(out), CF(inp), n);
}
static void act_gelu_backward(clpt_act *dinp, const clpt_act *inp, const clpt_act *dout, size_t n)
{
    clpt_cpu_gelu_backward(F(dinp), CF(inp), CF(dout), n);
}
static void act_classifier(float *losses, int *ranks, clpt_act *dinp, float *dwte,
                           const clpt_act *inp, const float *wte, const int *targets, int N,
                           int C, int V, float dscale)
{
    clpt_cpu_classifier(losses, ranks, F(dinp), dwte, CF(inp), wte, targets, N, C, V, dscale);
}
static void act_logits(float *out, const clpt_act *inp, const float *wte, int N, int C, int V)
{
    clpt_cpu_logits(out, CF(inp), wte, N, C, V);
}

static const clpt_backend cpu_backend = {
    .name = "cpu",
    .act_bytes = 4,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_memcpy,
    .to_host = cpu_memcpy,
    .copy = cpu_memcpy,
    .sync = cpu_sync,
    .act_to_host = act_to_host,
    .act_to_device = act_to_device,
    .act_zero = act_zero,
    .encoder_forward = act_encoder_forward,
    .encoder_backward = act_encoder_backward,
    .layernorm_forward = act_layernorm_forward,
    .layernorm_backward = act_layernorm_backward,
    .matmul_forward = act_matmul_forward,
    .matmul_backward = act_matmul_backward,
    .attention_forward = act_attention_forward,
    .attention_backward = act_attention_backward,
    .gelu_forward = act_gelu_forward,
    .gelu_backward = act_gelu_backward,
    .classifier = act_classifier,
    .logits = act_logits,
    .adamw = cpu_adamw,
    .fill = cpu_fill,
    .axpy = cpu_axpy,
    .scale = cpu_scale,
    .dot = cpu_dot,
    .mul_acc = cpu_mul_acc,
    .sq_acc = cpu_sq_acc,
    .status = cpu_status,
};

const clpt_backend *clpt_backend_cpu(void) { return &cpu_backend; }
