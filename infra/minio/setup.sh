#!/bin/sh
# One-shot: the bucket, and a user that can reach only that bucket (infra/minio/policy.json).
set -eu
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing local/docuvault
mc admin policy create local docuvault-bucket /setup/policy.json 2>/dev/null \
  || mc admin policy add local docuvault-bucket /setup/policy.json
mc admin user add local "$DOCUVAULT_S3_ACCESS_KEY" "$DOCUVAULT_S3_SECRET_KEY"
mc admin policy attach local docuvault-bucket --user "$DOCUVAULT_S3_ACCESS_KEY" 2>/dev/null \
  || mc admin policy set local docuvault-bucket user="$DOCUVAULT_S3_ACCESS_KEY"
