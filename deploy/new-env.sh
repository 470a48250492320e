#!/bin/sh
# deploy/.env from deploy/.env.example, with a new random value for every empty secret.
# Refuses to overwrite an existing deploy/.env. Needs openssl.
set -e
here=$(dirname "$0")
target="${1:-$here/.env}"
if [ -e "$target" ]; then
    echo "$target exists: edit it, or remove it first" >&2
    exit 1
fi
umask 077
awk '
    /^[A-Z0-9_]*_PASSWORD=$/ {
        command = "openssl rand -hex 24"
        command | getline secret
        close(command)
        $0 = $0 secret
    }
    { print }
' "$here/.env.example" > "$target"
echo "wrote $target (secrets generated; keep it out of git)"
