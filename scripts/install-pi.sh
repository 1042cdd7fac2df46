#!/usr/bin/env bash
# Installs the Hybrid Room Kiosk as a service on a Raspberry Pi (Raspberry Pi OS Bookworm Lite):
# the Pi path. (scripts/setup.sh is the development path: a checkout with its own .venv.)
#
#   sudo scripts/install-pi.sh                       install, or upgrade from this checkout
#   scripts/install-pi.sh --dry-run                  print every command and file write, change nothing
#   scripts/install-pi.sh --root DIR                 write the files under DIR instead of /, skipping
#                                                    apt-get, useradd, the venv and systemctl (tests, images)
#   sudo scripts/install-pi.sh --uninstall           remove the services, the venv and the boot settings
#   sudo scripts/install-pi.sh --uninstall --purge   ...and /etc/kiosk, /var/lib/kiosk*, the kiosk user
#
# Installing:
#   1. apt packages: Python venv support, picamera2 and rpicam-apps (Raspberry Pi OS only), ALSA
#      tools, v4l-utils (cec-ctl), cage, Chromium (chromium-browser on Raspberry Pi OS, chromium on
#      Debian), mosquitto-clients;
#   2. the system user kiosk, in groups gpio video audio render;
#   3. a venv at /opt/kiosk/venv made with --system-site-packages (to see apt's picamera2), and the
#      kiosk installed into it from this checkout (pip install .), keeping apt's numpy;
#   4. /etc/kiosk/config.toml from firmware_config/config.toml if there is none (never overwritten;
#      the example is always refreshed as /etc/kiosk/config.toml.example);
#   5. systemd/kiosk.service and kiosk-display.service in /etc/systemd/system; the systemd
#      watchdog and timesyncd drop-ins from firmware_config/;
#   6. firmware_config/config.txt into /boot/firmware/config.txt as a marked block, replaced in
#      place on every run, and firmware_config/cmdline-additions.txt into the one line of
#      cmdline.txt (a copy of each file is kept once as <file>.before-kiosk);
#   7. systemctl enable --now kiosk.service kiosk-display.service (restarted on an upgrade).
# Running it twice changes nothing the second time. A changed boot setting needs a reboot.
set -euo pipefail
umask 022

SRC=$(cd "$(dirname "$0")/.." && pwd)
BEGIN_MARK="# >>> hybrid-room-kiosk >>>"
END_MARK="# <<< hybrid-room-kiosk <<<"
PREFIX=/opt/kiosk
VENV=$PREFIX/venv
UNITS=(kiosk.service kiosk-display.service)
KIOSK_GROUPS=(gpio video audio render)
DISPLAY_GROUPS=(video render)

ROOT=""
DRY=0
UNINSTALL=0
PURGE=0
BOOT_CHANGED=0
CHANGED=()

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

