/*
 * cuda_emu.cpp: the CUDA emulator's runtime (see cuda_runtime.h here for what
 * it is for and what it checks). Three parts:
 *
 *   fibers     each CUDA thread of a block gets a stack of its own; a thread
 *              that reaches a barrier switches back to the scheduler, which
 *              resumes the others. On x86-64 the switch is six pushes, a
 *              stack-pointer swap and six pops (emu_switch below); elsewhere
 *              it is POSIX swapcontext, slower but the same semantics.
 *   scheduler  launch(): for every block, resume a ready thread picked at
 *              random (from a random warp, or in half the blocks from the
 *              first ready warp of a random ranking, so one warp runs far
 *              ahead); release a barrier once every live thread it concerns
 *              has arrived; repeat until no thread is ready. Threads still
 *              waiting then would hang on a GPU: that is reported as a
 *              deadlock.
 *   memory     cudaMalloc maps the allocation so that it ends exactly where a
 *              guard page begins, and keeps it inaccessible except during
 *              kernels, copies and memsets; a SIGSEGV handler turns a fault
 *              into one line naming the kernel, block and thread.
 */
#include "cuda_runtime.h"

#include <map>
#include <numeric>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

extern "C" {
#include "../../common.h"
}

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace {

/* ---------------------------------------------------------------- fibers */

const size_t STACK_BYTES = 64 * 1024;
const int MAX_THREADS = 1024;
const int WARP_SIZE = 32;

long page_size(void) { return sysconf(_SC_PAGESIZE); }

enum FiberState { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, DONE };

struct Fiber {
    char *stack; /* STACK_BYTES above a guard page */
    FiberState state;
    uint3 index; /* threadIdx */
    unsigned char slot[16]; /* a warp shuffle's value on offer */
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t context;
#endif
};

struct Launch {
    const char *name;
    void (*body)(void *);
    void *ctx;
    int nthreads, nwarps;
    int current; /* the running fiber, -1 in the scheduler */
    int live, at_block_barrier;
    int live_in_warp[MAX_THREADS / WARP_SIZE], at_warp_barrier[MAX_THREADS / WARP_SIZE];
    int ready[MAX_THREADS / WARP_SIZE][WARP_SIZE], nready[MAX_THREADS / WARP_SIZE]; /* per warp: who may run now */
    int rank[MAX_THREADS / WARP_SIZE]; /* the warps in a random order */
#if defined(__x86_64__)
    void *scheduler_sp;
#else
    ucontext_t scheduler;
#endif
};

Fiber fibers[MAX_THREADS];
/* every __shared__ variable of the program lies between these (cuda_runtime.h) */
extern "C" char __start_emu_shared[] __attribute__((weak)), __stop_emu_shared[] __attribute__((weak));
Launch *running; /* the launch in progress, NULL between kernels */

/* one past the last thread of warp w (the last warp may be partial) */
int warp_end(const Launch *l, int w) { return (w + 1) * WARP_SIZE < l->nthreads ? (w + 1) * WARP_SIZE : l->nthreads; }

/* Who is running: "kernel K, block (x,y,z), thread (x,y,z)", or `outside`. */
void describe_running(char *buf, size_t size, const char *outside) {
    if (!running || running->current < 0) {
        snprintf(buf, size, "%s", outside);
        return;
    }
    uint3 t = fibers[running->current].index;
    snprintf(buf, size, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", running->name, blockIdx.x, blockIdx.y,
             blockIdx.z, t.x, t.y, t.z);
}

[[noreturn]] void fail_in_kernel(const char *fmt, ...) {
    char msg[512], where[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    describe_running(where, sizeof where, "outside a kernel");
    die("CUDA emulator: %s: %s", where, msg);
}

#if defined(__x86_64__)
/* emu_switch(&save_sp, next_sp): save the callee-saved registers on this
 * stack, store the stack pointer, load the other fiber's, restore its
 * registers, and return into it. */
extern "C" void emu_switch(void **save_sp, void *next_sp);
asm(".text\n"
    ".p2align 4\n"
    ".type emu_switch,@function\n"
    "emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size emu_switch, .-emu_switch\n");
#endif

void to_scheduler(void) {
    Fiber *f = &fibers[running->current];
#if defined(__x86_64__)
    emu_switch(&f->sp, running->scheduler_sp);
#else
    swapcontext(&f->context, &running->scheduler);
#endif
}

/* Where every fiber starts: run the kernel body, then never come back. */
void fiber_main(void) {
    running->body(running->ctx);
    int t = running->current;
    fibers[t].state = DONE;
    running->live--;
    running->live_in_warp[t / WARP_SIZE]--;
    to_scheduler();
    abort(); /* a finished fiber is never resumed */
}

/* Point the fiber at the start of fiber_main with an empty stack. */
void fiber_reset(Fiber *f) {
#if defined(__x86_64__)
    /* The frame emu_switch pops: six zeroed registers, then fiber_main as the
     * return address, then a null "caller" so fiber_main starts with the
     * stack aligned as after a call (rsp = 8 mod 16). */
    void **sp = (void **)(f->stack + STACK_BYTES);
    *--sp = NULL;
    *--sp = (void *)fiber_main;
    for (int i = 0; i < 6; i++) *--sp = NULL;
    f->sp = sp;
#else
    if (getcontext(&f->context) != 0) die("CUDA emulator: getcontext failed");
    f->context.uc_stack.ss_sp = f->stack;
    f->context.uc_stack.ss_size = STACK_BYTES;
    f->context.uc_link = NULL;
    makecontext(&f->context, fiber_main, 0);
#endif
}

void fiber_resume(Launch *l, int t) {
    l->current = t;
    threadIdx = fibers[t].index;
#if defined(__x86_64__)
    emu_switch(&l->scheduler_sp, fibers[t].sp);
#else
    swapcontext(&l->scheduler, &fibers[t].context);
#endif
    l->current = -1;
}

char *stack_alloc(void) {
    long page = page_size();
    char *map = (char *)mmap(NULL, STACK_BYTES + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) die("CUDA emulator: cannot map a thread stack");
    if (mprotect(map, page, PROT_NONE) != 0) die("CUDA emulator: cannot protect a stack guard page");
    return map + page;
}

/* ---------------------------------------------------------------- memory */

struct Allocation {
    char *map;        /* the mapping: data pages, then one guard page */
    size_t map_bytes; /* including the guard page */
    char *base;       /* what cudaMalloc returned: the last `bytes` bytes before the guard */
    size_t bytes;
};
std::map<uintptr_t, Allocation> allocations; /* by base address */
cudaError_t last_error = cudaSuccess;

size_t data_bytes(const Allocation &a) { return a.map_bytes - (size_t)page_size(); }

/* The allocation whose mapping holds p (guard page included), or NULL. */
const Allocation *allocation_holding(const void *p) {
    uintptr_t u = (uintptr_t)p;
    for (auto &kv : allocations) {
        const Allocation &a = kv.second;
        if (u >= (uintptr_t)a.map && u < (uintptr_t)a.map + a.map_bytes) return &a;
    }
    return NULL;
}

void set_access(const Allocation &a, bool open) {
    if (mprotect(a.map, data_bytes(a), open ? PROT_READ | PROT_WRITE : PROT_NONE) != 0)
        die("CUDA emulator: mprotect failed");
}
void set_access_all(bool open) {
    for (auto &kv : allocations) set_access(kv.second, open);
}

/* The signal handler's message: one line, then exit 1 (as die() would). */
void segv_handler(int sig, siginfo_t *info, void *uctx) {
    (void)sig, (void)uctx;
    char msg[512], where[200];
    const char *addr = (const char *)info->si_addr;
    describe_running(where, sizeof where, "host code");
    const Allocation *a = allocation_holding(addr);
    if (a && addr >= a->base + a->bytes)
        snprintf(msg, sizeof msg, "%s: access %zu bytes past the end of a %zu-byte device allocation", where,
                 (size_t)(addr - (a->base + a->bytes)), a->bytes);
    else if (a && addr < a->base)
        snprintf(msg, sizeof msg, "%s: access %zu bytes before the start of a %zu-byte device allocation", where,
                 (size_t)(a->base - addr), a->bytes);
    else if (a)
        snprintf(msg, sizeof msg, "%s: touched device memory (byte %zu of a %zu-byte allocation) outside a kernel "
                 "or cudaMemcpy", where, (size_t)(addr - a->base), a->bytes);
    else if (running && running->current >= 0)
        snprintf(msg, sizeof msg, "%s: invalid memory access at %p (host memory, or its stack overflowed)", where,
                 (const void *)addr);
    else {
        signal(SIGSEGV, SIG_DFL); /* not ours: fault again, the normal way */
        return;
    }
    char line[600];
    int n = snprintf(line, sizeof line, "gpt2c: CUDA emulator: %s\n", msg);
    if (write(2, line, (size_t)n) < 0) _exit(1);
    _exit(1);
}

void install_segv_handler(void) {
    static bool done = false;
    if (done) return;
    done = true;
    static char alt_stack[64 * 1024];
    stack_t ss = {};
    ss.ss_sp = alt_stack;
    ss.ss_size = sizeof alt_stack;
    struct sigaction sa = {};
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGSEGV, &sa, NULL) != 0)
        die("CUDA emulator: cannot install the fault handler");
}

