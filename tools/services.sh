#!/usr/bin/env bash
# The real services isoflop's cluster tests need, on one Debian bookworm machine, as root:
# PostgreSQL (Debian's `postgresql`) and a one-node Slurm (`slurm-wlm` with `munge`).
#
#   bash tools/services.sh start STATE_DIR   # install what is missing, start, wait until ready,
#                                            # write STATE_DIR/env (export lines to source)
#   bash tools/services.sh stop STATE_DIR    # stop what `start` started there, and nothing else
#
# `start` is idempotent: a running PostgreSQL is reused (the role is still ensured), as are a
# munged that answers and the slurmctld and slurmd a previous `start` left in STATE_DIR. What
# this script started is recorded in STATE_DIR/started, so that `stop` leaves alone whatever
# was running before. Each failing step names itself, shows the end of its log and exits 1.
set -Eeuo pipefail
# An unforeseen failure still says where it happened.
trap 'echo "services.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

usage() { echo "usage: bash tools/services.sh start|stop STATE_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
case "$action" in start | stop) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || { echo "services.sh: must run as root (it installs packages and starts daemons)" >&2; exit 2; }
mkdir -p "$2"
state=$(cd "$2" && pwd)
# slurm.conf takes these paths unquoted.
case "$state" in *[[:space:]]*) echo "services.sh: STATE_DIR '$state' must have no spaces" >&2; exit 2 ;; esac
slurm_dir=$state/slurm
started=$state/started
export SLURM_CONF=$slurm_dir/slurm.conf
node=$(hostname -s)

# Names the failing step and shows the end of the logs that explain it.
fail() {
  local step=$1 log
  shift
  echo "services.sh: $action: step '$step' failed" >&2
  for log in "$@"; do
    if [ -s "$log" ]; then
      echo "--- last lines of $log" >&2
      tail -n 25 "$log" >&2
    fi
  done
  exit 1
}

apt_updated=0
# Installs Debian packages that are missing (as tools/test.sh does).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing ${missing[*]}"
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

