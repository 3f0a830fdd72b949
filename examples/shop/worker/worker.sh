# A job a second: INCR jobs in the cache (Redis protocol over busybox nc).
bb=/bin/busybox
while :; do
  reply=$(printf 'INCR jobs\r\n' | $bb timeout 2 $bb nc cache 6379 2>/dev/null | $bb tr -d '\r:')
  echo "worker $SHOP_VERSION: jobs=${reply:-cache unreachable}"
  $bb sleep 1
done