/* The allocation in which [p, p + bytes) lies entirely, or NULL. */
const Allocation *allocation_spanning(const void *p, size_t bytes) {
    auto it = allocations.upper_bound((uintptr_t)p);
    if (it == allocations.begin()) return NULL;
    --it;
    const Allocation &a = it->second;
    uintptr_t u = (uintptr_t)p, b = (uintptr_t)a.base;
    return u >= b && u - b <= a.bytes && bytes <= a.bytes - (u - b) ? &a : NULL;
}

/* ---------------------------------------------------------------- scheduler */

/* xorshift64*, fixed seed: the emulator's schedules are the same every run */
uint64_t shuffle_state = 0x2545F4914F6CDD1Dull;
/* a random number in [0, n), n >= 1 */
uint64_t shuffle_next(uint64_t n) {
    shuffle_state ^= shuffle_state >> 12;
    shuffle_state ^= shuffle_state << 25;
    shuffle_state ^= shuffle_state >> 27;
    return ((shuffle_state * 2685821657736338717ull) >> 11) % n;
}

/* The calling thread waits at a barrier of the given kind. */
void wait_at(FiberState kind) {
    Launch *l = running;
    int t = l->current;
    fibers[t].state = kind;
    if (kind == AT_BLOCK_BARRIER) l->at_block_barrier++;
    else l->at_warp_barrier[t / WARP_SIZE]++;
    to_scheduler();
}

