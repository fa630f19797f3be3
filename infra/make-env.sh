#!/usr/bin/env bash
# Writes infra/.env from infra/.env.example with a strong random value (32 bytes,
# URL-safe) for every secret (a *PASSWORD or *SECRET_KEY) the example leaves empty.
# Refuses to overwrite an existing infra/.env (pass --force to replace it: the running
# stack's databases keep the old passwords).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${DOCLSTM_ENV_FILE:-$here/.env}"
if [[ -e "$target" && "${1:-}" != "--force" ]]; then
    echo "$target exists; pass --force to replace it" >&2
    exit 1
fi
umask 077  # the file holds passwords: readable by its owner only
tmp="$(mktemp "$target.XXXXXX")"
while IFS= read -r line; do
    case "$line" in
        *PASSWORD=|*SECRET_KEY=)
            echo "$line$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" ;;
        *) echo "$line" ;;
    esac
done < "$here/.env.example" > "$tmp"
mv "$tmp" "$target"
echo "wrote $target"