die() {
    echo "install-pi.sh: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) DRY=1 ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift ;;
        --root=*) ROOT=${1#--root=} ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done
[ $PURGE = 0 ] || [ $UNINSTALL = 1 ] || die "--purge goes with --uninstall"
if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" != / ] || ROOT=""
fi
if [ -z "$ROOT" ] && [ $DRY = 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run it as root (sudo $0), or with --dry-run to see what it would do"
fi

# -- helpers: every change to the system goes through run, write_file or remove -------------

say() { printf '==> %s\n' "$*"; }
note() { printf '    note: %s\n' "$*"; }

# The path $1 (absolute) under the root directory.
at() { printf '%s%s' "$ROOT" "$1"; }

# The command as one line, quoting only the words that need it.
quoted() {
    local word out=""
    for word in "$@"; do
        if [[ $word =~ ^[][A-Za-z0-9_./:=,@%+-]+$ ]]; then
            out+="$word "
        else
            out+="$(printf '%q' "$word") "
        fi
    done
    printf '%s' "${out% }"
}

# (Never feed write_file through a pipe: it would run in a subshell and CHANGED would be lost.)

# Run a command, or say it would be run (--dry-run) or is skipped (--root).
run() {
    if [ -n "$ROOT" ]; then
        echo "skipped (--root): $(quoted "$@")"
    elif [ $DRY = 1 ]; then
        echo "would run: $(quoted "$@")"
    else
        echo "+ $(quoted "$@")"
        "$@"
    fi
}

# Like run, but a failure is only reported (stopping a service that is not there, ...).
run_ok() {
    run "$@" || echo "    (failed with exit code $?: carrying on)"
}

# write_file PATH MODE: standard input becomes PATH (under the root), unless it already holds it.
# MODE "-" leaves the mode alone (the boot partition is FAT, which has none).
write_file() {
    local path=$1 mode=$2 dest content old
    dest=$(at "$path")
    content=$(cat; printf x)
    content=${content%x}
    if [ -f "$dest" ]; then
        old=$(cat "$dest"; printf x)
        if [ "$old" = "${content}x" ]; then
            echo "unchanged: $path"
            return 0
        fi
    fi
    CHANGED+=("$path")
    if [ $DRY = 1 ]; then
        echo "would write: $path ($(printf '%s' "$content" | wc -c) bytes${mode/#[0-7]*/, mode $mode})"
        return 0
    fi
    mkdir -p "$(dirname "$dest")"
    printf '%s' "$content" >"$dest.kiosk-new"
    if [ "$mode" != - ]; then
        chmod "$mode" "$dest.kiosk-new"
    fi
    mv -f "$dest.kiosk-new" "$dest"
    echo "wrote: $path"
}

# Keep the first version of a file we are about to change, once.
backup_once() {
    local path=$1
    [ -f "$(at "$path")" ] || return 0
    [ ! -e "$(at "$path").before-kiosk" ] || return 0
    write_file "$path.before-kiosk" - <"$(at "$path")"
}

remove() {
    local path=$1 dest
    dest=$(at "$path")
    if [ ! -e "$dest" ] && [ ! -L "$dest" ]; then
        return 0
    fi
    CHANGED+=("$path")
    if [ $DRY = 1 ]; then
        echo "would remove: $path"
    else
        rm -rf -- "$dest"
        echo "removed: $path"
    fi
}

was_changed() {
    local p
    for p in "${CHANGED[@]+"${CHANGED[@]}"}"; do
        [ "$p" != "$1" ] || return 0
    done
    return 1
}

# -- boot configuration merges (pure: file in, new text out) --------------------------------
# Callers capture the text as new=$(merge ... && printf x): the x keeps trailing newlines, and the &&
# lets a failed merge stop the script (set -e) instead of writing half a file.

# merge_config_txt FILE BLOCK: FILE with BLOCK's lines between the markers, in place of an earlier
# block or appended. An overlay already loaded outside the block, in the part of the file that
# applies to every board, is left out of the block (applying it twice resets its parameters).
merge_config_txt() {
    awk -v blockfile="$2" -v begin="$BEGIN_MARK" -v end="$END_MARK" -v mode=install -f <(merge_awk) "$1"
}

# unmerge_config_txt FILE: FILE without the block (and the blank line install put before it).
unmerge_config_txt() {
    awk -v blockfile=/dev/null -v begin="$BEGIN_MARK" -v end="$END_MARK" -v mode=uninstall -f <(merge_awk) "$1"
}

merge_awk() {
    cat <<'AWK'
function trim(s) { gsub(/^[ \t]+|[ \t\r]+$/, "", s); return s }
function overlay(s) { s = substr(s, 11); sub(/[,:].*/, "", s); return s }
{ lines[NR] = $0 }
END {
    first = 0; last = 0
    for (i = 1; i <= NR; i++) {
        t = trim(lines[i])
        if (t == begin && !first) first = i
        else if (t == end && first && !last) last = i
    }
    if (first && !last) { print "config.txt has \"" begin "\" but not \"" end "\": fix it by hand" > "/dev/stderr"; exit 3 }
    common = 1
    for (i = 1; i <= NR; i++) {
        if (first && i >= first && i <= last) continue
        t = trim(lines[i])
        if (t ~ /^\[.*\]$/) { common = (tolower(t) == "[all]"); continue }
        if (common && t ~ /^dtoverlay=./) loaded[overlay(t)] = 1
    }
    n = 0
    if (mode == "install") {
        block[++n] = begin
        while ((getline line < blockfile) > 0) {
            t = trim(line)
            if (t ~ /^dtoverlay=./ && (overlay(t) in loaded)) line = "#" t "   (left out: config.txt already loads it above)"
            block[++n] = line
        }
        block[++n] = end
    }
    if (first) {
        stop = first - 1
        # Uninstalling the block install appended: drop the blank line put before it too.
        if (mode == "uninstall" && last == NR && stop > 0 && trim(lines[stop]) == "") stop--
        for (i = 1; i <= stop; i++) print lines[i]
        for (j = 1; j <= n; j++) print block[j]
        for (i = last + 1; i <= NR; i++) print lines[i]
    } else {
        for (i = 1; i <= NR; i++) print lines[i]
        if (n && NR && trim(lines[NR]) != "") print ""
        for (j = 1; j <= n; j++) print block[j]
    }
}
AWK
}

# merge_cmdline FILE ADDITIONS MODE: the first line of FILE with each parameter of ADDITIONS
# (one per line, # comments) appended after removing an earlier value of the same parameter
# (MODE install), or with exactly those parameters removed (MODE uninstall). Other lines are kept.
merge_cmdline() {
    awk -v addfile="$2" -v mode="$3" '
function key(t) {
    if (t ~ /^video=[^:]*:/) return substr(t, 1, index(t, ":"))
    if (index(t, "=")) return substr(t, 1, index(t, "="))
    return t
}
BEGIN {
    while ((getline line < addfile) > 0) {
        sub(/\r$/, "", line)
        if (line ~ /^[ \t]*(#|$)/) continue
        gsub(/^[ \t]+|[ \t]+$/, "", line)
        add[++n] = line; keys[key(line)] = 1; exact[line] = 1
    }
}
NR == 1 {
    sub(/\r$/, "")
    out = ""
    m = split($0, tokens, /[ \t]+/)
    for (i = 1; i <= m; i++) {
        t = tokens[i]
        if (t == "") continue
        if (mode == "install" && (key(t) in keys)) continue
        if (mode == "uninstall" && (t in exact)) continue
        out = out (out == "" ? "" : " ") t
    }
    if (mode == "install") for (j = 1; j <= n; j++) out = out (out == "" ? "" : " ") add[j]
    print out
    next
}
{ print }
END { if (NR > 1) print "cmdline.txt has more than one line: the firmware ignores all but the first" > "/dev/stderr" }
' "$1"
}

# The boot partition's directory (/boot/firmware on Bookworm, /boot before), or nothing.
boot_dir() {
    if [ -d "$(at /boot/firmware)" ]; then
        echo /boot/firmware
    elif [ -f "$(at /boot/config.txt)" ] && [ -f "$(at /boot/cmdline.txt)" ]; then
        echo /boot
    fi
}

merge_boot() {
    local boot new
    boot=$(boot_dir)
    if [ -z "$boot" ]; then
        note "no /boot/firmware: not a Raspberry Pi boot partition, boot settings left alone"
        return 0
    fi
    say "Boot settings in $boot (firmware_config/config.txt, cmdline-additions.txt)"
    local current=/dev/null
    if [ -f "$(at "$boot/config.txt")" ]; then
        current=$(at "$boot/config.txt")
    fi
    new=$(merge_config_txt "$current" "$SRC/firmware_config/config.txt" && printf x)
    if [ "$(cat "$current"; printf x)" != "$new" ]; then
        backup_once "$boot/config.txt"
    fi
    write_file "$boot/config.txt" - < <(printf '%s' "${new%x}")
    if [ -f "$(at "$boot/cmdline.txt")" ]; then
        new=$(merge_cmdline "$(at "$boot/cmdline.txt")" "$SRC/firmware_config/cmdline-additions.txt" install && printf x)
        if [ "$(cat "$(at "$boot/cmdline.txt")"; printf x)" != "$new" ]; then
            backup_once "$boot/cmdline.txt"
        fi
        write_file "$boot/cmdline.txt" - < <(printf '%s' "${new%x}")
    else
        note "no $boot/cmdline.txt: kernel parameters not added (consoleblank=0, video=...)"
    fi
    if was_changed "$boot/config.txt" || was_changed "$boot/cmdline.txt"; then
        BOOT_CHANGED=1
    fi
}

unmerge_boot() {
    local boot new
    boot=$(boot_dir)
    [ -n "$boot" ] || return 0
    say "Boot settings in $boot"
    if [ -f "$(at "$boot/config.txt")" ]; then
        new=$(unmerge_config_txt "$(at "$boot/config.txt")" && printf x)
        write_file "$boot/config.txt" - < <(printf '%s' "${new%x}")
    fi
    if [ -f "$(at "$boot/cmdline.txt")" ]; then
        new=$(merge_cmdline "$(at "$boot/cmdline.txt")" "$SRC/firmware_config/cmdline-additions.txt" uninstall && printf x)
        write_file "$boot/cmdline.txt" - < <(printf '%s' "${new%x}")
    fi
    if was_changed "$boot/config.txt" || was_changed "$boot/cmdline.txt"; then
        BOOT_CHANGED=1
    fi
}

# -- the steps -------------------------------------------------------------------------------

apt_has() {
    apt-cache show "$1" >/dev/null 2>&1
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# Raspberry Pi OS packages Chromium as chromium-browser (chromium in newer releases), Debian as chromium.
browser_package() {
    local p
    for p in chromium-browser chromium; do
        if [ -z "$ROOT" ] && installed "$p"; then
            echo "$p"
            return 0
        fi
    done
    if [ -z "$ROOT" ] && ! apt_has chromium && apt_has chromium-browser; then
        echo chromium-browser
    else
        echo chromium
    fi
}

install_packages() {
    say "Packages (apt)"
    local packages=(python3-venv python3-pip alsa-utils v4l-utils cage mosquitto-clients "$(browser_package)")
    local p
    # Raspberry Pi OS only: the CSI camera stack and rpicam-hello (for kiosk doctor).
    for p in python3-picamera2 rpicam-apps-lite; do
        if [ -z "$ROOT" ] && apt_has "$p"; then
            packages+=("$p")
        else
            note "$p not offered by apt here (Raspberry Pi OS only): CSI cameras need it"
        fi
    done
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}

create_user() {
    say "User kiosk (groups ${KIOSK_GROUPS[*]})"
    local g
    for g in "${KIOSK_GROUPS[@]}"; do
        # Raspberry Pi OS has them all; elsewhere make them, or kiosk.service would not start.
        if [ -n "$ROOT" ] || ! getent group "$g" >/dev/null; then
            run groupadd --system "$g"
        fi
    done
    if [ -n "$ROOT" ] || ! getent passwd kiosk >/dev/null; then
        run useradd --system --user-group --home-dir /var/lib/kiosk --no-create-home \
            --shell /usr/sbin/nologin --comment "Hybrid Room Kiosk" kiosk
    fi
    run usermod --append --groups "$(IFS=,; echo "${KIOSK_GROUPS[*]}")" kiosk
    # The room screen's browser runs as a user of its own: it cannot read /var/lib/kiosk (the record, the
    # PIN hash, the session key), whatever a page could make it do.
    say "User kiosk-display (groups ${DISPLAY_GROUPS[*]})"
    if [ -n "$ROOT" ] || ! getent passwd kiosk-display >/dev/null; then
        run useradd --system --user-group --home-dir /var/lib/kiosk-display --no-create-home \
            --shell /usr/sbin/nologin --comment "Hybrid Room Kiosk room screen" kiosk-display
    fi
    run usermod --append --groups "$(IFS=,; echo "${DISPLAY_GROUPS[*]}")" kiosk-display
}

install_venv() {
    say "Python environment $VENV"
    # picamera2's compiled parts (apt) are built against apt's numpy: keep that one in the venv.
    local numpy=""
    if [ -z "$ROOT" ]; then
        numpy=$(python3 -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)
    fi
    if [ -n "$numpy" ]; then
        write_file "$PREFIX/constraints.txt" 0644 < <(printf '%s\nnumpy==%s\n' \
            "# Written by install-pi.sh: keep apt's numpy (picamera2 is built against it)." "$numpy")
    else
        write_file "$PREFIX/constraints.txt" 0644 \
            < <(printf '%s\n' "# Written by install-pi.sh: no numpy from apt, so no constraint.")
    fi
    if [ -n "$ROOT" ] || [ ! -x "$VENV/bin/python" ]; then
        run python3 -m venv --system-site-packages "$VENV"
    fi
    run "$VENV/bin/pip" install --disable-pip-version-check --no-cache-dir --upgrade \
        --constraint "$PREFIX/constraints.txt" "$SRC"
}

install_config() {
    say "Configuration /etc/kiosk"
    write_file /etc/kiosk/config.toml.example 0644 <"$SRC/firmware_config/config.toml"
    if [ -e "$(at /etc/kiosk/config.toml)" ]; then
        echo "kept: /etc/kiosk/config.toml (never overwritten; compare with config.toml.example)"
    else
        write_file /etc/kiosk/config.toml 0640 <"$SRC/firmware_config/config.toml"
        # Readable by the kiosk, not by everyone: it may hold the MQTT password.
        run chown root:kiosk /etc/kiosk/config.toml
    fi
}

install_units() {
    say "systemd units and drop-ins"
    local browser=/usr/bin/chromium
    if [ ! -x "$(at /usr/bin/chromium)" ] && [ -x "$(at /usr/bin/chromium-browser)" ]; then
        browser=/usr/bin/chromium-browser
    fi
    write_file /etc/systemd/system/kiosk.service 0644 <"$SRC/systemd/kiosk.service"
    write_file /etc/systemd/system/kiosk-display.service 0644 \
        < <(sed "s#-- /usr/bin/chromium #-- $browser #" "$SRC/systemd/kiosk-display.service")
    # IPAddressAllow= from [web] allow_from (kiosk/ip_allow.py; the repository's code, so it works under --root).
    write_file /etc/systemd/system/kiosk.service.d/ip-allow.conf 0644 \
        < <(PYTHONPATH="$SRC" python3 -m kiosk.ip_allow "$(at /etc/kiosk/config.toml)" "$(at /etc/resolv.conf)")
    write_file /etc/systemd/system.conf.d/kiosk-watchdog.conf 0644 \
        <"$SRC/firmware_config/systemd-system.conf.d/watchdog.conf"
    write_file /etc/systemd/timesyncd.conf.d/kiosk.conf 0644 <"$SRC/firmware_config/timesyncd.conf.d/kiosk.conf"
}

start_services() {
    say "Services"
    local upgrade=0
    if [ -z "$ROOT" ] && systemctl is-active --quiet kiosk.service 2>/dev/null; then
        upgrade=1
    fi
    run systemctl daemon-reload
    if was_changed /etc/systemd/system.conf.d/kiosk-watchdog.conf; then
        run systemctl daemon-reexec
    fi
    if was_changed /etc/systemd/timesyncd.conf.d/kiosk.conf; then
        run_ok systemctl try-restart systemd-timesyncd.service
    fi
    if [ -z "$ROOT" ] && systemctl is-enabled --quiet display-manager.service 2>/dev/null; then
        note "a display manager (desktop login) is enabled and will fight kiosk-display for the screen:"
        note "  sudo systemctl disable display-manager.service && sudo systemctl set-default multi-user.target"
    fi
    # kiosk-display takes tty1 (Conflicts=getty@tty1.service): no login prompt starts there at boot.
    run_ok systemctl disable getty@tty1.service
    run systemctl enable --now "${UNITS[@]}"
    if [ $upgrade = 1 ]; then
        run systemctl restart "${UNITS[@]}"
    fi
}

do_install() {
    install_packages
    create_user
    install_venv
    install_config
    install_units
    merge_boot
    start_services
    say "Done"
    if [ $BOOT_CHANGED = 1 ]; then
        echo "Boot settings changed: reboot to apply them (sudo reboot)."
    fi
    echo "Check the room with: $VENV/bin/kiosk doctor --config /etc/kiosk/config.toml"
}

do_uninstall() {
    say "Services"
    run_ok systemctl disable --now "${UNITS[@]}"
    remove /etc/systemd/system/kiosk.service
    remove /etc/systemd/system/kiosk-display.service
    remove /etc/systemd/system/kiosk.service.d/ip-allow.conf
    remove /etc/systemd/system.conf.d/kiosk-watchdog.conf
    remove /etc/systemd/timesyncd.conf.d/kiosk.conf
    run systemctl daemon-reload
    run_ok systemctl daemon-reexec
    run_ok systemctl try-restart systemd-timesyncd.service
    # The login prompt on tty1 comes back.
    run_ok systemctl enable --now getty@tty1.service
    say "Python environment"
    remove "$PREFIX"
    unmerge_boot
    if [ $PURGE = 1 ]; then
        say "Configuration, state and user (--purge)"
        remove /etc/kiosk
        remove /var/lib/kiosk
        remove /var/lib/kiosk-display
        if [ -n "$ROOT" ] || getent passwd kiosk >/dev/null; then
            run_ok userdel kiosk
        fi
        if [ -n "$ROOT" ] || getent passwd kiosk-display >/dev/null; then
            run_ok userdel kiosk-display
        fi
    else
        note "kept /etc/kiosk and /var/lib/kiosk (the configuration, database and PIN): --purge removes them"
    fi
    say "Done"
    if [ $BOOT_CHANGED = 1 ]; then
        echo "Boot settings changed: reboot to apply them (sudo reboot)."
    fi
}

if [ -n "$ROOT" ]; then
    say "Working under $ROOT: files only, no apt-get, useradd, venv or systemctl"
fi
if [ $DRY = 1 ]; then
    say "Dry run: nothing is changed"
fi
if [ -z "$ROOT" ] && ! grep -qs "Raspberry Pi" /proc/device-tree/model; then
    note "this is not a Raspberry Pi: the kiosk will simulate its devices"
fi
if [ $UNINSTALL = 1 ]; then
    do_uninstall
else
    do_install
fi
