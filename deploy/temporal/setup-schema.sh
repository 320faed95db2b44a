#!/bin/sh
# One-shot: Temporal's two PostgreSQL databases (default store `temporal`, visibility store
# `temporal_visibility`) created if missing and their schemas brought to the version shipped in
# this admin-tools image, with temporal-sql-tool. Run by the `temporal-schema` job of
# docker-compose.yml before the server starts, and again after every server upgrade (the new
# admin-tools image carries the new schema versions). Safe to re-run: setup-schema -v 0.0 skips
# a database already past 0.0 and update-schema applies only the versions it lacks.
#
# Reads: POSTGRES_SEEDS (host), DB_PORT (5432), POSTGRES_USER, SQL_PASSWORD (temporal-sql-tool
# reads it itself), TEMPORAL_DB (temporal), TEMPORAL_VISIBILITY_DB (temporal_visibility),
# SCHEMA_DIR (/etc/temporal/schema/postgresql/v12 in the admin-tools image).
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS, the PostgreSQL host}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${SQL_PASSWORD:?set SQL_PASSWORD, the PostgreSQL password}"
PORT=${DB_PORT:-5432}
SCHEMA_DIR=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

attempt=1
until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
    if [ "$attempt" -ge 30 ]; then
        echo "temporal-schema: PostgreSQL $POSTGRES_SEEDS:$PORT unreachable" >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
done

setup() {  # database, schema subdirectory
    # `create` fails when the database exists; setup-schema then fails loudly if it does not.
    sql_tool --db "$1" create 2>/dev/null || echo "temporal-schema: database $1 already exists" >&2
    sql_tool --db "$1" setup-schema -v 0.0
    sql_tool --db "$1" update-schema -d "$SCHEMA_DIR/$2/versioned"
    echo "temporal-schema: $1 is at the schema of this admin-tools image" >&2
}

setup "${TEMPORAL_DB:-temporal}" temporal
setup "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}" visibility
