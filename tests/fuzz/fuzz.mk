# Fuzz targets, included from the top Makefile (after LIB_SRCS, ALL_CFLAGS, STLIB and the other
# variables it defines).
#
# Every tests/fuzz/fuzz_<name>.c is a libFuzzer target (it defines LLVMFuzzerTestOneInput and
# aborts on a failed check), with its seed corpus in tests/fuzz/corpus/<name>/. Adding a target
# is adding those two; nothing here names a target.
#
#   make fuzz-replay   builds each target with tests/fuzz/replay.c and the normal compiler and
#                      flags, against $(STLIB), and replays its seed corpus (for make check).
#   make fuzz          builds each target with clang -fsanitize=fuzzer,address,undefined against
#                      a sanitizer build of the library in $(B)/fuzz, and runs it for
#                      $(FUZZ_SECONDS) seconds (default 60) on its seeds (tests/fuzz/run.sh).
#                      Every target runs; a crash, a leak, a timeout (FUZZ_TIMEOUT seconds for
#                      one input) or a failed check in any of them fails the run, and the input
#                      that did it is left in $(B)/fuzz/artifacts/<name>/ and printed with its
#                      replay command: $(B)/fuzz/bin/fuzz_<name> FILE. .ci/run runs this.
#                      New inputs go to $(B)/fuzz/corpus/<name>/, never to the seeds.
#                      FUZZ_TARGETS="der_diff op" runs only those targets.

FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_HDRS := $(wildcard tests/fuzz/*.h)
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_CC ?= clang
FUZZ_DIR := $(B)/fuzz

REPLAY_BINS := $(FUZZ_NAMES:%=$(B)/tests/fuzz-replay/fuzz_%)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/bin/fuzz_%)
FUZZ_LIB_OBJS := $(LIB_SRCS:lib/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_STLIB := $(FUZZ_DIR)/lib/libmtlsauthz.a

# The library as in a normal build, plus coverage for libFuzzer and ASan/UBSan; UB is fatal so
# that it fails the run instead of scrolling by.
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                 -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -DMTLSAUTHZ_BUILDING -O1 -g $(WARNFLAGS) \
              $(FUZZ_SANITIZE) -Iinclude -Ilib -Itests/fuzz $(DEPS_CFLAGS)

.PHONY: fuzz fuzz-build fuzz-replay deps-fuzz

# ---- replay with the normal toolchain ----

$(B)/tests/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_HDRS) $(STLIB) \
                               $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -o $@ $< tests/fuzz/replay.c $(STLIB) $(DEPS_LIBS)

fuzz-replay: $(REPLAY_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
	    $(B)/tests/fuzz-replay/fuzz_$$n tests/fuzz/corpus/$$n; \
	done

# ---- libFuzzer with sanitizers ----

deps-fuzz:
	@scripts/install-deps fuzz

$(FUZZ_DIR)/obj/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_STLIB): $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $(FUZZ_LIB_OBJS)

$(FUZZ_DIR)/bin/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_STLIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_STLIB) $(DEPS_LIBS)

fuzz-build: deps-fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TIMEOUT) $(FUZZ_TARGETS)
