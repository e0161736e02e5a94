/* cuda_emu.h - CUDA kernels run on the CPU, for tests on machines without a
 * GPU. Compiled as plain C++17 (g++), with the CUDA toolkit's headers for
 * the bf16 type and the vector types.
 *
 * emu::launch(kernel, grid, block, smem, args...) runs every block of the
 * grid in turn (x fastest). In a block, each thread is a fiber with its
 * own stack (ucontext), and the fibers take turns on one OS thread: each
 * runs until it reaches a barrier or returns. emu::order sets who goes
 * first, so that a test can run its kernels under each and catch a result
 * that depends on which thread got there first (a missing barrier):
 *   0 (the default): threads in index order, and every warp that is ready
 *     passes its warp barrier at once, so the warps keep in step;
 *   1: threads in reverse order, and only the last ready warp passes, so
 *     each warp in turn, from the last, runs ahead to its next
 *     __syncthreads before the others move;
 *   2: threads shuffled anew between barriers, and one ready warp, chosen
 *     at random, passes at a time. The barriers are
 * __syncthreads(), __syncwarp() and each warp shuffle (a lane deposits its
 * value, waits for its warp, reads its partner's, and waits again).
 * __shared__ arrays become function statics, which the blocks share one
 * after another; CU_DYN_SHARED is one buffer, filled with 0xff bytes (NaN
 * as floats) before each block so that a read before a write shows.
 *
 * It fails the test (a message, exit 1), where a GPU would be undefined or
 * hang, when:
 *   - a shuffle or __syncwarp waits for a lane of its warp that has
 *     returned, or for lanes that wait at __syncthreads instead;
 *   - a shuffle reads a lane past the end of the block;
 *   - no fiber can go on (a __syncthreads that part of the block never
 *     reaches);
 *   - a block asks for more dynamic shared memory than the limit set
 *     (emu::smem_limit, 48 KB unless the test says otherwise).
 * mma.sync (m16n8k16, bf16 in, fp32 out) and ldmatrix (x4, plain and
 * transposed) are warp-wide exchanges of the same kind, in C++.
 * Not modelled: blocks running at the same time (so no races between
 * them), memory ordering, atomics (none of the kernels run here use them),
 * the device's math library (expf and the like, __expf too, are the
 * host's, within an ulp or two), the tensor cores' order of summation, and
 * speed. Code that needs lanes to run in step without a
 * barrier reads stale values here, as it may on a GPU since sm_70. */
#ifndef CLPT_TEST_CUDA_EMU_H
#define CLPT_TEST_CUDA_EMU_H

#include <cuda_bf16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <tuple>
#include <vector>

