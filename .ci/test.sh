#!/usr/bin/env bash
# Runs the busted specs under every Lua named as an argument, then the
# AddressSanitizer pass and the rockspec install check, and writes the one
# summary line to build/summary.txt. Exit status: non-zero if anything failed
# or a Lua could not be tested.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0 failed=0
declare -A bin=([5.4]=lua5.4 [5.3]=lua5.3 [5.1]=lua5.1 [jit]=luajit)
mkdir -p build/logs

# count_tap LOG STATUS: adds the log's TAP results to the totals. A run
# that printed no plan line (busted crashed), or that exited non-zero with
# every test passing (a sanitizer's report at exit), counts as one failure.
count_tap() {
  local log=$1 status=$2 ok nok
  ok=$(grep -c '^ok ' "$log" || true)
  nok=$(grep -c '^not ok ' "$log" || true)
  if ! grep -q '^1\.\.[0-9]' "$log"; then
    echo "   no test plan: the run crashed"; nok=$((nok + 1))
  elif [ "$status" -ne 0 ] && [ "$nok" -eq 0 ]; then
    echo "   exited with status $status although every test passed:"
    grep -E 'ERROR: |SUMMARY: |runtime error' "$log" | head -5
    nok=$((nok + 1))
  fi
  passed=$((passed + ok)); failed=$((failed + nok))
  grep -A12 '^not ok ' "$log" | head -80 || true
  echo "   $ok passed, $nok failed"
}

run_busted() { # NAME LUA CPATH [busted args...]
  local name=$1 lua=$2 cpath=$3; shift 3
  echo "== $name"
  SENTRY_CHUNKS_TEST_LUA="$lua" \
  LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;;" \
  LUA_CPATH="$cpath/?.so;;" \
    "$lua" /usr/bin/busted -o TAP "$@" spec >"build/logs/$name.log" 2>&1
  count_tap "build/logs/$name.log" $?
}

for v in "$@"; do
  lua=${bin[$v]:-}
  if [ -z "$lua" ] || ! command -v "$lua" >/dev/null; then
    echo "== Lua $v: interpreter missing, counted as a failure"; failed=$((failed + 1)); continue
  fi
  run_busted "lua-$v" "$lua" "build/$v"
done

# AddressSanitizer + UBSan (float-cast-overflow included) over the C core:
# the #asan specs on 5.4. The core is built by clang (Makefile), so clang's
# shared ASan runtime, which carries the UBSan handlers too, is preloaded.
asan_lib=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
if [ -f build/asan/sentry/chunks/core.so ] && [ -f "$asan_lib" ]; then
  LD_PRELOAD="$asan_lib" ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
  LSAN_OPTIONS="suppressions=$PWD/.ci/lsan.supp:print_suppressions=0" \
    run_busted "asan-5.4" lua5.4 build/asan --tags=asan
else
  echo "== asan: build or clang runtime missing, counted as a failure"; failed=$((failed + 1))
fi

# The decoder's numbers against strtod in the "C" locale (fuzz/numcheck.c),
# with 128-bit integers and with the portable multiply, then under a locale
# whose decimal point is not '.' (ps_AF: U+066B, two bytes), generated here
# with localedef into build/locale when the machine has the sources.
run_numcheck() { # NAME BINARY [args...]
  local name=$1 bin=$2; shift 2
  echo "== $name"
  if [ ! -x "$bin" ]; then
    echo "   $bin missing, counted as a failure"; failed=$((failed + 1)); return
  fi
  "$bin" "$@" >"build/logs/$name.log" 2>&1
  count_tap "build/logs/$name.log" $?
}
run_numcheck numcheck build/numcheck
run_numcheck numcheck-portable build/numcheck-portable --quick
mkdir -p build/locale
[ -d build/locale/ps_AF.UTF-8 ] ||
  localedef -i ps_AF -f UTF-8 build/locale/ps_AF.UTF-8 >/dev/null 2>&1 || true
LOCPATH="$PWD/build/locale" run_numcheck numcheck-locale build/numcheck --locale ps_AF.UTF-8
grep -h '^ok .*# SKIP' build/logs/numcheck-locale.log || true

# The rockspec must build and install the module the way LuaRocks users
# type it: a plain `luarocks make`, no include or library flags. LuaRocks'
# server is out of reach here, so a config tells it that Debian's lua-cjson
# package provides the one dependency (elsewhere it installs the rock).
echo "== luarocks make"
rm -rf build/rocktree
cjson_version=$(dpkg-query -W -f='${Version}' lua-cjson 2>/dev/null | sed 's/[-+~].*//')
cat > build/luarocks-config.lua <<CONF
rocks_provided = { ["lua-cjson"] = "${cjson_version:-2.1.0}-1" }
CONF
if LUAROCKS_CONFIG="$PWD/build/luarocks-config.lua" \
     luarocks --lua-version=5.4 --tree build/rocktree make >build/logs/luarocks.log 2>&1 &&
   lua5.4 -e 'package.path="build/rocktree/share/lua/5.4/?.lua;build/rocktree/share/lua/5.4/?/init.lua;"..package.path
              package.cpath="build/rocktree/lib/lua/5.4/?.so;"..package.cpath
              local c = require "sentry.chunks"; assert(c.decode("[1]")[1] == 1)
              assert(c.client and require("sentry.chunks.analysis").top)' &&
   [ -x build/rocktree/bin/sentry-chunks ]; then
  echo "   1 passed, 0 failed"; passed=$((passed + 1))
else
  tail -20 build/logs/luarocks.log; echo "   0 passed, 1 failed"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed" > build/summary.txt
cat build/summary.txt
[ "$failed" -eq 0 ]
