# libmtlsauthz build. `make` builds the libraries, the CLI and an uninstalled pkg-config file;
# `make check` runs every test; `make demo` runs the example; `make install` installs.
# Dependencies come from Debian packages via scripts/install-deps (see README.md).

# The version comes from include/mtlsauthz/version.h, its one source (docs/abi.md, "One
# version"); the soname follows the ABI, not the package version.
VERSION_H := include/mtlsauthz/version.h
version_h = $(shell awk '$$2 == "MTLSAUTHZ_$(1)" { print $$3; exit }' $(VERSION_H))
VERSION_MAJOR := $(call version_h,VERSION_MAJOR)
VERSION_MINOR := $(call version_h,VERSION_MINOR)
VERSION_PATCH := $(call version_h,VERSION_PATCH)
ABI_VERSION := $(call version_h,ABI_VERSION)
$(foreach v,VERSION_MAJOR VERSION_MINOR VERSION_PATCH ABI_VERSION,\
    $(if $($(v)),,$(error cannot read MTLSAUTHZ_$(v) from $(VERSION_H))))
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

CC ?= cc
PKG_CONFIG ?= pkg-config
CLANG_FORMAT ?= clang-format
B := build
TOP := $(abspath .)

DEPS_PC := openssl libcyaml yaml-0.1
DEPS_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(DEPS_PC) 2>/dev/null)
DEPS_LIBS = $(shell $(PKG_CONFIG) --libs $(DEPS_PC) 2>/dev/null)

OPTFLAGS ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wno-format-nonliteral
SANFLAGS ?=
CFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -DMTLSAUTHZ_BUILDING $(OPTFLAGS) $(WARNFLAGS) \
             -fPIC -fvisibility=hidden $(SANFLAGS) -Iinclude -Ilib $(DEPS_CFLAGS) $(CFLAGS)

