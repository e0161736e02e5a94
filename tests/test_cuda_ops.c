/* Every op of the cuda backend against the CPU reference, on fresh random
 * inputs and shapes chosen to hit edge cases (rows and head sizes that are
 * not multiples of the tile or warp, T = 1, several classifier chunks).
 * GEMM-based ops run in each precision (fp32, tf32, bf16fast, bf16) with
 * that precision's tolerance; the rest are fp32 in every mode. Outputs
 * that an op overwrites are poisoned with NaN first; outputs that
 * accumulate start from random values. Skipped (77) without a GPU. */
#define _POSIX_C_SOURCE 200809L
#ifdef CLPT_WITH_CUDA
#include "test_cuda_util.h"
#include "cuda/clpt_cuda.h"

/* ---- memory ------------------------------------------------------------------ */

static void test_memory(void)
{
    size_t n = 100003;
    float *d = gpu->alloc(n * sizeof(float)), *h = dev_download(d, n);
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= h[i] == 0.0f;
    CHECK_MSG(zero, "alloc must return zero-filled memory");
    float *x = host_normal(n, 1.0), *e = gpu->alloc(n * sizeof(float));
    gpu->to_device(d, x, n * sizeof(float));
    gpu->copy(e, d, n * sizeof(float));
    float *back = dev_download(e, n);
    CHECK_MSG(!memcmp(back, x, n * sizeof(float)), "to_device/copy/to_host round trip");
    void *z = gpu->alloc(0);
    CHECK_MSG(z != NULL, "alloc(0) returns a buffer");
    gpu->free(z);
    gpu->free(d);
    gpu->free(e);
    free(h);
    free(back);

    /* activations: the device rounds to its format exactly as the reference
     * does (ties to even, NaN, infinities, signed zero), and act_zero zeroes */
    x[0] = NAN; x[1] = INFINITY; x[2] = -INFINITY; x[3] = -0.0f;
    x[4] = 1.0f + 0x1p-8f; x[5] = 1.0f + 3 * 0x1p-8f; x[6] = 1e-40f; x[7] = 3.4e38f;
    clpt_act *ra = act_new(cpu, x, n), *ga = act_new(gpu, x, n);
    float *want = act_get(cpu, ra, n), *got = act_get(gpu, ga, n);
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&want[i], &got[i], 4) != 0 && !(isnan(want[i]) && isnan(got[i]));
    CHECK_MSG(diff == 0, "act_to_device/act_to_host: %zu of %zu values differ from the reference", diff, n);
    CHECK(isnan(got[0]) && got[1] == INFINITY && got[2] == -INFINITY && signbit(got[3]));
    gpu->act_zero(ga, n);
    free(got);
    got = act_get(gpu, ga, n);
    zero = 1;
    for (size_t i = 0; i < n; i++) zero &= got[i] == 0.0f && !signbit(got[i]);
    CHECK_MSG(zero, "act_zero");
    cpu->free(ra);
    gpu->free(ga);
    free(want); free(got); free(x);
}

/* ---- encoder ------------------------------------------------------------------- */

static void test_encoder(int B, int T, int C, int V)
{
    size_t BT = (size_t)B * T;
    int *tok = host_tokens(BT, V);
    float *wte = host_normal((size_t)V * C, 1.0), *wpe = host_normal((size_t)T * C, 1.0);
    clpt_act *out = act_new(cpu, NULL, BT * C);
    cpu->encoder_forward(out, tok, wte, wpe, B, T, C);
    int *dtok = dev_upload(tok, BT * sizeof(int));
    float *dwte_p = dev_upload(wte, (size_t)V * C * 4), *dwpe_p = dev_upload(wpe, (size_t)T * C * 4);
    clpt_act *dout = act_new(gpu, NULL, BT * C);
    gpu->encoder_forward(dout, dtok, dwte_p, dwpe_p, B, T, C);
    float *got = act_get(gpu, dout, BT * C), *want = act_get(cpu, out, BT * C);
    compare_f32("encoder_forward out", got, want, BT * C, act_tol(1e-6));
    free(got); free(want);

    /* backward accumulates; few tokens, so rows collide on the same wte row */
    float *g = host_normal(BT * C, 1.0), *gw = host_normal((size_t)V * C, 1.0);
    float *gp = host_normal((size_t)T * C, 1.0);
    clpt_act *cg = act_new(cpu, g, BT * C), *dg = act_new(gpu, g, BT * C);
    float *dgw = dev_upload(gw, (size_t)V * C * 4), *dgp = dev_upload(gp, (size_t)T * C * 4);
    cpu->encoder_backward(gw, gp, cg, tok, B, T, C);
    gpu->encoder_backward(dgw, dgp, dg, dtok, B, T, C);
    got = dev_download(dgw, (size_t)V * C);
    compare_f32("encoder_backward dwte", got, gw, (size_t)V * C, 1e-5);
    free(got);
    got = dev_download(dgp, (size_t)T * C);
    compare_f32("encoder_backward dwpe", got, gp, (size_t)T * C, 1e-5);
    free(got);
    gpu->free(dtok); gpu->free(dwte_p); gpu->free(dwpe_p); gpu->free(dout);
    gpu->free(dg); gpu->free(dgw); gpu->free(dgp);
    cpu->free(out); cpu->free(cg);
    free(tok); free(wte); free(wpe); free(g); free(gw); free(gp);
}

/* The backward pass groups ids copied down by the forward pass: it must
 * group the ids its buffer holds now, after a rewrite of that buffer, and
 * after a forward pass over other ids */
static void encoder_backward_check(const char *what, const int *tok, const int *dtok, const clpt_act *dg,
                                   const clpt_act *cg, int B, int T, int C, int V)
{
    float *gw = host_normal((size_t)V * C, 1.0), *gp = host_normal((size_t)T * C, 1.0);
    float *dgw = dev_upload(gw, (size_t)V * C * 4), *dgp = dev_upload(gp, (size_t)T * C * 4);
    cpu->encoder_backward(gw, gp, cg, tok, B, T, C);
    gpu->encoder_backward(dgw, dgp, dg, dtok, B, T, C);
    float *got = dev_download(dgw, (size_t)V * C);
    compare_f32(what, got, gw, (size_t)V * C, 1e-5);
    free(got); free(gw); free(gp);
    gpu->free(dgw); gpu->free(dgp);
}

