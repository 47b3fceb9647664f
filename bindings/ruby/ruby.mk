# The Ruby binding's tests, included from the top Makefile (`-include bindings/ruby/ruby.mk`).
#
# check-ruby installs Ruby, ruby-ffi, ruby-grape, ruby-rack-test, Puma and curl (Debian
# packages, via scripts/install-deps ruby), builds the library, and runs the Minitest suite
# against this tree's build: the gem loads $(SHLIB) through MTLSAUTHZ_LIB, and the
# pkg-config lookup is tested against $(PC_UNINSTALLED). The tests generate their own
# certificates (tests/certs/gen-certs.sh) and start Puma on 127.0.0.1.

RUBY ?= ruby
RUBY_TESTS := $(sort $(wildcard bindings/ruby/test/*_test.rb))

.PHONY: check-ruby deps-ruby

deps-ruby:
	@scripts/install-deps ruby

# When check-ruby is asked for directly, install first even under -j: the build needs the
# packages too on a fresh machine. (Include this file after LIB_OBJS and CLI_OBJS are set.)
ifneq ($(filter check-ruby,$(MAKECMDGOALS)),)
$(LIB_OBJS) $(CLI_OBJS): | deps-ruby
endif

check-ruby: deps-ruby all
	MTLSAUTHZ_LIB=$(TOP)/$(SHLIB) MTLSAUTHZ_TEST_PKGCONFIG=$(TOP)/$(dir $(PC_UNINSTALLED)) \
	    $(RUBY) -I$(TOP)/bindings/ruby/lib -I$(TOP)/bindings/ruby/test \
	    -e 'ARGV.each { |f| require File.expand_path(f) }' $(RUBY_TESTS)

# Not part of check-ruby (benchmarks never are): the per-call cost of Policy#authorize and
# of one request through MtlsAuthz::Rack.
.PHONY: bench-ruby
bench-ruby: all
	MTLSAUTHZ_LIB=$(TOP)/$(SHLIB) $(RUBY) $(TOP)/bindings/ruby/bench/authorize.rb
