/* attention_cudnn.cpp - causal attention through cuDNN's fused scaled
 * dot-product attention (the cuDNN frontend's sdpa / sdpa_backward graphs),
 * on bf16 activations, for attention "cudnn". Built only with CLPT_WITH_CUDNN
 * (CMakeLists.txt); cuDNN itself is loaded at run time with dlopen, so a
 * machine without it still runs clpt, with the other kernels.
 *
 * The graphs read q, k and v where they lie inside qkv (B,T,3C): head h of
 * q is a [B][NH][T][64] view with strides (3CT, 64, 3C, 1), k and v the same
 * at C and 2C further. out (B,T,C) and dqkv (B,T,3C) are written through
 * the same kind of view. cuDNN's softmax statistic ("Stats") is the natural
 * log-sum-exp of the scaled scores, exactly backend.h's lse (B,NH,T), so
 * forward and backward interoperate with the other kernels' lse. Backward
 * asks for cuDNN's deterministic algorithm.
 *
 * One graph per (B, T, NH, head size, direction), built on first use and
 * kept; a graph cuDNN cannot plan for marks that shape unsupported, and the
 * caller falls back to the mma kernels. Plain C++ (the frontend is large
 * and host-only), so it sees the backend through cuda_host.h only. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <string>
#include <memory>
#include <tuple>
#include <unordered_map>

#include <cudnn_frontend.h>

extern "C" {
#include "clpt.h"
}
#include "../cuda_host.h"

namespace fe = cudnn_frontend;

/* the frontend's handle on libcudnn (NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING) */
namespace cudnn_frontend {
void *cudnn_dlhandle = nullptr;
}

enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_DO, UID_DQ, UID_DK, UID_DV };

static struct {
    int tried, ok;        /* library loaded and a handle made */
    long runs;            /* graphs executed */
    char why[512];        /* why not, said once */
    cudnnHandle_t handle;
} dnn;

typedef std::tuple<int, int, int, int, int> graph_key; /* B, T, NH, HS, backward */
struct graph_entry {
    std::shared_ptr<fe::graph::Graph> graph; /* NULL: cuDNN has no plan for it */
    int64_t workspace;
};
static std::map<graph_key, graph_entry> graphs;

static int load(void)
{
    if (dnn.tried) return dnn.ok;
    dnn.tried = 1;
    if (!cu_stream()) { /* the backend is not initialised: its stream is what cuDNN must use */
        snprintf(dnn.why, sizeof dnn.why, "the cuda backend is not initialised");
        dnn.tried = 0;
        return 0;
    }
    const char *env = getenv("CLPT_CUDNN_LIB");
    const char *name = env && *env ? env : "libcudnn.so.9";
    fe::cudnn_dlhandle = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
    if (!fe::cudnn_dlhandle) {
        const char *e = dlerror();
        snprintf(dnn.why, sizeof dnn.why, "cannot load %s (%s); set CLPT_CUDNN_LIB or LD_LIBRARY_PATH", name,
                 e ? e : "not found");
        return 0;
    }
    /* the frontend loads a CUDA runtime of its own for a few calls: the one
     * clpt runs on, not another major version found first */
    char cudart[32];
    snprintf(cudart, sizeof cudart, "libcudart.so.%d", CUDART_VERSION / 1000);
    setenv("CUDNN_FRONTEND_CUDART_LIB_NAME", cudart, 0);
    try {
        if (fe::detail::create_handle(&dnn.handle) != CUDNN_STATUS_SUCCESS) {
            snprintf(dnn.why, sizeof dnn.why, "cudnnCreate failed");
            return 0;
        }
    } catch (const std::exception &e) {
        snprintf(dnn.why, sizeof dnn.why, "%s", e.what());
        return 0;
    }
    dnn.ok = 1;
    return 1;
}

extern "C" long clpt_cuda_cudnn_runs(void) { return dnn.runs; }

extern "C" int clpt_cuda_cudnn_available(char *why, size_t cap)
{
    int ok = load();
    if (why && cap) snprintf(why, cap, "%s", ok ? "" : dnn.why);
    return ok;
}

/* [B][NH][T][HS] views into a (B,T,width) row-major bf16 buffer, starting at
 * the column of head 0 */