static void test_encoder_ids(int B, int T, int C, int V)
{
    size_t BT = (size_t)B * T;
    int *ta = host_tokens(BT, V), *tb = host_tokens(BT, V);
    float *wte = host_normal((size_t)V * C, 1.0), *wpe = host_normal((size_t)T * C, 1.0);
    float *g = host_normal(BT * C, 1.0);
    int *da = dev_upload(ta, BT * sizeof(int)), *db = dev_upload(tb, BT * sizeof(int));
    float *dwte = dev_upload(wte, (size_t)V * C * 4), *dwpe = dev_upload(wpe, (size_t)T * C * 4);
    clpt_act *out = act_new(gpu, NULL, BT * C), *dg = act_new(gpu, g, BT * C), *cg = act_new(cpu, g, BT * C);
    /* forward over a's ids, then the buffer rewritten with b's */
    gpu->encoder_forward(out, da, dwte, dwpe, B, T, C);
    gpu->to_device(da, tb, BT * sizeof(int));
    encoder_backward_check("encoder_backward dwte, ids rewritten after the forward", tb, da, dg, cg, B, T, C, V);
    gpu->to_device(da, ta, BT * sizeof(int));
    /* forward over a, forward over b, backward over a, backward over b */
    gpu->encoder_forward(out, da, dwte, dwpe, B, T, C);
    gpu->encoder_forward(out, db, dwte, dwpe, B, T, C);
    encoder_backward_check("encoder_backward dwte, a after forwards over a then b", ta, da, dg, cg, B, T, C, V);
    encoder_backward_check("encoder_backward dwte, b after that", tb, db, dg, cg, B, T, C, V);
    encoder_backward_check("encoder_backward dwte, a again, no forward", ta, da, dg, cg, B, T, C, V);
    /* the prefetched ids, then a second backward pass after the same forward */
    gpu->encoder_forward(out, db, dwte, dwpe, B, T, C);
    encoder_backward_check("encoder_backward dwte, b after a forward over b", tb, db, dg, cg, B, T, C, V);
    encoder_backward_check("encoder_backward dwte, b once more", tb, db, dg, cg, B, T, C, V);
    /* a forward over fewer positions of the same buffer */
    if (B > 1) {
        gpu->encoder_forward(out, db, dwte, dwpe, 1, T, C);
        encoder_backward_check("encoder_backward dwte, b after a forward over its first row", tb, db, dg, cg, B, T,
                               C, V);
    }
    /* the ids' buffer freed after the forward, and a new one (zeroed, maybe
     * at the same address) in its place: the backward groups zeros */
    gpu->encoder_forward(out, db, dwte, dwpe, B, T, C);
    gpu->free(db);
    db = gpu->alloc(BT * sizeof(int));
    int *zeros = calloc(BT, sizeof(int)), *back = malloc(BT * sizeof(int));
    gpu->to_host(back, db, BT * sizeof(int));
    CHECK_MSG(!memcmp(back, zeros, BT * sizeof(int)), "a new device buffer is not zeroed");
    encoder_backward_check("encoder_backward dwte, ids freed and allocated anew", zeros, db, dg, cg, B, T, C, V);
    free(zeros); free(back);
    gpu->free(da); gpu->free(db); gpu->free(dwte); gpu->free(dwpe); gpu->free(out); gpu->free(dg);
    cpu->free(cg);
    free(ta); free(tb); free(wte); free(wpe); free(g);
}

/* ---- layernorm ------------------------------------------------------------------ */

static void test_layernorm(int N, int C)
{
    size_t n = (size_t)N * C;
    char what[96];
    float *x = host_normal(n, 2.0), *w = host_normal(C, 1.0), *b = host_normal(C, 1.0);
    for (size_t i = 0; i < n; i++) x[i] += 0.5f; /* a non-zero mean */
    float *mean = malloc(N * 4), *rstd = malloc(N * 4);
    clpt_act *cx = act_new(cpu, x, n), *out = act_new(cpu, NULL, n);
    cpu->layernorm_forward(out, mean, rstd, cx, w, b, N, C, 1e-5f);
    float *dw = dev_upload(w, C * 4), *db = dev_upload(b, C * 4);
    clpt_act *dx = act_new(gpu, x, n), *dout = act_new(gpu, NULL, n);
    float *dmean = gpu->alloc(N * 4), *drstd = gpu->alloc(N * 4);
    dev_poison(dmean, N); dev_poison(drstd, N);
    gpu->layernorm_forward(dout, dmean, drstd, dx, dw, db, N, C, 1e-5f);
    float *g1 = act_get(gpu, dout, n), *g2 = dev_download(dmean, N), *g3 = dev_download(drstd, N);
    float *w1 = act_get(cpu, out, n);
    snprintf(what, sizeof what, "layernorm_forward out N=%d C=%d", N, C);
    compare_f32(what, g1, w1, n, act_tol(1e-5));
    compare_f32("layernorm_forward mean", g2, mean, N, 1e-5);
    compare_f32("layernorm_forward rstd", g3, rstd, N, 1e-5);
    free(g1); free(g2); free(g3); free(w1);

    /* backward: dinp, dw, db all accumulate */
    float *go = host_normal(n, 1.0), *gin = host_normal(n, 1.0);
    float *gw = host_normal(C, 1.0), *gb = host_normal(C, 1.0);
    clpt_act *cgo = act_new(cpu, go, n), *cgin = act_new(cpu, gin, n);
    clpt_act *dgo = act_new(gpu, go, n), *dgin = act_new(gpu, gin, n);
    float *dgw = dev_upload(gw, C * 4), *dgb = dev_upload(gb, C * 4);
    cpu->layernorm_backward(cgin, gw, gb, cgo, cx, w, mean, rstd, N, C);
    gpu->layernorm_backward(dgin, dgw, dgb, dgo, dx, dw, dmean, drstd, N, C);
    g1 = act_get(gpu, dgin, n); g2 = dev_download(dgw, C); g3 = dev_download(dgb, C);
    w1 = act_get(cpu, cgin, n);
    snprintf(what, sizeof what, "layernorm_backward dinp N=%d C=%d", N, C);
    /* C = 1: x - mean is 0, so the added gradient is rounding noise times
     * rstd = 1/sqrt(eps), about 300; only its size can be checked */
    compare_f32(what, g1, w1, n, act_tol(C == 1 ? 1e-4 : 1e-5));
    compare_f32("layernorm_backward dw", g2, gw, C, 1e-5);
    compare_f32("layernorm_backward db", g3, gb, C, 1e-5);
    free(g1); free(g2); free(g3); free(w1);
    gpu->free(dx); gpu->free(dw); gpu->free(db); gpu->free(dout); gpu->free(dmean);
    gpu->free(drstd); gpu->free(dgo); gpu->free(dgin); gpu->free(dgw); gpu->free(dgb);
    cpu->free(cx); cpu->free(out); cpu->free(cgo); cpu->free(cgin);
    free(x); free(w); free(b); free(mean); free(rstd);
    free(go); free(gin); free(gw); free(gb);
}

