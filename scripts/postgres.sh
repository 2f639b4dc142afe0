#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages when missing, starts it, and creates the `madar`
# role the tests connect as (it may create databases: each test makes its own).
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
    pg_ctlcluster "$version" main start
fi

for _ in $(seq 1 30); do
    if su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1; then break; fi
    sleep 1
done

su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'madar'\"" | grep -q 1 \
    || su postgres -c "psql -qc \"CREATE ROLE madar LOGIN SUPERUSER PASSWORD 'madar'\""
echo "PostgreSQL $version is running; role madar is ready."
