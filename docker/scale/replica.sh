#!/bin/sh
# The scale profile's streaming replica (docker-compose.yml): on an empty data folder, a base
# backup of the primary with the standby settings written (-R), then a hot standby that follows it.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup --host=pg-primary --username=replicator --pgdata="$PGDATA" \
        --wal-method=stream --write-recovery-conf --progress; do
        echo "waiting for the primary"
        rm -rf "${PGDATA:?}"/*
        sleep 2
    done
    chmod 0700 "$PGDATA"
fi
# A hot standby needs at least the primary's max_connections (docker-compose.yml).
exec postgres -c hot_standby=on -c hot_standby_feedback=on -c max_connections=200