/* ---- matmul ---------------------------------------------------------------------- */

static void test_matmul(const char *mode, int N, int IN, int OUT, int with_bias, float beta)
{
    double tol = gemm_tol(mode);
    char what[128];
    size_t nx = (size_t)N * IN, nw = (size_t)IN * OUT, no = (size_t)N * OUT;
    float *x = host_normal(nx, 1.0), *w = host_normal(nw, 0.1), *bias = host_normal(OUT, 1.0);
    float *o0 = host_normal(no, 1.0);
    clpt_act *cx = act_new(cpu, x, nx), *dx = act_new(gpu, x, nx);
    /* beta = 0: out must not be read */
    clpt_act *cout = act_new(cpu, o0, no), *dout = act_new(gpu, beta == 0.0f ? NULL : o0, no);
    float *dw = dev_upload(w, nw * 4), *dbias = dev_upload(bias, OUT * 4);
    cpu->matmul_forward(cout, cx, w, with_bias ? bias : NULL, N, IN, OUT, beta);
    gpu->matmul_forward(dout, dx, dw, with_bias ? dbias : NULL, N, IN, OUT, beta);
    float *got = act_get(gpu, dout, no), *want = act_get(cpu, cout, no);
    snprintf(what, sizeof what, "matmul_forward %s lt=%d %dx%dx%d bias=%d beta=%g", mode,
             clpt_cuda_lt(), N, IN, OUT, with_bias, beta);
    compare_f32(what, got, want, no, tol);
    free(got); free(want);

    /* backward: dinp overwritten, dw and dbias accumulate */
    float *g = host_normal(no, 1.0), *gw = host_normal(nw, 1.0), *gb = host_normal(OUT, 1.0);
    clpt_act *cg = act_new(cpu, g, no), *dg = act_new(gpu, g, no);
    clpt_act *cgin = act_new(cpu, NULL, nx), *dgin = act_new(gpu, NULL, nx);
    float *dgw = dev_upload(gw, nw * 4), *dgb = dev_upload(gb, OUT * 4);
    cpu->matmul_backward(cgin, gw, with_bias ? gb : NULL, cg, cx, w, N, IN, OUT);
    gpu->matmul_backward(dgin, dgw, with_bias ? dgb : NULL, dg, dx, dw, N, IN, OUT);
    snprintf(what, sizeof what, "matmul_backward %s %dx%dx%d dinp", mode, N, IN, OUT);
    got = act_get(gpu, dgin, nx);
    want = act_get(cpu, cgin, nx);
    compare_f32(what, got, want, nx, tol);
    free(got); free(want);
    snprintf(what, sizeof what, "matmul_backward %s %dx%dx%d dw", mode, N, IN, OUT);
    got = dev_download(dgw, nw);
    compare_f32(what, got, gw, nw, tol);
    free(got);
    got = dev_download(dgb, OUT);
    compare_f32("matmul_backward dbias", got, gb, OUT, 1e-5);
    free(got);
    gpu->free(dx); gpu->free(dw); gpu->free(dbias); gpu->free(dout);
    gpu->free(dg); gpu->free(dgw); gpu->free(dgb); gpu->free(dgin);
    cpu->free(cx); cpu->free(cout); cpu->free(cg); cpu->free(cgin);
    free(x); free(w); free(bias); free(o0); free(g); free(gw); free(gb);
}

/* The GELU fusions against the reference's separate ops: matmul_forward
 * then gelu_forward; matmul_backward then gelu_backward on dinp. With
 * fusion on they go through cuBLASLt's epilogues, with it off through the
 * separate kernels; both must give the reference's results. */
static void test_matmul_gelu(const char *mode, int N, int IN, int OUT)
{
    char what[128];
    double tol = gemm_tol(mode);
    int fuse = clpt_cuda_gelu_fusion() && OUT % 8 == 0; /* cuBLASLt's aux rows: a multiple of 8 */
    long fused0 = clpt_cuda_gelu_fused();
    size_t nx = (size_t)N * IN, nw = (size_t)IN * OUT, no = (size_t)N * OUT;
    float *x = host_normal(nx, 1.0), *w = host_normal(nw, 0.1), *bias = host_normal(OUT, 0.5);
    clpt_act *cx = act_new(cpu, x, nx), *cpre = act_new(cpu, NULL, no), *cout = act_new(cpu, NULL, no);
    cpu->matmul_forward(cpre, cx, w, bias, N, IN, OUT, 0.0f);
    cpu->gelu_forward(cout, cpre, no);
    clpt_act *dx = act_new(gpu, x, nx), *dpre = act_new(gpu, NULL, no), *dout = act_new(gpu, NULL, no);
    float *dw = dev_upload(w, nw * 4), *db = dev_upload(bias, OUT * 4);
    gpu->matmul_gelu_forward(dout, dpre, dx, dw, db, N, IN, OUT);
    float *g1 = act_get(gpu, dpre, no), *w1 = act_get(cpu, cpre, no);
    snprintf(what, sizeof what, "matmul_gelu_forward fused=%d %dx%dx%d pre", clpt_cuda_gelu_fusion(), N, IN, OUT);
    compare_f32(what, g1, w1, no, tol);
    free(g1); free(w1);
    g1 = act_get(gpu, dout, no);
    w1 = act_get(cpu, cout, no);
    snprintf(what, sizeof what, "matmul_gelu_forward %s fused=%d %dx%dx%d gelu", mode, fuse, N, IN, OUT);
    compare_f32(what, g1, w1, no, tol);
    /* in fp32 the GELU formula itself shows: tanh's and erf's differ by up to
     * 4.7e-4 near |x| = 2.7, fp32 GEMM rounding by about 1e-6 */
    if (!strcmp(mode, "fp32") && gpu->act_bytes == 4) {
        double mx = 0;
        for (size_t i = 0; i < no; i++) mx = fmax(mx, fabs((double)g1[i] - w1[i]));
        CHECK_MSG(mx <= 1e-4, "matmul_gelu_forward fp32 %dx%dx%d: max |d| %.2e > 1e-4 (another GELU formula?)", N,
                  IN, OUT, mx);
    }
    free(g1); free(w1);

    /* backward of the projection that takes gelu(pre) (N, OUT) to (N, IN2) */
    int IN2 = OUT, OUT2 = IN;
    size_t nw2 = (size_t)IN2 * OUT2, ng = (size_t)N * OUT2;
    float *w2 = host_normal(nw2, 0.1), *g = host_normal(ng, 1.0), *gw = host_normal(nw2, 1.0);
    float *gb = host_normal(OUT2, 1.0);
    clpt_act *cg = act_new(cpu, g, ng), *cdin = act_new(cpu, NULL, no);
    clpt_act *dg = act_new(gpu, g, ng), *ddin = act_new(gpu, NULL, no);
    float *dw2 = dev_upload(w2, nw2 * 4), *dgw = dev_upload(gw, nw2 * 4), *dgb = dev_upload(gb, OUT2 * 4);
    cpu->matmul_backward(cdin, gw, gb, cg, cout, w2, N, IN2, OUT2);
    cpu->gelu_backward(cdin, cpre, cdin, no);
    gpu->matmul_backward_gelu(ddin, dgw, dgb, dg, dout, dw2, dpre, N, IN2, OUT2);
    g1 = act_get(gpu, ddin, no);
    w1 = act_get(cpu, cdin, no);
    snprintf(what, sizeof what, "matmul_backward_gelu %s fused=%d %dx%dx%d dinp", mode, fuse, N, IN2, OUT2);
    compare_f32(what, g1, w1, no, tol);
    free(g1); free(w1);
    g1 = dev_download(dgw, nw2);
    compare_f32("matmul_backward_gelu dw", g1, gw, nw2, tol);
    free(g1);
    g1 = dev_download(dgb, OUT2);
    compare_f32("matmul_backward_gelu dbias", g1, gb, OUT2, 1e-5);
    free(g1);
    /* fused means both epilogues ran, unless cuBLASLt had none (said on
     * stderr, and fusion is then off) */
    long ran = clpt_cuda_gelu_fused() - fused0;
    if (!fuse)
        CHECK_MSG(ran == 0, "%ld GELU epilogues ran with fusion off", ran);
    else if (clpt_cuda_gelu_fusion())
        CHECK_MSG(ran == 2, "%s %dx%dx%d: %ld GEMMs ran with a GELU epilogue, not 2", mode, N, IN, OUT, ran);
    else
        printf("  %s %dx%dx%d: cuBLASLt has no GELU epilogue here (%ld ran)\n", mode, N, IN, OUT, ran);
    gpu->free(dx); gpu->free(dpre); gpu->free(dout); gpu->free(dw); gpu->free(db);
    gpu->free(dg); gpu->free(ddin); gpu->free(dw2); gpu->free(dgw); gpu->free(dgb);
    cpu->free(cx); cpu->free(cpre); cpu->free(cout); cpu->free(cg); cpu->free(cdin);
    free(x); free(w); free(bias); free(w2); free(g); free(gw); free(gb);
}

