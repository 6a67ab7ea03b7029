#!/usr/bin/env bash
# PostgreSQL 15 baseline for durable POS ingestion: COPY of the same CSV into an
# equivalent table (synchronous_commit on) on a throwaway loopback cluster.
# Prints "PG_COPY_SECONDS <s>". Usage: pg_copy.sh <csv file>
set -euo pipefail
CSV="$1"
PGBIN=/usr/lib/postgresql/15/bin
PORT=${PG_BENCH_PORT:-55433}
DIR=$(mktemp -d /tmp/channelops_pgcopy.XXXXXX)
chmod 777 "$DIR"; cp "$CSV" "$DIR/in.csv"; chmod 644 "$DIR/in.csv"
AS=""; if [ "$(id -u)" = 0 ]; then AS="runuser -u postgres --"; fi
cleanup() { $AS "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
$AS "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
printf "listen_addresses='127.0.0.1'\nport=%s\nunix_socket_directories='%s'\nsynchronous_commit=on\nshared_buffers=512MB\nmax_wal_size=4GB\n" "$PORT" "$DIR" >>"$DIR/data/postgresql.conf"
$AS "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w start >/dev/null
$AS "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -q -c "
CREATE TABLE pos_lines (activity text NOT NULL, sku text NOT NULL, quantity bigint NOT NULL,
  date date NOT NULL, unit_price numeric(18,6), currency char(3), invoice_number text,
  invoice_line int, original_invoice_number text, customer_name text, customer_country char(2),
  customer_region text, customer_email_domain text, deal_registration_id text,
  UNIQUE (invoice_number, invoice_line));"
start=$(date +%s.%N)
$AS "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -q -c "\\copy pos_lines FROM '$DIR/in.csv' WITH (FORMAT csv, HEADER true)"
end=$(date +%s.%N)
echo "PG_COPY_SECONDS $(awk "BEGIN {print $end - $start}")"
