# sentry-chunks: build the C core once per Lua, run the specs under each.
#   make demo   install what is missing, build, fetch a profile and summarise it
#   make test   install what is missing, build, run every spec on every Lua
#   make bench  install what is missing, throughput figures against the
#               baselines (no assertions)
#   make fuzz   run the libFuzzer decoder target for FUZZ_SECONDS

SHELL := /bin/bash
LUAS ?= 5.4 5.3 5.1 jit
BUILD := build
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -std=c99 -Wall -Wextra -Werror -pedantic -D_POSIX_C_SOURCE=200809L
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
SRC := $(wildcard src/*.c)
HDR := $(wildcard src/*.h)
FUZZ_SECONDS ?= 600

lua_inc_5.4 := /usr/include/lua5.4
lua_inc_5.3 := /usr/include/lua5.3
lua_inc_5.1 := /usr/include/lua5.1
lua_inc_jit := /usr/include/luajit-2.1
lua_bin_5.4 := lua5.4
lua_bin_5.3 := lua5.3
lua_bin_5.1 := lua5.1
lua_bin_jit := luajit

# Debian packages the build, the specs and the test server need.
DEB_PKGS := lua5.4 liblua5.4-dev lua5.3 liblua5.3-dev lua5.1 liblua5.1-0-dev \
  luajit2 libluajit2-5.1-dev lua-cjson lua-busted libcurl4-openssl-dev \
  lua-http lua-zlib lua-posix luarocks openssl pkg-config gcc make curl
DEB_PKGS_EXTRA := clang libclang-rt-14-dev valgrind neovim nginx libnginx-mod-http-lua golang-go

.PHONY: all deps deps-extra build test demo bench fuzz clean asan check-pow5 nvim
all: build

deps:
	@bash .ci/deps.sh $(DEB_PKGS)

deps-extra: deps
	@bash .ci/deps.sh $(DEB_PKGS_EXTRA)

define build_lua
$(BUILD)/$(1)/sentry/chunks/core.so: $(SRC) $(HDR)
	@mkdir -p $$(@D)
	$$(CC) $$(WARN) $$(CFLAGS) -fPIC -shared -I$$(lua_inc_$(1)) $$(CURL_CFLAGS) \
	  -o $$@ $$(SRC) $$(CURL_LIBS)
endef
$(foreach v,$(LUAS),$(eval $(call build_lua,$(v))))
$(if $(filter jit,$(LUAS)),,$(eval $(call build_lua,jit)))

build: deps $(foreach v,$(LUAS),$(BUILD)/$(v)/sentry/chunks/core.so)

# The Neovim plugin's build step (lazy.nvim `build = "make nvim"`, packer
# `run`, vim-plug `do`): only the LuaJIT core, no Lua 5.x, busted or server
# packages, copied to lua/sentry/chunks/core.so (git-ignored) where
# Neovim's require finds it through the runtimepath. Copied beside it and
# renamed over it: a Neovim that has the old one loaded (a plugin manager
# runs this step inside the editor on an update) keeps its mapping of the
# old file; `cp` onto it would rewrite the mapped code and crash the editor.
nvim: $(BUILD)/jit/sentry/chunks/core.so
	cp $(BUILD)/jit/sentry/chunks/core.so lua/sentry/chunks/core.so.new
	mv -f lua/sentry/chunks/core.so.new lua/sentry/chunks/core.so

# AddressSanitizer + UBSan build for Lua 5.4, with clang so that
# float-cast-overflow (a double out of an integer's range) is caught too
# (gcc's -fsanitize=undefined leaves it out). The interpreter itself is not
# instrumented: .ci/test.sh preloads clang's shared ASan runtime.
ASAN_CC ?= clang
$(BUILD)/asan/sentry/chunks/core.so: $(SRC) $(HDR)
	@mkdir -p $(@D)
	$(ASAN_CC) $(WARN) -O1 -g -fno-omit-frame-pointer -shared-libasan \
	  -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
	  -fPIC -shared -I$(lua_inc_5.4) $(CURL_CFLAGS) -o $@ $(SRC) $(CURL_LIBS)

asan: deps-extra $(BUILD)/asan/sentry/chunks/core.so

test: deps-extra build asan $(BUILD)/numcheck $(BUILD)/numcheck-portable nvim
	@bash .ci/test.sh $(LUAS)

# The project's modules, the spec helpers (the test server) and the bench
# generator, for the demo and the benchmarks.
RUN_PATH := LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;;" LUA_CPATH="$(BUILD)/5.4/?.so;;"

demo: deps build
	@$(RUN_PATH) $(lua_bin_5.4) examples/demo.lua

# the Neovim and OpenResty figures need nvim and nginx (deps-extra), as the
# specs do; without them those rows would be skipped, not missed
bench: deps-extra build nvim $(BUILD)/parse_bench
	@bash bench/run.sh

$(BUILD)/parse_bench: bench/parse_bench.c src/decoder.c src/decoder.h src/pow5_table.h
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -Isrc -o $@ bench/parse_bench.c src/decoder.c

$(BUILD)/fuzz_decoder: fuzz/fuzz_decoder.c src/decoder.c src/decoder.h src/pow5_table.h
	@mkdir -p $(@D)
	clang -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
	  -Isrc -o $@ fuzz/fuzz_decoder.c src/decoder.c

# The decoder's numbers against strtod (.ci/test.sh runs both): with the
# compiler's 128-bit integers, and with the portable 64x64 multiply.
NUMCHECK_DEPS := fuzz/numcheck.c src/decoder.c src/decoder.h src/pow5_table.h
$(BUILD)/numcheck: $(NUMCHECK_DEPS)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -Isrc -o $@ fuzz/numcheck.c src/decoder.c -lm
$(BUILD)/numcheck-portable: $(NUMCHECK_DEPS)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -DSC_NO_INT128 -Isrc -o $@ fuzz/numcheck.c src/decoder.c -lm

# src/pow5_table.h is generated and committed; this checks it is current.
check-pow5:
	python3 src/gen_pow5.py | diff -u src/pow5_table.h -

fuzz: deps-extra $(BUILD)/fuzz_decoder
	@mkdir -p $(BUILD)/fuzz-corpus
	cp -n fuzz/seeds/* $(BUILD)/fuzz-corpus/ 2>/dev/null || true
	$(BUILD)/fuzz_decoder -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -dict=fuzz/json.dict $(BUILD)/fuzz-corpus

clean:
	rm -rf $(BUILD)
