#!/usr/bin/env bash
# First start of the compose PostgreSQL: each service's database and its two roles.
set -euo pipefail
for service in ingest catalog; do
  upper=${service^^}
  migrator_var="${upper}_MIGRATOR_PASSWORD"
  app_var="${upper}_APP_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v db="docuvault_${service}" \
    -v migrator="docuvault_${service}_migrator" -v app="docuvault_${service}_app" \
    -v migrator_password="${!migrator_var}" -v app_password="${!app_var}" \
    -f /docuvault/roles.sql
done
