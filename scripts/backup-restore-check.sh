#!/usr/bin/env bash
# Backup and restore drill: on a throw-away deployment, take `deconflict backup` while a server
# is writing, restore it into a fresh database, and check that the restore is the same log, that
# it verifies, that its projections equal a replay, and that a server on it answers reads.
#
#   scripts/backup-restore-check.sh                # SQLite, in a temporary directory
#   scripts/backup-restore-check.sh POSTGRES_URL   # PostgreSQL: a throw-away schema in that database
#
# POSTGRES_URL is a --database-url (postgresql+psycopg://user@host:5432/db) whose role may create
# schemas; the drill creates one, and drops it as the "lost" database before restoring into the
# same name (a PostgreSQL backup restores under its schema's name). Needs python3 (its standard
# library does the HTTP and the JSON), and on PostgreSQL psql, pg_dump and pg_restore.
# DECONFLICT names the CLI (default: `deconflict` on PATH, else this checkout's
# .venv/bin/deconflict). Exits non-zero on the first mismatch, and then keeps its files (and the
# server logs) for a look.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
postgres_url="${1:-}"
if [ -n "${DECONFLICT:-}" ]; then
  cli="$DECONFLICT"
elif command -v deconflict >/dev/null 2>&1; then
  cli="deconflict"
else
  cli="$here/../.venv/bin/deconflict"
fi
export COLUMNS=250 # the CLI prints through rich, which would wrap lines at 80 columns
unset DECONFLICT_DATABASE_URL DECONFLICT_RECORD_ORIGIN

work="$(mktemp -d "${TMPDIR:-/tmp}/deconflict-drill.XXXXXX")"
server_pid=""
writer_pid=""
schema=""
libpq=""

cleanup() {
  local status=$?
  touch "$work/stop-writing"
  for pid in $writer_pid $server_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$schema" ]; then
    psql "$libpq" -q -c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null 2>&1 || true
  fi
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "drill FAILED (exit $status); its files and server logs are in $work" >&2
  fi
  exit "$status"
}
trap cleanup EXIT

settle() { # settle PID WHAT: wait for a background command; fail if it failed
  wait "$1" || fail "$2 failed"
}
step() { echo "== [${SECONDS}s] $*"; }
fail() {
  echo "MISMATCH: $*" >&2
  exit 1
}

# field PATH: one value of the JSON document on stdin, by a dotted path (numbers index lists).
field() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)' "$1"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve LOG DATABASE-OPTIONS...: start a server in the background; sets server_pid and base.
serve() {
  local log="$1" port
  shift
  port="$(free_port)"
  "$cli" serve "$@" --host 127.0.0.1 --port "$port" --log-level warning >"$log" 2>&1 &
  server_pid=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    if get /v1/health >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || fail "the server stopped at start; see $log"
    sleep 0.2
  done
  fail "the server did not answer within a minute; see $log"
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}

get() { # get PATH [TOKEN]: a read from the running server; fails on any non-2xx answer
  python3 - "$base$1" "${2:-}" <<'EOF'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1])
if sys.argv[2]:
    request.add_header("Authorization", "Bearer " + sys.argv[2])
with urllib.request.urlopen(request, timeout=30) as answer:
    sys.stdout.write(answer.read().decode("utf-8"))
EOF
}

# --- a throw-away deployment -------------------------------------------------------------------

if [ -z "$postgres_url" ]; then
  step "a throw-away SQLite deployment in $work"
  live=(--db "$work/live.sqlite")
  restored=(--db "$work/restored.sqlite")
else
  libpq="$(printf '%s' "$postgres_url" | sed -E 's#^postgresql\+[A-Za-z0-9_]+:#postgresql:#')"
  schema="deconflict_drill_$(python3 -c 'import secrets; print(secrets.token_hex(5))')"
  step "a throw-away PostgreSQL deployment in schema $schema"
  psql "$libpq" -v ON_ERROR_STOP=1 -q -c "CREATE SCHEMA \"$schema\""
  separator="?"
  case "$postgres_url" in *\?*) separator="&" ;; esac
  url="${postgres_url}${separator}options=-csearch_path%3D${schema},public"
  live=(--database-url "$url")
  restored=(--database-url "$url")
fi
# The live deployment's key. The restore gets a path of its own, still empty, so that the key it
# ends up with can only have come from the backup.
export DECONFLICT_SIGNING_KEY_PATH="$work/live.key"

step "writing parties, members and two conflicting declarations through the CLI"
# Independent commands run in pairs: each CLI start costs seconds (it loads the whole service).
host="$("$cli" init "${live[@]}" | tail -n 1)"
admin=("${live[@]}" --token "$host")
"$cli" party add alpha Alpha "${admin[@]}" >/dev/null &
first=$!
"$cli" party add bravo Bravo "${admin[@]}" >/dev/null &
second=$!
settle "$first" "adding party alpha"
settle "$second" "adding party bravo"
"$cli" member add alpha "alpha operator" "${admin[@]}" --json >"$work/alpha.json" &
first=$!
"$cli" member add bravo "bravo operator" "${admin[@]}" --json >"$work/bravo.json" &
second=$!
settle "$first" "adding alpha's operator"
settle "$second" "adding bravo's operator"
alpha="$(field token <"$work/alpha.json")"
bravo="$(field token <"$work/bravo.json")"
# In 2099, so that nothing expires while the drill runs.
cat >"$work/clinic.geojson" <<'EOF'
{"type": "Feature", "geometry": {"type": "Point", "coordinates": [41.0, 36.5]},
 "properties": {"kind": "site", "share_with": "all",
                "start": "2099-01-20T06:00:00Z", "end": "2099-01-20T18:00:00Z"}}
