#!/usr/bin/env bash
# make bench: every figure the issues ask for, measured in one run against
# baselines measured in the same run. Prints; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bench
export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;;"
# Every target's row (bench/targets.lua), printed as one table at the end.
export BENCH_TARGETS=$PWD/build/bench/targets.tsv
: > "$BENCH_TARGETS"

# Realistic documents from the generator: 1 chunk and the 50-chunk cap, with
# 4 threads (the contract's sizes: ~2 MB a chunk, ~100 MB and 1.2 M samples
# for 50). Made again whenever the generator changes.
for n in 1 50; do
  f=build/bench/chunks-$n.json
  [ -s "$f" ] && [ "$f" -nt bench/gen.lua ] || luajit bench/gen.lua --chunks "$n" --threads 4 > "$f"
done

# Real profiles (../shared/fixtures/, or SENTRY_CHUNKS_FIXTURES): Python's
# 17-digit timestamps and Java's, which no generator shaped.
fixtures=${SENTRY_CHUNKS_FIXTURES:-../shared/fixtures}
real=()
for name in python_sdk_thread_pool java_async_profiler_wall; do
  f=$fixtures/$name.answer.json
  if [ -s "$f" ]; then real+=("$f"); else echo "== $f absent: real-profile figures skipped"; fi
done

for n in 1 50; do
  echo "== parse only, $n chunk(s)"
  build/parse_bench "build/bench/chunks-$n.json"
done
for f in ${real[@]+"${real[@]}"}; do
  echo "== parse only, real profile $(basename "$f")"
  build/parse_bench "$f" | tee build/bench/parse.out
  case $f in *python*)
    awk '{ for (i = 2; i <= NF; i++) if ($i == "MB/s") { r = $(i - 1) / 1000;
           printf "parse only (C), %s\t%.2f GB/s\t>= 1.2 GB/s\t%s\n", f, r, (r >= 1.2 ? "met" : "MISSED") } }' \
      f="$(basename "$f")" build/bench/parse.out >> "$BENCH_TARGETS" ;;
  esac
done

for v in 5.4 jit; do
  lua=lua$v; [ "$v" = jit ] && lua=luajit
  export LUA_CPATH="build/$v/?.so;;"
  for n in 1 50; do
    echo "== decode, $n chunk(s)"
    "$lua" bench/decode_bench.lua "build/bench/chunks-$n.json" 3
  done
  for f in ${real[@]+"${real[@]}"}; do
    echo "== decode, real profile $(basename "$f")"
    "$lua" bench/decode_bench.lua "$f" 3
  done
  echo "== columns layout, 50 chunks ($lua)"
  "$lua" bench/columns_bench.lua build/bench/chunks-50.json 3
  echo "== many small documents ($lua)"
  "$lua" bench/small_bench.lua
  echo "== peak memory while decoding the 50-chunk document (MB above start; result MB)"
  for mode in decode file16k cjson; do
    "$lua" bench/decode_bench.lua build/bench/chunks-50.json --rss "$mode" | sed 's/^/   /'
  done
  echo "== analysis on the 50-chunk document ($lua)"
  "$lua" bench/analysis_bench.lua build/bench/chunks-50.json
  echo "== fetch over loopback ($lua)"
  "$lua" bench/fetch_bench.lua build/bench/chunks-50.json
done

echo "== Neovim: the editor's loop during the 50-chunk fetch"
LUA_CPATH="build/5.4/?.so;;" lua5.4 bench/nvim_bench.lua

echo "== long ranges: concurrent windows"
LUA_CPATH="build/5.4/?.so;;" lua5.4 bench/range_bench.lua

echo "== OpenResty: another request's longest wait on the same worker during fetch + analysis of 50 chunks"
LUA_CPATH="build/5.4/?.so;;" lua5.4 bench/resty_bench.lua

# A day of one 4-thread profiler: 1,440 chunks, generated once into
# build/bench/day (about 3 GB; the first run takes several minutes) and
# served from there.
echo "== a day of profile: top over 24 h, window by window"
if [ ! -f build/bench/day/complete ] || [ bench/gen.lua -nt build/bench/day/complete ]; then
  rm -rf build/bench/day && mkdir -p build/bench/day
  LUA_CPATH="build/5.4/?.so;;" lua5.4 bench/day_bench.lua warm build/bench/day
fi
for v in 5.4 jit; do
  lua=lua$v; [ "$v" = jit ] && lua=luajit
  LUA_CPATH="build/$v/?.so;;" "$lua" bench/day_bench.lua run build/bench/day
done

echo
echo "== targets (issues 2-13), as measured in this run"
awk -F '\t' '{ printf "  %-62s %12s  %-12s %s\n", $1, $2, $3, $4 }' "$BENCH_TARGETS"
met=$(grep -c $'\tmet$' "$BENCH_TARGETS" || true)
missed=$(grep -c $'\tMISSED$' "$BENCH_TARGETS" || true)
echo "  $met met, $missed missed"
