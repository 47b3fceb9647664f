# Hardening checks (docs/limits.md, README "Make targets"), included by the top Makefile. Each sanitizer gets its own build
# tree under $(B) (objects built with different -fsanitize flags never mix):
#
#   make check-asan       the Criterion unit suite, and the fuzz corpora (fuzz-replay, when
#                         tests/fuzz/fuzz.mk is there), under AddressSanitizer +
#                         UndefinedBehaviorSanitizer with LeakSanitizer, halting on the first
#                         report                                -> $(B)/asan
#   make check-tsan       tests/stress/reload.c under ThreadSanitizer: readers decide while a
#                         writer reloads and swaps the policy   -> $(B)/tsan
#   make check-valgrind   the unit suite under memcheck: zero errors, zero leaks, minus the
#                         slow boundary tests (HARD_VALGRIND_SKIP)
#   make check-alloc      tests/stress/allocfail.c: fail the library's Nth allocation for every
#                         N on each load/extract/decide path, under ASan/LSan
#   make check-hardening  all of the above, one after another (they share build trees)
#
# Knobs: STRESS_SECONDS (check-tsan run time, default 3), HARD_VALGRIND_SKIP (tests too slow
# under valgrind, as suite/test globs), HARD_JOBS (Criterion workers, default 2).
# The recursive builds reuse this tree's generated certificates (TEST_CERTS).

HARD_ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HARD_TSAN_FLAGS := -fsanitize=thread
HARD_SAN_OPT := -O1 -g
# Reports go to files under $(HARD_REPORTS), which tests/stress/run-checked.sh prints and fails
# on: Criterion's forked workers inherit the options, and a leak LeakSanitizer finds when a
# passing worker exits does not change Criterion's verdict (nor does memcheck's exit code).
HARD_REPORTS = $(TOP)/$(B)/reports
HARD_RUN = tests/stress/run-checked.sh
HARD_ASAN_ENV = ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:strict_string_checks=1:log_path=$(1)/asan \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(1)/ubsan
HARD_TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$(1)/tsan
STRESS_SECONDS ?= 3
HARD_JOBS ?= 2
# Tests that do millions of iterations or build 64 MiB / 1M-entry inputs: seconds natively,
# tens of minutes under memcheck. They still run natively (check-unit) and under ASan.
# Space-separated suite/test globs, joined into one Criterion filter.
HARD_VALGRIND_SKIP ?= der/byte_changes_at_every_offset compiled/many_rules \
    policy_yaml/size_limit_boundary_is_accepted policy_yaml/rule_count_limit \
    policy_yaml/principal_count_limit policy_yaml/list_length_limit \
    policy_yaml/deep_nesting_attack_fails_fast limits/policy_file_over_the_limit
HARD_EMPTY :=
HARD_SPACE := $(HARD_EMPTY) $(HARD_EMPTY)
HARD_VALGRIND_FILTER = !($(subst $(HARD_SPACE),|,$(strip $(HARD_VALGRIND_SKIP))))
HARD_VALGRIND = valgrind -q --trace-children=yes --leak-check=full \
                --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=3 \
                --track-origins=yes --log-file=$(1)/memcheck.%p

STRESS_BIN := $(B)/tests/stress
STRESS_DEPS := tests/stress/stress.h $(STLIB) $(HEADERS)
# The sub-builds pass the outer tree's certificates, so they are generated once.
HARD_SUBMAKE = $(MAKE) --no-print-directory TEST_CERTS=$(TEST_CERTS)

.PHONY: check-hardening check-asan check-tsan check-valgrind check-alloc deps-hardening \
        hard-run-unit hard-run-replay hard-run-alloc hard-run-reload

# Criterion and valgrind from Debian; the sanitizer runtimes come with gcc.
deps-hardening:
	@scripts/install-deps hardening

$(STRESS_BIN)/%: tests/stress/%.c $(STRESS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Itests/stress -o $@ $< $(STLIB) $(DEPS_LIBS) \
	    -lpthread

# Sequential on purpose: check-asan and check-alloc build the same $(B)/asan tree.
check-hardening:
	$(MAKE) --no-print-directory check-asan
	$(MAKE) --no-print-directory check-alloc
	$(MAKE) --no-print-directory check-tsan
	$(MAKE) --no-print-directory check-valgrind

check-asan: deps-hardening $(TEST_CERTS)/.stamp
	$(HARD_SUBMAKE) B=$(B)/asan SANFLAGS="$(HARD_ASAN_FLAGS)" OPTFLAGS="$(HARD_SAN_OPT)" \
	    hard-run-unit $(if $(FUZZ_NAMES),hard-run-replay)

check-alloc: deps-hardening $(TEST_CERTS)/.stamp
	$(HARD_SUBMAKE) B=$(B)/asan SANFLAGS="$(HARD_ASAN_FLAGS)" OPTFLAGS="$(HARD_SAN_OPT)" \
	    hard-run-alloc

check-tsan: deps-hardening $(TEST_CERTS)/.stamp
	$(HARD_SUBMAKE) B=$(B)/tsan SANFLAGS="$(HARD_TSAN_FLAGS)" OPTFLAGS="$(HARD_SAN_OPT)" \
	    hard-run-reload

# The plain build: memcheck needs no instrumentation, and must not be mixed with ASan.
# (Criterion warns that -j is set under valgrind; each worker logs to its own file, so the
# reports stay readable.)
check-valgrind: deps-hardening $(UNIT_BIN) $(TEST_CERTS)/.stamp
	MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) MTLSAUTHZ_TEST_DATA=$(TOP)/tests/data \
	    $(HARD_RUN) $(HARD_REPORTS)/valgrind \
	    $(call HARD_VALGRIND,$(HARD_REPORTS)/valgrind) $(UNIT_BIN) -j$(HARD_JOBS) \
	    --short-filename --filter '$(HARD_VALGRIND_FILTER)'

# ---- run steps, invoked inside the sanitizer trees above ----

hard-run-unit: $(UNIT_BIN)
	MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) MTLSAUTHZ_TEST_DATA=$(TOP)/tests/data \
	    $(call HARD_ASAN_ENV,$(HARD_REPORTS)/unit) $(HARD_RUN) $(HARD_REPORTS)/unit \
	    $(UNIT_BIN) -j$(HARD_JOBS) --short-filename

# Each replay is one process: a sanitizer report or a leak makes it exit non-zero.
hard-run-replay:
	$(call HARD_ASAN_ENV,$(HARD_REPORTS)/replay) $(HARD_RUN) $(HARD_REPORTS)/replay \
	    $(MAKE) --no-print-directory fuzz-replay

hard-run-alloc: $(STRESS_BIN)/allocfail
	MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) MTLSAUTHZ_TEST_DATA=$(TOP)/tests/data \
	    MTLSAUTHZ_EXAMPLES=$(TOP)/examples $(call HARD_ASAN_ENV,$(HARD_REPORTS)/alloc) \
	    $(HARD_RUN) $(HARD_REPORTS)/alloc $(STRESS_BIN)/allocfail

hard-run-reload: $(STRESS_BIN)/reload
	MTLSAUTHZ_STRESS_SECONDS=$(STRESS_SECONDS) $(call HARD_TSAN_ENV,$(HARD_REPORTS)/reload) \
	    $(HARD_RUN) $(HARD_REPORTS)/reload $(STRESS_BIN)/reload $(TOP)/$(TEST_CERTS)