namespace emu {

enum { RUN, AT_BLOCK, AT_WARP, DONE };

struct fiber {
    ucontext_t ctx;
    uint3 tid;
    int lin; /* linear thread index in the block */
    int state;
};

struct state {
    dim3 grid, block;
    uint3 bidx;
    std::vector<fiber> fibers;
    std::vector<char *> stacks;
    std::vector<uint64_t> slot; /* SLOT_WORDS per thread: what a lane gives its warp */
    ucontext_t sched;
    fiber *cur = nullptr;
    std::function<void()> body;
    unsigned char *dyn = nullptr;
    size_t dyn_cap = 0, dyn_size = 0;
    long launches = 0, switches = 0;
};
inline state st;
/* the dynamic shared memory a block may have (bytes) */
inline size_t smem_limit = 48 << 10;
/* who goes first (above): 0 in index order, warps in step; 1 reversed,
 * the last warp ahead; 2 shuffled, a random warp ahead */
inline int order = 0;
inline uint64_t order_state = 0x9e3779b97f4a7c15ull;
enum { STACK_BYTES = 64 << 10, SLOT_WORDS = 8 };

[[noreturn]] inline void fail(const char *fmt, const char *what, int a = 0, int b = 0)
{
    fprintf(stderr, "cuda_emu: block (%u,%u,%u): ", st.bidx.x, st.bidx.y, st.bidx.z);
    fprintf(stderr, fmt, what, a, b);
    fputc('\n', stderr);
    exit(1);
}

/* the running fiber waits at a barrier of the given kind */
inline void wait(int kind)
{
    fiber *f = st.cur;
    f->state = kind;
    st.switches++;
    swapcontext(&f->ctx, &st.sched);
}

inline void entry()
{
    st.body();
    st.cur->state = DONE; /* uc_link goes back to the scheduler */
}

/* xorshift64, for order 2 */
inline uint64_t next_random()
{
    order_state ^= order_state << 13;
    order_state ^= order_state >> 7;
    order_state ^= order_state << 17;
    return order_state;
}

/* run one block to the end */
inline void run_block()
{
    int n = (int)(st.block.x * st.block.y * st.block.z);
    if ((int)st.fibers.size() < n) st.fibers.resize(n);
    while ((int)st.stacks.size() < n) {
        char *s = (char *)malloc(STACK_BYTES);
        if (!s) fail("%s", "out of memory for fiber stacks");
        st.stacks.push_back(s);
    }
    st.slot.assign((size_t)n * SLOT_WORDS, 0);
    if (st.dyn_size) memset(st.dyn, 0xff, st.dyn_size);
    for (int i = 0; i < n; i++) {
        fiber &f = st.fibers[i];
        f.lin = i;
        f.tid = make_uint3(i % st.block.x, i / st.block.x % st.block.y, i / (st.block.x * st.block.y));
        f.state = RUN;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = st.stacks[i];
        f.ctx.uc_stack.ss_size = STACK_BYTES;
        f.ctx.uc_link = &st.sched;
        makecontext(&f.ctx, entry, 0);
    }
    std::vector<int> turn(n);
    for (int i = 0; i < n; i++) turn[i] = order == 1 ? n - 1 - i : i;
    for (;;) {
        if (order == 2)
            for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
                int j = (int)(next_random() % (uint64_t)(i + 1)), t = turn[i];
                turn[i] = turn[j];
                turn[j] = t;
            }
        for (int k = 0; k < n; k++)
            if (int i = turn[k]; st.fibers[i].state == RUN) {
                st.cur = &st.fibers[i];
                st.switches++;
                swapcontext(&st.sched, &st.fibers[i].ctx);
            }
        st.cur = nullptr;
        int live = 0, at_block = 0;
        std::vector<int> ready; /* warps whose lanes all wait at a warp barrier */
        for (int w0 = 0; w0 < n; w0 += 32) {
            int w1 = w0 + 32 < n ? w0 + 32 : n, nw = 0, nd = 0, nb = 0;
            for (int i = w0; i < w1; i++) {
                int s = st.fibers[i].state;
                nw += s == AT_WARP;
                nd += s == DONE;
                nb += s == AT_BLOCK;
            }
            live += (w1 - w0) - nd;
            at_block += nb;
            if (!nw) continue;
            if (nd) fail("%s, warp %d: a shuffle or __syncwarp waits for %d lanes that have returned",
                         "divergence", w0 / 32, nd);
            if (nb) fail("%s, warp %d: lanes wait at a shuffle or __syncwarp while %d wait at __syncthreads",
                         "divergence", w0 / 32, nb);
            ready.push_back(w0);
        }
        if (!live) break;
        if (!ready.empty()) {
            /* order 0: every ready warp goes on, in step; 1: only the last one, so
             * that it runs ahead to its next __syncthreads before the others
             * move; 2: one chosen at random */
            size_t pick = order == 1 ? ready.size() - 1 : order == 2 ? next_random() % ready.size() : 0;
            for (size_t k = 0; k < ready.size(); k++) {
                if (order && k != pick) continue;
                int w0 = ready[k], w1 = w0 + 32 < n ? w0 + 32 : n;
                for (int i = w0; i < w1; i++) st.fibers[i].state = RUN;
            }
            continue;
        }
        if (at_block == live) {
            for (int i = 0; i < n; i++)
                if (st.fibers[i].state == AT_BLOCK) st.fibers[i].state = RUN;
            continue;
        }
        fail("%s: no thread can go on", "deadlock");
    }
}

/* a kernel over the grid, blocks in order; smem = dynamic shared memory */
template <typename... P, typename... Args>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, Args... args)
{
    if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024)
        fail("%s: %d threads per block", "bad launch", (int)(block.x * block.y * block.z));
    if (smem > smem_limit) fail("%s: %d bytes of dynamic shared memory, over the limit of %d",
                                "bad launch", (int)smem, (int)smem_limit);
    if (smem > st.dyn_cap) {
        free(st.dyn);
        st.dyn = (unsigned char *)aligned_alloc(16, (smem + 15) / 16 * 16);
        if (!st.dyn) fail("%s", "out of memory for shared memory");
        st.dyn_cap = smem;
    }
    st.dyn_size = smem;
    std::tuple<P...> a(static_cast<P>(args)...);
    st.body = [&]() { std::apply(kernel, a); };
    st.grid = grid;
    st.block = block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                st.bidx = make_uint3(x, y, z);
                run_block();
            }
    st.launches++;
}

/* a lane's slot, where it leaves what its warp reads */
inline void *slot(int lin) { return &st.slot[(size_t)lin * SLOT_WORDS]; }

