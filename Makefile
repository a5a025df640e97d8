# gpt2c Makefile.  `make` builds every program, `make test` runs every test,
# `make demo` runs the main job, `make bench` measures speed and memory.
# Knobs: NO_OMP=1 (build without OpenMP), SHARED=path (the shared fixtures),
# SAN=1 (AddressSanitizer + UBSan build into build/san), CC=clang,
# REFERENCE=1 (the plain loops of gpt2.c only, no speed layer, into build/ref).
# GPU: `make cuda` builds the CUDA programs (NVCC=path, NVCC_ARCH=..., FMAD=0, WERROR=0).

CC      ?= cc
SHARED  ?= ../shared
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c11 -Wall -Wextra -g -I.
# Two promises that let loops with sqrtf and float comparisons vectorise:
# no code reads errno or the floating-point exception flags. Unlike
# -ffast-math, neither changes any computed value.
CFLAGS  += -fno-math-errno -fno-trapping-math
# a*b + c stays two roundings unless the code asks for fmaf (gcc already
# does this in ISO C mode; clang would otherwise fuse within an expression):
# the reference order that notes.md and the readable GPU kernels describe
CFLAGS  += -ffp-contract=off
LDLIBS  += -lm

ifdef NO_OMP
  CFLAGS += -Wno-unknown-pragmas
else
  CFLAGS  += -fopenmp
  LDFLAGS += -fopenmp
endif
# REFERENCE=1: every program on gpt2.c's plain loops, in folders of its own
ifdef REFERENCE
  CFLAGS += -DREFERENCE
  BUILD  ?= build/ref$(if $(SAN),-san)
  BIN    ?= build/ref$(if $(SAN),-san)
endif
# the flags before any sanitizer: the CUDA emulator build (`make emu`) uses these
CFLAGS_PLAIN := $(CFLAGS)
LDFLAGS_PLAIN := $(LDFLAGS)

# SAN=1: the same programs and tests, built with sanitizers into their own
# folder so a normal build is never mixed with an instrumented one.
ifdef SAN
  BUILD   ?= build/san
  BIN     ?= build/san
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  # clang notes that the instrumentation stops the loops marked `omp simd`
  # from vectorising; that is expected in this build, not a finding
  ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
    CFLAGS += -Wno-pass-failed
  endif
else
  BUILD   ?= build
  BIN     ?= .
endif

# REFERENCE=1: every program runs gpt2.c's plain loops (the speed layer,
# fastops.c, is left out), built into its own folder.
MODEL_SRC = gpt2.c gpt2_memory.c lora.c checkpoint.c debug_state.c generation.c $(if $(REFERENCE),,fastops.c)
TRAIN_SRC = dataloader.c rundir.c plot.c svg.c updates.c train_setup.c
LIB_SRC  = common.c $(MODEL_SRC) $(TRAIN_SRC) json.c tokenizer.c safetensors.c hf_gpt2.c
# train.c is in the library too (train_lib.o: without its main), for AdamW and
# the loop; ./train links train.o (with main) in its place.
LIB_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(BUILD)/train_lib.o
PROGRAMS = $(BIN)/test_gpt2 $(BIN)/tokenize $(BIN)/train $(BIN)/generate $(BIN)/inspect $(BIN)/import_hf $(BIN)/export_hf $(BIN)/merge_lora $(BUILD)/gen_unicode
C_TESTS  = $(BUILD)/test_gradcheck $(BUILD)/test_checkpoint $(BUILD)/test_kvcache $(BUILD)/test_tokenizer \
           $(BUILD)/test_ops $(BUILD)/test_utf8 $(BUILD)/test_safetensors \
           $(BUILD)/test_generate $(BUILD)/test_lora
SH_TESTS = test/test_fixtures.sh test/test_tokenize_cli.sh test/test_unicode_table.sh test/test_import_hf.sh \
           test/test_hf.sh test/test_inspect.sh test/test_train.sh test/test_memory_plan.sh test/test_crash.sh test/bad_inputs.sh test/test_cuda.sh test/test_cuda_emu.sh \
           test/test_lora_merge.sh