static std::shared_ptr<fe::graph::Tensor_attributes> view(fe::graph::Graph &g, const char *name, int64_t uid, int B,
                                                           int T, int NH, int HS, int64_t width)
{
    return g.tensor(fe::graph::Tensor_attributes()
                        .set_name(name)
                        .set_uid(uid)
                        .set_dim({B, NH, T, HS})
                        .set_stride({T * width, HS, width, 1})
                        .set_data_type(fe::DataType_t::BFLOAT16));
}

static void set_view(fe::graph::Tensor_attributes &t, const char *name, int64_t uid, int B, int T, int NH, int HS,
                     int64_t width)
{
    t.set_output(true)
        .set_name(name)
        .set_uid(uid)
        .set_dim({B, NH, T, HS})
        .set_stride({T * width, HS, width, 1})
        .set_data_type(fe::DataType_t::BFLOAT16);
}

static void stats_layout(fe::graph::Tensor_attributes &t, int B, int T, int NH)
{
    t.set_name("stats").set_uid(UID_STATS).set_dim({B, NH, T, 1}).set_stride({(int64_t)NH * T, T, 1, 1}).set_data_type(
        fe::DataType_t::FLOAT);
}

/* the graph for a shape and direction, built and planned on first use;
 * NULL (with dnn.why set) when cuDNN has no plan for it */
static graph_entry *get_graph(int B, int T, int NH, int HS, int backward)
{
    graph_key key(B, T, NH, HS, backward);
    auto it = graphs.find(key);
    if (it != graphs.end()) return it->second.graph ? &it->second : NULL;
    graph_entry e;
    e.workspace = 0;
    auto g = std::make_shared<fe::graph::Graph>();
    int64_t C = (int64_t)NH * HS;
    float scale = 1.0f / sqrtf((float)HS);
    std::string msg;
    /* true if e is good, else its message kept */
    auto good = [&msg](fe::error_t e) {
        if (e.is_good()) return true;
        msg = e.get_message();
        return false;
    };
    bool ok = false;
    try {
        g->set_io_data_type(fe::DataType_t::BFLOAT16)
            .set_intermediate_data_type(fe::DataType_t::FLOAT)
            .set_compute_data_type(fe::DataType_t::FLOAT);
        auto Q = view(*g, "q", UID_Q, B, T, NH, HS, 3 * C), K = view(*g, "k", UID_K, B, T, NH, HS, 3 * C),
             V = view(*g, "v", UID_V, B, T, NH, HS, 3 * C);
        if (!backward) {
            auto opt = fe::graph::SDPA_attributes()
                           .set_name("attention")
                           .set_generate_stats(true)
                           .set_causal_mask(true)
                           .set_attn_scale(scale);
            auto [O, stats] = g->sdpa(Q, K, V, opt);
            set_view(*O, "o", UID_O, B, T, NH, HS, C);
            stats->set_output(true);
            stats_layout(*stats, B, T, NH);
        } else {
            auto O = view(*g, "o", UID_O, B, T, NH, HS, C), dO = view(*g, "do", UID_DO, B, T, NH, HS, C);
            auto stats = g->tensor(fe::graph::Tensor_attributes());
            stats_layout(*stats, B, T, NH);
            auto opt = fe::graph::SDPA_backward_attributes()
                           .set_name("attention_backward")
                           .set_causal_mask(true)
                           .set_attn_scale(scale)
                           .set_deterministic_algorithm(true);
            auto [dQ, dK, dV] = g->sdpa_backward(Q, K, V, O, dO, stats, opt);
            set_view(*dQ, "dq", UID_DQ, B, T, NH, HS, 3 * C);
            set_view(*dK, "dk", UID_DK, B, T, NH, HS, 3 * C);
            set_view(*dV, "dv", UID_DV, B, T, NH, HS, 3 * C);
        }
        ok = good(g->validate()) && good(g->build_operation_graph(dnn.handle)) &&
             good(g->create_execution_plans({fe::HeurMode_t::A})) && good(g->check_support(dnn.handle)) &&
             good(g->build_plans(dnn.handle)) && good(g->get_workspace_size(e.workspace));
    } catch (const std::exception &ex) {
        msg = ex.what();
        ok = false;
    }
    /* the deterministic backward can want a workspace of B NH T^2 bf16; a
     * plan whose workspace would not leave room for the rest is no plan */
    size_t dev_free = 0, dev_total = 0;
    if (ok && e.workspace > 0 && cudaMemGetInfo(&dev_free, &dev_total) == cudaSuccess &&
        (size_t)e.workspace > dev_free / 2) {
        msg = "its workspace (" + std::to_string(e.workspace >> 20) + " MB) exceeds half the free device memory";
        ok = false;
    }
    cudaGetLastError();
    if (!ok) {
        snprintf(dnn.why, sizeof dnn.why, "no cuDNN %s plan for B=%d T=%d NH=%d head size %d: %s",
                 backward ? "backward" : "forward", B, T, NH, HS, msg.c_str());
        graphs[key] = graph_entry{nullptr, 0};
        return NULL;
    }
    e.graph = g;
    graphs[key] = e;
    return &graphs[key];
}

