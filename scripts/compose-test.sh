#!/usr/bin/env bash
# The offline proof of docker-compose.test.yml, on a Debian machine, as root:
#
#   bash scripts/compose-test.sh
#
# Not part of the default test run (scripts/test.sh, npm test). Needs no Docker Hub and no npm
# registry: only Debian's mirror, for apt-get and debootstrap.
#
#  1. installs docker.io, docker-compose and debootstrap if missing (no service is started);
#  2. builds the image's base offline: a minimal Debian bookworm made by debootstrap with the node
#     packages (cached under /var/cache/swarm-compose-test), `docker import`ed, plus this host's
#     node binary;
#  3. starts a dockerd of its own inside a network namespace of its own (no default route, so
#     nothing inside reaches the outside) and a private mount namespace (its /run and /etc/docker
#     are tmpfs), with its own data and exec roots and cgroup parent;
#  4. builds the node image with docker-compose from a staging copy of the repository that also
#     holds this host's node_modules (DEPS=context: the build cannot reach the npm registry);
#  5. `docker-compose up`, waits until `swarm node ls` on manager1 shows 5 Ready nodes, loads a
#     busybox image on manager1, deploys a stack with a published web page on the workers, fetches
#     the page through a worker's and through manager1's compose address, `docker kill`s worker1,
#     waits until its tasks run on worker2 and fetches the page again;
#  6. always (trap): `docker-compose down -v`, stops dockerd, kills whatever the run left, removes
#     its cgroups, the namespace and every temporary directory. A run killed before it could clean
#     up is cleaned up by the next one.
#
#   bash scripts/compose-test.sh --chaos [CHAOS FLAGS...]
#
# runs steps 1-4 and the cluster of step 5, then the chaos suite against it instead of the rest of
# step 5: `npm run chaos -- --target compose --compose-project <this run's> [CHAOS FLAGS...]` from
# inside dockerd's namespace (where the compose network is); its report goes to ./chaos-report
# unless the flags say --out. Then step 6. The exit code is the suite's.
#
# Variables: SWARM_COMPOSE_CACHE (default /var/cache/swarm-compose-test), SWARM_COMPOSE_MIRROR
# (default http://deb.debian.org/debian), SWARM_TEST_NET (first three octets of the compose
# network, default 172.28.10), SWARM_COMPOSE_KEEP_CACHE=0 to delete the cache at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

