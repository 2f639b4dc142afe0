#!/usr/bin/env bash
# All of Madar's tests, on a fresh Debian/Ubuntu machine: makes sure PostgreSQL is installed
# and running (every database test runs on SQLite and PostgreSQL), builds the static
# tenant-bot binary for the Docker tests, then runs the workspace's tests. This is the
# README's test command; CI (.ci/run) calls it after its checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
    bash scripts/postgres.sh
else
    echo "Not root: assuming PostgreSQL is already running (see scripts/postgres.sh)."
fi
export MADAR_TEST_POSTGRES_URL="${MADAR_TEST_POSTGRES_URL:-postgres://madar:madar@127.0.0.1:5432/postgres}"

# The provisioner's tests run real tenant-bot containers: build the static binary (and the
# isolation probe) the FROM scratch image is made of.
bash docker/build-tenant-bot.sh

cargo test --workspace --locked "$@"
