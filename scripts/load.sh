#!/usr/bin/env bash
# Load test: two app instances sharing one Redis (as on App Platform with
# .do/app.valkey.yaml), both talking to one separate sandbox as their
# DigitalOcean, and 64 connections holding the droplet page for 60 s
# (32 on each instance). Prints requests/s, p50/p99 latency, errors (must
# be 0) and each instance's RSS. A script that prints figures, not a test.
#
# The load goes through Redis, not around it: SESSIONS browsers (one per
# wrk thread, each hitting both instances) hold tokens that last TOKEN_TTL,
# so each session's token comes due for a refresh every TOKEN_TTL - 60 s
# (the app refreshes a minute early) while both instances serve it. The
# script prints the refreshes that reached the sandbox against the number
# expected (one per session per period): more would be a refresh token
# presented twice.
#
#   scripts/load.sh                 # 60 s
#   DURATION=10s scripts/load.sh    # a quick look (too short for a refresh)
#
# Needs redis-server and wrk (installed with apt-get when missing) and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60s}
CONNECTIONS=${CONNECTIONS:-64}
SESSIONS=${SESSIONS:-4}     # wrk threads per instance, one session each
TOKEN_TTL=${TOKEN_TTL:-85}  # seconds: a refresh every 25 s

need() {
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
need wrk wrk
need redis-server redis-server

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return
    sleep 0.1
  done
  echo "no answer from $1" >&2; exit 1
}

echo "building the app and the load rig"
go build -o "$work/dosignin" .
go build -o "$work/loadrig" ./scripts/loadrig

redis_port=$(free_port); up_port=$(free_port); app1=$(free_port); app2=$(free_port)
redirect="http://localhost:$app1/digitalocean"

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
"$work/loadrig" upstream -addr "127.0.0.1:$up_port" -redirect "$redirect" -ttl "${TOKEN_TTL}s" &
pids+=($!)
wait_http "http://127.0.0.1:$up_port/static/sandbox.css"

start_app() {
  PORT=$1 \
  DIGITALOCEAN_CLIENT_ID=load-client DIGITALOCEAN_CLIENT_SECRET=load-secret-0123456789abcdef \
  DIGITALOCEAN_OAUTH_URL="http://127.0.0.1:$up_port/v1/oauth" DIGITALOCEAN_API_URL="http://127.0.0.1:$up_port" \
  DIGITALOCEAN_REDIRECT_URL="$redirect" \
  SESSION_SECRET=load-test-secret-shared-by-both-instances-0123 \
  REDIS_URL="redis://127.0.0.1:$redis_port" LOG_LEVEL=warn \
    "$work/dosignin" >"$work/app-$1.log" 2>&1 &
  pids+=($!)
  echo $! >"$work/app-$1.pid"
}
start_app "$app1"
start_app "$app2"
wait_http "http://127.0.0.1:$app1/healthz"
wait_http "http://127.0.0.1:$app2/healthz"
echo "instance 1 /healthz: $(curl -fsS "http://127.0.0.1:$app1/healthz")"

login_start=$(date +%s.%N)
"$work/loadrig" login -app "http://localhost:$app1" -n "$SESSIONS" >"$work/cookies.txt"
login_end=$(date +%s.%N)
while read -r cookie; do
  for port in "$app1" "$app2"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$port/digitalocean")
    [ "$status" = 200 ] || { echo "droplet page on :$port answers $status before the run" >&2; exit 1; }
  done
