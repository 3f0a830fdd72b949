#!/bin/busybox sh
# web's page when its image is built with ERRORS=N above 0 (the bad
# release of `scripts/demo --canary`): busybox httpd runs this for / when
# there is no index.html; N % of the answers are 500s, the rest the page.
version=$(/bin/busybox cat /www/version)
if [ $((RANDOM % 100)) -lt "$(/bin/busybox cat /www/errors)" ]; then
  printf 'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nshop %s failed\n' "$version"
else
  printf 'Content-Type: text/plain\r\n\r\nshop %s\n' "$version"
fi