# Polls a command until it succeeds, at most $1 seconds.
wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# True when pid $1 is alive and runs the program named $2 (a recorded pid may have been reused).
is_running() {
  [ -n "$1" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# Records that this script started $1 (a line of STATE_DIR/started), unless already recorded.
record() { grep -qxF "$1" "$started" 2>/dev/null || echo "$1" >>"$started"; }

# Starts a program detached: its own session (a Ctrl-C to the caller does not reach it) and no
# inherited stdout (a caller capturing this script's output would otherwise wait for it forever).
spawn() {
  local log=$1; shift
  # From /: a daemon started in a directory that is later removed leaves its jobs without a
  # working directory ("Unable to get current working directory").
  local here=$PWD
  cd /
  setsid "$@" </dev/null >>"$log" 2>&1 &
  cd "$here"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_cluster() { pg_lsclusters -h 2>/dev/null | head -n 1; }

pg_start() {
  echo "== PostgreSQL"
  apt_install postgresql
  local line version cluster port status log
  line=$(pg_cluster)
  if [ -z "$line" ]; then
    # The package creates cluster <version>/main unless configured not to; create it then.
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$version" main >/dev/null || fail "create PostgreSQL cluster $version/main"
    line=$(pg_cluster)
  fi
  read -r version cluster port status _ _ log <<<"$line"
  if [ "$status" = online ]; then
    echo "   reusing running cluster $version/$cluster on port $port"
  else
    pg_ctlcluster "$version" "$cluster" start || fail "start PostgreSQL $version/$cluster" "$log"
    record "postgresql $version $cluster"
  fi
  wait_for 60 pg_isready -q -h localhost -p "$port" || fail "PostgreSQL accepting connections on port $port" "$log"
  # The role the tests connect as, over TCP with password authentication.
  (cd / && su postgres -c "psql -q -X -v ON_ERROR_STOP=1 -p $port" <<'SQL') >/dev/null || fail "ensure role isoflop" "$log"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'isoflop') THEN CREATE ROLE isoflop; END IF;
END $$;
ALTER ROLE isoflop WITH LOGIN CREATEDB PASSWORD 'isoflop';
SQL
  pg_url=postgres://isoflop:isoflop@localhost:$port/postgres
  if ! psql -X -q "$pg_url" -c 'select 1' >/dev/null 2>&1; then
    # Debian's pg_hba.conf allows scram-sha-256 from 127.0.0.1 and ::1; a changed one may not.
    local hba
    hba=$(cd / && su postgres -c "psql -X -At -p $port -c 'show hba_file'") || fail "find pg_hba.conf" "$log"
    echo "   allowing isoflop with a password from localhost in $hba"
    sed -i '1i host all isoflop 127.0.0.1/32 scram-sha-256\nhost all isoflop ::1/128 scram-sha-256' "$hba"
    pg_ctlcluster "$version" "$cluster" reload || fail "reload PostgreSQL" "$log"
    sleep 1
    psql -X -q "$pg_url" -c 'select 1' >/dev/null || fail "connect as isoflop to $pg_url" "$log"
  fi
}

pg_stop() {
  local version cluster
  read -r _ version cluster <<<"$(awk '$1 == "postgresql"' "$started" 2>/dev/null || true)"
  [ -n "${version:-}" ] || return 0
  echo "== stopping PostgreSQL $version/$cluster"
  pg_ctlcluster "$version" "$cluster" stop -m fast || fail "stop PostgreSQL $version/$cluster"
}

# ---------------------------------------------------------------------------------------------
# munge (Slurm's authentication)

munge_ok() { munge -n </dev/null | unmunge >/dev/null; }

munge_start() {
  echo "== munge"
  apt_install munge
  if munge_ok 2>/dev/null; then echo "   reusing running munged"; return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key || fail "create /etc/munge/munge.key"
    chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
  fi
  # /run/munge is made by systemd-tmpfiles on a booted system; containers have none.
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  local log=$state/munged.log
  # As the munge user, as the package's service runs it; -F keeps the pid ours to record.
  spawn "$log" runuser -u munge -- /usr/sbin/munged -F
  local pid=$!
  wait_for 20 munge_ok || fail "start munged" "$log" /var/log/munge/munged.log
  # runuser forks munged: record munged's own pid.
  local mpid
  mpid=$(cat /run/munge/munged.pid 2>/dev/null || pgrep -P "$pid" -x munged || true)
  is_running "$mpid" munged || fail "find munged's pid" "$log" /var/log/munge/munged.log
  record "munged $mpid"
}

munge_stop() {
  local pid
  pid=$(recorded_pid munged)
  [ -n "${pid:-}" ] || return 0
  echo "== stopping munged"
  stop_pid "$pid" munged
}

# ---------------------------------------------------------------------------------------------
# Slurm: one node, this machine, every path under STATE_DIR/slurm

slurm_conf() {
  local mem
  # A little under the machine's memory: slurmd drains a node that has less than configured.
  mem=$(free -m | awk '/^Mem:/ { print int($2 * 0.95) }')
  cat <<EOF
# Written by tools/services.sh: a one-node cluster for isoflop's tests.
ClusterName=isoflop
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds (default 120) before it may run again: keep it short.
AuthInfo=cred_expire=10
StateSaveLocation=$slurm_dir/state
SlurmdSpoolDir=$slurm_dir/spool
SlurmctldPidFile=$slurm_dir/slurmctld.pid
SlurmdPidFile=$slurm_dir/slurmd.pid
SlurmctldLogFile=$slurm_dir/slurmctld.log
SlurmdLogFile=$slurm_dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Quick kills, finished jobs visible to scontrol for 5 minutes, requeue allowed.
KillWait=5
MinJobAge=300
JobRequeue=1
NodeName=$node CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

# The log explaining a failure of Slurm daemon $1: its log file, or before it opened that, its stderr.
daemon_log() {
  if [ -s "$slurm_dir/$1.log" ]; then echo "$slurm_dir/$1.log"; else echo "$slurm_dir/$1.stderr"; fi
}

recorded_pid() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$started" 2>/dev/null || true; }

# True when something listens on local TCP port $1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_state() { sinfo -h -n "$node" -o %t 2>/dev/null; }
# Ready: up and accepting jobs (a reused cluster may be running some).
node_ready() { case "$(node_state)" in idle | mix | alloc) return 0 ;; *) return 1 ;; esac; }

slurm_start() {
  echo "== Slurm"
  apt_install slurm-wlm
  local ctld slurmd fresh=0
  ctld=$(recorded_pid slurmctld)
  slurmd=$(recorded_pid slurmd)
  if is_running "$ctld" slurmctld && [ -f "$SLURM_CONF" ]; then
    echo "   reusing slurmctld $ctld with $SLURM_CONF"
  else
    # Another cluster's slurmctld on this port would answer our checks in its place.
    port_in_use 6817 && fail "port 6817 free for slurmctld (another Slurm runs here: stop it first)"
    # A fresh cluster: jobs saved by an earlier run (one killed before `stop`) are not revived.
    rm -rf "$slurm_dir/state" "$slurm_dir/spool"
    mkdir -p "$slurm_dir/state" "$slurm_dir/spool"
    slurm_conf >"$SLURM_CONF"
    # Its log file has it all once configured; stderr has what fails before that.
    spawn "$slurm_dir/slurmctld.stderr" slurmctld -D
    ctld=$!
    fresh=1
    record "slurmctld $ctld"
    wait_for 30 scontrol ping || fail "start slurmctld" "$(daemon_log slurmctld)"
    # scontrol ping answers "UP" only once slurmctld listens.
    wait_for 30 bash -c 'scontrol ping | grep -q UP' || fail "slurmctld answering" "$(daemon_log slurmctld)"
  fi
  is_running "$ctld" slurmctld || fail "slurmctld still running" "$(daemon_log slurmctld)"
  if is_running "$slurmd" slurmd; then
    echo "   reusing slurmd $slurmd"
  else
    port_in_use 6818 && fail "port 6818 free for slurmd (another slurmd runs here: stop it first)"
    spawn "$slurm_dir/slurmd.stderr" slurmd -D
    slurmd=$!
    fresh=1
    record "slurmd $slurmd"
  fi
  if ! wait_for 30 node_ready; then
    # A node left down or drained by an earlier run: ReturnToService=2 does not undo a drain.
    scontrol update NodeName="$node" State=RESUME 2>/dev/null || true
    wait_for 15 node_ready ||
      fail "node $node idle (sinfo says '$(node_state)')" "$(daemon_log slurmd)" "$slurm_dir/slurmctld.log"
  fi
  is_running "$slurmd" slurmd || fail "slurmd still running" "$(daemon_log slurmd)"
  # A job runs end to end (a reused cluster proved that when it started, and may be busy now).
  if [ "$fresh" = 1 ]; then
    timeout 60 srun -N1 -n1 -t 1 true >"$slurm_dir/srun-check.log" 2>&1 ||
      fail "a trivial srun job" "$slurm_dir/srun-check.log" "$(daemon_log slurmctld)" "$(daemon_log slurmd)"
  fi
}

# Stops pid $1 (running program $2): TERM, then KILL after 15 s.
stop_pid() {
  local pid=$1 name=$2
  is_running "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for 15 bash -c "! [ \"\$(cat /proc/$pid/comm 2>/dev/null)\" = $name ]"; then
    echo "   $name $pid ignored TERM: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 5 bash -c "! [ -e /proc/$pid ]" || fail "stop $name $pid"
  fi
}

slurm_stop() {
  local ctld slurmd
  ctld=$(recorded_pid slurmctld)
  slurmd=$(recorded_pid slurmd)
  if is_running "$ctld" slurmctld && [ -f "$SLURM_CONF" ]; then
    echo "== cancelling the jobs left on the test cluster"
    scancel --quiet --partition=debug 2>/dev/null || true
    # Their slurmstepd processes outlive slurmd: wait until slurmd has reaped every job.
    wait_for 30 bash -c '[ -z "$(squeue -h -t running,completing,configuring 2>/dev/null)" ]' ||
      echo "   jobs still running after 30 s: $(squeue -h -o '%i %T' | tr '\n' ' ')" >&2
  fi
  if [ -n "$slurmd$ctld" ]; then echo "== stopping slurmd and slurmctld"; fi
  [ -z "$slurmd" ] || stop_pid "$slurmd" slurmd
  [ -z "$ctld" ] || stop_pid "$ctld" slurmctld
  # A slurmstepd of ours still alive (its job ignored the kill) would hold the node's resources.
  local p
  for p in $(pgrep -x slurmstepd || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"; then
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
}

# ---------------------------------------------------------------------------------------------

case "$action" in
  start)
    touch "$started"
    t0=$SECONDS
    pg_start
    munge_start
    slurm_start
    cat >"$state/env" <<EOF
export ISOFLOP_TEST_PG=$pg_url
export SLURM_CONF=$SLURM_CONF
export ISOFLOP_TEST_SLURM=1
EOF
    echo "== services ready in $((SECONDS - t0)) s: source $state/env"
    ;;
  stop)
    slurm_stop
    munge_stop
    pg_stop
    rm -f "$started" "$state/env"
    echo "== stopped what services.sh started in $state"
    ;;
esac