/* A parameter changed by any writing op must not be served from a stale
 * bf16 shadow: matmul, change w, matmul again, for each way of writing. */
static void test_shadow_refresh(const char *mode)
{
    int N = 19, IN = 40, OUT = 24;
    size_t nx = (size_t)N * IN, nw = (size_t)IN * OUT, no = (size_t)N * OUT;
    float *x = host_normal(nx, 1.0), *w = host_normal(nw, 0.1), *w2 = host_normal(nw, 0.1);
    float *m = host_normal(nw, 0.1), *v = host_normal(nw, 0.1);
    for (size_t i = 0; i < nw; i++) v[i] = v[i] * v[i];
    /* w lives at an offset inside a larger "slab", as model parameters do */
    float *slab = gpu->alloc((nw + 7) * 4), *dw = slab + 7;
    clpt_act *cx = act_new(cpu, x, nx), *dx = act_new(gpu, x, nx);
    clpt_act *out = act_new(cpu, NULL, no), *dout = act_new(gpu, NULL, no);
    float *dw2 = dev_upload(w2, nw * 4), *dm = dev_upload(m, nw * 4), *dv = dev_upload(v, nw * 4);
    const char *how[] = {"to_device", "copy", "axpy", "scale", "fill", "mul_acc", "sq_acc", "adamw"};
    gpu->to_device(dw, w, nw * 4);
    for (int k = 0; k < 8; k++) {
        gpu->matmul_forward(dout, dx, dw, NULL, N, IN, OUT, 0.0f); /* caches a shadow */
        switch (k) {
        case 0: for (size_t i = 0; i < nw; i++) w[i] = -w[i];
                gpu->to_device(dw, w, nw * 4); break;
        case 1: memcpy(w, w2, nw * 4); gpu->copy(dw, dw2, nw * 4); break;
        case 2: cpu->axpy(w, 0.5f, w2, nw); gpu->axpy(dw, 0.5f, dw2, nw); break;
        case 3: cpu->scale(w, -2.0f, nw); gpu->scale(dw, -2.0f, nw); break;
        case 4: cpu->fill(w, 0.01f, nw); gpu->fill(dw, 0.01f, nw); break;
        case 5: cpu->mul_acc(w, 0.5f, w2, w2, nw); gpu->mul_acc(dw, 0.5f, dw2, dw2, nw); break;
        case 6: cpu->sq_acc(w, -0.5f, w2, nw); gpu->sq_acc(dw, -0.5f, dw2, nw); break;
        case 7: cpu->adamw(w, w2, m, v, nw, 0.1f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0.3f, 1.0f);
                gpu->adamw(dw, dw2, dm, dv, nw, 0.1f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0.3f, 1.0f);
                break;
        }
        cpu->matmul_forward(out, cx, w, NULL, N, IN, OUT, 0.0f);
        gpu->matmul_forward(dout, dx, dw, NULL, N, IN, OUT, 0.0f);
        float *got = act_get(gpu, dout, no), *want = act_get(cpu, out, no);
        char what[96];
        snprintf(what, sizeof what, "shadow refresh after %s (%s)", how[k], mode);
        compare_f32(what, got, want, no, gemm_tol(mode));
        free(got); free(want);
    }
    gpu->free(slab); gpu->free(dx); gpu->free(dw2); gpu->free(dout); gpu->free(dm); gpu->free(dv);
    cpu->free(cx); cpu->free(out);
    free(x); free(w); free(w2); free(m); free(v);
}

/* ---- attention ---------------------------------------------------------------------- */

/* tolerances: fp32 on CUDA cores, or bf16 operands on tensor cores */
static double att_tol_out = 1e-5, att_tol_lse = 1e-5, att_tol_d = 1e-4;

