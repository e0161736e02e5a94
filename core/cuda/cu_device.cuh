/* cu_device.cuh - the device helpers every kernel file shares, and
 * nothing of the backend's state: the bf16 type, a warp's sum, loads and
 * stores of activations (fp32 or bf16) as floats, 16 bytes at a time or
 * one element, and dynamic shared memory. Kept apart from cuda_common.cuh
 * so that the kernel headers (layernorm.cuh, colsum.cuh, xent.cuh) build
 * without cuBLAS or the backend: bench/ln_micro.cu, and
 * tests/test_kernels_emu.cpp, which runs them on the CPU through
 * tests/cuda_emu.h. */
#ifndef CLPT_CU_DEVICE_CUH
#define CLPT_CU_DEVICE_CUH

#include <cuda_bf16.h>

typedef __nv_bfloat16 bf16;

/* a kernel's dynamic shared memory, 16-byte aligned: T name[] (tests/cuda_emu.h
 * defines it first, as a buffer of its own) */
#ifndef CU_DYN_SHARED
#define CU_DYN_SHARED(T, name) extern __shared__ __align__(16) T name[]
#endif

/* sum over the 32 lanes of a warp; every lane gets the same value because
 * each butterfly step adds the same two numbers in either order */
static __device__ __forceinline__ float cu_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float cu_ld(float x) { return x; }
static __device__ __forceinline__ float cu_ld(bf16 x) { return __bfloat162float(x); }
template <typename T> static __device__ __forceinline__ T cu_st(float x);
template <> __device__ __forceinline__ float cu_st<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 cu_st<bf16>(float x) { return __float2bfloat16_rn(x); }

/* 16 bytes of T (CU_VEC<T> elements) to and from floats; p 16-byte aligned */
template <typename T> struct cu_vec { enum { N = 16 / sizeof(T) }; };
template <typename T>
static __device__ __forceinline__ void cu_load16(float *f, const T *p)
{
    int4 raw = *(const int4 *)p;
    const T *e = (const T *)&raw;
#pragma unroll
    for (int i = 0; i < cu_vec<T>::N; i++) f[i] = cu_ld(e[i]);
}
template <typename T>
static __device__ __forceinline__ void cu_store16(T *p, const float *f)
{
    int4 raw;
    T *e = (T *)&raw;
#pragma unroll
    for (int i = 0; i < cu_vec<T>::N; i++) e[i] = cu_st<T>(f[i]);
    *(int4 *)p = raw;
}

#endif
