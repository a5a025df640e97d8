/*
 * kernels.h: the GPU twin of every layer op of gpt2.c.
 *
 * Each function has the CPU function's name with a _gpu suffix, the same
 * arguments in the same order, and the same gradient conventions (parameter
 * gradients and the residual gradient accumulate, other activation gradients
 * are written, crossentropy_backward works in place). All pointers are device
 * pointers. Where the GPU needs something the CPU does not (a workspace, the
 * token buckets of the encoder), it is an extra argument at the end.
 *
 * The matrix products of matmul and attention go through gemm.cu, computed
 * by the kernel set chosen with gpu_select_kernels (gpt2_gpu.h): its own
 * tiled kernel (readable) or cuBLAS (fast). Every other op is the same
 * kernel in both sets.
 *
 * Every launch goes to the default stream, so ops run in the order they are
 * called, and no op uses atomics (cuBLAS is told not to either): the same
 * inputs give the same bits.
 */
#ifndef GPT2C_KERNELS_H
#define GPT2C_KERNELS_H

#include <stddef.h>

/* ---- encoder.cu ---- */

/* Positions of a batch grouped by token, for the deterministic embedding
 * backward (encoder.cu explains why). For n = B*T positions:
 *   token[u]                          the u-th distinct token, u < num_tokens
 *   position[start[u] .. start[u+1])  the positions holding it, in increasing order
 * Built on the host (token_buckets_build) from the host copy of the inputs. */
typedef struct {
    int num_tokens;
    int *token;    /* (n) only the first num_tokens are used */
    int *start;    /* (n+1) */
    int *position; /* (n) */
} TokenBuckets;
/* Host arrays of n, n+1, n ints; returns num_tokens. */
int token_buckets_build(int *token, int *start, int *position, const int *inp, int n);

void encoder_forward_gpu(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C);
/* `buckets` holds device arrays built from the same inp. */
void encoder_backward_gpu(float *dwte, float *dwpe, const float *dout, const TokenBuckets *buckets, int B, int T,
                          int C);

/* ---- layernorm.cu ---- */

void layernorm_forward_gpu(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                           const float *bias, int B, int T, int C);
/* workspace: column_partials_size(B*T, 2*C) floats */
void layernorm_backward_gpu(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, const float *mean, const float *rstd, int B, int T, int C,
                            float *workspace);

/* ---- gemm.cu: the matrix product of matmul and attention, by the kernel set in use ---- */

/* How an operand is stored: A (M,K) as stored, or stored (K,M) and used
 * transposed; B (K,N), or stored (N,K). Every matrix is row-major. */
typedef enum { GEMM_AS_STORED, GEMM_TRANSPOSED } GemmLayout;
/* C (M,N) = scale * A @ B, or with accumulate C += A @ B (scale must be 1). */
void gemm_gpu(float *C, const float *A, GemmLayout a, const float *B, GemmLayout b, int M, int N, int K, float scale,
              int accumulate);
/* The same for `batch` products, the z-th on A + z*stride_a, B + z*stride_b, C + z*stride_c. */
void gemm_batched_gpu(float *C, const float *A, GemmLayout a, const float *B, GemmLayout b, int M, int N, int K,
                      float scale, int accumulate, int batch, size_t stride_a, size_t stride_b, size_t stride_c);

/* ---- matmul.cu ---- */

void matmul_forward_gpu(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                        int OC);
/* workspace: column_partials_size(B*T, OC) floats (unused when dbias is NULL) */
void matmul_backward_gpu(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int B, int T, int C, int OC, float *workspace);

/* ---- attention.cu ---- */

/* workspace (both): attention_workspace_size(B, T, C, NH) floats */
size_t attention_workspace_size(int B, int T, int C, int NH);
void attention_forward_gpu(float *out, float *att, const float *qkv, int B, int T, int C, int NH, float *workspace);
void attention_backward_gpu(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                            int T, int C, int NH, float *workspace);

/* ---- gelu.cu, residual.cu ---- */

void gelu_forward_gpu(float *out, const float *inp, size_t N);
void gelu_backward_gpu(float *dinp, const float *inp, const float *dout, size_t N);
void residual_forward_gpu(float *out, const float *inp1, const float *inp2, size_t N);
void residual_backward_gpu(float *dinp1, float *dinp2, const float *dout, size_t N);

/* ---- crossentropy.cu ---- */

void crossentropy_forward_gpu(float *losses, const float *logits, const int *targets, int B, int T, int V);
void crossentropy_backward_gpu(float *dlogits, const int *targets, int B, int T, int V);

/* ---- adamw.cu: train.c's adamw_update, and the two helpers of clipping ---- */

void adamw_update_gpu(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, int t);
/* sum of x[i]^2 over n entries, in double, in a fixed order;
 * workspace: GRAD_NORM_BLOCKS doubles */
#define GRAD_NORM_BLOCKS 1024
double sum_of_squares_gpu(const float *x, size_t n, double *workspace);
/* x[i] *= s */
void scale_gpu(float *x, float s, size_t n);

/* ---- reduce.cu: deterministic column sums, shared by matmul and layernorm ---- */

/* Sums over the rows of a (rows, cols) matrix are done in two passes: chunks of
 * COLUMN_CHUNK rows give partial sums (num_chunks, cols), then one thread per
 * column adds the partials in chunk order. */
#define COLUMN_CHUNK 256
size_t column_partials_size(size_t rows, size_t cols);
/* dst[c] += sum_k partials[k * cols + c] for k = 0 .. num_chunks-1, in order */
void column_partials_finish(float *dst, const float *partials, int num_chunks, int cols);

/* ---- timing.cu: the per-op profile; gpt2_gpu.cu's OP brackets each op call with these ---- */

/* call: the call's source text (its function names the op); label: which call of it */
void profile_op_begin(const char *call, const char *label);
void profile_op_end(void);

#endif
