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
count_tap() { # LOG STATUS [WHAT]
  local log=$1 status=$2 what=${3:+$3: } ok nok
  ok=$(grep -c '^ok ' "$log" || true)
  nok=$(grep -c '^not ok ' "$log" || true)
  if ! grep -q '^1\.\.[0-9]' "$log"; then
    echo "   ${what}no test plan: the run crashed"; nok=$((nok + 1))
  elif [ "$status" -ne 0 ] && [ "$nok" -eq 0 ]; then
    echo "   ${what}exited with status $status although every test passed:"
    grep -E 'ERROR: |SUMMARY: |runtime error' "$log" | head -5
    nok=$((nok + 1))
  fi
  passed=$((passed + ok)); failed=$((failed + nok))
  grep -A12 '^not ok ' "$log" | head -80 || true
  echo "   $ok passed, $nok failed"
}

# The busted passes, one per Lua and then ASan, run spec file by spec file,
# each file in a busted process of its own, as many at a time as the
# machine has cores (TEST_JOBS). Every process has its own test servers on
# ports the kernel picks and its own temporary folders; its heap holds only
# its own file's data (a GC-stress spec late in one long run walked every
# earlier file's leftovers on each cycle: minutes on 5.3). The results are
# counted afterwards, pass by pass; build/logs/NAME.log holds the pass's
# files' logs one after the other.
# start_busted NAME LUA CPATH FILE [busted args...]: the log goes to
# build/logs/NAME/FILE.log, the exit status to build/logs/NAME/FILE.status,
# its wall time in milliseconds to build/logs/NAME/FILE.ms.
start_busted() {
  local name=$1 lua=$2 cpath=$3 file=$4; shift 4
  local part="build/logs/$name/$(basename "$file" .lua)"
  (
    run() { # OUT [busted args...]: the file's busted run, its output to OUT
      local out=$1; shift
      SENTRY_CHUNKS_TEST_LUA="$lua" \
      LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;;" \
      LUA_CPATH="$cpath/?.so;;" \
        "$lua" /usr/bin/busted -o TAP "$@" "$file" >"$out" 2>&1
    }
    start=$(date +%s%N)
    run "$part.log" "$@"
    status=$?
    # LeakSanitizer's own tracer sometimes dies at exit on a loaded machine
    # ("Tracer caught signal 11"): no leak check took place, so the file
    # runs once more for one; said in its log, counted as the second run.
    if [ "$status" -ne 0 ] && grep -q 'LeakSanitizer has encountered a fatal error' "$part.log" &&
       ! grep -q '^not ok ' "$part.log"; then
      mv "$part.log" "$part.first.log"
      run "$part.log" "$@"
      status=$?
      echo "# LeakSanitizer itself failed on the first run ($part.first.log); run again" >>"$part.log"
    fi
    echo "$status" >"$part.status"
    echo $((($(date +%s%N) - start) / 1000000)) >"$part.ms" # for finding slow files
  ) &
}

# AddressSanitizer + UBSan (float-cast-overflow included) over the C core:
# the #asan specs on 5.4. The core is built by clang (Makefile), so clang's
# shared ASan runtime, which carries the UBSan handlers too, is preloaded.
asan_lib=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
asan_ready=
[ -f build/asan/sentry/chunks/core.so ] && [ -f "$asan_lib" ] && asan_ready=1
start_job() { # PASS FILE (PASS: lua-V or asan-5.4)
  case $1 in
    asan-5.4)
      # intercept_tls_get_addr=0: LeakSanitizer's record of the dynamic
      # TLS of dlopen'ed libraries (libcurl's TLS stack) can hold a bogus
      # range here ("DTLS 4 at 0x7f-..."), and its tracer then dies at exit
      # on every run of such a file ("Tracer caught signal 11"), checking
      # nothing. Without the interception the heap is still checked: a
      # leak is still reported (tried with a module that leaks 77 bytes).
      LD_PRELOAD="$asan_lib" ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:intercept_tls_get_addr=0" \
      LSAN_OPTIONS="suppressions=$PWD/.ci/lsan.supp:print_suppressions=0" \
        start_busted asan-5.4 lua5.4 build/asan "$2" --tags=asan ;;
    lua-*) start_busted "$1" "${bin[${1#lua-}]}" "build/${1#lua-}" "$2" ;;
  esac
}

# The test server's generated answers, made once for all the passes (its
# --answer-cache): a fresh folder each run, removed at the end.
SENTRY_CHUNKS_ANSWER_CACHE=$(mktemp -d /tmp/sentry-chunks-answers.XXXXXX)
export SENTRY_CHUNKS_ANSWER_CACHE
trap 'rm -rf "$SENTRY_CHUNKS_ANSWER_CACHE"' EXIT

passes=()
for v in "$@"; do
  lua=${bin[$v]:-}
  if [ -n "$lua" ] && command -v "$lua" >/dev/null; then
    case " ${passes[*]} " in *" lua-$v "*) ;; *) passes+=("lua-$v") ;; esac
  fi
done
[ -n "$asan_ready" ] && passes+=(asan-5.4)
# The largest spec files first, so that the last ones to finish are short.
files=$(ls -S spec/*_spec.lua)
for pass in "${passes[@]}"; do rm -rf "build/logs/$pass"; mkdir -p "build/logs/$pass"; done
jobs=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
running=0
for file in $files; do
  for pass in "${passes[@]}"; do
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
    start_job "$pass" "$file"
    running=$((running + 1))
  done
done
wait

# count_pass NAME: count_tap over each file's log, as one pass.
count_pass() {
  local name=$1 file part ok=0 nok=0 p0=$passed f0=$failed
  echo "== $name"
  : >"build/logs/$name.log"
  for file in $(ls spec/*_spec.lua); do
    part="build/logs/$name/$(basename "$file" .lua)"
    { echo "# $file"; cat "$part.log" 2>/dev/null; } >>"build/logs/$name.log"
    count_tap "$part.log" "$(cat "$part.status" 2>/dev/null || echo 1)" "$file" >>"build/logs/$name.report"
  done
  ok=$((passed - p0)); nok=$((failed - f0))
  grep -v '^   [0-9]* passed, [0-9]* failed$' "build/logs/$name.report" | head -80 || true
  rm -f "build/logs/$name.report"
  echo "   $ok passed, $nok failed"
}
for v in "$@"; do
  lua=${bin[$v]:-}
  if [ -z "$lua" ] || ! command -v "$lua" >/dev/null; then
    echo "== Lua $v: interpreter missing, counted as a failure"; failed=$((failed + 1)); continue
  fi
  count_pass "lua-$v"
done
if [ -n "$asan_ready" ]; then
  count_pass asan-5.4
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
