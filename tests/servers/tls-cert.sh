#!/usr/bin/env bash
# Makes a self-signed certificate the usual way (openssl req -x509), for https test servers.
# Usage: tls-cert.sh DIR san|cn   writes DIR/cert.pem and DIR/key.pem.
#   san: with subjectAltName DNS:localhost,IP:127.0.0.1; cn: only /CN=localhost, as tutorials do.
# Installs the openssl command (Debian package) when it is missing.
set -euo pipefail
dir=$1 kind=${2:-san}
if ! command -v openssl >/dev/null; then
  echo "tls-cert.sh: installing openssl" >&2
  apt-get -o DPkg::Lock::Timeout=900 install -y -q openssl >&2
fi
args=(req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost
      -keyout "$dir/key.pem" -out "$dir/cert.pem")
if [ "$kind" = san ]; then
  args+=(-addext "subjectAltName=DNS:localhost,IP:127.0.0.1")
fi
openssl "${args[@]}" 2>/dev/null