/* Threads first..end-1 waiting at `kind` may go on. */
void release(Launch *l, FiberState kind, int first, int end) {
    for (int t = first; t < end; t++)
        if (fibers[t].state == kind) {
            fibers[t].state = RUNNABLE;
            int w = t / WARP_SIZE;
            l->ready[w][l->nready[w]++] = t;
        }
}

/* After thread t has stopped (at a barrier, or done): release its warp's
 * barrier and the block's if every live thread they concern has arrived. */
void release_barriers(Launch *l, int t) {
    int w = t / WARP_SIZE;
    if (l->at_warp_barrier[w] > 0 && l->at_warp_barrier[w] == l->live_in_warp[w]) {
        l->at_warp_barrier[w] = 0;
        release(l, AT_WARP_BARRIER, w * WARP_SIZE, warp_end(l, w));
    }
    if (l->at_block_barrier > 0 && l->at_block_barrier == l->live) {
        l->at_block_barrier = 0;
        release(l, AT_BLOCK_BARRIER, 0, l->nthreads);
    }
}

/* The warp whose thread runs next, -1 if none is ready. Half the blocks pick
 * a random warp each time, so warps interleave finely; the other half rank
 * the warps in a random order and always run the first that can run, so a
 * warp gets as far ahead of the others as a GPU could ever let it. */
int pick_warp(Launch *l, bool by_rank) {
    int candidates[MAX_THREADS / WARP_SIZE], n = 0;
    for (int r = 0; r < l->nwarps; r++) {
        int w = l->rank[r];
        if (l->nready[w] == 0) continue;
        if (by_rank) return w;
        candidates[n++] = w;
    }
    return n ? candidates[shuffle_next(n)] : -1;
}