static void test_attention(int B, int T, int C, int NH)
{
    size_t nqkv = (size_t)B * T * 3 * C, no = (size_t)B * T * C, nl = (size_t)B * NH * T;
    char what[128];
    float *qkv = host_normal(nqkv, 1.0), *lse = malloc(nl * 4);
    clpt_act *cqkv = act_new(cpu, qkv, nqkv), *out = act_new(cpu, NULL, no);
    cpu->attention_forward(out, lse, cqkv, B, T, C, NH);
    clpt_act *dqkv = act_new(gpu, qkv, nqkv), *dout = act_new(gpu, NULL, no);
    float *dlse = gpu->alloc(nl * 4);
    dev_poison(dlse, nl);
    gpu->attention_forward(dout, dlse, dqkv, B, T, C, NH);
    float *g1 = act_get(gpu, dout, no), *g2 = dev_download(dlse, nl), *w1 = act_get(cpu, out, no);
    snprintf(what, sizeof what, "attention_forward %s out B=%d T=%d C=%d NH=%d", clpt_cuda_attn(),
             B, T, C, NH);
    compare_f32(what, g1, w1, no, act_tol(att_tol_out));
    snprintf(what, sizeof what, "attention_forward %s lse B=%d T=%d C=%d NH=%d", clpt_cuda_attn(),
             B, T, C, NH);
    compare_f32(what, g2, lse, nl, att_tol_lse);
    free(g1); free(g2); free(w1);

    /* backward overwrites all of dqkv: q, k and v parts */
    float *g = host_normal(no, 1.0);
    clpt_act *cg = act_new(cpu, g, no), *cgq = act_new(cpu, NULL, nqkv);
    clpt_act *dg = act_new(gpu, g, no), *dgq = act_new(gpu, NULL, nqkv);
    cpu->attention_backward(cgq, cg, cqkv, out, lse, B, T, C, NH);
    gpu->attention_backward(dgq, dg, dqkv, dout, dlse, B, T, C, NH);
    g1 = act_get(gpu, dgq, nqkv);
    w1 = act_get(cpu, cgq, nqkv);
    snprintf(what, sizeof what, "attention_backward %s dqkv B=%d T=%d C=%d NH=%d",
             clpt_cuda_attn(), B, T, C, NH);
    compare_f32(what, g1, w1, nqkv, act_tol(att_tol_d));
    free(g1); free(w1);
    gpu->free(dqkv); gpu->free(dout); gpu->free(dlse); gpu->free(dg); gpu->free(dgq);
    cpu->free(cqkv); cpu->free(out); cpu->free(cg); cpu->free(cgq);
    free(qkv); free(lse); free(g);
}

/* ---- GELU --------------------------------------------------------------------------- */

static void test_gelu(size_t n)
{
    float *x = host_normal(n, 3.0), *g = host_normal(n, 1.0);
    x[0] = 30.0f; x[1] = -30.0f; x[2] = 0.0f; /* saturated tails and the origin */
    clpt_act *cx = act_new(cpu, x, n), *out = act_new(cpu, NULL, n), *cg = act_new(cpu, g, n);
    clpt_act *dx = act_new(gpu, x, n), *dout = act_new(gpu, NULL, n), *dg = act_new(gpu, g, n);
    cpu->gelu_forward(out, cx, n);
    gpu->gelu_forward(dout, dx, n);
    float *got = act_get(gpu, dout, n), *want = act_get(cpu, out, n);
    compare_f32("gelu_forward", got, want, n, act_tol(1e-6));
    free(got); free(want);
    cpu->gelu_backward(cg, cx, cg, n);
    gpu->gelu_backward(dg, dx, dg, n); /* in place, as the model calls it */
    got = act_get(gpu, dg, n);
    want = act_get(cpu, cg, n);
    compare_f32("gelu_backward (in place)", got, want, n, act_tol(1e-6));
    free(got); free(want);
    /* an odd count at an odd offset: the element-wise path, not 16-byte vectors */
    size_t m = n - 8;
    const size_t eb = (size_t)gpu->act_bytes;
    gpu->gelu_forward((clpt_act *)((char *)dout + eb), (const clpt_act *)((const char *)dx + eb), m);
    cpu->gelu_forward((clpt_act *)((char *)out + eb), (const clpt_act *)((const char *)cx + eb), m);
    got = act_get(gpu, dout, n);
    want = act_get(cpu, out, n);
    compare_f32("gelu_forward (unaligned)", got, want, n, act_tol(1e-6));
    free(got); free(want);
    gpu->free(dx); gpu->free(dout); gpu->free(dg);
    cpu->free(cx); cpu->free(out); cpu->free(cg);
    free(x); free(g);
}

/* ---- classifier and logits --------------------------------------------------------- */

/* nonzero: the classifier call in test_classifier runs with only this many
 * bytes of device memory to spare */
static size_t classifier_room;

/* training takes bf16 logits (clpt_cuda_set_logits("bf16")): each logit
 * is rounded to 8 significant bits (by up to 1/64 below 8 in magnitude).
 * Rounding this test's logits so in numpy moved the losses by at most
 * 2.1e-3 relative (V = 3; 6e-4 at V = 1001, 3e-4 at 50257) and dinp by at
 * most 2.2e-3, beside the bf16 GEMMs' 1e-2 */
static int classifier_lbf;

