# ferry — see README.md. `make` builds build/ferry (static), `make check` runs every test.
CC      ?= gcc
CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -Wvla -Wformat=2
OPT     ?= -O2 -g
CFLAGS  ?=
CFLAGS  += $(CSTD) $(WARN) $(OPT) -Isrc -pthread
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS  += -DFERRY_VERSION='"$(VERSION)"'
LDSTATIC := -static -pthread
# nghttp2 (HTTP/2), ngtcp2 with its GnuTLS crypto helper (QUIC) and nghttp3 (HTTP/3): their
# .a in the static release build, the .so in the sanitizer build. The crypto helper comes
# before ngtcp2 and GnuTLS, which it calls.
LDLIBS  := -lngtcp2_crypto_gnutls -lngtcp2 -lnghttp3 -lnghttp2
# basic-auth: libxcrypt's crypt_rn (yescrypt, bcrypt), its .a in the static build.
LDLIBS  += -lcrypt
# encode: zstd and zlib (their .a in the release build, as nghttp2's); brotli: BROTLI below.
LDLIBS  += -lzstd -lz
# ACME's JSON (src/acme/): jansson, its .a in the static build.
LDLIBS  += -ljansson

# TLS: GnuTLS and what it needs (scripts/deps.sh installs them). The release binary links
# them statically (-static in LDSTATIC), with src/xport/p11kit_stub.c standing in for p11-kit,
# which has no .a; a build without -static (the sanitizer one) links the same libraries'
# .so files (src/version.c asks each for its version), and libgnutls.so brings the real
# p11-kit, so the stub stays out of it.
STATIC  := $(filter -static,$(LDSTATIC))
P11STUB := src/xport/p11kit_stub.c
CFLAGS  += $(shell pkg-config --cflags gnutls 2>/dev/null)
TLSLIBS := $(filter-out -lp11-kit,$(shell pkg-config --static --libs gnutls 2>/dev/null))
LDLIBS  += $(TLSLIBS)

B       := build
SRCS    := $(filter-out $(P11STUB),$(shell find src -name '*.c' | sort))
LIBSRCS := $(filter-out src/main.c,$(SRCS))
OBJS    := $(SRCS:%.c=$(B)/obj/%.o) $(if $(STATIC),$(P11STUB:%.c=$(B)/obj/%.o))
LIBOBJS := $(LIBSRCS:%.c=$(B)/obj/%.o)
UNITS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test-*.c))

# brotli on the fly (`encode br`) is opt-in, as nginx's ngx_brotli module is: `make BROTLI=1`
# links brotli's encoder (libbrotlienc, the common part it calls, libm for its log2; their .a
# in the release build) and defines FERRY_BROTLI for the files that test it (BRSRCS: the .c
# files with an #if on it; never a header, or every file including it would differ). Their
# objects go to $(B)/obj-br/ and the rest are shared, so $(B)/ferry-br, the brotli binary the
# tests run, costs a few compiles and a link. The default build and the image link no brotli
# symbol: it would grow the stripped binary by ~0.7 MB, past the image's 6 MiB.
BROTLI  ?=
BRLIBS  := -lbrotlienc -lbrotlicommon -lm
BRSRCS  := $(shell grep -lE '^[[:space:]]*\#[[:space:]]*(el)?if.*FERRY_BROTLI' $(SRCS))
BRHDRS  := $(shell grep -lE '^[[:space:]]*\#[[:space:]]*(el)?if.*FERRY_BROTLI' $$(find src -name '*.h'))
$(if $(BRHDRS),$(error FERRY_BROTLI tested in a header ($(BRHDRS)): only in a .c file))
OBJS_BR := $(filter-out $(BRSRCS:%.c=$(B)/obj/%.o),$(OBJS)) $(BRSRCS:%.c=$(B)/obj-br/%.o)
ifeq ($(BROTLI),1)
FERRY_OBJS = $(OBJS_BR)
FERRY_LIBS = $(LDLIBS) $(BRLIBS)
else
FERRY_OBJS = $(OBJS)
FERRY_LIBS = $(LDLIBS)
endif
UNITS   += $(B)/tests/test-encode-br
# The tests take build/ferry for the default build (encode br refused) and build/ferry-br for
# brotli: a BROTLI=1 build/ferry would fail the first.
ifeq ($(BROTLI),1)
ifneq ($(filter test check tests-built,$(MAKECMDGOALS)),)
$(error make test and make check build both binaries themselves: run them without BROTLI=1)
endif
endif
FUZZ_T  := $(patsubst fuzz/fuzz-%.c,%,$(wildcard fuzz/fuzz-*.c))
REPLAYS := $(FUZZ_T:%=$(B)/fuzz/replay-%)