/* Run the block: resume ready threads, a random one of the chosen warp each
 * time, until none is ready. A thread read without the barrier that should
 * order it after another thread's write then gets a stale value. */
void run_block(Launch *l) {
    if (__start_emu_shared) memset(__start_emu_shared, 0xFF, (size_t)(__stop_emu_shared - __start_emu_shared));
    l->live = l->nthreads;
    l->at_block_barrier = 0;
    for (int w = 0; w < l->nwarps; w++) {
        l->live_in_warp[w] = warp_end(l, w) - w * WARP_SIZE;
        l->at_warp_barrier[w] = 0;
        l->nready[w] = 0;
        l->rank[w] = w;
    }
    for (int w = l->nwarps - 1; w > 0; w--) { /* Fisher-Yates */
        int j = (int)shuffle_next(w + 1), tmp = l->rank[w];
        l->rank[w] = l->rank[j];
        l->rank[j] = tmp;
    }
    bool by_rank = shuffle_next(2) == 0;
    for (int t = 0; t < l->nthreads; t++) {
        fibers[t].state = RUNNABLE;
        fiber_reset(&fibers[t]);
        l->ready[t / WARP_SIZE][l->nready[t / WARP_SIZE]++] = t;
    }
    for (int w; (w = pick_warp(l, by_rank)) >= 0;) {
        int i = (int)shuffle_next(l->nready[w]), t = l->ready[w][i];
        l->ready[w][i] = l->ready[w][--l->nready[w]];
        fiber_resume(l, t);
        release_barriers(l, t);
    }
    if (l->live > 0)
        die("CUDA emulator: kernel %s, block (%u,%u,%u): deadlock: %d live threads, %d at __syncthreads, the "
            "rest at a warp shuffle (a barrier not reached by every thread)",
            l->name, blockIdx.x, blockIdx.y, blockIdx.z, l->live, l->at_block_barrier);
}

bool valid_configuration(dim3 grid, dim3 block) {
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    return threads >= 1 && threads <= MAX_THREADS && block.z <= 64 && grid.x >= 1 && grid.x <= 2147483647u &&
           grid.y >= 1 && grid.y <= 65535 && grid.z >= 1 && grid.z <= 65535;
}

} // namespace

/* ---------------------------------------------------------------- the API */

namespace emu {

int lane_id(void) { return running->current % WARP_SIZE; }

void warp_exchange(unsigned mask, const void *mine, void *theirs, size_t size, int src_lane) {
    if (!running || running->current < 0) fail_in_kernel("a warp shuffle");
    if (mask != 0xffffffffu) fail_in_kernel("warp shuffle with a partial mask (the emulator has full warps only)");
    if (size > sizeof fibers[0].slot) fail_in_kernel("warp shuffle of a %zu-byte value", size);
    int t = running->current, src = t - t % WARP_SIZE + src_lane;
    memcpy(fibers[t].slot, mine, size);
    wait_at(AT_WARP_BARRIER); /* every live lane has put its value on offer */
    if (src_lane < 0 || src_lane >= WARP_SIZE || src >= running->nthreads || fibers[src].state == DONE)
        fail_in_kernel("warp shuffle reads lane %d, which has exited or does not exist", src_lane);
    memcpy(theirs, fibers[src].slot, size);
    wait_at(AT_WARP_BARRIER); /* every lane has read before any offers again */
}

void launch(const char *name, dim3 grid, dim3 block, void (*body)(void *), void *ctx) {
    if (!valid_configuration(grid, block)) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    install_segv_handler();
    static Launch l;
    l.name = name;
    l.body = body;
    l.ctx = ctx;
    l.nthreads = (int)(block.x * block.y * block.z);
    l.nwarps = (l.nthreads + WARP_SIZE - 1) / WARP_SIZE;
    l.current = -1;
    for (int t = 0; t < l.nthreads; t++) {
        if (!fibers[t].stack) fibers[t].stack = stack_alloc();
        fibers[t].index = {t % block.x, t / block.x % block.y, t / (block.x * block.y)};
    }
    blockDim = block;
    gridDim = grid;
    set_access_all(true);
    running = &l;
    /* The blocks in a scrambled order, b -> (a*b + c) mod n with a coprime to n
     * (a permutation): on a GPU they run in any order, so a kernel whose
     * blocks read each other's results is wrong, and here it shows. */
    uint64_t n = (uint64_t)grid.x * grid.y * grid.z, a = n > 1 ? 1 + shuffle_next(n - 1) : 1;
    while (std::gcd(a, n) != 1) a = a % (n - 1) + 1;
    uint64_t c = shuffle_next(n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = (uint64_t)(((unsigned __int128)a * i + c) % n);
        blockIdx = {(unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y), (unsigned)(b / grid.x / grid.y)};
        run_block(&l);
    }
    running = NULL;
    set_access_all(false);
}

void check_device_pointer(const char *kernel, int arg, const void *p) {
    if (p && !allocation_spanning(p, 0))
        die("CUDA emulator: kernel %s: argument %d (%p) does not point into device memory", kernel, arg + 1, p);
}

} // namespace emu

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    install_segv_handler();
    size_t page = (size_t)page_size();
    size_t data = (bytes + page - 1) / page * page;
    if (data == 0) data = page;
    char *map = (char *)mmap(NULL, data + page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) return last_error = cudaErrorMemoryAllocation;
    Allocation a = {map, data + page, map + data - bytes, bytes};
    allocations[(uintptr_t)a.base] = a;
    *ptr = a.base;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    if (!ptr) return cudaSuccess;
    auto it = allocations.find((uintptr_t)ptr);
    if (it == allocations.end()) return last_error = cudaErrorInvalidValue;
    munmap(it->second.map, it->second.map_bytes);
    allocations.erase(it);
    return cudaSuccess;
}