static void test_classifier(const char *mode, int N, int C, int V, int train)
{
    double tol = gemm_tol(mode);
    double loss_tol = classifier_lbf && train ? 1e-2 : tol / 4;
    char what[128];
    size_t nx = (size_t)N * C, nw = (size_t)V * C;
    /* logits of a few units, so softmax is neither flat nor one-hot */
    float *x = host_normal(nx, 1.0), *wte = host_normal(nw, 2.0 / sqrt((double)C));
    int *tgt = host_tokens(N, V);
    /* dwte accumulates: start it at about a third of the gradient's norm
     * (which is near sqrt(C/N)), so a lost start and a wrong gradient both show */
    float *loss = malloc(N * 4);
    float *dwte = host_normal(nw, 0.3 / sqrt((double)N * V));
    int *rank = malloc(N * sizeof(int));
    float dscale = 1.0f / N;
    clpt_act *cx = act_new(cpu, x, nx), *cdinp = act_new(cpu, NULL, nx);
    clpt_act *dx = act_new(gpu, x, nx), *ddinp = act_new(gpu, NULL, nx);
    float *dw = dev_upload(wte, nw * 4), *ddwte = dev_upload(dwte, nw * 4);
    int *dtgt = dev_upload(tgt, N * sizeof(int)), *drank = gpu->alloc(N * sizeof(int));
    float *dloss = gpu->alloc(N * 4);
    dev_poison(dloss, N);
    cpu->classifier(loss, train ? NULL : rank, train ? cdinp : NULL, train ? dwte : NULL, cx, wte,
                    tgt, N, C, V, train ? dscale : 0.0f);
    if (classifier_room) {
        size_t in_use;
        clpt_cuda_memory(&in_use, NULL, NULL, NULL);
        clpt_cuda_set_memory_cap(in_use + classifier_room);
    }
    gpu->classifier(dloss, train ? NULL : drank, train ? ddinp : NULL, train ? ddwte : NULL, dx,
                    dw, dtgt, N, C, V, train ? dscale : 0.0f);
    clpt_cuda_set_memory_cap(0);
    float *got = dev_download(dloss, N);
    snprintf(what, sizeof what, "classifier %s losses N=%d C=%d V=%d train=%d", mode, N, C, V, train);
    compare_f32(what, got, loss, N, loss_tol);
    free(got);
    if (train) {
        float *want = act_get(cpu, cdinp, nx);
        got = act_get(gpu, ddinp, nx);
        snprintf(what, sizeof what, "classifier %s dinp N=%d V=%d", mode, N, V);
        compare_f32(what, got, want, nx, tol);
        free(got); free(want);
        got = dev_download(ddwte, nw);
        snprintf(what, sizeof what, "classifier %s dwte N=%d V=%d", mode, N, V);
        compare_f32(what, got, dwte, nw, tol);
        free(got);
    } else {
        /* ranks move with logit rounding: exact in fp32, close in bf16 */
        int *gr = malloc(N * sizeof(int)), same = 0;
        double diff = 0, sum = 0;
        gpu->to_host(gr, drank, N * sizeof(int));
        for (int i = 0; i < N; i++) {
            same += gr[i] == rank[i];
            diff += abs(gr[i] - rank[i]);
            sum += rank[i];
        }
        int exact = !strcmp(mode, "fp32");
        printf("  classifier %s ranks: %d/%d equal, mean |d| %.3f, mean rank %.1f\n", mode, same,
               N, diff / N, sum / N);
        CHECK_MSG(exact ? same >= N * 0.98 : diff / sum <= 0.02, "classifier ranks (%s)", mode);
        free(gr);
    }
    /* logits: the same GEMM without the fusion */
    float *lg = malloc((size_t)N * V * 4), *dlg = gpu->alloc((size_t)N * V * 4);
    cpu->logits(lg, cx, wte, N, C, V);
    dev_poison(dlg, (size_t)N * V);
    gpu->logits(dlg, dx, dw, N, C, V);
    got = dev_download(dlg, (size_t)N * V);
    snprintf(what, sizeof what, "logits %s N=%d C=%d V=%d", mode, N, C, V);
    compare_f32(what, got, lg, (size_t)N * V, gemm_tol(mode));
    free(got);
    gpu->free(dx); gpu->free(dw); gpu->free(ddwte); gpu->free(dtgt); gpu->free(drank);
    gpu->free(dloss); gpu->free(ddinp); gpu->free(dlg);
    cpu->free(cx); cpu->free(cdinp);
    free(x); free(wte); free(tgt); free(loss); free(dwte); free(rank); free(lg);
}

/* ---- AdamW and the vector algebra --------------------------------------------------------- */

/* the update of elements [off, n): float4 accesses where n - off is a
 * multiple of 4 and off of 4 (device buffers are 256-byte aligned), else
 * one float at a time; the elements before off stay as they are */
static void test_adamw(size_t n, size_t off)
{
    float *p = host_normal(n, 1.0), *g = host_normal(n, 1.0), *m = host_normal(n, 0.1);
    float *v = host_normal(n, 0.1);
    for (size_t i = 0; i < n; i++) v[i] = v[i] * v[i];
    float *dp = dev_upload(p, n * 4), *dg = dev_upload(g, n * 4), *dm = dev_upload(m, n * 4);
    float *dv = dev_upload(v, n * 4);
    float b1 = 0.9f, b2 = 0.95f, bc1 = 1.0f - powf(b1, 3), bc2 = 1.0f - powf(b2, 3);
    cpu->adamw(p + off, g + off, m + off, v + off, n - off, 1e-3f, b1, b2, 1e-8f, 0.1f, bc1, bc2, 0.7f);
    gpu->adamw(dp + off, dg + off, dm + off, dv + off, n - off, 1e-3f, b1, b2, 1e-8f, 0.1f, bc1, bc2, 0.7f);
    float *got = dev_download(dp, n);
    compare_f32("adamw p", got, p, n, 1e-6);
    free(got);
    got = dev_download(dm, n);
    compare_f32("adamw m", got, m, n, 1e-6);
    free(got);
    got = dev_download(dv, n);
    compare_f32("adamw v", got, v, n, 1e-6);
    free(got);
    gpu->free(dp); gpu->free(dg); gpu->free(dm); gpu->free(dv);
    free(p); free(g); free(m); free(v);
}

static void test_vector(size_t n)
{
    float *x = host_normal(n, 1.0), *y = host_normal(n, 1.0), *z = host_normal(n, 1.0);
    float *dx = dev_upload(x, n * 4), *dy = dev_upload(y, n * 4), *dz = dev_upload(z, n * 4);
    float *got;
#define VEC_STEP(name, cpucall, gpucall, dst, ddst)                                         \
    do {                                                                                  \
        cpucall;                                                                          \
        gpucall;                                                                          \
        got = dev_download(ddst, n);                                                      \
        compare_f32(name, got, dst, n, 1e-6);                                             \
        free(got);                                                                        \
    } while (0)
    VEC_STEP("axpy", cpu->axpy(y, -0.3f, x, n), gpu->axpy(dy, -0.3f, dx, n), y, dy);
    VEC_STEP("scale", cpu->scale(y, 1.7f, n), gpu->scale(dy, 1.7f, n), y, dy);
    VEC_STEP("mul_acc", cpu->mul_acc(z, 0.25f, x, y, n), gpu->mul_acc(dz, 0.25f, dx, dy, n), z, dz);
    VEC_STEP("sq_acc", cpu->sq_acc(z, -0.5f, x, n), gpu->sq_acc(dz, -0.5f, dx, n), z, dz);
    VEC_STEP("fill", cpu->fill(x, 0.125f, n), gpu->fill(dx, 0.125f, n), x, dx);
#undef VEC_STEP
    /* dot on the device's own y and z: the float ops above may round
     * differently (FMA contraction), and a dot of n terms amplifies that */
    float *hy = dev_download(dy, n), *hz = dev_download(dz, n);
    double a = cpu->dot(hy, hz, n), b = gpu->dot(dy, dz, n), b2 = gpu->dot(dy, dz, n);
    printf("  dot: cpu %.17g cuda %.17g\n", a, b);
    CHECK_CLOSE(b, a, 1e-12);
    CHECK_MSG(b == b2, "dot must be deterministic (%.17g vs %.17g)", b, b2);
    double nn = gpu->dot(dz, dz, n);
    CHECK_CLOSE(nn, cpu->dot(hz, hz, n), 1e-12);
    free(hy);
    free(hz);
    gpu->free(dx); gpu->free(dy); gpu->free(dz);
    free(x); free(y); free(z);
}

