#!/usr/bin/env bash
# Sets up everything the kiosk needs on Debian 12 / Raspberry Pi OS Bookworm:
# system packages (apt) and a Python virtual environment in .venv with the kiosk installed.
#   scripts/setup.sh          what running the kiosk needs
#   scripts/setup.sh --test   also what the test suite needs (chromium, sox, espeak-ng, ...)
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

# What the kiosk uses at run time: arecord/aplay, a local MQTT broker for the demo, venv support.
packages=(python3-venv python3-pip alsa-utils mosquitto)
# What the tests drive for real: a browser, audio tools, systemd-analyze, shellcheck, promtool (from prometheus)
# for the alert rules.
[ $want_tests = 1 ] && packages+=(chromium sox espeak-ng systemd v4l-utils edid-decode shellcheck prometheus)

is_pi=0
grep -qs "Raspberry Pi" /proc/device-tree/model && is_pi=1
# On the Pi the camera stack comes from apt, not PyPI.
[ $is_pi = 1 ] && packages+=(python3-picamera2 python3-libcamera)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "Installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The tests need only promtool: Debian's package also starts a Prometheus server, which is not wanted here.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
        $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    # --system-site-packages lets the venv see apt's picamera2 on a Pi.
    venv_opts=()
    [ $is_pi = 1 ] && venv_opts+=(--system-site-packages)
    "$python" -m venv "${venv_opts[@]}" .venv
fi
extras=""
[ $want_tests = 1 ] && extras="[test]"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
