# gpt2c Makefile.  `make` builds every program, `make test` runs every test,
# `make demo` runs the main job, `make bench` measures speed and memory.
# Knobs: NO_OMP=1 (build without OpenMP), SHARED=path (the shared fixtures),
# SAN=1 (AddressSanitizer + UBSan build into build/san), CC=clang.

CC      ?= cc
SHARED  ?= ../shared
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c11 -Wall -Wextra -g -I.
# Two promises that let loops with sqrtf and float comparisons vectorise:
# no code reads errno or the floating-point exception flags. Unlike
# -ffast-math, neither changes any computed value.
CFLAGS  += -fno-math-errno -fno-trapping-math
LDLIBS  += -lm

ifdef NO_OMP
  CFLAGS += -Wno-unknown-pragmas
else
  CFLAGS  += -fopenmp
  LDFLAGS += -fopenmp
endif

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

LIB_SRC  = common.c gpt2.c
LIB_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
PROGRAMS = $(BIN)/test_gpt2
C_TESTS  = $(BUILD)/test_gradcheck $(BUILD)/test_checkpoint $(BUILD)/test_ops
SH_TESTS = test/test_fixtures.sh

.PHONY: all test test-sanitize clean bench
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
$(BUILD):
	@mkdir -p $@

$(BIN)/test_gpt2: $(BUILD)/test/test_gpt2.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/test_%: $(BUILD)/test/test_%.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# `make bench`: speed and memory with the normal flags (see tools/bench.c).
# The program is named like the target, so the rule links it and runs it.
bench: $(BUILD)/tools/bench.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) $^ -o $(BIN)/bench $(LDLIBS)
	$(BIN)/bench

# Every test program and script, counted by test/run.sh, which ends with
# "N passed, N failed, N skipped".
test: all $(C_TESTS)
	@BIN=$(BIN) SHARED=$(SHARED) BUILD=$(BUILD) bash test/run.sh $(C_TESTS) $(SH_TESTS)

test-sanitize:
	$(MAKE) SAN=1 test

clean:
	rm -rf build $(PROGRAMS)
