#!/usr/bin/env bash
# A throwaway PostgreSQL server for the ace-store tests, on loopback.
#
#   scripts/postgres.sh start   install Debian's postgresql if missing, create
#                               the cluster (once), start it, create database
#                               ace_test, print its URL
#   scripts/postgres.sh url     print the URL (postgres://postgres@127.0.0.1:PORT/ace_test)
#   scripts/postgres.sh stop    stop the server and delete the cluster
#
# Idempotent: start on a running server only prints the URL. The cluster lives
# in $ACE_PG_DIR (default /tmp/ace-pg), owned by the `postgres` user when run
# as root (the server refuses to run as root), and listens on 127.0.0.1 only,
# port $ACE_PG_PORT (default 54329), trust authentication (loopback, tests
# only). fsync stays on: the durability tests and the group-commit bench
# measure real commits.
#
#   export ACE_TEST_PG_URL="$(scripts/postgres.sh start)"
set -euo pipefail

DIR="${ACE_PG_DIR:-/tmp/ace-pg}"
PORT="${ACE_PG_PORT:-54329}"
DB=ace_test
URL="postgres://postgres@127.0.0.1:${PORT}/${DB}"

log() { echo "postgres.sh: $*" >&2; }

# The newest installed server's binaries (Debian: /usr/lib/postgresql/15/bin).
bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

install_server() {
    if [ -n "$(bindir)" ] && [ -x "$(bindir)/initdb" ]; then
        return
    fi
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Runs a server binary as the user that owns the cluster.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [ -f "$DIR/data/PG_VERSION" ] && as_owner "$(bindir)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

start() {
    install_server
    local bin
    bin="$(bindir)"
    if running; then
        echo "$URL"
        return
    fi
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        rm -rf "$DIR"
        mkdir -p "$DIR"
        if [ "$(id -u)" = 0 ]; then
            chown postgres:postgres "$DIR"
        fi
        as_owner "$bin/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-instructions >"$DIR/initdb.log" 2>&1 ||
            { cat "$DIR/initdb.log" >&2; exit 1; }
        cat >>"$DIR/data/postgresql.conf" <<CONF
# scripts/postgres.sh: loopback only, tests only
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
CONF
    fi
    if ! as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null; then
        log "the server did not start (port $PORT taken?); its log:"
        tail -n 20 "$DIR/server.log" >&2 || true
        exit 1
    fi
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
    fi
    log "PostgreSQL $(cat "$DIR/data/PG_VERSION") running in $DIR on 127.0.0.1:$PORT"
    echo "$URL"
}

stop() {
    local bin
    bin="$(bindir)"
    if [ -n "$bin" ] && running; then
        as_owner "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
    fi
    rm -rf "$DIR"
    log "stopped; $DIR removed"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) echo "$URL" ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