# Helper programs the shell tests call (not tests themselves).
TEST_HELPERS = $(BUILD)/make_safetensors $(BUILD)/check_inspect $(BUILD)/xml_check $(BUILD)/check_lora_merge

.PHONY: reference-programs all demo test test-sanitize valgrind clean cuda emu FORCE vocab unicode-table fuzz bench-tokenizer bench
.SECONDARY:
# bench.o is compiled with every build so its warnings show up in CI too
all: $(PROGRAMS) $(BUILD)/tools/bench.o

$(BUILD)/%.o: %.c $(wildcard *.h) | $(BUILD)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/tools/%.o: tools/%.c $(wildcard *.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/test/%.o: test/%.c $(wildcard *.h) test/check.h | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSHARED_DIR='"$(SHARED)"' -c $< -o $@
$(BUILD)/train_lib.o: train.c $(wildcard *.h) | $(BUILD)
	$(CC) $(CFLAGS) -DTRAIN_NO_MAIN -c $< -o $@
$(BUILD):
	@mkdir -p $@

$(BIN)/test_gpt2: $(BUILD)/test/test_gpt2.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/train: $(BUILD)/train.o $(filter-out $(BUILD)/train_lib.o,$(LIB_OBJ))
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/generate: $(BUILD)/tools/generate.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/inspect: $(BUILD)/tools/inspect.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/import_hf: $(BUILD)/tools/import_hf.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/export_hf: $(BUILD)/tools/export_hf.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BIN)/merge_lora: $(BUILD)/tools/merge_lora.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/test_%: $(BUILD)/test/test_%.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/make_safetensors: $(BUILD)/test/make_safetensors.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/check_inspect: $(BUILD)/test/check_inspect.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/xml_check: $(BUILD)/test/xml_check.o $(BUILD)/common.o
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
# the held-out LoRA merge check links nothing of the project's, by design
$(BUILD)/check_lora_merge: $(BUILD)/test/check_lora_merge.o
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# --- tokenizer (tokenizer.c, tools/tokenize.c; see notes.md "Byte-level BPE tokenizer")
UCD_DIR   ?= /usr/share/unicode
VOCAB_DIR ?= data/gpt2
$(BIN)/tokenize: $(BUILD)/tools/tokenize.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/gen_unicode: $(BUILD)/tools/gen_unicode.o $(BUILD)/common.o
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/bench_tokenizer: $(BUILD)/tools/bench_tokenizer.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# data/gpt2/{encoder.json,vocab.bpe}, checked against data/gpt2.sha256.
vocab:
	SHARED=$(SHARED) bash tools/fetch_vocab.sh $(VOCAB_DIR)
# Regenerates the committed character-class table from the UCD
# (Debian: apt-get install -y unicode-data).
unicode-table: $(BUILD)/gen_unicode
	$(BUILD)/gen_unicode $(UCD_DIR) tokenizer_unicode.h
bench-tokenizer: $(BUILD)/bench_tokenizer vocab
	$(BUILD)/bench_tokenizer $(VOCAB_DIR) $(SHARED)/data/tinyshakespeare.txt
# libFuzzer targets (clang): test/fuzz_<name>.c for the tokenizer's encode,
# the vocabulary loaders, the checkpoint loader, the shard loader and the
# safetensors reader (with import_hf's folder logic). Every source is
# compiled with -include test/fuzz.h, which turns die()'s exit into a jump
# back to the harness (see that file). `make fuzz` runs each for FUZZ_TIME
# seconds from the seeds in test/corpus/<name>; what it finds goes to
# build/fuzz-corpus/<name>, crashes to build/fuzz/.
FUZZ_TIME    ?= 60
FUZZ_TARGETS  = tokenizer vocab checkpoint shard safetensors lora
FUZZ_FLAGS    = -std=c11 -g -O1 -I. -Wall -Wextra -Wno-unknown-pragmas -Wno-unused-function \
                -D_POSIX_C_SOURCE=200809L -include test/fuzz.h -fsanitize=fuzzer,address,undefined