/* Both ends of a copy must be where `kind` says, and inside their allocation. */
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    const Allocation *d = allocation_spanning(dst, bytes), *s = allocation_spanning(src, bytes);
    if ((dst_dev && !d) || (!dst_dev && allocation_holding(dst)) || (src_dev && !s) ||
        (!src_dev && allocation_holding(src)))
        return last_error = cudaErrorInvalidValue;
    if (d) set_access(*d, true);
    if (s) set_access(*s, true);
    memmove(dst, src, bytes);
    if (d) set_access(*d, false);
    if (s) set_access(*s, false);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *ptr, int value, size_t bytes) {
    const Allocation *a = allocation_spanning(ptr, bytes);
    if (!a) return last_error = cudaErrorInvalidValue;
    set_access(*a, true);
    memset(ptr, value, bytes);
    set_access(*a, false);
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t err) {
    switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (emulator: a pointer outside its allocation or the wrong copy direction)";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle (emulator: an event never recorded)";
    }
    return "unknown error";
}

cudaError_t cudaGetDeviceCount(int *count) {
    *count = 1;
    return cudaSuccess;
}

/* The emulator's device memory is host memory, so it reports the host's
 * /proc/meminfo figures (0 where there is none, as a device that is full). */
static size_t meminfo_bytes(const char *key) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256], name[64];
    unsigned long long kib = 0, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63[^:]: %llu", name, &v) == 2 && !strcmp(name, key)) { kib = v; break; }
    fclose(f);
    return (size_t)kib * 1024;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = meminfo_bytes("MemAvailable");
    *total_bytes = meminfo_bytes("MemTotal");
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

void __syncthreads(void) {
    if (!running || running->current < 0) fail_in_kernel("__syncthreads");
    wait_at(AT_BLOCK_BARRIER);
}

/* ---------------------------------------------------------------- events */

/* An event holds the host time at which it was recorded: kernels run
 * synchronously here, so that is when the "GPU" reached it. */
struct CUevent_st {
    double seconds;
    bool recorded;
};

