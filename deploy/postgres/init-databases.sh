#!/bin/sh
# Runs once, when the postgres container starts on an empty data volume: one role and one
# database per service, each database closed to the other roles. Passwords from deploy/.env.
# (DB_NAME_PREFIX is for tests that run this script against a shared server; empty in compose.)
set -e
for service in intake aggregator publisher verifier; do
    name="${DB_NAME_PREFIX:-}${service}"
    password=$(printenv "$(echo "$service" | tr 'a-z' 'A-Z')_DB_PASSWORD")
    if [ -z "$password" ]; then
        echo "init-databases.sh: $(echo "$service" | tr 'a-z' 'A-Z')_DB_PASSWORD is empty" >&2
        false
    fi
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
