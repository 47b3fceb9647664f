# NGINX dynamic module (bindings/nginx), included by the top Makefile, which defines B, TOP,
# STLIB, CLI and TEST_CERTS.
#
#   make nginx-module   builds $(B)/nginx/ngx_http_mtlsauthz_module.so against Debian's
#                       nginx-dev (or NGINX_SRC=/path/to/nginx-source)
#   make check-nginx    installs nginx, nginx-dev and curl, builds the module and runs the
#                       integration tests (t/run.sh, t/xfcc.sh) against a real nginx
#                       (NGINX_BIN=/usr/sbin/nginx)
#   make bench-nginx    the load check: module on versus off (bindings/nginx/bench/load.sh)

NGINX_MODULE := $(B)/nginx/ngx_http_mtlsauthz_module.so
NGINX_BIN ?= /usr/sbin/nginx

.PHONY: nginx-module check-nginx

nginx-module: $(NGINX_MODULE)

$(NGINX_MODULE): $(wildcard bindings/nginx/*.c bindings/nginx/*.h) bindings/nginx/config \
                 bindings/nginx/build.sh $(STLIB)
	bindings/nginx/build.sh $(B)/nginx $(STLIB)

check-nginx:
	@scripts/install-deps nginx
	@$(MAKE) --no-print-directory all nginx-module $(TEST_CERTS)/.stamp
	NGINX_BIN=$(NGINX_BIN) MTLSAUTHZ_NGINX_MODULE=$(TOP)/$(NGINX_MODULE) \
	    MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) MTLSAUTHZ_CLI=$(TOP)/$(CLI) \
	    bindings/nginx/t/run.sh
	NGINX_BIN=$(NGINX_BIN) MTLSAUTHZ_NGINX_MODULE=$(TOP)/$(NGINX_MODULE) \
	    MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) MTLSAUTHZ_CLI=$(TOP)/$(CLI) \
	    bindings/nginx/t/xfcc.sh

# Load check (not part of check: numbers, no asserts). See docs/performance.md.
NGINX_LOAD := $(B)/nginx/mtls-load

.PHONY: bench-nginx

$(NGINX_LOAD): bindings/nginx/bench/mtls-load.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -pthread -o $@ $< \
	    $(shell $(PKG_CONFIG) --libs openssl)

bench-nginx: nginx-module $(NGINX_LOAD) $(TEST_CERTS)/.stamp
	NGINX_BIN=$(NGINX_BIN) bindings/nginx/bench/load.sh $(NGINX_MODULE) $(TEST_CERTS) $(NGINX_LOAD)
