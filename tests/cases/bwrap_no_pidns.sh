#!/bin/sh
# A bubblewrap that cannot mount a /proc of its own, as in a container whose /proc is
# masked: refuses --unshare-pid with bubblewrap's own error, runs the real one otherwise.
for a in "$@"; do
  if [ "$a" = --unshare-pid ]; then
    echo "bwrap: Can't mount proc on /newroot/proc: Operation not permitted" >&2
    exit 1
  fi
done
exec /usr/bin/bwrap "$@"
