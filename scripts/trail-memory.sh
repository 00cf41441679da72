#!/usr/bin/env bash
# The embedded server's memory as it stores trail points (BENCHMARKS.md, "Trail memory").
# One `marauder serve`; four rounds of `marauder bench` ingest (1,000 new players each,
# pushing as fast as the server takes them) store 10k, then 1M, 2M and 4M points in all;
# after each round, and SETTLE seconds of quiet, the server's resident memory.
#
#   scripts/trail-memory.sh target/release/marauder [serve flags, e.g. --store-cache-mib 64]
set -euo pipefail
bin=$1
shift
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir" --tiles none --limits off "$@" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk "/^$1:/ {print int(\$2 / 1024)}" "/proc/$pid/status"; }
total=0
line=""
for m in 10 990 1000 2000; do
  "$bin" bench --url "http://127.0.0.1:$port" -n 1000 -m "$m" -s 0 --no-receivers --quiet >/dev/null
  total=$((total + m * 1000))
  sleep "${SETTLE:-11}"
  line="$line $((total / 1000))k points: $(rss VmRSS) MiB;"
done
echo "RSS after$line peak $(rss VmHWM) MiB; database $(du -sm "$dir" | cut -f1) MiB"