FUZZ_SRC      = $(LIB_SRC) test/fuzz_support.c
build/fuzz/fuzz_%: test/fuzz_%.c $(FUZZ_SRC) test/fuzz.h $(wildcard *.h)
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) $< $(FUZZ_SRC) -o $@ -lm
fuzz-%: build/fuzz/fuzz_% vocab
	@mkdir -p build/fuzz-corpus/$*
	@if GPT2_VOCAB_DIR=$(VOCAB_DIR) build/fuzz/fuzz_$* -max_total_time=$(FUZZ_TIME) -close_fd_mask=2 \
	    -artifact_prefix=build/fuzz/$*- -print_final_stats=1 build/fuzz-corpus/$* test/corpus/$* >build/fuzz/$*.log 2>&1; \
	then grep -E 'DONE|number_of_executed_units|peak_rss' build/fuzz/$*.log; \
	else tail -n 60 build/fuzz/$*.log; echo "fuzz_$* FAILED: build/fuzz/$*.log"; exit 1; fi
fuzz: $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do echo "== fuzz_$$t, $(FUZZ_TIME) s"; $(MAKE) --no-print-directory fuzz-$$t || exit 1; done

# The main job: corpus -> shards -> train a small GPT-2 -> sample (tools/demo.sh).
demo: all vocab
	SHARED=$(SHARED) bash tools/demo.sh

# ---- the GPU path (kernels/, notes.md "The GPU path") ----
# `make cuda` builds ./test_kernels, ./compare_cpu_gpu and ./train_gpu with
# nvcc: machine code for sm_80 (A100) and sm_90 (H100/H200), and PTX for
# compute_90, which the driver compiles for any newer GPU at first launch.
# Host and device warnings are errors. Both kernel sets are in every binary
# (--kernels fast|readable), so cuBLAS is always linked. The C objects are the
# same gcc-built ones as the CPU programs, and the programs are linked by
# $(CC) against the static CUDA runtime and the shared cuBLAS.
#   NVCC_ARCH=...  other targets (test/gpu_check.sh builds for the local GPU only)
#   FMAD=0         no fused multiply-add contraction (the readable kernels then
#                  add exactly as the CPU reference does; test_kernels checks it)
#   WERROR=0       warnings stay warnings (a machine that only runs the check,
#                  whose nvcc may warn about things this one does not)
ifdef USE_CUBLAS
  $(error USE_CUBLAS is gone: cuBLAS is always linked now, and the programs choose at run time with --kernels fast|readable)
endif
NVCC      ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
WERROR    ?= 1
NVCCFLAGS  = -O3 -std=c++17 $(NVCC_ARCH) -lineinfo -Xcompiler -Wall,-Wextra -I.
ifneq ($(WERROR),0)
  NVCCFLAGS += -Xcompiler -Werror -Werror all-warnings
endif
CUDA_LIBS  = -L$(CUDA_HOME)/lib64 -lcudart_static -lcublas -Wl,-rpath,$(CUDA_HOME)/lib64 -ldl -lrt -lpthread -lstdc++
ifeq ($(FMAD),0)
  NVCCFLAGS += --fmad=false -DGPT2C_NO_FMAD
