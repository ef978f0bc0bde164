#!/usr/bin/env bash
# Measures the app against issue 11's targets (droplet page against its
# upstream, index against bare net/http, round trips for 1,000 droplets at
# 50 ms a call, peak RSS, bytes on the wire, CPU per login) and prints each
# figure with its ratio, then one summary line. It prints figures; it is not
# a test. Takes about a minute.
#
#   scripts/bench.sh            # 5 s per wrk run
#   BENCH_DURATION=10s scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/dosignin" .
go build -o "$out/bench" ./scripts/bench
"$out/bench" -app "$out/dosignin" -d "${BENCH_DURATION:-5s}"
