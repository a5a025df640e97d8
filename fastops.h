/*
 * fastops.h: the speed layer. Each function computes what the gpt2.c op of
 * the same name without `_fast` computes, reorganised for the machine
 * (fastops.c says how and by how much). The default build's GPT2_FAST_OPS
 * table routes the model through them; `make REFERENCE=1` leaves this file
 * out. test/test_ops.c checks every one against its plain twin.
 */
#ifndef GPT2C_FASTOPS_H
#define GPT2C_FASTOPS_H

#include <stddef.h>

#include "gpt2.h" /* GPT2Ops */

/* fastops.c's functions in the table the model calls through (model->ops) */
extern const GPT2Ops GPT2_FAST_OPS;

void matmul_forward_fast(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                         int OC);
void matmul_backward_fast(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int B, int T, int C, int OC);
void attention_query_fast(float *out, float *att, const float *q, const float *k, const float *v, size_t kv_stride,
                          int n, int hs);
void attention_forward_fast(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
void attention_backward_fast(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                             int T, int C, int NH);
void gelu_forward_fast(float *out, const float *inp, size_t N);
void gelu_backward_fast(float *dinp, const float *inp, const float *dout, size_t N);
void crossentropy_forward_fast(float *losses, const float *logits, const int *targets, int B, int T, int V);
void crossentropy_backward_fast(float *dlogits, const int *targets, int B, int T, int V);
/* adamw_update (train.c), and grads left zero: the consumed gradient cleared in the same pass */
void adamw_update_fast(float *params, float *grads, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                       float eps, float weight_decay, int t);

#endif
