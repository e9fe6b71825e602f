#!/usr/bin/env bash
# dns-01 hook for lego (--dns exec) and certbot (--manual-auth-hook): writes the
# TXT value into the directory that signet-testdns answers from.
#   lego:    dns-hook.sh present|cleanup <fqdn> <value>
#   certbot: dns-hook.sh certbot-auth|certbot-cleanup   (CERTBOT_DOMAIN, CERTBOT_VALIDATION)
set -euo pipefail
: "${DNS_DIR:?DNS_DIR must point at the record directory of the test DNS server}"
case "$1" in
  present) name=${2%.}; echo "$3" >> "$DNS_DIR/$name" ;;
  cleanup) name=${2%.}; rm -f "$DNS_DIR/$name" ;;
  certbot-auth) echo "$CERTBOT_VALIDATION" >> "$DNS_DIR/_acme-challenge.${CERTBOT_DOMAIN#\*.}" ;;
  certbot-cleanup) rm -f "$DNS_DIR/_acme-challenge.${CERTBOT_DOMAIN#\*.}" ;;
  *) echo "unknown hook action $1" >&2; exit 2 ;;
esac