# Sanitizer build: dynamic (ASan cannot be static), separate object tree.
SAN     := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: FORCE print-ldlibs all check unit integration replay deps demo fuzz clean bench san image e2e
all: $(B)/ferry

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/obj/$(P11STUB:.c=.o): CFLAGS += $(shell pkg-config --cflags p11-kit-1 2>/dev/null)

$(B)/obj-br/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFERRY_BROTLI=1 -MMD -MP -c $< -o $@

# $(B)/ferry is relinked when BROTLI changes (brotli.flag holds the last value).
$(B)/ferry: $(FERRY_OBJS) $(B)/brotli.flag
	$(CC) $(FERRY_OBJS) -o $@ $(LDSTATIC) $(FERRY_LIBS)

$(B)/ferry-br: $(OBJS_BR)
	$(CC) $(OBJS_BR) -o $@ $(LDSTATIC) $(LDLIBS) $(BRLIBS)

$(B)/brotli.flag: FORCE
	@mkdir -p $(B); echo '$(BROTLI)' | cmp -s - $@ || echo '$(BROTLI)' >$@
FORCE:

$(B)/libferry.a: $(LIBOBJS)
	@rm -f $@; ar rcs $@ $^

# test-encode-br: test-encode.c with FERRY_BROTLI against encode.c's brotli object (linked
# before libferry.a, whose encode.o it then replaces); brotli's decoder checks what it made.
$(B)/tests/test-encode-br: tests/unit/test-encode.c $(B)/obj-br/src/handler/encode.o \
		$(B)/libferry.a tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFERRY_BROTLI=1 -Itests/unit $< $(B)/obj-br/src/handler/encode.o \
		$(B)/libferry.a -o $@ -pthread $(LDLIBS) -lbrotlidec $(BRLIBS)
$(B)/tests/%: tests/unit/%.c $(B)/libferry.a tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $< $(B)/libferry.a -o $@ -pthread $(LDLIBS)

$(B)/fuzz/replay-%: fuzz/fuzz-%.c fuzz/replay.c $(B)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) fuzz/fuzz-$*.c fuzz/replay.c $(B)/libferry.a -o $@ -pthread $(LDLIBS)

# The tests' HTTP/3 client (tests/tools/h3client.c; Debian 12 has none that sends any field),
# on the libraries ferry links, dynamically (it is no part of the release binary). Its QUIC
# connection is bench/quicconn.c, shared with bench/h3load.c: a tool's .c prerequisites are
# compiled together, with -Ibench.
TOOLS   := $(B)/tools/h3client
TOOLLIBS := -lngtcp2_crypto_gnutls -lngtcp2 -lnghttp3 $(shell pkg-config --libs gnutls 2>/dev/null)

$(B)/tools/h3client: bench/quicconn.c bench/quicconn.h

$(B)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ibench $(filter %.c,$^) -o $@ $(filter-out -static,$(LDSTATIC)) $(TOOLLIBS)

deps:
	@scripts/deps.sh

# The libraries every link names (scripts/fuzz.sh links its targets with them).
print-ldlibs:
	@echo $(LDLIBS)

# Everything the test runner needs, for one build flavour.
tests-built: $(B)/ferry $(B)/ferry-br $(UNITS) $(REPLAYS) $(TOOLS)

check: deps
	@$(MAKE) --no-print-directory tests-built
	@$(MAKE) --no-print-directory B=$(SAN) CC=gcc OPT="-O1 -g $(SANFLAGS)" LDSTATIC="$(SANFLAGS) -pthread" tests-built
	@FERRY_FUZZ_SECONDS=$${FERRY_FUZZ_SECONDS:-10} FERRY_E2E=$${FERRY_E2E:-1} tests/run.sh $(B) $(SAN)

