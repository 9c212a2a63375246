# common.sh — shared by the shell tools and test runners (sourced, not executed): package
# installation, building, and the one way shell scripts start and stop a contextdb server
# (ctx_server_start / ctx_server_stop / ctx_server_trap below; Python drivers use
# tools/ctxserver.py, C tests tests/lib/testserver). Servers are always stopped by PID.

# Debian packages the build and the tools need. "a|b" means either satisfies the need.
CTX_PACKAGES=(meson ninja-build gcc pkg-config check libjansson-dev libmicrohttpd-dev libpq-dev
              "postgresql-client|postgresql-client-15" liblz4-dev libzstd-dev libssl-dev openssl
              libcurl4-openssl-dev)

# What tests/clients needs to run every client (missing ones make a client test SKIP, not fail),
# and the libFuzzer toolchain tools/test and tools/fuzz build tests/fuzz with.
# npm: Debian's package, or the one bundled with a nodesource nodejs.
CTX_TEST_PACKAGES=(python3-psycopg2 python3-psycopg python3-asyncpg libpostgresql-jdbc-java
                   "openjdk-17-jre-headless|openjdk-17-jdk-headless|default-jre-headless"
                   nodejs "npm|nodejs" "postgresql-client|postgresql-client-15" clang-format
                   clang-14 libfuzzer-14-dev libdbd-pg-perl awscli python3-boto3 curl
                   python3-requests python3-jsonschema python3-prometheus-client prometheus wrk
                   python3-sqlalchemy python3-pandas python3-pyodbc odbc-postgresql unixodbc
                   "postgresql-15|postgresql"
                   golang-go golang-github-jackc-pgx-v4-dev chromium python3-networkx
                   python3-igraph)

ctx_pkg_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q "install ok installed"
}

# npm packages of package-lock.json (s3rver, the S3 server tests/integration/test_s3.py runs
# against) into node_modules/, again whenever the lockfile is newer than the install.
ctx_install_node_modules() {
    if [ -x node_modules/.bin/s3rver ] && [ node_modules/.package-lock.json -nt package-lock.json ]
    then
        return 0
    fi
    echo "==> npm ci (package-lock.json: s3rver)"
    npm ci --no-audit --no-fund --loglevel=error
}

