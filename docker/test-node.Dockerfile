# The image of every node of docker-compose.test.yml: this repository's `swarm` program, built,
# plus what a node runs (OCI runtimes, iproute2, nftables, a static tini for `init`, busybox).
#
# With internet (the defaults):
#   docker build -f docker/test-node.Dockerfile -t swarm-test-node:local .
# Offline (what scripts/compose-test.sh does): a BASE that already has Node 20 and the packages,
# INSTALL_PACKAGES=0, and DEPS=context with node_modules placed in the build context (the repo's
# .dockerignore leaves node_modules out, so such a context is a staging copy of the repo).
ARG BASE=node:20-bookworm-slim
FROM ${BASE}

# 1: apt-get the packages (needs a Debian BASE and a network); 0: BASE has them already.
ARG INSTALL_PACKAGES=1
RUN set -e; \
    if [ "$INSTALL_PACKAGES" = 1 ]; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        crun runc iproute2 nftables iptables busybox-static tini util-linux procps; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    for c in node crun runc ip bridge nft iptables busybox tini-static nsenter unshare mount tar gzip; do \
      command -v "$c" >/dev/null || { echo "the base image lacks $c (build with INSTALL_PACKAGES=1)" >&2; exit 1; }; \
    done; \
    node -e 'if (+process.versions.node.split(".")[0] < 20) { console.error(`Node >= 20 needed, found ${process.version}`); process.exit(1) }'

WORKDIR /opt/swarm

# npm: `npm ci` from the lockfile (needs the npm registry); context: node_modules comes with the
# context (COPY . . below), already installed for this platform.
ARG DEPS=npm
COPY package.json package-lock.json ./
COPY scripts/no-native-msgpackr/ scripts/no-native-msgpackr/
RUN if [ "$DEPS" = npm ]; then npm ci --no-audit --no-fund --loglevel=error; fi

COPY . .
RUN set -e; \
    test -d node_modules/typescript || { echo "no node_modules: build with DEPS=npm, or put node_modules into the context and build with DEPS=context" >&2; exit 1; }; \
    rm -rf dist; \
    node node_modules/typescript/bin/tsc -p tsconfig.build.json; \
    printf '#!/bin/sh\nexec node /opt/swarm/dist/cli/main.js "$@"\n' >/usr/local/bin/swarm; \
    chmod 0755 /usr/local/bin/swarm docker/test-node-entrypoint.sh; \
    swarm --version

# cluster traffic (libp2p) and the overlay's VXLAN
EXPOSE 2377/tcp 4789/udp
ENTRYPOINT ["/opt/swarm/docker/test-node-entrypoint.sh"]