template <typename T> T shfl(T v, int src_lane_of(int lane, int arg), int arg)
{
    static_assert(sizeof(T) <= SLOT_WORDS * sizeof(uint64_t), "a shuffle of at most a slot");
    fiber *f = st.cur;
    memcpy(slot(f->lin), &v, sizeof v);
    wait(AT_WARP);
    int lane = f->lin % 32, src = src_lane_of(lane, arg);
    T r = v;
    if (src >= 0) {
        int from = f->lin - lane + src;
        if (from >= (int)(st.slot.size() / SLOT_WORDS))
            fail("%s: lane %d reads lane %d, past the block", "shuffle", lane, src);
        memcpy(&r, slot(from), sizeof r);
    }
    wait(AT_WARP);
    return r;
}

/* ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: lanes 8m..8m+7 give the
 * row addresses of 8x8 matrix m; lane l receives, in r[m], the elements
 * (l/4, 2(l%4)) and (l/4, 2(l%4)+1) of matrix m, or of its transpose */
inline void ldmatrix_x4(uint32_t r[4], const void *p, bool trans)
{
    fiber *f = st.cur;
    memcpy(slot(f->lin), &p, sizeof p);
    wait(AT_WARP);
    int lane = f->lin % 32, base = f->lin - lane;
    for (int m = 0; m < 4; m++) {
        uint16_t h[2];
        for (int e = 0; e < 2; e++) {
            int row = trans ? 2 * (lane % 4) + e : lane / 4, col = trans ? lane / 4 : 2 * (lane % 4) + e;
            const uint16_t *rp;
            memcpy(&rp, slot(base + m * 8 + row), sizeof rp);
            h[e] = rp[col];
        }
        r[m] = h[0] | (uint32_t)h[1] << 16;
    }
    wait(AT_WARP);
}

/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, D = A B + C, with
 * the fragment layouts of the PTX ISA (g = lane/4, t = lane%4):
 *   A 16x16: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
 *   B 16x8:  b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)
 *   C, D 16x8: c0, c1 (g, 2t..2t+1), c2, c3 (g+8, 2t..2t+1)
 * The products of bf16 values are exact in fp32; each output adds its 16
 * in k order to c, in fp32 (the tensor cores' order and internal width
 * are unspecified, so this matches them to rounding only). */
inline void mma_m16n8k16_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    fiber *f = st.cur;
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b0, b1};
    memcpy(slot(f->lin), mine, sizeof mine);
    wait(AT_WARP);
    int lane = f->lin % 32, base = f->lin - lane;
    float A[16][16], B[16][8];
    auto half = [](uint32_t w, int e) {
        uint32_t bits = (e ? w >> 16 : w & 0xffffu) << 16;
        float x;
        memcpy(&x, &bits, sizeof x);
        return x;
    };
    for (int L = 0; L < 32; L++) {
        uint32_t fr[6];
        memcpy(fr, slot(base + L), sizeof fr);
        int g = L / 4, t = L % 4;
        for (int e = 0; e < 2; e++) {
            A[g][2 * t + e] = half(fr[0], e);
            A[g + 8][2 * t + e] = half(fr[1], e);
            A[g][2 * t + 8 + e] = half(fr[2], e);
            A[g + 8][2 * t + 8 + e] = half(fr[3], e);
            B[2 * t + e][g] = half(fr[4], e);
            B[2 * t + 8 + e][g] = half(fr[5], e);
        }
    }
    int g = lane / 4, t = lane % 4;
    for (int i = 0; i < 4; i++) {
        int row = i < 2 ? g : g + 8, col = 2 * t + (i & 1);
        float acc = c[i];
        for (int k = 0; k < 16; k++) acc += A[row][k] * B[k][col];
        c[i] = acc;
    }
    wait(AT_WARP);
}

inline int src_xor(int lane, int m) { return lane ^ m; }
inline int src_down(int lane, int d) { return lane + d < 32 ? lane + d : -1; }
inline int src_idx(int, int l) { return l & 31; }

} /* namespace emu */

/* what kernels see */
#define CLPT_CUDA_EMU 1
#define threadIdx (::emu::st.cur->tid)
#define blockIdx (::emu::st.bidx)
#define blockDim (::emu::st.block)
#define gridDim (::emu::st.grid)
#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)
#define CU_DYN_SHARED(T, name) T *name = (T *)::emu::st.dyn

inline void __syncthreads() { emu::wait(emu::AT_BLOCK); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::wait(emu::AT_WARP); }
template <typename T> T __shfl_xor_sync(unsigned, T v, int m, int = 32) { return emu::shfl(v, emu::src_xor, m); }
template <typename T> T __shfl_down_sync(unsigned, T v, unsigned d, int = 32)
{
    return emu::shfl(v, emu::src_down, (int)d);
}
template <typename T> T __shfl_sync(unsigned, T v, int l, int = 32) { return emu::shfl(v, emu::src_idx, l); }
static inline int min(int a, int b) { return a < b ? a : b; }
/* the device's fast exp (glibc declares an __expf of its own, not exported) */
#define __expf(x) expf(x)
static inline int max(int a, int b) { return a > b ? a : b; }

#endif