/* an unsupported shape is recorded, not a crash */
static void test_error_path(void)
{
    int B = 1, T = 4, C = 320, NH = 2; /* head size 160 > 128 */
    clpt_act *qkv = act_new(gpu, NULL, (size_t)B * T * 3 * C), *out = act_new(gpu, NULL, (size_t)B * T * C);
    float *lse = gpu->alloc((size_t)B * NH * T * 4);
    CHECK(clpt_cuda_status() == 0);
    gpu->attention_forward(out, lse, qkv, B, T, C, NH);
    CHECK_MSG(clpt_cuda_status() == CLPT_EUNSUP, "head size 160 must be refused");
    printf("  expected failure recorded: %s\n", clpt_cuda_status_msg());
    clpt_cuda_clear_status();
    gpu->free(qkv); gpu->free(out); gpu->free(lse);
}

static void check_status(const char *after)
{
    CHECK_MSG(clpt_cuda_status() == 0, "cuda error after %s: %s", after, clpt_cuda_status_msg());
    clpt_cuda_clear_status();
}

/* Every layer op for the activation format of the current pair (cpu, gpu).
 * With bf16 activations every GEMM takes bf16 operands whatever the GEMM
 * mode, so only "bf16" is run there. */
static void test_layer_ops(void)
{
    int bf = gpu->act_bytes == 2;
    printf("activations %s\n", bf ? "bf16 (against cpu-bf16)" : "fp32 (against cpu)");
    test_encoder(3, 17, 40, 7);
    test_encoder(2, 64, 768, 50257);
    test_encoder_ids(2, 64, 96, 300);
    /* LayerNorm backward in three kernels (the default), then in one */
    for (int fused = 0; fused < 2; fused++) {
        clpt_cuda_set_ln_fused(fused);
        long runs = clpt_cuda_ln_fused_runs();
        test_layernorm(37, 70);
        test_layernorm(1, 1);
        test_layernorm(300, 768);
        test_layernorm(13, 1600);
        CHECK_MSG(clpt_cuda_ln_fused_runs() - runs == (fused ? 4 : 0), "LayerNorm backward fused %d: %ld fused runs",
                  fused, clpt_cuda_ln_fused_runs() - runs);
    }
    clpt_cuda_set_ln_fused(0);
    test_gelu(100003);
    check_status("the element-wise layer ops");

    /* head sizes 4, 16, 32, 64, 80, 128 (lanes per row 1, 1, 2, 4, 8, 8);
     * T = 1, T below, at and above the 64-row block and 32-row tile */
    CHECK(clpt_cuda_set_attn("simt") == 0);
    att_tol_out = 1e-5, att_tol_lse = 1e-5, att_tol_d = 1e-4;
    test_attention(1, 1, 8, 2);
    test_attention(1, 1, 64, 1);
    test_attention(3, 5, 12, 3);
    test_attention(2, 70, 48, 3);
    test_attention(1, 33, 64, 2);
    test_attention(2, 130, 256, 4);
    test_attention(1, 65, 160, 2);
    test_attention(1, 96, 256, 2);
    test_attention(1, 1024, 768, 12); /* GPT-2 small's shape */
    check_status("attention (simt)");
    /* tensor cores, head size 64: partial tiles, several tiles, GPT-2's shape
     * (very short rows are left out: with one or two keys, dq is rounding
     * noise around zero in bf16 and relative error is meaningless) */
    att_tol_out = 2e-2, att_tol_lse = 1e-2, att_tol_d = 3e-2;
    /* cuDNN's fused attention takes bf16 activations, where it is built and
     * libcudnn loads */
    char why[512];
    int cudnn = bf && clpt_cuda_cudnn_available(why, sizeof why);
    if (bf && !cudnn) printf("cudnn attention not tested: %s\n", why);
    const char *tc_impls[] = {"wmma", "mma", "cudnn"};
    long cudnn_runs = clpt_cuda_cudnn_runs();
    for (int impl = 0; impl < 2 + cudnn; impl++) {
        CHECK(clpt_cuda_set_attn(tc_impls[impl]) == 0);
        test_attention(2, 70, 128, 2);
        test_attention(3, 200, 128, 2);
        test_attention(2, 130, 256, 4);
        test_attention(1, 1024, 768, 12);
        test_attention(4, 1024, 768, 12); /* many blocks: races show here */
        test_attention(2, 50, 48, 3); /* head size 16: simt, except under cudnn */
        check_status(clpt_cuda_attn());
    }
    if (cudnn) /* each shape it had a plan for ran through it; the others ran mma */
        printf("cudnn attention: %ld graphs ran\n", clpt_cuda_cudnn_runs() - cudnn_runs);
    clpt_cuda_set_attn("mma");
    check_status("attention");

    const char *modes[] = {"fp32", "tf32", "bf16fast", "bf16"};
    for (int k = bf ? 3 : 0; k < 4; k++) {
        const char *mode = modes[k];
        CHECK(clpt_cuda_set_gemm(mode) == 0);
        printf("GEMM mode %s\n", mode);
        for (int lt = 1; lt >= 0; lt--) {
            clpt_cuda_set_lt(lt);
            test_matmul(mode, 37, 24, 72, 1, 0.0f);
            test_matmul(mode, 37, 24, 72, 1, 1.0f);
            test_matmul(mode, 33, 30, 17, 1, 1.0f); /* odd sizes: bias not 16-byte aligned */
            test_matmul(mode, 64, 768, 2304, 1, 0.0f);
            test_matmul(mode, 128, 768, 768, 1, 1.0f);
        }
        test_matmul(mode, 50, 64, 96, 0, 0.0f);
        test_matmul(mode, 50, 64, 96, 0, 1.0f);
        test_shadow_refresh(mode);
        clpt_cuda_set_lt(1); /* the fusion runs through cuBLASLt */
        for (int fused = 0; fused <= 1; fused++) {
            clpt_cuda_set_gelu_fusion(fused);
            test_matmul_gelu(mode, 37, 24, 72); /* rows that are not a multiple of anything */
            test_matmul_gelu(mode, 256, 768, 3072); /* GPT-2 small's fc */
            test_matmul_gelu(mode, 64, 40, 36); /* 36 is not a multiple of 8: the separate kernels */
        }
        clpt_cuda_set_gelu_fusion(0);
        /* training rows cached in shared memory (1), and read twice (0) */
        for (int cache = 1; cache >= 0; cache--) {
            clpt_cuda_set_xent_cache(cache);
            printf("classifier rows %s\n", cache ? "cached where they fit" : "read twice");
            long cached = clpt_cuda_xent_cached();
            test_classifier(mode, 37, 32, 1000, 0);
            test_classifier(mode, 37, 32, 1000, 1);
            /* rows of 4 KB fit any sm_80+ block: the training pass cached them (or not) */
            CHECK_MSG((clpt_cuda_xent_cached() > cached) == cache, "classifier cache %d: %ld cached passes",
                      cache, clpt_cuda_xent_cached() - cached);
            test_classifier(mode, 5, 16, 3, 1);
            test_classifier(mode, 37, 32, 1001, 1); /* a last float4 that is part padding */
            cached = clpt_cuda_xent_cached();
            test_classifier(mode, 300, 48, 50257, 1); /* GPT-2's vocabulary: 201 KB rows */
            /* which sm_90 and later hold in a block (227 KB), sm_80 not (163 KB) */
            int ccM = 0;
            clpt_cuda_device_info(NULL, 0, NULL, &ccM, NULL);
            if (cache && ccM >= 9)
                CHECK_MSG(clpt_cuda_xent_cached() > cached, "classifier: 201 KB rows not cached");
        }
        clpt_cuda_set_xent_cache(1);
        if (!strcmp(mode, "bf16")) { /* bf16 logits in training, over the bf16 GEMMs */
            CHECK(clpt_cuda_set_logits("bf16") == 0 && !strcmp(clpt_cuda_logits(), "bf16"));
            CHECK(clpt_cuda_set_logits("fp16") != 0);
            classifier_lbf = 1;
            for (int cache = 1; cache >= 0; cache--) {
                clpt_cuda_set_xent_cache(cache);
                printf("classifier with bf16 logits, rows %s\n", cache ? "cached" : "read twice");
                long cached = clpt_cuda_xent_cached(), runs = clpt_cuda_logits_bf16_runs();
                test_classifier(mode, 37, 32, 1000, 0); /* evaluation: fp32 logits all the same */
                CHECK_MSG(clpt_cuda_logits_bf16_runs() == runs, "evaluation took bf16 logits");
                test_classifier(mode, 37, 32, 1001, 1);
                CHECK_MSG((clpt_cuda_xent_cached() > cached) == cache, "bf16 logits: cache %d", cache);
                CHECK_MSG(clpt_cuda_logits_bf16_runs() > runs, "training did not take bf16 logits");
                test_classifier(mode, 5, 16, 3, 1);
                test_classifier(mode, 300, 48, 50257, 1); /* 101 KB rows: cached on sm_80 too */
            }
            clpt_cuda_set_xent_cache(1);
            /* two chunks of 350 bf16 rows of 400 KB in 256 MB */
            clpt_cuda_set_logits_chunk((size_t)256 << 20);
            test_classifier(mode, 700, 24, 200003, 1);
            clpt_cuda_set_logits_chunk(0);
            classifier_lbf = 0;
            clpt_cuda_set_xent_cache(1);
            CHECK(clpt_cuda_set_logits("fp32") == 0);
        }
        /* a chunk the device has no room for is halved: 1200 rows of 201 KB
         * logits (241 MB) in 200 MB to spare (scratch released first) run as
         * chunks of 600 or fewer rows */
        clpt_cuda_release_scratch();
        classifier_room = (size_t)200 << 20;
        test_classifier(mode, 1200, 16, 50257, 1);
        classifier_room = 0;
        printf("classifier in 200 MB to spare: %zu rows per chunk\n", clpt_cuda_logits_rows_fit());
        CHECK_MSG(clpt_cuda_logits_rows_fit() > 0 && clpt_cuda_logits_rows_fit() < 1200,
                  "classifier chunk not halved (%zu rows)", clpt_cuda_logits_rows_fit());
        check_status("classifier with little memory");
        clpt_cuda_set_logits_chunk(0);
        if (!strcmp(mode, "bf16")) {
            /* where the logits fit but not with their bf16 gradient G, both
             * are given back before the halved try: in 300 MB, 1200 rows
             * (L 241 MB, G 121 MB) run as two chunks of 600 (L 151 MB and G
             * 75 MB with scratch's margin); with the first L kept, every
             * halved G failed down to the 256-row floor, and the call with it */
            clpt_cuda_release_scratch();
            classifier_room = (size_t)300 << 20;
            test_classifier(mode, 1200, 16, 50257, 1);
            classifier_room = 0;
            printf("classifier in 300 MB to spare: %zu rows per chunk\n", clpt_cuda_logits_rows_fit());
            CHECK_MSG(clpt_cuda_logits_rows_fit() == 600, "classifier chunk of %zu rows, not 600",
                      clpt_cuda_logits_rows_fit());
            check_status("classifier with its logits but not their gradient in memory");
            clpt_cuda_set_logits_chunk(0);
        }
        /* with 512 MB chunks V = 200003 makes 670-row chunks: 700 rows take
         * two of 350 (rows of 800 KB, too large to cache) */
        clpt_cuda_set_logits_chunk((size_t)512 << 20);
        test_classifier(mode, 700, 24, 200003, 1);
        clpt_cuda_set_logits_chunk(0);
        check_status(mode);
    }
    clpt_cuda_set_gemm("bf16");
    clpt_cuda_set_lt(1);
}