LIB_SRCS := $(sort $(wildcard lib/*.c))
CLI_SRCS := $(sort $(wildcard lib/cli/*.c))
LIB_OBJS := $(LIB_SRCS:lib/%.c=$(B)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:lib/cli/%.c=$(B)/obj/cli/%.o)
HEADERS := $(wildcard include/mtlsauthz/*.h) $(wildcard lib/*.h) $(wildcard lib/cli/*.h)

SONAME := libmtlsauthz.so.$(ABI_VERSION)
SHLIB := $(B)/lib/libmtlsauthz.so.$(VERSION)
STLIB := $(B)/lib/libmtlsauthz.a
CLI := $(B)/bin/mtlsauthz
PC_UNINSTALLED := $(B)/pkgconfig/mtlsauthz.pc

.PHONY: all deps deps-test lib cli demo check check-all check-unit check-cli check-install check-format \
        check-symbols check-headers check-includes check-noalloc check-version print-version format \
        install uninstall clean

all: lib cli $(PC_UNINSTALLED)

deps:
	@scripts/install-deps build

deps-test:
	@scripts/install-deps test

lib: $(SHLIB) $(STLIB)

cli: $(CLI)

$(B)/obj/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The CLI is a client of the public API (docs/internals.md, "File map"): its objects see only
# include/ (no -Ilib, no dependency's headers), and it links the shared library, so it runs on
# the exported ABI. tests/integration/cli_client.sh checks both.
CLI_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(OPTFLAGS) $(WARNFLAGS) $(SANFLAGS) -Iinclude \
             $(CFLAGS)

$(B)/obj/cli/%.o: lib/cli/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -c -o $@ $<

$(SHLIB): $(LIB_OBJS) lib/libmtlsauthz.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/libmtlsauthz.map \
	    -Wl,--no-undefined $(SANFLAGS) $(LDFLAGS) -o $@ $(LIB_OBJS) $(DEPS_LIBS)
	ln -sf libmtlsauthz.so.$(VERSION) $(B)/lib/$(SONAME)
	ln -sf $(SONAME) $(B)/lib/libmtlsauthz.so

$(STLIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

# The CLI finds the library through a RUNPATH relative to itself ($ORIGIN), so a tree or a
# DESTDIR can move: $(B)/bin -> $(B)/lib in the tree, and BINDIR -> LIBDIR for the copy that
# `make install` links (with the BINDIR and LIBDIR given to it). Naming the .so file makes the
# link take it, not the archive beside it; its soname is what the CLI needs at run time.
cli_link = $(CC) $(SANFLAGS) $(LDFLAGS) -Wl,-rpath,'$$ORIGIN/$(1)' -o $@ $(CLI_OBJS) $(SHLIB)
CLI_INSTALLED := $(B)/install/bin/mtlsauthz

$(CLI): $(CLI_OBJS) $(SHLIB)
	@mkdir -p $(dir $@)
	$(call cli_link,../lib)

# Linked at every install: BINDIR and LIBDIR may differ from the last one's.
$(CLI_INSTALLED): $(CLI_OBJS) $(SHLIB) FORCE
	@mkdir -p $(dir $@)
	$(call cli_link,$(shell realpath -m --relative-to=$(BINDIR) $(LIBDIR)))

.PHONY: FORCE
FORCE:

# An uninstalled pkg-config file pointing at this tree, for the bindings and tests.
$(PC_UNINSTALLED): pkgconfig/mtlsauthz.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(TOP)|' -e 's|@LIBDIR@|$(TOP)/$(B)/lib|' \
	    -e 's|@INCLUDEDIR@|$(TOP)/include|' -e 's|@VERSION@|$(VERSION)|' $< > $@

$(B)/pkgconfig/installed/mtlsauthz.pc: pkgconfig/mtlsauthz.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

install: all $(B)/pkgconfig/installed/mtlsauthz.pc $(CLI_INSTALLED)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/mtlsauthz $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/mtlsauthz/*.h $(DESTDIR)$(INCLUDEDIR)/mtlsauthz/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libmtlsauthz.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmtlsauthz.so
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	install -m 644 $(B)/pkgconfig/installed/mtlsauthz.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 755 $(CLI_INSTALLED) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmtlsauthz.so* $(DESTDIR)$(LIBDIR)/libmtlsauthz.a \
	    $(DESTDIR)$(PKGCONFIGDIR)/mtlsauthz.pc $(DESTDIR)$(BINDIR)/mtlsauthz
	rm -rf $(DESTDIR)$(INCLUDEDIR)/mtlsauthz

# ---- demo ----

demo:
	@scripts/install-deps demo
	@$(MAKE) --no-print-directory all
	@B=$(B) examples/demo/run.sh

# ---- tests ----

TEST_CERTS := $(B)/test-certs
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
UNIT_BIN := $(B)/tests/unit-tests
CRITERION_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion 2>/dev/null)
CRITERION_LIBS = $(shell $(PKG_CONFIG) --libs criterion 2>/dev/null)

$(TEST_CERTS)/.stamp: tests/certs/gen-certs.sh
	rm -rf $(TEST_CERTS)
	tests/certs/gen-certs.sh $(TEST_CERTS)
	touch $@

# Unit tests link the archive so they can reach internals (patterns, the YAML front end).
$(UNIT_BIN): $(UNIT_SRCS) $(wildcard tests/unit/*.h) $(STLIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -Itests/unit $(CRITERION_CFLAGS) -o $@ \
	    $(UNIT_SRCS) $(STLIB) $(DEPS_LIBS) $(CRITERION_LIBS) -lpthread

check: deps-test
	@$(MAKE) --no-print-directory check-all

check-all: all check-unit check-cli check-install check-symbols check-headers check-format \
           check-includes check-noalloc check-version check-spdx check-changelog fuzz-replay \
           check-go check-envoy check-ruby check-nginx

check-unit: $(UNIT_BIN) $(TEST_CERTS)/.stamp
	MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) MTLSAUTHZ_TEST_DATA=$(TOP)/tests/data \
	    $(UNIT_BIN) -j2 --short-filename

check-cli: all $(TEST_CERTS)/.stamp
	MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) MTLSAUTHZ_CLI=$(TOP)/$(CLI) \
	    tests/integration/run.sh

check-install: all $(TEST_CERTS)/.stamp
	B=$(B) MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) tests/integration/install.sh

check-symbols: $(SHLIB)
	tests/integration/symbols.sh $(SHLIB) lib/libmtlsauthz.sym

check-headers:
	tests/integration/headers.sh

check-format:
	@scripts/check-format

# docs/internals.md: the include graph of lib/ has no cycle, and the drawing there is current.
check-includes:
	@scripts/check-includes

# docs/internals.md: nothing in the per-request objects (decide.o, http.o) reaches an allocator.
check-noalloc: $(LIB_OBJS)
	@scripts/check-noalloc $(B)/obj decide http

# docs/abi.md, "One version": everything that states the version agrees with version.h (and
# the check itself fails when one of them differs).
check-version: $(SHLIB) $(CLI) $(PC_UNINSTALLED)
	@scripts/check-version --build $(B)
	@tests/integration/check_version.sh

# The version and ABI number the build uses, as read from version.h (for scripts/check-version).
print-version:
	@echo $(VERSION) $(ABI_VERSION)

format:
	$(CLANG_FORMAT) -i $$(git ls-files '*.c' '*.h' | grep -v '^bindings/nginx/')

clean:
	rm -rf $(B)

# ---- fragments: benchmarks, fuzzing, bindings ----
# Each defines its own targets (bench, fuzz, fuzz-replay, check-go, check-ruby, ...).
-include bench/bench.mk
-include bench/peers.mk
-include tests/fuzz/fuzz.mk
-include tests/hardening.mk
-include bindings/go/go.mk
-include bindings/envoy/envoy.mk
-include bindings/ruby/ruby.mk
-include bindings/nginx/nginx.mk
-include bench/http.mk

# ---- packaging: Debian packages, licence headers, the changelog's form ----
# README.md, "Packages"; docs/releasing.md.
#
#   make deb              builds the four Debian packages into $(B)/deb (dpkg-buildpackage -b)
#   make check-deb        builds them, lints them, installs them on this machine (as root),
#                         runs tests/deb/smoke.sh against the installed files, and purges them
#   make check-spdx       fails on a tracked source file without an SPDX-License-Identifier
#   make check-changelog  fails when CHANGELOG.md leaves the Keep a Changelog form

DEB_DIR := $(B)/deb

.PHONY: deb check-deb check-spdx check-changelog

deb:
	debian/build-packages $(DEB_DIR) 2

check-deb: deb
	scripts/check-deb $(DEB_DIR)

# Each check first proves itself on samples (tests/integration/spdx.sh, changelog.sh).
check-spdx:
	@out=$$(tests/integration/spdx.sh 2>&1) || { echo "$$out"; exit 1; }
	@scripts/check-spdx

check-changelog:
	@out=$$(tests/integration/changelog.sh 2>&1) || { echo "$$out"; exit 1; }
	@scripts/check-changelog CHANGELOG.md
