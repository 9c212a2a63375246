# common.sh — shared by tools/run and tools/test (sourced, not executed).

# Debian packages the build and the tools need. "a|b" means either satisfies the need.
CTX_PACKAGES=(meson ninja-build gcc pkg-config check libjansson-dev libpq-dev
              "postgresql-client|postgresql-client-15" liblz4-dev libzstd-dev libssl-dev openssl)

# What tests/clients needs to run every client (missing ones make a client test SKIP, not fail),
# and the libFuzzer toolchain tools/test and tools/fuzz build tests/fuzz with.
# npm: Debian's package, or the one bundled with a nodesource nodejs.
CTX_TEST_PACKAGES=(python3-psycopg2 python3-psycopg libpostgresql-jdbc-java
                   "openjdk-17-jre-headless|openjdk-17-jdk-headless|default-jre-headless"
                   nodejs "npm|nodejs" "postgresql-client|postgresql-client-15" clang-format
                   clang-14 libfuzzer-14-dev)

ctx_pkg_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q "install ok installed"
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