EOF
cat >"$work/patrol.geojson" <<'EOF'
{"type": "Feature",
 "geometry": {"type": "LineString", "coordinates": [[40.98, 36.49], [41.02, 36.51]]},
 "properties": {"kind": "movement", "share_with": ["alpha"],
                "times": ["2099-01-20T08:00:00Z", "2099-01-20T08:30:00Z"]}}
EOF
# Whichever of the two commits second raises the advisory: conflicts are found either way.
"$cli" declare "$work/clinic.geojson" "${live[@]}" --token "$alpha" --json >"$work/clinic.json" &
first=$!
"$cli" declare "$work/patrol.geojson" "${live[@]}" --token "$bravo" --json >"$work/patrol.json" &
second=$!
settle "$first" "declaring the clinic"
settle "$second" "declaring the patrol"
clinic="$(field declaration.id <"$work/clinic.json")"

# --- a backup while a server is writing ----------------------------------------------------------

step "serving it, and writing through the server while the backup is taken"
serve "$work/live-server.log" "${live[@]}"
[ "$(get /v1/advisories "$bravo" | field items.0.status)" = open ] ||
  fail "the patrol and the clinic raised no advisory"
# One writer process declaring alpha's sites until told to stop; it counts what it wrote. It
# pauses between writes so as not to starve the CLI of the CPU on a small machine.
python3 - "$base" "$alpha" "$work" <<'EOF' &
import json, pathlib, sys, time, urllib.request
base, token, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
written = 0
while not (work / "stop-writing").exists():
    written += 1
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [41.0 + 0.001 * (written % 10), 36.5]},
        "properties": {"kind": "site", "start": "2099-01-20T06:00:00Z",
                       "end": "2099-01-20T18:00:00Z", "share_with": "all", "label": f"w{written}"},
    }
    request = urllib.request.Request(
        base + "/v1/declarations",
        data=json.dumps(feature).encode("utf-8"),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=60).close()
    (work / "written.tmp").write_text(str(written))
    (work / "written.tmp").replace(work / "written")
    time.sleep(0.05)
EOF
writer_pid=$!
written() { cat "$work/written" 2>/dev/null || echo 0; }
wait_for_writes() { # wait_for_writes N: until the writer has written N declarations in all
  for _ in $(seq 1 600); do
    [ "$(written)" -ge "$1" ] && return 0
    kill -0 "$writer_pid" 2>/dev/null || fail "the writer stopped; see $work/live-server.log"
    sleep 0.1
  done
  fail "the writer wrote $(written) declarations in a minute, not $1"
}
wait_for_writes 3
"$cli" backup "${live[@]}" "$work/backup" --json >"$work/backup.json"
during="$(written)"
wait_for_writes $((during + 3))
touch "$work/stop-writing"
wait "$writer_pid" || fail "a write through the server failed"
writer_pid=""
events="$(field log.events <"$work/backup.json")"
last_seq="$(field log.last_seq <"$work/backup.json")"
size="$(field log.checkpoint_size <"$work/backup.json")"
[ "$size" = "$last_seq" ] || fail "the backup's checkpoint covers $size events, its log $last_seq"
get "/v1/record/checkpoints/$size" >"$work/live-checkpoint.txt"
live_size="$(get /v1/record/checkpoint | sed -n 2p)"
[ "$live_size" -gt "$size" ] || fail "no write landed after the backup (log $live_size, backup $size)"
echo "   backup at seq $last_seq ($events events) while writing; the live log went on to $live_size"
stop_server

# --- the restore -------------------------------------------------------------------------------

if [ -n "$schema" ]; then
  step "dropping schema $schema: the deployment is lost"
  psql "$libpq" -v ON_ERROR_STOP=1 -q -c "DROP SCHEMA \"$schema\" CASCADE" 2>/dev/null
fi
export DECONFLICT_SIGNING_KEY_PATH="$work/restored.key"
step "restoring into a fresh database"
"$cli" restore "$work/backup" "${restored[@]}"
[ -s "$work/restored.key" ] || fail "the restore did not put the signing key in place"
cmp -s "$work/live.key" "$work/restored.key" || fail "the restored signing key is another key"

step "checking the restore"
"$cli" verify "${restored[@]}" >"$work/verify.txt" &
first=$!
"$cli" rebuild --check "${restored[@]}" >"$work/replay.txt" &
second=$!
settle "$first" "deconflict verify on the restore"
settle "$second" "deconflict rebuild --check on the restore"
sed 's/^/   /' "$work/verify.txt" "$work/replay.txt"
grep -q "^INTACT: $events events .*signatures verify" "$work/verify.txt" ||
  fail "deconflict verify did not find the backup's $events events intact"

serve "$work/restored-server.log" "${restored[@]}"
get /v1/record/checkpoint >"$work/restored-latest.txt"
[ "$(sed -n 2p "$work/restored-latest.txt")" = "$last_seq" ] ||
  fail "the restored log ends at $(sed -n 2p "$work/restored-latest.txt"), the backup at $last_seq"
get "/v1/record/checkpoints/$size" >"$work/restored-checkpoint.txt"
cmp -s "$work/live-checkpoint.txt" "$work/restored-checkpoint.txt" ||
  fail "the restored checkpoint $size differs from the one the live log signed"
read_back="$(get "/v1/declarations/$clinic" "$alpha")"
[ "$(printf '%s' "$read_back" | field id)" = "$clinic" ] ||
  fail "the restored server did not answer the clinic's declaration: $read_back"
[ "$(get /v1/advisories "$bravo" | field items.0.status)" = open ] ||
  fail "the restored server lost bravo's advisory"
stop_server

echo "OK: the backup taken at seq $last_seq while writing restores to the same log ($events events," \
  "checkpoint $size signed by the same key), verifies, equals a replay, and serves reads."
