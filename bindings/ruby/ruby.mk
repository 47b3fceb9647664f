# The Ruby binding's tests, included from the top Makefile (`-include bindings/ruby/ruby.mk`).
#
# check-ruby installs Ruby, ruby-ffi, ruby-grape, ruby-rack-test, Puma, Bundler and curl
# (Debian packages, via scripts/install-deps ruby), builds the library, and runs the Minitest
# suite against this tree's build: the gem loads $(SHLIB) through MTLSAUTHZ_LIB, and the
# pkg-config lookup is tested against $(PC_UNINSTALLED). The tests generate their own
# certificates (tests/certs/gen-certs.sh) and start Puma on 127.0.0.1. It then runs
# tests/integration/gem.sh: `make gem`, the built gem installed into a clean GEM_HOME, and the
# README's Gemfiles and config.ru under Puma over mutual TLS.
#
# `make gem` builds $(B)/mtlsauthz-$(VERSION).gem (README.md, "Install"). `gem build` takes the
# files from the directory of the gemspec, and the licence is the top-level LICENSE, so the gem
# is built from a copy of bindings/ruby with LICENSE next to the gemspec, in $(B)/gem. A
# warning from `gem build` fails the build.

RUBY ?= ruby
RUBY_TESTS := $(sort $(wildcard bindings/ruby/test/*_test.rb))

.PHONY: check-ruby deps-ruby gem

GEM_BIN ?= gem
GEM_FILE := $(B)/mtlsauthz-$(VERSION).gem
GEM_STAGE := $(B)/gem

deps-ruby:
	@scripts/install-deps ruby

# When check-ruby is asked for directly, install first even under -j: the build needs the
# packages too on a fresh machine. (Include this file after LIB_OBJS and CLI_OBJS are set.)
ifneq ($(filter check-ruby,$(MAKECMDGOALS)),)
$(LIB_OBJS) $(CLI_OBJS): | deps-ruby
endif

check-ruby: deps-ruby all $(TEST_CERTS)/.stamp
	MTLSAUTHZ_LIB=$(TOP)/$(SHLIB) MTLSAUTHZ_TEST_PKGCONFIG=$(TOP)/$(dir $(PC_UNINSTALLED)) \
	    $(RUBY) -I$(TOP)/bindings/ruby/lib -I$(TOP)/bindings/ruby/test \
	    -e 'ARGV.each { |f| require File.expand_path(f) }' $(RUBY_TESTS)
	B=$(B) MTLSAUTHZ_LIB=$(TOP)/$(SHLIB) MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) \
	    tests/integration/gem.sh

# Rebuilt every time (it takes a second), so that its output, and any warning, is always seen.
gem: deps-ruby
	@rm -rf $(GEM_STAGE) $(GEM_FILE)
	@mkdir -p $(GEM_STAGE)
	@cp -R bindings/ruby/lib bindings/ruby/README.md bindings/ruby/mtlsauthz.gemspec LICENSE \
	    $(GEM_STAGE)/
	@cd $(GEM_STAGE) && $(GEM_BIN) build mtlsauthz.gemspec >build.log 2>&1; \
	    rc=$$?; cat build.log; \
	    if [ $$rc -ne 0 ]; then echo "make gem: gem build failed" >&2; exit 1; fi; \
	    if grep -q WARNING build.log; then \
	        echo "make gem: gem build warned (above): fix bindings/ruby/mtlsauthz.gemspec" >&2; \
	        exit 1; \
	    fi
	@mv $(GEM_STAGE)/mtlsauthz-$(VERSION).gem $(GEM_FILE)
	@echo "make gem: $(GEM_FILE)"

# make check-deb (the top Makefile) also runs the gem against the installed packages
# (tests/deb/smoke-gem.sh), with the gem built here.
check-deb: gem
check-deb: export MTLSAUTHZ_GEM := $(TOP)/$(GEM_FILE)

# Not part of check-ruby (benchmarks never are): the per-call cost of Policy#authorize and
# of one request through MtlsAuthz::Rack.
.PHONY: bench-ruby
bench-ruby: all
	MTLSAUTHZ_LIB=$(TOP)/$(SHLIB) $(RUBY) $(TOP)/bindings/ruby/bench/authorize.rb