cudaError_t cudaEventCreate(cudaEvent_t *event) {
    *event = new CUevent_st{0.0, false};
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    if (!event || stream) return last_error = cudaErrorInvalidValue; /* one stream: the default */
    event->seconds = now_seconds();
    event->recorded = true;
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    return event && event->recorded ? cudaSuccess : (last_error = cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    if (!start || !end || !start->recorded || !end->recorded) return last_error = cudaErrorInvalidResourceHandle;
    *ms = (float)((end->seconds - start->seconds) * 1e3);
    return cudaSuccess;
}

/* ---------------------------------------------------------------- cuBLAS */

#include "cublas_v2.h"

struct cublasContext {
    bool math_mode_set;
    cublasMath_t math_mode;
};

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    static cublasContext context;
    context = cublasContext{false, CUBLAS_DEFAULT_MATH};
    *handle = &context;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle || (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_PEDANTIC_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH))
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->math_mode_set = true;
    handle->math_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t mode) {
    return handle && (mode == CUBLAS_ATOMICS_NOT_ALLOWED || mode == CUBLAS_ATOMICS_ALLOWED)
               ? CUBLAS_STATUS_SUCCESS
               : CUBLAS_STATUS_INVALID_VALUE;
}

namespace {

/* x with the low 13 mantissa bits cleared: the TF32 value a tensor core reads */
float to_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u &= 0xFFFFE000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Bytes from the first element of a column-major (rows, cols) matrix with
 * leading dimension ld to one past its last: (rows-1) + (cols-1)*ld + 1 floats. */
size_t matrix_span(int rows, int cols, int ld) { return ((size_t)(cols - 1) * ld + rows) * sizeof(float); }

/* batch matrices `stride` floats apart, each `span` bytes, must lie in one allocation */
bool batch_in_one_allocation(const float *X, size_t span, long long stride, int batch) {
    return allocation_spanning(X, (size_t)(batch - 1) * (size_t)stride * sizeof(float) + span);
}

/* C = alpha op(A) op(B) + beta C for one matrix of the batch */
void sgemm_one(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc, bool tf32) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++) {
                float a = ta ? A[p + (size_t)i * lda] : A[i + (size_t)p * lda];
                float b = tb ? B[j + (size_t)p * ldb] : B[p + (size_t)j * ldb];
                acc += tf32 ? to_tf32(a) * to_tf32(b) : a * b;
            }
            float *c = &C[i + (size_t)j * ldc];
            *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c; /* beta = 0: C is not read (may be NaN) */
        }
}

} // namespace

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb, long long strideB,
                                         const float *beta, float *C, int ldc, long long strideC, int batchCount) {
    bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
    int a_rows = ta ? k : m, a_cols = ta ? m : k;
    int b_rows = tb ? n : k, b_cols = tb ? k : n;
    if (!handle || m < 0 || n < 0 || k < 0 || batchCount < 0 || lda < (a_rows > 1 ? a_rows : 1) ||
        ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!handle->math_mode_set)
        die("CUDA emulator: cublasSgemmStridedBatched: the handle's math mode was never set (gemm.cu sets it "
            "explicitly, so that FP32 or TF32 is a choice, not a library default)");
    if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
    if (strideA < 0 || strideB < 0 || strideC < 0)
        die("CUDA emulator: cublasSgemmStridedBatched: a negative stride");
    if ((k > 0 && (!batch_in_one_allocation(A, matrix_span(a_rows, a_cols, lda), strideA, batchCount) ||
                   !batch_in_one_allocation(B, matrix_span(b_rows, b_cols, ldb), strideB, batchCount))) ||
        !batch_in_one_allocation(C, matrix_span(m, n, ldc), strideC, batchCount))
        die("CUDA emulator: cublasSgemmStridedBatched: an operand reaches outside its device allocation (m=%d n=%d "
            "k=%d lda=%d ldb=%d ldc=%d, strides %lld %lld %lld, batch %d)", m, n, k, lda, ldb, ldc, strideA, strideB,
            strideC, batchCount);
    if (batchCount > 1 && (size_t)strideC * sizeof(float) < matrix_span(m, n, ldc))
        die("CUDA emulator: cublasSgemmStridedBatched: strideC %lld is smaller than one (%d, %d) output: the "
            "batch's outputs overlap", strideC, m, n);
    bool tf32 = handle->math_mode == CUBLAS_TF32_TENSOR_OP_MATH;
    set_access_all(true);
    for (int z = 0; z < batchCount; z++)
        sgemm_one(ta, tb, m, n, k, *alpha, A + z * strideA, lda, B + z * strideB, ldb, *beta, C + z * strideC, ldc,
                  tf32);
    set_access_all(false);
    return CUBLAS_STATUS_SUCCESS;
}
