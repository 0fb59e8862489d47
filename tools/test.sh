#!/usr/bin/env bash
# isoflop's whole test suite, Rust and Python, on a fresh machine: installs and starts what the
# tests need (Debian's chromium, PostgreSQL, munge and Slurm: tools/services.sh), runs every
# test, and stops what it started. README.md gives this command and .ci/run calls it.
#
#   bash tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

apt_updated=0
# Installs Debian packages that are missing (as root, as CI and these machines run).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

# Stops what this script started, whichever way it ends.
cleanups=()
cleanup() { for c in "${cleanups[@]}"; do eval "$c" || true; done; }
trap cleanup EXIT

echo "== chromium (the report's browser test loads report.html in it)"
if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi

echo "== PostgreSQL and a one-node Slurm (the run store's and the Slurm executor's tests use them)"
services_dir=$(mktemp -d)
cleanups+=("bash tools/services.sh stop '$services_dir'; rm -rf '$services_dir'")
bash tools/services.sh start "$services_dir"
# shellcheck disable=SC1091
source "$services_dir/env"
# A test that finds no server fails instead of skipping its PostgreSQL or Slurm half.
export ISOFLOP_REQUIRE_SERVICES=1

echo "== Rust tests"
cargo test --workspace

echo "== Python package (python/): a fresh venv, the extension built by maturin, pytest"
command -v python3 >/dev/null || apt_install python3
# The tests compare the package with the CLI binary, which the Rust tests above built.
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export ISOFLOP_BIN="$target_dir/debug/isoflop"
[ -x "$ISOFLOP_BIN" ] || cargo build -p isoflop
python3 -c "import venv, ensurepip" 2>/dev/null || apt_install python3-venv python3-pip
venv=$(mktemp -d)/venv
cleanups+=("rm -rf '$(dirname "$venv")'")
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  maturin==1.16.0 numpy==2.4.6 pandas==3.1.1 pytest==9.2.0
# `maturin develop` builds the wheel with the dev profile (the dependencies are already
# optimised and built by the Rust tests above) and installs it into the venv.
(cd python && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop -q)
"$venv/bin/python" -m pytest -q python/tests

echo "== fuzz targets (each briefly from its kept corpus: a regression in a parser shows here)"
bash fuzz/run.sh "${ISOFLOP_FUZZ_SECONDS:-25}"
