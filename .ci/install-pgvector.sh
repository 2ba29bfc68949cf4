#!/usr/bin/env bash
# Make sure the machine's local PostgreSQL 15 (127.0.0.1:5432, trust auth, database `test`)
# has the pgvector extension available. Idempotent: exits quickly when `vector` is already there.
#
# Debian 12 ships no pgvector binary package for PostgreSQL 15, so this builds pgvector from the
# Debian trixie source package against the postgresql-server-dev-15 headers (see
# /work/shared/notes/stack.md, "Real Postgres on the machine"). It never upgrades, removes or
# restarts the running server. Needs root for the install path; no human input.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export PGCONNECT_TIMEOUT=10

PGHOST_ADDR=127.0.0.1
PGUSER_NAME=postgres
PGDB=test
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
DEBIAN_SOURCES=/etc/apt/sources.list.d/debian.sources
SRC_SUITE=trixie

log() { echo "[pgvector] $*"; }
die() { echo "[pgvector] ERROR: $*" >&2; exit 1; }

psql_test() { psql -h "$PGHOST_ADDR" -U "$PGUSER_NAME" -d "$PGDB" -v ON_ERROR_STOP=1 -X "$@" </dev/null; }

vector_available() {
  [ "$(psql_test -tAc "select 1 from pg_available_extensions where name='vector'" 2>/dev/null || true)" = "1" ]
}

# --- 1. the server must be running -------------------------------------------------------------
ensure_server() {
  if pg_isready -q -h "$PGHOST_ADDR"; then
    return 0
  fi
  local ver
  ver="$(ls /etc/postgresql 2>/dev/null | head -n1 || true)"
  [ -n "$ver" ] || die "PostgreSQL is not running and /etc/postgresql has no cluster to start"
  log "PostgreSQL is not accepting connections; starting cluster ${ver}/main"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start </dev/null || true
  local i
  for i in $(seq 1 30); do
    pg_isready -q -h "$PGHOST_ADDR" && { log "PostgreSQL is up"; return 0; }
    sleep 1
  done
  die "PostgreSQL did not become ready on ${PGHOST_ADDR}:5432"
}

ensure_server

# --- 2. fast path --------------------------------------------------------------------------------
if vector_available; then
  log "vector extension already available; nothing to do"
  exit 0
fi

log "vector extension not available; building pgvector from Debian ${SRC_SUITE} source"
[ "$(id -u)" -eq 0 ] || die "must run as root to install pgvector (apt-get, make install)"
for tool in apt-get apt-cache dpkg-query dpkg-source make; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool not found: $tool"
done

