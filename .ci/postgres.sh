#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 server for the tests: a temporary data directory,
# trust authentication, loopback only. Source it: it exports HASHBEACON_TEST_POSTGRES
# (the URL the PostgreSQL tests connect to) and stops the server when the shell exits.
#
#   source .ci/postgres.sh [PORT]      # default port 54330
set -euo pipefail

hb_pg_port="${1:-${HASHBEACON_TEST_POSTGRES_PORT:-54330}}"
hb_pg_bin="$(pg_config --bindir)"
hb_pg_dir="$(mktemp -d /tmp/hashbeacon-pg.XXXXXX)"
chown postgres "$hb_pg_dir"

runuser -u postgres -- "$hb_pg_bin/initdb" -D "$hb_pg_dir/data" -U postgres -A trust \
    --no-sync -E UTF8 >"$hb_pg_dir/initdb.log"
runuser -u postgres -- "$hb_pg_bin/pg_ctl" -D "$hb_pg_dir/data" -l "$hb_pg_dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $hb_pg_port -k $hb_pg_dir -c fsync=off -c max_connections=200" start \
    >/dev/null

hb_pg_stop() {
    runuser -u postgres -- "$hb_pg_bin/pg_ctl" -D "$hb_pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$hb_pg_dir"
}
trap hb_pg_stop EXIT

export HASHBEACON_TEST_POSTGRES="postgres://postgres@127.0.0.1:$hb_pg_port/postgres"
echo "PostgreSQL $("$hb_pg_bin/postgres" --version | awk '{print $3}') at $HASHBEACON_TEST_POSTGRES"
