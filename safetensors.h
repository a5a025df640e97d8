/*
 * safetensors.h: Hugging Face's safetensors format, read and written.
 *
 * A file is: a u64 little-endian N, N bytes of JSON (the header), then the
 * data section. The header maps each tensor name to its dtype, its shape and
 * its [begin, end) byte range within the data section, plus an optional
 * "__metadata__" object of strings; it may end in spaces (writers pad it so
 * the data starts at a multiple of 8). Data is little-endian and row-major.
 *
 * Reading checks everything the header claims before any data is read (every
 * range inside the data section, its length equal to dtype size x shape, no
 * two ranges overlapping), then reads one tensor at a time with fseeko, so a
 * 6 GB file needs only one tensor in memory. Writing declares every tensor
 * first (the header gives each its place), then takes their values in that
 * order, as floats narrowed to the file's dtype, and commits the file
 * atomically. Errors are one line naming the file (die(), exit 1).
 *
 * The format is tensor-agnostic; which names and shapes make a GPT-2 is
 * hf_gpt2.h's business. See notes.md, "Importing Hugging Face weights".
 */
#ifndef GPT2C_SAFETENSORS_H
#define GPT2C_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

#define SAFETENSORS_MAX_DIMS 8

/* Every dtype the format defines, so that any well-formed file can be
 * checked (mask buffers may be BOOL or U8); only the first three can hold
 * weights we read or write. */
enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U64, ST_U32, ST_U16, ST_U8, ST_BOOL,
       ST_F8_E4M3, ST_F8_E5M2, ST_NUM_DTYPES };
extern const char *const SAFETENSORS_DTYPE_NAMES[ST_NUM_DTYPES];
extern const int SAFETENSORS_DTYPE_SIZES[ST_NUM_DTYPES]; /* bytes per element */

/* One entry of the header. */
typedef struct {
    char *name;
    int dtype; /* ST_* */
    int ndim;
    uint64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t begin, end; /* byte range within the data section */
    size_t numel;
    int used; /* for the reader's caller: claimed by a conversion */
    size_t header_pos; /* where its name is in the header, for messages */
} SafeTensor;

/* An open file: its header, and the stream the data is read from. */
typedef struct {
    char *path; /* a copy of the name it was opened by */
    FILE *f;
    SafeTensor *tensors;
    int count, cap;
    uint64_t data_start; /* file offset of the data section: 8 + N */
    uint64_t data_size;
} SafeTensors;

/* Opens path and reads and checks its header; dies naming the problem. */
void safetensors_open(SafeTensors *st, const char *path);
void safetensors_close(SafeTensors *st);
/* The tensor called exactly `name`, or NULL. */
SafeTensor *safetensors_find(const SafeTensors *st, const char *name);

/* "(3, 4)": in a static buffer, overwritten by the next call. */
const char *safetensors_shape_string(const uint64_t *shape, int ndim);

/* Buffers reused from tensor to tensor, grown to the largest; zero-initialise. */
typedef struct {
    unsigned char *raw;
    float *values;
    size_t cap; /* elements */
} SafetensorsScratch;
void safetensors_scratch_free(SafetensorsScratch *s);

/* Tensor t (F32, F16 or BF16) as floats, in its own row-major layout, in
 * s->values; valid until the next read with s. Widening is exact. */
const float *safetensors_read_floats(const SafeTensors *st, const SafeTensor *t, SafetensorsScratch *s);

/* Writing. The caller fills name, ndim and shape of each tensor; begin writes
 * the header (metadata {"format": "pt"}, the tensors in array order, all of
 * `dtype`: ST_F32, ST_F16 or ST_BF16), then each write_tensor takes the next
 * tensor's numel values, and end commits the file. */
typedef struct {
    AtomicFile af;
    int dtype;
    SafeTensor *tensors;
    int count, next;
    unsigned char *buf; /* one tensor narrowed to dtype */
    size_t cap;
} SafetensorsWriter;
void safetensors_write_begin(SafetensorsWriter *w, const char *path, int dtype, SafeTensor *tensors, int count);
void safetensors_write_tensor(SafetensorsWriter *w, const float *values);
void safetensors_write_end(SafetensorsWriter *w);

/* The conversions, exposed for the tests. Widening is exact; narrowing rounds
 * to nearest, ties to even (what PyTorch's .half() and .bfloat16() do),
 * overflows to infinity, and keeps NaN a NaN. */
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);
uint16_t float_to_half(float f);
uint16_t float_to_bf16(float f);

#endif
