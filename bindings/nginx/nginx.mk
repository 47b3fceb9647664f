# NGINX dynamic module (bindings/nginx), included by the top Makefile, which defines B, TOP,
# STLIB, CLI and TEST_CERTS.
#
#   make nginx-module   builds $(B)/nginx/ngx_http_mtlsauthz_module.so against Debian's
#                       nginx-dev (or NGINX_SRC=/path/to/nginx-source)
#   make check-nginx    installs nginx, nginx-dev and curl, builds the module and runs the
#                       integration tests (t/run.sh, t/xfcc.sh, and the README's install
#                       commands: tests/integration/nginx_install.sh) against a real nginx
#                       (NGINX_BIN=/usr/sbin/nginx)
#   make bench-nginx    the load check: module on versus off (bindings/nginx/bench/load.sh)
#   make install-nginx-module     installs the module and its modules-available snippet where
#                                 Debian keeps them (README.md, "Install"); it does not enable it
#   make uninstall-nginx-module   removes them, and the modules-enabled link if there is one

NGINX_MODULE := $(B)/nginx/ngx_http_mtlsauthz_module.so
NGINX_BIN ?= /usr/sbin/nginx

.PHONY: nginx-module check-nginx install-nginx-module uninstall-nginx-module

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
	NGINX_BIN=$(NGINX_BIN) MTLSAUTHZ_TEST_CERTS=$(TOP)/$(TEST_CERTS) \
	    tests/integration/nginx_install.sh

# Where Debian's nginx and its module packages keep modules and their load snippets; DESTDIR
# stages the files elsewhere. The snippet is the one the Debian package installs
# (debian/libnginx-mod-http-mtlsauthz.nginx). Its "load_module modules/..." is relative to
# nginx's prefix, and Debian's /usr/share/nginx/modules links to /usr/lib/nginx/modules.
# NGINX_MODULES_ENABLED is only where the link to enable it goes: install prints the command;
# uninstall removes the link, which would otherwise make nginx fail to start.
NGINX_MODULES_DIR ?= /usr/lib/nginx/modules
NGINX_MODULES_AVAILABLE ?= /usr/share/nginx/modules-available
NGINX_MODULES_ENABLED ?= /etc/nginx/modules-enabled
NGINX_SNIPPET := bindings/nginx/mod-http-mtlsauthz.conf
NGINX_ENABLED_LINK := 50-$(notdir $(NGINX_SNIPPET))
# The files the libnginx-mod-http-mtlsauthz package owns are not overwritten or removed (only
# checked without DESTDIR, and where dpkg is).
nginx_not_packaged = @if [ -z "$(DESTDIR)" ] && command -v dpkg-query >/dev/null; then \
	    for f in $(NGINX_MODULES_DIR)/$(notdir $(NGINX_MODULE)) \
	             $(NGINX_MODULES_AVAILABLE)/$(notdir $(NGINX_SNIPPET)); do \
	        if pkg=$$(dpkg-query -S "$$f" 2>/dev/null); then \
	            echo "$@: $$f belongs to the package $${pkg%%:*}: use apt (bindings/nginx/README.md, \"Install\")" >&2; \
	            exit 1; \
	        fi; \
	    done; \
	fi

install-nginx-module: nginx-module
	$(nginx_not_packaged)
	install -d $(DESTDIR)$(NGINX_MODULES_DIR) $(DESTDIR)$(NGINX_MODULES_AVAILABLE)
	install -m 644 $(NGINX_MODULE) $(DESTDIR)$(NGINX_MODULES_DIR)/
	install -m 644 $(NGINX_SNIPPET) $(DESTDIR)$(NGINX_MODULES_AVAILABLE)/
	@echo "$@: installed, not enabled. To enable the module:"
	@echo "    ln -s $(NGINX_MODULES_AVAILABLE)/$(notdir $(NGINX_SNIPPET)) $(NGINX_MODULES_ENABLED)/$(NGINX_ENABLED_LINK)"
	@echo "    nginx -t && systemctl reload nginx"

uninstall-nginx-module:
	$(nginx_not_packaged)
	rm -f $(DESTDIR)$(NGINX_MODULES_DIR)/$(notdir $(NGINX_MODULE)) \
	    $(DESTDIR)$(NGINX_MODULES_AVAILABLE)/$(notdir $(NGINX_SNIPPET))
	@if [ -L $(DESTDIR)$(NGINX_MODULES_ENABLED)/$(NGINX_ENABLED_LINK) ]; then \
	    echo "rm -f $(DESTDIR)$(NGINX_MODULES_ENABLED)/$(NGINX_ENABLED_LINK)"; \
	    rm -f $(DESTDIR)$(NGINX_MODULES_ENABLED)/$(NGINX_ENABLED_LINK); \
	    echo "$@: disabled; nginx keeps the module until 'systemctl reload nginx'"; \
	fi

# Load check (not part of check: numbers, no asserts). See docs/performance.md.
NGINX_LOAD := $(B)/nginx/mtls-load

.PHONY: bench-nginx

$(NGINX_LOAD): bindings/nginx/bench/mtls-load.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -pthread -o $@ $< \
	    $(shell $(PKG_CONFIG) --libs openssl)

bench-nginx: nginx-module $(NGINX_LOAD) $(TEST_CERTS)/.stamp
	NGINX_BIN=$(NGINX_BIN) bindings/nginx/bench/load.sh $(NGINX_MODULE) $(TEST_CERTS) $(NGINX_LOAD)