int main(void)
{
    cpu = clpt_backend_cpu();
    gpu = clpt_backend_cuda();
    if (!gpu) SKIP_TEST("no GPU: %s", clpt_errmsg());
    char name[256];
    int sms, ccM, ccm;
    clpt_cuda_device_info(name, sizeof name, &sms, &ccM, &ccm);
    printf("device %s, %d SMs, compute %d.%d\n", name, sms, ccM, ccm);
    seed_rng();

    CHECK(clpt_cuda_set_activations("fp32") == 0);
    gpu = clpt_backend_cuda();
    CHECK(gpu->act_bytes == 4);
    test_memory();
    test_adamw(100003, 0);
    test_adamw(100000, 0);
    test_adamw(100000, 4);
    test_adamw(100000, 1);
    test_vector(1000003);
    check_status("memory and the vector ops");
    test_layer_ops();
    test_error_path();

    /* the same ops with activations stored in bf16 */
    CHECK(clpt_cuda_set_activations("bf16") == 0);
    cpu = clpt_backend_cpu_bf16();
    gpu = clpt_backend_cuda();
    CHECK(gpu->act_bytes == 2 && cpu->act_bytes == 2);
    test_memory();
    test_layer_ops();
    test_error_path();
    CHECK(clpt_cuda_set_activations("fp32") == 0);
    CHECK_DONE();
}

#else
#include "check.h"
int main(void)
{
    (void)check_failures;
    SKIP_TEST("built without CUDA");
}
#endif