# Quick loop while developing: normal build only.
test: $(B)/ferry $(B)/ferry-br $(UNITS) $(REPLAYS) $(TOOLS)
	@tests/run.sh $(B)

demo: deps $(B)/ferry
	@scripts/demo.sh

fuzz: deps
	@scripts/fuzz.sh

bench: deps $(B)/ferry
	@bench/run.sh

# The container image (packaging/Containerfile), built offline: localhost/ferry:latest.
image: $(B)/ferry
	@packaging/build-image.sh $(B)/ferry

# End-to-end: the image under Podman, with and without a systemd manager (tests/e2e/run.sh).
e2e: $(B)/ferry
	@tests/e2e/run.sh $(B)/ferry

clean:
	rm -rf $(B) $(SAN) build-fuzz

-include $(shell find $(B)/obj $(B)/obj-br -name '*.d' 2>/dev/null)

# --- make install / uninstall / man --------------------------------------------------------
# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binary, ferry(1) and ferry.conf(5) (built
# from docs/*.md by scripts/md2man.py, their one source), bash completion, the examples, the
# README and the licence texts of what the static binary contains (Debian's copyright file of
# each package in LICENSE_PKGS, and the common licences it names). `make uninstall` removes
# them. tests/integration/test_install.sh checks the installed tree.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/ferry
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
FERRY_BIN   ?= $(B)/ferry
MANBUILD    ?= $(B)/man
MANPAGES    := $(MANBUILD)/ferry.1 $(MANBUILD)/ferry.conf.5
LICENSE_PKGS ?= libc6-dev
EXAMPLES    := $(filter-out packaging/examples/generate.sh,$(wildcard packaging/examples/*))

.PHONY: man install uninstall
man: $(MANPAGES)

# The date of a page is its source's last commit (the file's time outside git).
$(MANBUILD)/%: docs/%.md scripts/md2man.py VERSION
	@mkdir -p $(dir $@)
	@d=$$(git log -1 --format=%cs -- $< 2>/dev/null); [ -n "$$d" ] || d=$$(date -u -r $< +%F); \
	python3 scripts/md2man.py --version $(VERSION) --date $$d $< >$@.tmp && mv $@.tmp $@

install: $(FERRY_BIN) $(MANPAGES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)/licenses
	install -m 0755 $(FERRY_BIN) $(DESTDIR)$(BINDIR)/ferry
	install -m 0644 $(MANBUILD)/ferry.1 $(DESTDIR)$(MANDIR)/man1/ferry.1
	install -m 0644 $(MANBUILD)/ferry.conf.5 $(DESTDIR)$(MANDIR)/man5/ferry.conf.5
	install -m 0644 packaging/completion/ferry.bash $(DESTDIR)$(BASHCOMPDIR)/ferry
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	cp -R $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	chmod -R u+rwX,go+rX,go-w $(DESTDIR)$(DOCDIR)/examples
	@for f in $(wildcard LICENSE LICENSE.* COPYING); do \
		echo "install -m 0644 $$f $(DESTDIR)$(DOCDIR)/"; install -m 0644 $$f $(DESTDIR)$(DOCDIR)/; done
	@for p in $(LICENSE_PKGS); do \
		f=/usr/share/doc/$$p/copyright; \
		if [ ! -r $$f ]; then echo "install: warning: no $$f: the licence of $$p, which" \
			"$(FERRY_BIN) contains, is not installed" >&2; continue; fi; \
		echo "install -m 0644 $$f $(DESTDIR)$(DOCDIR)/licenses/$$p.copyright"; \
		install -m 0644 $$f $(DESTDIR)$(DOCDIR)/licenses/$$p.copyright; \
		for l in $$(grep -o '/usr/share/common-licenses/[A-Za-z0-9.+-]*' $$f | sort -u); do \
			[ -r $$l ] && install -m 0644 $$l $(DESTDIR)$(DOCDIR)/licenses/; \
		done; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ferry $(DESTDIR)$(MANDIR)/man1/ferry.1 \
		$(DESTDIR)$(MANDIR)/man5/ferry.conf.5 $(DESTDIR)$(BASHCOMPDIR)/ferry
	rm -rf $(DESTDIR)$(DOCDIR)