# The graph browser (web/): npm ci from web/package-lock.json when the lockfile is newer than
# the install, and the esbuild build into web/dist when a source is newer than the built page.
# Fails (non-zero) without npm or network; callers go on without the page then.
ctx_build_web() {
    if [ ! -f web/node_modules/.package-lock.json ] ||
        [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
        echo "==> npm ci (web/package-lock.json: the graph browser)"
        npm --prefix web ci --no-audit --no-fund --loglevel=error || return 1
    fi
    if [ ! -f web/dist/index.html ] ||
        [ -n "$(find web/src web/build.mjs -newer web/dist/index.html -print -quit)" ]; then
        echo "==> building the graph browser (web/dist)"
        npm --prefix web run --silent build || return 1
    fi
}

# Installs the packages (from the arguments) that are not installed yet; apt-get update only
# when something is missing. Works as root or through sudo.
ctx_install_missing() {
    local missing=() spec alt found
    for spec in "$@"; do
        found=0
        IFS='|' read -ra alts <<<"$spec"
        for alt in "${alts[@]}"; do
            if ctx_pkg_installed "$alt"; then found=1; break; fi
        done
        [ $found = 1 ] || missing+=("${alts[0]}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "==> installing missing packages: ${missing[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}

# Configures (once) and builds a meson build directory: ctx_build DIR [meson options...]
ctx_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" || return 1
    fi
    ninja -C "$dir"
}

# ---------------------------------------------------------------------------- server processes
#
# A server is started in the background of the calling shell (never call ctx_server_start in a
# command substitution or a pipeline: the PID would belong to a subshell). Every started server is
# remembered in CTX_SERVER_PIDS until ctx_server_stop stops it, so ctx_server_trap can stop what is
# still running when the script exits.

CTX_SERVER_PIDS=()

# ctx_server_start [--port N] [--timeout-s S] [--detach] BIN DATA_DIR LOG_FILE [SERVER_ARGS...]
# Runs `BIN --host 127.0.0.1 --port N --data-dir DATA_DIR SERVER_ARGS...` (N defaults to 0: any
# free port; the HTTP API off unless CONTEXTDB_HTTP_PORT is set, so servers never race for 8080) with stdin from /dev/null and stdout and stderr appended to LOG_FILE, then waits up
# to S whole seconds (default 60) for the ready line `contextdb: listening on 127.0.0.1:PORT` among the
# lines written after the start. --detach runs the server under nohup, for a server that outlives
# the script. On success sets and exports CTX_SERVER_PID and CTX_SERVER_PORT, sets
# CTX_SERVER_READY_S (seconds from start to ready line, e.g. 0.153) and returns 0. On failure (the
# server exited, or no ready line in time) stops the server if it still runs, prints the log's
# new lines to stderr and returns 1.
ctx_server_start() {
    local port=0 timeout_s=60 detach=0
    while [ $# -gt 0 ]; do
        case $1 in
        --port) port=$2; shift 2 ;;
        --timeout-s) timeout_s=$2; shift 2 ;;
        --detach) detach=1; shift ;;
        *) break ;;
        esac
    done
    if [ $# -lt 3 ]; then
        echo "usage: ctx_server_start [--port N] [--timeout-s S] [--detach] BIN DATA_DIR LOG_FILE" \
            "[SERVER_ARGS...]" >&2
        return 2
    fi
    local bin=$1 data_dir=$2 log=$3
    shift 3
    local offset=0 pid found= started_us deadline_us ready_us
    : >>"$log" || return 1
    offset=$(stat -c %s "$log")
    started_us=${EPOCHREALTIME/[.,]/} # $EPOCHREALTIME has six decimals: microseconds
    local http=${CONTEXTDB_HTTP_PORT-off}
    if [ $detach = 1 ]; then
        CONTEXTDB_HTTP_PORT=$http nohup "$bin" --host 127.0.0.1 --port "$port" \
            --data-dir "$data_dir" "$@" \
            >>"$log" 2>&1 </dev/null &
    else
        CONTEXTDB_HTTP_PORT=$http "$bin" --host 127.0.0.1 --port "$port" \
            --data-dir "$data_dir" "$@" \
            >>"$log" 2>&1 </dev/null &
    fi
    pid=$!
    CTX_SERVER_PIDS+=("$pid")
    deadline_us=$((started_us + timeout_s * 1000000))
    while :; do
        found=$(tail -c +$((offset + 1)) "$log" |
            sed -n 's/^contextdb: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' | head -n 1) ||
            true
        [ -n "$found" ] && break
        ctx_pid_alive "$pid" || break
        [ "${EPOCHREALTIME/[.,]/}" -lt $deadline_us ] || break
        sleep 0.05
    done
    if [ -z "$found" ]; then
        if ctx_pid_alive "$pid"; then
            echo "contextdb (pid $pid) printed no ready line within $timeout_s s;" \
                "its log ($log):" >&2
        else
            echo "contextdb (pid $pid) exited before it was ready; its log ($log):" >&2
        fi
        tail -c +$((offset + 1)) "$log" >&2
        ctx_server_stop "$pid" >/dev/null 2>&1 || true
        return 1
    fi
    ready_us=$((${EPOCHREALTIME/[.,]/} - started_us))
    printf -v CTX_SERVER_READY_S '%d.%03d' $((ready_us / 1000000)) $((ready_us % 1000000 / 1000))
    export CTX_SERVER_PID=$pid CTX_SERVER_PORT=$found
    return 0
}

# ctx_server_stop [--timeout-s S] [--kill] [PID]
# Stops the server PID (default $CTX_SERVER_PID): SIGTERM, then SIGKILL if it still runs after S
# seconds (default 60); --kill sends SIGKILL at once (a crash, for recovery tests and benchmarks).
# Returns the server's exit status when it is a child of this shell (0 after a clean shutdown,
# 137 when it was killed), 0 for a process this shell did not start once it is gone, and 0 when
# PID is empty or not running.
ctx_server_stop() {
    local timeout_s=60 signal=TERM
    while [ $# -gt 0 ]; do
        case $1 in
        --timeout-s) timeout_s=$2; shift 2 ;;
        --kill) signal=KILL; shift ;;
        *) break ;;
        esac
    done
    local pid=${1:-${CTX_SERVER_PID:-}} status=0 killed=0 i
    [ -n "$pid" ] || return 0
    local kept=()
    for i in "${CTX_SERVER_PIDS[@]}"; do [ "$i" = "$pid" ] || kept+=("$i"); done
    CTX_SERVER_PIDS=("${kept[@]}")
    [ "${CTX_SERVER_PID:-}" = "$pid" ] && CTX_SERVER_PID=
    if [ $signal = KILL ] && ctx_pid_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        killed=1
        # Reaped at once, so bash prints no "Killed" job report; a non-child returns 127 here.
        wait "$pid" 2>/dev/null || status=$?
    fi
    if ctx_pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < timeout_s * 20; i++)); do
            ctx_pid_alive "$pid" || break
            sleep 0.05
        done
        if ctx_pid_alive "$pid"; then
            echo "contextdb (pid $pid) still runs $timeout_s s after SIGTERM; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            killed=1
            wait "$pid" 2>/dev/null || status=$?
        fi
    fi
    if [ $status = 0 ]; then
        wait "$pid" 2>/dev/null || status=$?
    fi
    [ $status = 127 ] && status=0 # not a child of this shell: its status is not ours to know
    [ $killed = 1 ] && [ $status = 0 ] && status=137
    return $status
}

# ctx_server_trap [COMMAND]
# On exit (also after SIGINT, SIGTERM or SIGHUP) stops every server ctx_server_start started
# that is still running, then evaluates COMMAND (e.g. removing a temporary directory). Replaces
# the script's EXIT, INT, TERM and HUP traps; `trap - EXIT INT TERM HUP` removes it.
ctx_server_trap() {
    CTX_SERVER_TRAP_COMMAND=${1:-}
    trap ctx_server_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

ctx_server_cleanup() {
    local status=$? pid
    for pid in "${CTX_SERVER_PIDS[@]}"; do
        ctx_server_stop "$pid" >/dev/null 2>&1 || true
    done
    [ -n "${CTX_SERVER_TRAP_COMMAND:-}" ] && eval "$CTX_SERVER_TRAP_COMMAND"
    return $status
}

# ctx_pid_alive PID — true while PID runs (a zombie, exited but not yet reaped, counts as gone).
ctx_pid_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat:0:1}" != Z ]
}
