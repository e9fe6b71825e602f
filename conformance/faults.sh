#!/usr/bin/env bash
# Crash safety under load: the load generator runs full ACME flows while the
# server is killed with SIGKILL and restarted, on SQLite and then on two
# PostgreSQL replicas (killed in turn). Afterwards the store is checked
# against what the clients received: every certificate a client downloaded
# is in the store, and no order is left `processing` nor any certificate
# `issuing` once the reconcile interval has passed.
source "$(dirname "$0")/lib/common.sh"
echo "conformance: kill -9 under ACME load"
build
export SIGNET_ACME__VALIDATION__HOSTS='*.example.test=127.0.0.1'
export SIGNET_RECONCILE_AFTER_SECS=2
DURATION=${FAULTS_DURATION:-12}
KILLS=${FAULTS_KILLS:-3}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME DATA HTTPS_PORT HTTP_PORT [ARGS…]: (re)start a server on fixed
# ports (clients keep their URLs across restarts); sets PID_<NAME>.
start() {
  local name=$1 data=$2 hp=$3 p=$4; shift 4
  "$SIGNET" serve --data-dir "$data" --listen "127.0.0.1:$hp" --http-listen "127.0.0.1:$p" "$@" \
    >>"$WORK/$name.out" 2>>"$WORK/$name.log" &
  PIDS+=($!)
  printf -v "PID_$name" '%s' "$!"
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "$name did not start"; tail -5 "$WORK/$name.log"; return 1
}

# load NAME HTTPS_PORT HTTP01_PORT DATA: ACME flows for $DURATION s, recording serials.
load() {
  "$LOADGEN" acme --directory "https://127.0.0.1:$2/acme/directory" --ca-bundle "$4/root.pem" \
    --concurrency 6 --duration-secs "$DURATION" --http-port "$3" --domain "$1.example.test" \
    --request-timeout-secs 5 --record "$WORK/$1.serials" >"$WORK/$1.load.json" 2>"$WORK/$1.load.log"
}

# chaos NAME DATA HTTPS_PORT HTTP_PORT [ARGS…]: SIGKILL and restart, $KILLS times.
chaos() {
  local name=$1 pidvar="PID_$1"
  for _ in $(seq 1 "$KILLS"); do
    sleep "$(python3 -c "import random; print(round(random.uniform(1.5, 3.0), 2))")"
    kill -9 "${!pidvar}"
    wait "${!pidvar}" 2>/dev/null || true
    start "$@"
  done
}

# verdict RECEIVED_SERIALS STORED_SERIALS STUCK: the comparison itself.
verdict() {
  local received stored missing
  received=$(sed 's/^0*//' "$1" | sort -u)
  stored=$(sed 's/^0*//' "$2" | sort -u)
  missing=$(comm -23 <(echo "$received") <(echo "$stored"))
  log "clients received $(echo "$received" | grep -c .) certificates; stuck rows: $3"
  [ -z "$missing" ] || { echo "received but not in the store: $missing"; return 1; }
  [ "$(echo "$received" | grep -c .)" -gt 0 ] || { echo "no certificate was received"; return 1; }
  [ "$3" = 0 ]
}

STUCK_SQL="SELECT (SELECT COUNT(*) FROM acme_orders WHERE status = 'processing') + (SELECT COUNT(*) FROM certificates WHERE status = 'issuing')"

sqlite_kills() {
  local data="$WORK/sqlite" hp p h1
  hp=$(free_port); p=$(free_port); h1=$(free_port)
  export SIGNET_ACME__VALIDATION__HTTP01_PORT=$h1
  start sq "$data" "$hp" "$p"
  load sq "$hp" "$h1" "$data" &
  local lg=$!
  chaos sq "$data" "$hp" "$p"
  wait "$lg" || { cat "$WORK/sq.load.log"; true; }
  jq -c '{flows, errors}' "$WORK/sq.load.json" 2>/dev/null | sed 's/^/       /' || true
  # Past the reconcile interval, the server has settled what the kills left.
  sleep 4
  sqlite3 "$data/signet.db" "SELECT lower(serial) FROM certificates WHERE status = 'active'" >"$WORK/sq.stored"
  verdict "$WORK/sq.serials" "$WORK/sq.stored" "$(sqlite3 "$data/signet.db" "$STUCK_SQL")"
}
check "SQLite: $KILLS kill -9 under load; every certificate received is stored, nothing stuck" sqlite_kills

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGD=$(mktemp -d /tmp/signet-faults-pg.XXXXXX)
PGPORT=$(free_port)
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$PGD"
as_pg "$PGBIN/initdb -D $PGD/data -A trust -U postgres" >/dev/null
as_pg "$PGBIN/pg_ctl -D $PGD/data -l $PGD/log -w -o \"-k $PGD -c listen_addresses=127.0.0.1 -p $PGPORT\" start" >/dev/null
trap 'as_pg "$PGBIN/pg_ctl -D $PGD/data -m immediate stop" >/dev/null 2>&1; rm -rf "$PGD"; cleanup' EXIT
PG="postgres://postgres@127.0.0.1:$PGPORT/postgres"

postgres_kills() {
  export SIGNET_MASTER_KEY
  SIGNET_MASTER_KEY=$(openssl rand -base64 32)
  local a="$WORK/pg-a" b="$WORK/pg-b" ahp ap bhp bp h1a h1b
  ahp=$(free_port); ap=$(free_port); bhp=$(free_port); bp=$(free_port); h1a=$(free_port); h1b=$(free_port)
  # One validation port for both replicas: each load generator answers for
  # its own names, so each replica gets its own, through its environment.
  SIGNET_ACME__VALIDATION__HTTP01_PORT=$h1a start pa "$a" "$ahp" "$ap" --database-url "$PG"
  SIGNET_ACME__VALIDATION__HTTP01_PORT=$h1b start pb "$b" "$bhp" "$bp" --database-url "$PG"
  load pa "$ahp" "$h1a" "$a" &
  local la=$!
  load pb "$bhp" "$h1b" "$b" &
  local lb=$!
  SIGNET_ACME__VALIDATION__HTTP01_PORT=$h1a chaos pa "$a" "$ahp" "$ap" --database-url "$PG" &
  local ca=$!
  SIGNET_ACME__VALIDATION__HTTP01_PORT=$h1b chaos pb "$b" "$bhp" "$bp" --database-url "$PG"
  wait "$ca" || true
  wait "$la" || true
  wait "$lb" || true
  for n in pa pb; do jq -c '{flows, errors}' "$WORK/$n.load.json" 2>/dev/null | sed "s/^/       $n /" || true; done
  sleep 4
  local psql=("$PGBIN/psql" -qAt -h 127.0.0.1 -p "$PGPORT" -U postgres postgres)
  "${psql[@]}" -c "SELECT lower(serial) FROM certificates WHERE status = 'active'" >"$WORK/pg.stored"
  cat "$WORK/pa.serials" "$WORK/pb.serials" >"$WORK/pg.serials" 2>/dev/null || true
  verdict "$WORK/pg.serials" "$WORK/pg.stored" "$("${psql[@]}" -c "$STUCK_SQL")"
}
check "PostgreSQL, two replicas: $KILLS kill -9 each under load; every certificate received is stored, nothing stuck" postgres_kills

summary
