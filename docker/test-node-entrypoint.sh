#!/bin/sh
# Entrypoint of a node of docker-compose.test.yml: starts `swarm daemon`, then makes the node part
# of the swarm unless it already is (a restarted container keeps its state in its volume):
#   SWARM_ROLE=init     `swarm init`, then writes the worker and manager join tokens to $SWARM_TOKENS_DIR
#   SWARM_ROLE=manager  waits for the manager token, `swarm join`s $SWARM_JOIN_ADDR
#   SWARM_ROLE=worker   the same with the worker token
# and then waits for the daemon, passing TERM/INT on to it.
set -eu

: "${SWARM_ROLE:?set SWARM_ROLE to init, manager or worker}"
: "${SWARM_ADVERTISE_ADDR:?set SWARM_ADVERTISE_ADDR to this node's address}"
tokens=${SWARM_TOKENS_DIR:-/tokens}
data=${SWARM_DATA_DIR:-/var/lib/swarm}
sock=${SWARM_SOCKET:-/run/swarm/swarm.sock}
name=${SWARM_NODE_NAME:-$(hostname)}
export SWARM_HOST="unix://$sock"

say() { echo "[$name] $*"; }

# cgroup v2 (pure, not the hybrid layout): a cgroup with processes cannot hand controllers to
# children, so move everything already here into a leaf first, as Docker-in-Docker does.
if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/unified ]; then
  mkdir -p /sys/fs/cgroup/node
  while read -r p; do echo "$p" >/sys/fs/cgroup/node/cgroup.procs 2>/dev/null || true; done </sys/fs/cgroup/cgroup.procs
  for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || say "cgroup v2: could not enable $c"
  done
fi

mkdir -p "$data" "$(dirname "$sock")"
# shellcheck disable=SC2086 # SWARM_DAEMON_ARGS is a list of flags
swarm daemon --data-dir "$data" --listen-addr 0.0.0.0:2377 --advertise-addr "$SWARM_ADVERTISE_ADDR:2377" \
  --api-socket "$sock" --hostname "$name" --log-level "${SWARM_LOG_LEVEL:-warn}" ${SWARM_DAEMON_ARGS:-} &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null || true' TERM INT

until swarm info >/dev/null 2>&1; do
  kill -0 "$daemon" 2>/dev/null || { wait "$daemon" || true; say "swarm daemon exited before its API answered"; exit 1; }
  sleep 0.2
done

active() { swarm info --format json 2>/dev/null | grep -q '"LocalNodeState": *"active"'; }

# Writes a file atomically, so a reader never sees half a token.
put() { printf '%s\n' "$2" >"$tokens/.$1.tmp" && mv "$tokens/.$1.tmp" "$tokens/$1"; }

if [ "$SWARM_ROLE" = init ]; then
  if ! active; then
    say "swarm init --advertise-addr $SWARM_ADVERTISE_ADDR"
    swarm init --advertise-addr "$SWARM_ADVERTISE_ADDR"
  fi
  put worker "$(swarm join-token -q worker)"
  put manager "$(swarm join-token -q manager)"
  say "join tokens written to $tokens"
elif ! active; then
  : "${SWARM_JOIN_ADDR:?set SWARM_JOIN_ADDR to a manager's HOST:PORT}"
  # The token file may be missing (manager1 not ready yet) or stale (a previous cluster's, when
  # only some volumes were removed): read it again on every attempt. Managers join one at a time
  # on the leader's side, so a refused join is retried too.
  tries=0
  # A join whose answer was lost may still have succeeded: check before trying again.
  until [ -s "$tokens/$SWARM_ROLE" ] && swarm join --token "$(cat "$tokens/$SWARM_ROLE")" \
      --advertise-addr "$SWARM_ADVERTISE_ADDR" "$SWARM_JOIN_ADDR" || active; do
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || { say "could not join $SWARM_JOIN_ADDR as a $SWARM_ROLE"; kill -TERM "$daemon"; exit 1; }
    kill -0 "$daemon" 2>/dev/null || { say "swarm daemon exited"; exit 1; }
    sleep 1
  done
  say "joined $SWARM_JOIN_ADDR as a $SWARM_ROLE"
fi

# `wait` returns early when a trapped signal arrives: wait until the daemon is really gone.
status=0
while kill -0 "$daemon" 2>/dev/null; do
  wait "$daemon" && status=0 || status=$?
done
exit "$status"