WORK="$(mktemp -d /tmp/pgvector-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# --- 3. private deb-src list for trixie main, reusing the configured mirror ---------------------
# Pick the URI (and keyring) of the main Debian stanza (not debian-security) in the deb822 file.
read_mirror() {
  [ -r "$DEBIAN_SOURCES" ] || die "cannot read $DEBIAN_SOURCES to find the Debian mirror"
  awk '
    BEGIN { RS=""; FS="\n" }
    {
      uri=""; key=""
      for (i = 1; i <= NF; i++) {
        line = $i
        if (line ~ /^[ \t]*#/) continue
        if (line ~ /^URIs:/)      { sub(/^URIs:[ \t]*/, "", line); split(line, u, /[ \t]+/); uri = u[1] }
        if (line ~ /^Signed-By:/) { sub(/^Signed-By:[ \t]*/, "", line); key = line }
      }
      if (uri != "" && uri !~ /security/) { print uri "\t" key; exit }
    }' "$DEBIAN_SOURCES"
}
MIRROR_LINE="$(read_mirror)"
MIRROR_URI="${MIRROR_LINE%%$'\t'*}"
MIRROR_KEY="${MIRROR_LINE#*$'\t'}"
[ -n "$MIRROR_URI" ] || die "no Debian mirror URI found in $DEBIAN_SOURCES"
log "using mirror ${MIRROR_URI}"

SRC_LIST="$WORK/trixie-src.list"
SRC_LISTS_DIR="$WORK/lists"
mkdir -p "$SRC_LISTS_DIR/partial" "$WORK/src"
if [ -n "$MIRROR_KEY" ] && [ -r "$MIRROR_KEY" ]; then
  echo "deb-src [signed-by=${MIRROR_KEY}] ${MIRROR_URI} ${SRC_SUITE} main" >"$SRC_LIST"
else
  echo "deb-src ${MIRROR_URI} ${SRC_SUITE} main" >"$SRC_LIST"
fi

# Private lists dir and no shared binary caches: the system's apt state is left untouched.
APT_SRC_OPTS=(
  -o "Dir::Etc::SourceList=$SRC_LIST"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$SRC_LISTS_DIR"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  -o "DPkg::Lock::Timeout=120"
)

log "fetching ${SRC_SUITE} source index"
apt-get -q "${APT_SRC_OPTS[@]}" update </dev/null >"$WORK/apt-update.log" 2>&1 \
  || { cat "$WORK/apt-update.log" >&2; die "apt-get update of the private ${SRC_SUITE} deb-src list failed"; }

log "downloading pgvector source package"
( cd "$WORK/src" && apt-get -q "${APT_SRC_OPTS[@]}" source --download-only pgvector </dev/null >"$WORK/apt-source.log" 2>&1 ) \
  || { cat "$WORK/apt-source.log" >&2; die "apt-get source pgvector failed"; }

DSC="$(ls "$WORK"/src/pgvector_*.dsc 2>/dev/null | head -n1 || true)"
[ -n "$DSC" ] || die "no pgvector .dsc downloaded"
log "unpacking $(basename "$DSC")"
( cd "$WORK/src" && dpkg-source --no-check -x "$(basename "$DSC")" pgvector >/dev/null 2>&1 ) \
  || die "dpkg-source could not unpack $DSC"

# --- 4. postgresql-server-dev-15 headers, without touching the running server ------------------
SERVER_VER="$(dpkg-query -W -f='${Version}' "postgresql-${PG_MAJOR}" 2>/dev/null || true)"
[ -n "$SERVER_VER" ] || die "postgresql-${PG_MAJOR} is not installed"

DEV_PKG="postgresql-server-dev-${PG_MAJOR}"
DEV_STATUS="$(dpkg-query -W -f='${db:Status-Status}' "$DEV_PKG" 2>/dev/null || true)"

# (awk reads all input: an early exit would SIGPIPE apt-cache and trip pipefail)
dev_version_offered() {  # $1 = version
  apt-cache madison "$DEV_PKG" 2>/dev/null \
    | awk -F'|' -v want="$1" '{gsub(/[ \t]/, "", $2); if ($2 == want) found = 1} END {exit !found}'
}
dev_candidate() {
  apt-cache policy "$DEV_PKG" 2>/dev/null | awk '/Candidate:/ && !c {c = $2} END {print c}'
}

if [ "$DEV_STATUS" = "installed" ] && [ -x "$PG_CONFIG" ] && [ -d "$("$PG_CONFIG" --pkglibdir)" ] \
   && [ -f "$("$PG_CONFIG" --pgxs)" ]; then
  log "${DEV_PKG} already installed ($(dpkg-query -W -f='${Version}' "$DEV_PKG"))"
else
  if ! dev_version_offered "$SERVER_VER"; then
    log "${DEV_PKG}=${SERVER_VER} not in the apt lists; running apt-get update"
    apt-get -q -o DPkg::Lock::Timeout=120 update </dev/null >"$WORK/apt-sys-update.log" 2>&1 \
      || { cat "$WORK/apt-sys-update.log" >&2; die "apt-get update failed"; }
  fi
  if dev_version_offered "$SERVER_VER"; then
    DEV_VER="$SERVER_VER"
  else
    DEV_VER="$(dev_candidate)"
    { [ -n "$DEV_VER" ] && [ "$DEV_VER" != "(none)" ]; } || die "no installable ${DEV_PKG} version found"
    log "${DEV_PKG}=${SERVER_VER} not offered; using candidate ${DEV_VER} (same major, same ABI)"
  fi

  APT_INSTALL_OPTS=(-q --no-install-recommends -o DPkg::Lock::Timeout=120
                    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
                    install "${DEV_PKG}=${DEV_VER}")
  SIM="$(apt-get -s "${APT_INSTALL_OPTS[@]}" </dev/null 2>&1)" || { echo "$SIM" >&2; die "apt-get -s install ${DEV_PKG}=${DEV_VER} failed"; }
  if echo "$SIM" | grep -Eq "^(Inst|Remv|Purg) postgresql-${PG_MAJOR}( |$)"; then
    echo "$SIM" | grep -E "^(Inst|Remv|Purg) " >&2
    die "installing ${DEV_PKG}=${DEV_VER} would upgrade or remove postgresql-${PG_MAJOR} (the running server); refusing"
  fi
  log "installing ${DEV_PKG}=${DEV_VER} (server postgresql-${PG_MAJOR} ${SERVER_VER} stays untouched)"
  apt-get -y "${APT_INSTALL_OPTS[@]}" </dev/null >"$WORK/apt-install.log" 2>&1 \
    || { tail -n 40 "$WORK/apt-install.log" >&2; die "apt-get install ${DEV_PKG}=${DEV_VER} failed"; }
  NEW_SERVER_VER="$(dpkg-query -W -f='${Version}' "postgresql-${PG_MAJOR}")"
  [ "$NEW_SERVER_VER" = "$SERVER_VER" ] || die "postgresql-${PG_MAJOR} changed version (${SERVER_VER} -> ${NEW_SERVER_VER})"
fi
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found after installing ${DEV_PKG}"

# --- 5. build and install -----------------------------------------------------------------------
log "building pgvector $(sed -n 's/^Version: //p' "$DSC")"
(
  cd "$WORK/src/pgvector"
  make PG_CONFIG="$PG_CONFIG" >"$WORK/make.log" 2>&1 && make PG_CONFIG="$PG_CONFIG" install >>"$WORK/make.log" 2>&1
) || { tail -n 40 "$WORK/make.log" >&2; die "pgvector build/install failed"; }

# --- 6. prove it works ---------------------------------------------------------------------------
ensure_server
vector_available || die "pgvector installed but 'vector' is still not in pg_available_extensions"
psql_test -qc "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null || die "CREATE EXTENSION vector failed in database ${PGDB}"
DIST="$(psql_test -tAc "select '[1,2,3]'::vector <=> '[1,2,4]'::vector")" || die "vector query failed"
log "pgvector $(psql_test -tAc "select extversion from pg_extension where extname='vector'") ready in database ${PGDB} (cosine distance check: ${DIST})"
