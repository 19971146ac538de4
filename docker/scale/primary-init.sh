#!/bin/sh
# The scale profile's PostgreSQL primary (docker-compose.yml), run once on an empty data folder:
# a role the streaming replica connects as, replication connections allowed for it, and JIT off
# for the database (PgBouncer in transaction mode takes no startup options; README, "Connection
# pooling").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${POSTGRES_REPLICATION_PASSWORD}';
ALTER DATABASE "${POSTGRES_DB}" SET jit = off;
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