T0=$(date +%s%N)
say() {
  local ms=$((($(date +%s%N) - T0) / 1000000))
  printf '[%4d.%ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
show() { sed 's/^/        /'; }
die() {
  say "FAILED: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || { echo "compose-test: run as root" >&2; exit 1; }
CHAOS=0
CHAOS_ARGS=()
if [ "${1:-}" = --chaos ]; then
  CHAOS=1
  shift
  CHAOS_ARGS=("$@")
elif [ $# -gt 0 ]; then
  echo "compose-test: unknown argument $1 (usage: bash scripts/compose-test.sh [--chaos [CHAOS FLAGS...]])" >&2
  exit 2
fi

SUITE=bookworm
MIRROR=${SWARM_COMPOSE_MIRROR:-http://deb.debian.org/debian}
# What a node runs: OCI runtimes, the overlay's tools, a static tini for `init`, busybox.
PACKAGES=crun,runc,iproute2,nftables,iptables,busybox-static,tini,procps
CACHE=${SWARM_COMPOSE_CACHE:-/var/cache/swarm-compose-test}
NET=${SWARM_TEST_NET:-172.28.10}
WORK_PREFIX=/var/tmp/swarm-compose-test.

# --- cleanup: usable for this run and for runs that died without cleaning up -----------------

# Pids of the processes in network namespace $1 (a name under /var/run/netns).
pids_in_netns() {
  local ino p
  ino=$(stat -L -c %i "/var/run/netns/$1" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$ino" ] && echo "${p#/proc/}"
  done
  return 0
}

# Pids in the cgroups below the cgroup parent $1 (containers, and the containers of the nodes).
pids_in_cgroups() {
  local cg
  for cg in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
    [ -d "$cg" ] && find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  return 0
}

# cleanup_run WORK NAME: everything run NAME made, gone. Idempotent.
cleanup_run() {
  local work=$1 name=$2 pid i left
  if [ -f "$work/dockerd.pid" ]; then
    pid=$(cat "$work/dockerd.pid")
    if grep -qa "$work" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
    fi
  fi
  # What is left: containerd and its shims (in the run's network namespace), container processes
  # (in the run's cgroups).
  for i in $(seq 20); do
    left=$( (pids_in_netns "$name"; pids_in_cgroups "$name") | sort -u)
    [ -n "$left" ] || break
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    sleep 0.25
  done
  for i in $(seq 20); do
    local busy=0 cg
    for cg in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
      [ -d "$cg" ] || continue
      find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [ -d "$cg" ] && busy=1
    done
    [ "$busy" = 0 ] && break
    sleep 0.25
  done
  ip netns del "$name" 2>/dev/null || true
  # dockerd's mounts lived in its private mount namespace; anything here is from debootstrap.
  { grep -o " $work/[^ ]*" /proc/self/mountinfo 2>/dev/null || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}

for stale in "$WORK_PREFIX"*; do
  [ -f "$stale/run.env" ] || continue
  owner=$(sed -n 's/^OWNER=//p' "$stale/run.env")
  sname=$(sed -n 's/^NAME=//p' "$stale/run.env")
  if [ -n "$sname" ] && ! kill -0 "$owner" 2>/dev/null; then
    echo "compose-test: cleaning up after an earlier run that was killed ($stale)"
    (set +e; cleanup_run "$stale" "$sname")
  fi
done

NAME=swct$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d "${WORK_PREFIX}XXXXXX")
printf 'OWNER=%s\nNAME=%s\n' "$$" "$NAME" >"$WORK/run.env"
DOCKER_SOCK=$WORK/docker.sock
export DOCKER_HOST=unix://$DOCKER_SOCK
DOCKERD_UP=0

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  set +e # clean up as much as possible, whatever fails
  if [ "$rc" -ne 0 ] && [ "$DOCKERD_UP" = 1 ]; then
    echo "---- the nodes' last log lines ----" >&2
    compose logs --no-color --tail=25 2>&1 | show >&2 || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$WORK/dockerd.log" ]; then
    echo "---- dockerd's last log lines ----" >&2
    tail -n 15 "$WORK/dockerd.log" | show >&2 || true
  fi
  local c0=$SECONDS
  if [ "$DOCKERD_UP" = 1 ]; then
    say "$ docker-compose down -v"
    timeout 120 bash -c 'compose down -v --remove-orphans -t 5' >"$WORK/down.log" 2>&1 || say "docker-compose down failed: $(tail -n 3 "$WORK/down.log")"
  fi
  cleanup_run "$WORK" "$NAME"
  local leftovers=""
  ip netns list | grep -qw "$NAME" && leftovers+=" netns"
  ls -d /sys/fs/cgroup/*/"$NAME" >/dev/null 2>&1 && leftovers+=" cgroups"
  [ -e "$WORK" ] && leftovers+=" $WORK"
  if [ -n "$leftovers" ]; then
    say "cleanup left:$leftovers" >&2
    [ "$rc" -ne 0 ] || rc=1
  else
    say "cleaned up in $((SECONDS - c0))s: containers, volumes, dockerd, namespace $NAME, cgroups, $WORK"
  fi
  if [ "${SWARM_COMPOSE_KEEP_CACHE:-1}" = 0 ]; then rm -rf "$CACHE"; fi
  [ "$rc" -eq 0 ] && say "compose test passed" || say "compose test FAILED (exit $rc)" >&2
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. tools ------------------------------------------------------------------------------------

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v python3 >/dev/null || need+=(python3)
command -v busybox >/dev/null || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  # Installing docker.io must not start a dockerd in the root namespace: a policy-rc.d that
  # forbids starting services, for the install only, unless the machine has one already.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >"$WORK/apt.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$WORK/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >>"$WORK/apt.log" 2>&1 || {
      [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
      tail -n 20 "$WORK/apt.log" >&2
      die "apt-get install ${need[*]} failed"
    }
  fi
  [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
fi
# Debian's client matches Debian's dockerd; another `docker` earlier on PATH may not.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || die "no docker client (package docker.io)"
docker() { "$DOCKER" "$@"; }
compose() {
  SWARM_TEST_CONTEXT="$WORK/context" SWARM_TEST_BASE=swarm-compose-base:local SWARM_TEST_INSTALL_PACKAGES=0 \
    SWARM_TEST_DEPS=context SWARM_TEST_SOCKETS="$WORK/sockets" SWARM_TEST_NET="$NET" \
    docker-compose -p "$NAME" -f "$REPO/docker-compose.test.yml" "$@"
}
export -f compose
export WORK NAME NET REPO

NODE_BIN=$(readlink -f "$(command -v node)") || die "no node on this host (bash scripts/setup.sh installs it)"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || die "Node >= 20 needed, found $(node --version)"
if [ ! -d node_modules/typescript ]; then
  say "no node_modules yet: bash scripts/setup.sh"
  bash scripts/setup.sh
fi

# --- 2. the base image's root filesystem (cached) ----------------------------------------------

ARCH=$(dpkg --print-architecture)
KEY=$(printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "$ARCH" 1 | sha256sum | cut -c1-12)
ROOTFS_TAR=$CACHE/rootfs-$SUITE-$ARCH-$KEY.tar
mkdir -p "$CACHE/debs"
if [ -s "$ROOTFS_TAR" ]; then
  say "base root filesystem from the cache: $ROOTFS_TAR"
else
  say "debootstrap --variant=minbase $SUITE from $MIRROR with $PACKAGES (once; cached in $CACHE)"
  debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE/debs" \
    "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 20 "$WORK/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  }
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
  tar -C "$WORK/rootfs" -cf "$ROOTFS_TAR.$$" . && mv "$ROOTFS_TAR.$$" "$ROOTFS_TAR"
  rm -rf "$WORK/rootfs"
  say "cached $(du -h "$ROOTFS_TAR" | cut -f1) as $ROOTFS_TAR"
fi

# --- 3. dockerd in a namespace of its own -------------------------------------------------------

ip netns add "$NAME"
ip -n "$NAME" link set lo up
# The safety rule of these tests: nothing in a test namespace may reach out. So no npm registry and
# no Docker Hub for the builds either (hence the offline base and DEPS=context).
[ -z "$(ip -n "$NAME" route show default)" ] || die "namespace $NAME has a default route"
mkdir -p "$WORK/bin" "$WORK/sockets"
daemon_json='{}'
# dockerd gives a privileged container every capability the kernel knows; where the bounding set
# lacks one (this VM lacks CAP_SYS_RESOURCE) runc fails with "unable to apply caps". A runc that
# first drops what the bounding set lacks lets privileged containers start.
last_cap=$(cat /proc/sys/kernel/cap_last_cap)
bounding=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
if [ "$bounding" -ne $(((1 << (last_cap + 1)) - 1)) ]; then
  RUNC=$(command -v runc) || die "no runc (package runc)"
  cat >"$WORK/bin/runc-bounded" <<EOF
#!/usr/bin/python3
# runc, but capabilities missing from the bounding set are removed from the container's spec
# (create/run: the bundle's config.json) and from an exec's process.json first.
import json, os, sys
CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
        "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
        "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
        "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
        "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
        "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]
status = open("/proc/self/status").read().split("CapBnd:")[1].split()[0]
missing = {"CAP_" + c for i, c in enumerate(CAPS) if not int(status, 16) >> i & 1}
def drop(path, inside_process):
    with open(path) as f:
        spec = json.load(f)
    caps = (spec.get("process") or {}).get("capabilities") if inside_process else spec.get("capabilities")
    if caps:
        for k in caps:
            caps[k] = [c for c in caps[k] if c not in missing]
        with open(path, "w") as f:
            json.dump(spec, f)
args = sys.argv[1:]
if "--bundle" in args and ("create" in args or "run" in args):
    drop(os.path.join(args[args.index("--bundle") + 1], "config.json"), True)
if "--process" in args:
    drop(args[args.index("--process") + 1], False)
os.execv("$RUNC", ["runc"] + args)
EOF
  chmod 0755 "$WORK/bin/runc-bounded"
  daemon_json="{\"runtimes\": {\"runc-bounded\": {\"path\": \"$WORK/bin/runc-bounded\"}}, \"default-runtime\": \"runc-bounded\"}"
  say "this host's capability bounding set lacks some capabilities: dockerd runs privileged containers through a runc that drops them"
fi
printf '%s\n' "$daemon_json" >"$WORK/daemon.json"

say "starting dockerd in network namespace $NAME (no route out) with a private mount namespace"
# nsenter and unshare exec (no fork), so $! is dockerd's pid.
nsenter --net="/var/run/netns/$NAME" unshare --mount --propagation private sh -c '
  set -e
  mount -t tmpfs -o mode=0755 swarm-compose-run /run
  if [ -d /etc/docker ]; then mount -t tmpfs swarm-compose-etc /etc/docker; fi
  exec "$@"' sh dockerd --config-file "$WORK/daemon.json" --data-root "$WORK/docker" --exec-root "$WORK/exec" \
  --pidfile "$WORK/dockerd.pid" -H "unix://$DOCKER_SOCK" --cgroup-parent "/$NAME" --iptables=true \
  --log-level warn >"$WORK/dockerd.log" 2>&1 &
dockerd_pid=$!
for i in $(seq 150); do
  docker version >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || die "dockerd exited: $(tail -n 5 "$WORK/dockerd.log")"
  sleep 0.2
done
docker version >/dev/null 2>&1 || die "dockerd did not answer on $DOCKER_SOCK within 30s"
DOCKERD_UP=1
say "dockerd $(docker version --format '{{.Server.Version}}') is up (DOCKER_HOST=$DOCKER_HOST, runtime $(docker info --format '{{.DefaultRuntime}}'))"

# --- 4. images -------------------------------------------------------------------------------

say "$ docker import (the cached root filesystem) + COPY $NODE_BIN: the base image, offline"
docker import "$ROOTFS_TAR" "swarm-compose-rootfs:$KEY" >/dev/null
mkdir -p "$WORK/base"
cp "$NODE_BIN" "$WORK/base/node"
cat >"$WORK/base/Dockerfile" <<EOF
FROM swarm-compose-rootfs:$KEY
COPY node /usr/local/bin/node
RUN node -e 'if (+process.versions.node.split(".")[0] < 20) process.exit(1); console.log("node", process.version, "runs in the base image")'
EOF
docker build -t swarm-compose-base:local "$WORK/base" >"$WORK/base-build.log" 2>&1 || {
  tail -n 15 "$WORK/base-build.log" >&2
  die "the base image did not build: does this host's node run on Debian $SUITE? (log above)"
}

say "staging the build context: the repository's sources + this host's node_modules (no npm registry here)"
mkdir -p "$WORK/context"
tar -C "$REPO" --exclude=./.git --exclude=./node_modules --exclude=./dist --exclude=./chaos-report \
  --exclude=./.compose-sockets --exclude=./tmp -cf - . | tar -C "$WORK/context" -xf -
cp -al "$REPO/node_modules" "$WORK/context/node_modules" 2>/dev/null || cp -a "$REPO/node_modules" "$WORK/context/node_modules"
# The repository's .dockerignore leaves node_modules out (the image runs npm ci); here it is the input.
grep -vx 'node_modules' "$REPO/.dockerignore" >"$WORK/context/.dockerignore"

say "$ docker-compose -f docker-compose.test.yml build   (BASE=swarm-compose-base:local INSTALL_PACKAGES=0 DEPS=context)"
b0=$SECONDS
compose build manager1 >"$WORK/build.log" 2>&1 || {
  tail -n 30 "$WORK/build.log" >&2
  die "docker-compose build failed (log above)"
}
say "image swarm-test-node:local built in $((SECONDS - b0))s ($(docker image inspect swarm-test-node:local --format '{{.Size}}' | awk '{printf "%d MB", $1 / 1e6}'))"

# The CLI on this host runs the very code of the nodes: dist from the image, node_modules staged.
docker create --name "$NAME-dist" swarm-test-node:local >/dev/null
docker cp "$NAME-dist:/opt/swarm/dist" "$WORK/context/dist"
docker rm "$NAME-dist" >/dev/null
CLI=$WORK/context/dist/cli/main.js
sock() { echo "$WORK/sockets/$1/swarm.sock"; }
swarm_on() {
  local n=$1
  shift
  node "$CLI" -H "unix://$(sock "$n")" "$@"
}
ok_on() {
  local out
  out=$(swarm_on "$@" 2>&1) || die "swarm ${*:2} on $1: $out"
  printf '%s\n' "$out"
}
wait_for() { # DESCRIPTION TIMEOUT_SECONDS COMMAND...
  local what=$1 end=$((SECONDS + $2))
  shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || die "timed out waiting for $what"
    sleep 1
  done
}

# --- 5. the cluster -------------------------------------------------------------------------

say "$ docker-compose -f docker-compose.test.yml up -d   (manager1 inits; the others join with the tokens it writes)"
u0=$SECONDS
compose up -d --no-build >"$WORK/up.log" 2>&1 || {
  tail -n 20 "$WORK/up.log" >&2
  die "docker-compose up failed (log above)"
}
compose ps | show
five_ready() {
  local out
  out=$(swarm_on manager1 node ls 2>/dev/null) || return 1
  [ "$(printf '%s\n' "$out" | tail -n +2 | grep -c ' Ready ')" -eq 5 ]
}
wait_for "5 Ready nodes in node ls on manager1" 180 five_ready
say "5 nodes Ready $((SECONDS - u0))s after up"
say "$ swarm -H unix://$(sock manager1) node ls"
ok_on manager1 node ls | show

if [ "$CHAOS" = 1 ]; then
  # The suite's runner is this checkout's build; the nodes run the same sources (staged above).
  npm run --silent build
  say "$ npm run chaos -- --target compose --compose-project $NAME ${CHAOS_ARGS[*]}   (inside dockerd's namespace $NAME)"
  set +e
  nsenter --net="/var/run/netns/$NAME" env SWARM_TEST_DOCKER="$DOCKER" \
    node dist/test/chaos/main.js --target compose --compose-project "$NAME" "${CHAOS_ARGS[@]}"
  rc=$?
  set -e
  say "the chaos suite exited $rc"
  exit "$rc"
fi

# Running tasks of a service, one line per task: the hostname of its node.
running_on() {
  node -e '
    const http = require("http");
    const get = (p) => new Promise((res, rej) => http.get({ socketPath: process.argv[1], path: p }, (r) => {
      let s = "";
      r.on("data", (d) => (s += d)).on("end", () => (r.statusCode === 200 ? res(JSON.parse(s)) : rej(new Error(`${p}: ${r.statusCode}`))));
    }).on("error", rej));
    (async () => {
      const [nodes, services, tasks] = await Promise.all([get("/nodes"), get("/services"), get("/tasks")]);
      const svc = services.find((s) => s.Spec.Name === process.argv[2]);
      if (!svc) return;
      const host = new Map(nodes.map((n) => [n.ID, n.Description.Hostname]));
      for (const t of tasks) if (t.ServiceID === svc.ID && t.DesiredState === "running" && t.Status.State === "running") console.log(host.get(t.NodeID) ?? t.NodeID);
    })().catch((e) => { console.error(e.message); process.exit(1); });
  ' "$(sock "$1")" "$2"
}

# GET / on ADDRESS:8080 from inside dockerd's namespace (where the compose network is), with
# busybox nc (Debian's static busybox wget crashes); prints the page.
fetch() {
  local out
  out=$(nsenter --net="/var/run/netns/$NAME" busybox sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 $1 8080" 2>&1) || return 1
  case "$out" in
  HTTP/1.?" 200"*) printf '%s\n' "$out" | tail -n 1 | tr -d '\r' ;;
  *) return 1 ;;
  esac
}
fetch_retry() { # ADDRESS: the page, retried for up to 30 s
  local end=$((SECONDS + 30)) page
  until page=$(fetch "$1"); do
    [ "$SECONDS" -lt "$end" ] || die "no page from $1:8080"
    sleep 0.5
  done
  printf '%s\n' "$page"
}

mkdir -p "$WORK/stack"
SWARM_FIXTURE=$WORK/context/dist/test/fixtures/busybox.js OUT=$WORK/stack/busybox.tar node --input-type=module -e '
  const { writeBusyboxImageArchive } = await import(process.env.SWARM_FIXTURE);
  await writeBusyboxImageArchive(process.env.OUT, { name: "busybox:demo", format: "docker" });'
say "$ swarm image load -i busybox.tar   (on manager1 only: the workers fetch it from the swarm)"
ok_on manager1 image load -i "$WORK/stack/busybox.tar" | show
cat >"$WORK/stack/compose.yml" <<'EOF'
services:
  web:
    image: busybox:demo
    command: ["sh", "-c", "mkdir -p /www && echo hello from $$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["8080:80"]
    init: true
    deploy:
      replicas: 3
      placement: { constraints: ["node.role == worker"] }
EOF
say "$ swarm stack deploy -c compose.yml demo"
show <"$WORK/stack/compose.yml"
ok_on manager1 stack deploy -c "$WORK/stack/compose.yml" demo | show
three_running() { [ "$(running_on manager1 demo_web | wc -l)" -eq 3 ]; }
wait_for "3 running demo_web tasks" 120 three_running
say "$ swarm service ps demo_web"
ok_on manager1 service ps demo_web | show

W1=$NET.21 W2=$NET.22 M1=$NET.11
say "GET http://$W1:8080/ (worker1's compose address) and http://$M1:8080/ (manager1: no web task, the routing mesh forwards), 3 times each"
for _ in 1 2 3; do echo "$W1 -> $(fetch_retry "$W1")"; done | show
for _ in 1 2 3; do echo "$M1 -> $(fetch_retry "$M1")"; done | show

say "$ docker kill worker1   (SIGKILL: the node's daemon and its containers die with it)"
docker kill "$(compose ps -q worker1)" >/dev/null
k0=$(date +%s%N)
moved() {
  local on
  on=$(running_on manager1 demo_web) || return 1
  [ "$(printf '%s\n' "$on" | grep -c .)" -eq 3 ] && ! printf '%s\n' "$on" | grep -qx worker1
}
wait_for "the web tasks of worker1 to run elsewhere" 90 moved
say "all 3 web tasks running without worker1, $((($(date +%s%N) - k0) / 1000000)) ms after the kill"
say "$ swarm node ls; swarm service ps demo_web"
ok_on manager1 node ls | show
ok_on manager1 service ps demo_web | show
say "GET http://$W2:8080/ and http://$M1:8080/ after the kill, 3 times each"
for _ in 1 2 3; do echo "$W2 -> $(fetch_retry "$W2")"; done | show
for _ in 1 2 3; do echo "$M1 -> $(fetch_retry "$M1")"; done | show
say "all steps passed in $((($(date +%s%N) - T0) / 1000000000))s"