done <"$work/cookies.txt"
stats() { curl -fsS "http://127.0.0.1:$up_port/loadrig/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
refreshes_before=$(stats Refreshes)

# Thread k of each wrk uses session k and keeps its cookie up to date from
# Set-Cookie, as a browser would after a refresh. Counts every answer that
# is not the droplet page (a 303 to / would be a signed-out user, which
# wrk alone counts as a success).
cat >"$work/count.lua" <<LUA
local threads = {}
local cookies = {}
for line in io.lines("$work/cookies.txt") do table.insert(cookies, (line:gsub("^do_session=", ""))) end
function setup(thread)
  table.insert(threads, thread)
  thread:set("cookie", cookies[(#threads - 1) % #cookies + 1])
end
function init(args) bad = 0; codes = "" end
function request()
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  h["Cookie"] = "do_session=" .. cookie
  return wrk.format(nil, nil, h)
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1; codes = codes .. " " .. status end
  local set = headers["Set-Cookie"]
  local new = set and set:match("do_session=([^;]+)")
  if new then cookie = new end
end
function done(summary, latency, requests)
  local n, codes = 0, ""
  for _, t in ipairs(threads) do n = n + t:get("bad"); codes = codes .. t:get("codes") end
  io.write(string.format("not-200: %d\n", n))
  if n > 0 then io.write("statuses:" .. codes:sub(1, 200) .. "\n") end
end
LUA

per=$((CONNECTIONS / 2))
echo "load: $CONNECTIONS connections ($per per instance) on /digitalocean for $DURATION, $SESSIONS sessions on both instances, tokens lasting ${TOKEN_TTL}s"
for port in "$app1" "$app2"; do
  wrk -t"$SESSIONS" -c"$per" -d"$DURATION" --latency -s "$work/count.lua" \
    "http://127.0.0.1:$port/digitalocean" >"$work/wrk-$port.txt" 2>&1 &
  wrk_pids+=($!)
done
wait "${wrk_pids[@]}"
run_end=$(date +%s.%N)
refreshes=$(( $(stats Refreshes) - refreshes_before ))

# wrk drops its connections when the time is up: those requests end as
# "Request cancelled" in the app's log and are no errors.
cancelled=$(cat "$work"/app-*.log | grep -c 'Request cancelled' || true)
other=$(cat "$work"/app-*.log | grep -v 'Request cancelled' | grep -v 'msg=request ' || true)
echo "instance logs: $cancelled requests cancelled by wrk at the end of the run${other:+; other lines:}"
[ -z "$other" ] || echo "$other" | head -20

total_rps=0; total_err=0; i=0
for port in "$app1" "$app2"; do
  i=$((i + 1)); f="$work/wrk-$port.txt"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  p50=$(awk '$1 == "50%" {print $2}' "$f")
  p99=$(awk '$1 == "99%" {print $2}' "$f")
  not200=$(awk '/^not-200:/ {print $2}' "$f")
  grep '^statuses:' "$f" || true
  sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f")
  sock=${sock:-0}
  rss=$(ps -o rss= -p "$(cat "$work/app-$port.pid")" | awk '{printf "%.1f MB", $1 / 1024}')
  printf 'instance %d: %8s req/s  p50 %-8s p99 %-8s errors %d (not 200: %s, socket: %s)  RSS %s\n' \
    "$i" "$rps" "$p50" "$p99" $((not200 + sock)) "$not200" "$sock" "$rss"
  total_rps=$(awk -v a="$total_rps" -v b="$rps" 'BEGIN {print a + b}')
  total_err=$((total_err + not200 + sock))
done
printf 'total:      %8s req/s  errors %d\n' "$total_rps" "$total_err"

# Each session's token was issued at its login and comes due every
# TOKEN_TTL - 60 s; a due token is refreshed by the next request.
period=$((TOKEN_TTL - 60))
expected() { awk -v a="$1" -v b="$run_end" -v p="$period" -v n="$SESSIONS" 'BEGIN {print n * int((b - a) / p)}'; }
lo=$(expected "$login_end"); hi=$(expected "$login_start")
[ "$lo" = "$hi" ] && want=$lo || want="$lo to $hi"
printf 'shared store: %d sessions, %d refreshes seen upstream, %s expected (one per session every %ds)\n' \
  "$SESSIONS" "$refreshes" "$want" "$period"
[ "$total_err" -eq 0 ] && [ "$refreshes" -le "$hi" ] && [ "$refreshes" -ge "$lo" ]