endif
# Each variant gets its own object folder; the stamp file makes the programs
# relink when the variant changes.
CUDA_VARIANT  = $(if $(filter 0,$(FMAD)),-nofma)
CUDA_BUILD    = $(BUILD)/cuda$(CUDA_VARIANT)
CUDA_STAMP    = $(BUILD)/cuda-variant
KERNEL_OBJ    = $(patsubst kernels/%.cu,$(CUDA_BUILD)/%.o,$(wildcard kernels/*.cu))
CUDA_HEADERS  = $(wildcard kernels/*.h kernels/*.cuh) $(wildcard *.h)
CUDA_PROGRAMS = $(BIN)/test_kernels $(BIN)/compare_cpu_gpu $(BIN)/train_gpu

cuda: $(CUDA_PROGRAMS)

$(CUDA_BUILD)/%.o: kernels/%.cu $(CUDA_HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@
$(CUDA_BUILD)/test_kernels.o: test/test_kernels.cu $(CUDA_HEADERS) test/check.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@
$(BUILD)/tools/compare_cpu_gpu.o: kernels/gpt2_gpu.h
$(CUDA_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CUDA_VARIANT)' | cmp -s - $@ || echo '$(CUDA_VARIANT)' > $@

$(BIN)/test_kernels: $(CUDA_BUILD)/test_kernels.o $(KERNEL_OBJ) $(LIB_OBJ) $(CUDA_STAMP)
	$(CC) $(LDFLAGS) $(filter %.o,$^) -o $@ $(LDLIBS) $(CUDA_LIBS)
$(BIN)/compare_cpu_gpu: $(BUILD)/tools/compare_cpu_gpu.o $(KERNEL_OBJ) $(LIB_OBJ) $(CUDA_STAMP)
	$(CC) $(LDFLAGS) $(filter %.o,$^) -o $@ $(LDLIBS) $(CUDA_LIBS)
# train_gpu is train.c's train_main with the GPU driver as its backend.
$(BUILD)/kernels/train_gpu.o: kernels/train_gpu.c $(wildcard *.h) kernels/gpt2_gpu.h | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BIN)/train_gpu: $(BUILD)/kernels/train_gpu.o $(KERNEL_OBJ) $(LIB_OBJ) $(CUDA_STAMP)
	$(CC) $(LDFLAGS) $(filter %.o,$^) -o $@ $(LDLIBS) $(CUDA_LIBS)

# ---- the GPU code on the CPU (`make emu`, test/cuda_emu) ----
# The same kernels/*.cu sources, test_kernels, compare_cpu_gpu and train_gpu,
# compiled by $(CXX) against the CUDA emulator instead of by nvcc, into
# build/emu, with UBSan (not ASan, which the emulator's stack switching would
# confuse) and with the C code unsanitized whatever SAN says. sed rewrites each
# launch k<<<grid, block>>>(args) to emu_launch("k", grid, block, k, args); the
# #line directive keeps compiler messages on the .cu file. (A launch whose
# <<<...>>>( is split across lines is not rewritten, and fails to compile.)
EMU_BUILD    = build/emu$(if $(NO_OMP),-noomp)$(if $(REFERENCE),-ref)
EMU_CXXFLAGS = -O2 -g -std=c++17 -Wall -Wextra -Werror -Wno-unknown-pragmas -fno-math-errno -ffp-contract=off -Itest/cuda_emu -Ikernels -Itest -I. \
               -fsanitize=undefined -fno-sanitize-recover=undefined
EMU_LDFLAGS  = $(LDFLAGS_PLAIN) -fsanitize=undefined
EMU_KERNELS  = $(patsubst kernels/%.cu,$(EMU_BUILD)/kernels/%.o,$(wildcard kernels/*.cu)) $(EMU_BUILD)/cuda_emu.o
EMU_LIB      = $(patsubst %.c,$(EMU_BUILD)/%.o,$(LIB_SRC)) $(EMU_BUILD)/train_lib.o
EMU_PROGRAMS = $(EMU_BUILD)/test_kernels $(EMU_BUILD)/compare_cpu_gpu $(EMU_BUILD)/train_gpu \
               $(EMU_BUILD)/test_cuda_emu
EMU_HEADERS  = $(CUDA_HEADERS) $(wildcard test/cuda_emu/*.h)

emu: $(EMU_PROGRAMS)

$(EMU_BUILD)/%.cpp: %.cu
	@mkdir -p $(dir $@)
	@{ echo '#line 1 "$<"'; sed -E 's/([A-Za-z_][A-Za-z0-9_]*)<<<(.*)>>>\(/emu_launch("\1", \2, \1, /' $<; } >$@
$(EMU_BUILD)/%.o: $(EMU_BUILD)/%.cpp $(EMU_HEADERS)
	$(CXX) $(EMU_CXXFLAGS) -c $< -o $@
$(EMU_BUILD)/cuda_emu.o: test/cuda_emu/cuda_emu.cpp $(EMU_HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -c $< -o $@
$(EMU_BUILD)/%.o: %.c $(wildcard *.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_PLAIN) -c $< -o $@
$(EMU_BUILD)/train_lib.o: train.c $(wildcard *.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_PLAIN) -DTRAIN_NO_MAIN -c $< -o $@
$(EMU_BUILD)/kernels/train_gpu.o: kernels/train_gpu.c $(wildcard *.h) kernels/gpt2_gpu.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_PLAIN) -c $< -o $@
$(EMU_BUILD)/test_kernels: $(EMU_BUILD)/test/test_kernels.o $(EMU_KERNELS) $(EMU_LIB)
	$(CXX) $(EMU_LDFLAGS) $^ -o $@ $(LDLIBS)
$(EMU_BUILD)/test_cuda_emu: $(EMU_BUILD)/test/test_cuda_emu.o $(EMU_BUILD)/cuda_emu.o $(EMU_BUILD)/common.o
	$(CXX) $(EMU_LDFLAGS) $^ -o $@ $(LDLIBS)
$(EMU_BUILD)/compare_cpu_gpu: $(EMU_BUILD)/tools/compare_cpu_gpu.o $(EMU_KERNELS) $(EMU_LIB)
	$(CXX) $(EMU_LDFLAGS) $^ -o $@ $(LDLIBS)
$(EMU_BUILD)/train_gpu: $(EMU_BUILD)/kernels/train_gpu.o $(EMU_KERNELS) $(EMU_LIB)
	$(CXX) $(EMU_LDFLAGS) $^ -o $@ $(LDLIBS)

# `make bench`: speed and memory with the normal flags (see tools/bench.c).
# The program is named like the target, so the rule links it and runs it.
bench: $(BUILD)/tools/bench.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $(BIN)/bench $(LDLIBS)
	$(BIN)/bench

# Every test program and script, counted by test/run.sh, which ends with
# "N passed, N failed, N skipped". The default build's run also builds the
# reference (REFERENCE=1, into $(REF_BIN)) and runs the model's checks on it
# (test/test_reference.sh), so the plain loops stay live, tested code.
REF_BIN = build/ref$(if $(SAN),-san)
ifdef REFERENCE
  REF_TEST =
  REF_PROGRAMS =
else
  REF_TEST = test/test_reference.sh
  REF_PROGRAMS = reference-programs
endif
reference-programs:
	@$(MAKE) --no-print-directory REFERENCE=1 all $(REF_BIN)/test_gradcheck $(REF_BIN)/test_kvcache
test: all $(C_TESTS) $(TEST_HELPERS) $(REF_PROGRAMS)
	@BIN=$(BIN) SHARED=$(SHARED) BUILD=$(BUILD) NVCC=$(NVCC) EMU_BUILD=$(EMU_BUILD) REF_BIN=$(REF_BIN) \
	    bash test/run.sh $(C_TESTS) $(SH_TESTS) $(REF_TEST)

# The whole suite again, built with AddressSanitizer + UBSan (build/san).
test-sanitize:
	$(MAKE) SAN=1 test

# A short training run, a resume and a generation under valgrind (test/valgrind.sh),
# built without OpenMP and without -march=native (valgrind cannot decode AVX-512).
# About a minute, so it is its own target, which CI runs.
valgrind:
	$(MAKE) NO_OMP=1 OPT=-O2 BUILD=build/valgrind BIN=build/valgrind build/valgrind/train build/valgrind/generate
	@BIN=build/valgrind SHARED=$(SHARED) bash test/run.sh test/valgrind.sh

clean:
	rm -rf build $(PROGRAMS) $(CUDA_PROGRAMS)