static void say_fallback(void)
{
    static char said[512];
    if (cu_attn_chosen() && strcmp(said, dnn.why)) { /* each distinct reason once */
        snprintf(said, sizeof said, "%s", dnn.why);
        fprintf(stderr, "clpt: cuda: cudnn attention unavailable (%s); using mma\n", dnn.why);
    }
}

static int run(graph_entry *e, std::unordered_map<int64_t, void *> &pack, const char *what)
{
    void *ws = NULL;
    if (e->workspace > 0 && !(ws = cu_scratch_try(CU_SLOT_CUDNN, (size_t)e->workspace))) {
        /* mma needs no workspace: it runs instead */
        snprintf(dnn.why, sizeof dnn.why, "no device memory for the %s's %.0f MB workspace", what,
                 e->workspace / 1e6);
        say_fallback();
        return 1;
    }
    std::string msg;
    try {
        /* bound anew each time, as cheap as it is safe */
        if (fe::detail::set_stream(dnn.handle, cu_stream()) != CUDNN_STATUS_SUCCESS)
            return cu_fail(CLPT_EIO, "cudnn %s: cudnnSetStream failed", what);
        fe::error_t st = e->graph->execute(dnn.handle, pack, ws);
        if (!st.is_good()) msg = st.get_message();
    } catch (const std::exception &ex) {
        msg = ex.what();
    }
    if (!msg.empty()) return cu_fail(CLPT_EIO, "cudnn %s: %s", what, msg.c_str());
    dnn.runs++;
    return cu_check_rt(cudaGetLastError(), what, __FILE__, __LINE__);
}

/* bf16 elements: 2 bytes */
static void *at(const void *p, int64_t elems) { return (char *)p + 2 * elems; }

/* cuDNN reads lse in 16-byte pieces; the model's is aligned, a caller's may not be */
static int lse_unaligned(const float *lse)
{
    if ((uintptr_t)lse % 16 == 0) return 0;
    snprintf(dnn.why, sizeof dnn.why, "lse is not 16-byte aligned");
    return 1;
}

int cu_cudnn_attention_forward(void *out, float *lse, const void *qkv, int B, int T, int C, int NH)
{
    graph_entry *e = load() && !lse_unaligned(lse) ? get_graph(B, T, NH, C / NH, 0) : NULL;
    if (!e) {
        say_fallback();
        return 1;
    }
    std::unordered_map<int64_t, void *> pack = {
        {UID_Q, at(qkv, 0)}, {UID_K, at(qkv, C)}, {UID_V, at(qkv, 2 * C)}, {UID_O, out}, {UID_STATS, lse}};
    return run(e, pack, "attention forward");
}

int cu_cudnn_attention_backward(void *dqkv, const void *dout, const void *qkv, const void *out, const float *lse,
                                int B, int T, int C, int NH)
{
    graph_entry *e = load() && !lse_unaligned(lse) ? get_graph(B, T, NH, C / NH, 1) : NULL;
    if (!e) {
        say_fallback();
        return 1;
    }
    std::unordered_map<int64_t, void *> pack = {
        {UID_Q, at(qkv, 0)},   {UID_K, at(qkv, C)},   {UID_V, at(qkv, 2 * C)},
        {UID_O, at(out, 0)},   {UID_DO, at(dout, 0)}, {UID_STATS, (void *)lse},
        {UID_DQ, at(dqkv, 0)}, {UID_DK, at(dqkv, C)}, {UID_DV, at(dqkv, 2 * C)}};
    return run(e, pack, "attention backward");
}
