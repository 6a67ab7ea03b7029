#!/usr/bin/env bash
# PostgreSQL 15 baseline for a durable append: the transactional-outbox pattern
# (INSERT the event + INSERT the outbox row in one transaction) with
# synchronous_commit=on, driven by pgbench with N concurrent clients.
# Starts a throwaway cluster on loopback under a temp dir, prints
#   PG_TPS <transactions/s>
# and removes the cluster. Usage: pg_baseline.sh <clients> <seconds>
set -euo pipefail
CLIENTS=${1:-64}
SECS=${2:-10}
PGBIN=/usr/lib/postgresql/15/bin
PORT=${PG_BENCH_PORT:-55432}
DIR=$(mktemp -d /tmp/channelops_pgbench.XXXXXX)
chmod 777 "$DIR"
AS=""
if [ "$(id -u)" = 0 ]; then AS="runuser -u postgres --"; fi
cleanup() { $AS "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
$AS "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
synchronous_commit = on
fsync = on
max_connections = 200
shared_buffers = 512MB
wal_buffers = 16MB
commit_delay = 0
CONF
$AS "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w start >/dev/null
$AS "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -q -c "
CREATE TABLE events (global_position bigserial PRIMARY KEY, stream_id text NOT NULL,
  stream_version bigint NOT NULL, event_id uuid NOT NULL, event_type text NOT NULL,
  payload bytea NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, stream_version));
CREATE TABLE outbox (global_position bigint PRIMARY KEY, published boolean NOT NULL DEFAULT false);"
cat >"$DIR/append.sql" <<'SQL'
\set s random(1, 1000000000)
BEGIN;
WITH e AS (INSERT INTO events (stream_id, stream_version, event_id, event_type, payload)
  VALUES ('s-' || :client_id || '-' || :s, 1, gen_random_uuid(), 'channelops.bench.v1.Appended',
          decode(repeat('ab', 150), 'hex')) RETURNING global_position)
INSERT INTO outbox (global_position) SELECT global_position FROM e;
COMMIT;
SQL
chmod 644 "$DIR/append.sql"
OUT=$($AS "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -c "$CLIENTS" -j 2 -T "$SECS" -f "$DIR/append.sql" postgres 2>&1)
TPS=$(echo "$OUT" | awk '/^tps/ {print $3; exit}')
echo "PG_TPS $TPS"
