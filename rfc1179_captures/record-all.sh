#!/usr/bin/env bash
# Re-records every LPD session in this folder from real clients.
#
#   sudo rfc1179_captures/record-all.sh            # all sessions
#   sudo rfc1179_captures/record-all.sh 'cups-*'   # only names matching a glob
#
# Needs root and a machine where tests/peers/install.sh has run: lprng (lpr,
# lpq, lprm) and rlpr installed; cups and lpr (BSD) unpacked under
# $PEERS_ROOT (default /opt/lpd-ipp-gateway-peers).
#
# Everything runs inside a private namespace (unshare --uts --net --mount):
#   - hostname "lpdclient", FQDN "lpdclient.capture.example" (private /etc/hosts),
#     so H lines and file names are the same on every machine;
#   - a private network with only loopback: fixed ports are safe, nothing leaves
#     the box, and BSD lpd can use port 515;
#   - /etc, /run, /dev and /var/spool are overlays whose upper layers live in a
#     temporary directory, so the printcap, hosts file, /dev/printer socket,
#     lpd.pid and spool directories never touch the real system.
# The namespace, its mounts and every process started in it are gone when the
# script ends; the temporary directory is removed.
#
# What varies between runs: job numbers (LPRng and the CUPS backend derive
# them from the pid; BSD lpd counts from .seq, starting at 000), LPRng's D
# (date) line, the client's source port, and therefore byte counts of control
# files. Everything in "expect" is fixed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_ROOT=${PEERS_ROOT:-/opt/lpd-ipp-gateway-peers}

if [[ -z ${RFC1179_IN_SANDBOX:-} ]]; then
    if [[ $(id -u) != 0 ]]; then
        echo "record-all.sh: run as root (it needs unshare and mounts)" >&2
        exit 1
    fi
    WORK=$(mktemp -d /tmp/rfc1179-record.XXXXXX)
    status=0
    RFC1179_IN_SANDBOX=1 WORK=$WORK \
        unshare --uts --net --mount --propagation private \
        bash "${BASH_SOURCE[0]}" "$@" || status=$?
    rm -rf "$WORK"
    exit $status
fi

# ---------------------------------------------------------------- sandbox ----
FILTER=("$@")
[[ ${#FILTER[@]} -gt 0 ]] || FILTER=('*')
DOCS=$HERE/docs
RECORDER=$HERE/recorder.py
CUPS_LPD=$PEERS_ROOT/cups/usr/lib/cups/backend-available/lpd
BSD=$PEERS_ROOT/lpr/usr
PYTHON=${PYTHON:-python3}

overlay() {  # overlay DIR: private writable layer over DIR
    local d=$1 n
    n=$(echo "$1" | tr / _)
    mkdir -p "$WORK/$n-up" "$WORK/$n-work"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$WORK/$n-up,workdir=$WORK/$n-work" "$d"
}

hostname lpdclient
ip link set lo up
overlay /etc
overlay /run
overlay /dev
overlay /var/spool
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlpdclient.capture.example lpdclient\n' >/etc/hosts
echo lpdclient >/etc/hostname
# LPRng's default mc (max copies) is 1 ("Fatal error - Maximum of 1 copies
# allowed"); allow -#/-K in the client configuration.
echo 'mc=10' >>/etc/lprng/lpd.conf
# BSD lpd: queue "fwd" forwards to 127.0.0.2:515 (the recorder). 127.0.0.2 is
# routed to lo but is not an interface address, so lpd's checkremote() sees a
# remote host (with rm=127.0.0.1 it decides the printer is local and fails
# with "no line printer device or host name"). LPRng needs /etc/printcap to
# exist; it ignores this entry because its clients are given queue@host%port.
cat >/etc/printcap <<'EOF'
fwd|BSD lpd queue forwarding to the recorder:\
	:lp=:rm=127.0.0.2:rp=lp:sd=/var/spool/lpd/fwd:lf=/var/spool/lpd/fwd/log:mx#0:
EOF
mkdir -p /var/spool/lpd/fwd
touch /var/spool/lpd/fwd/log
chown -R lp:lp /var/spool/lpd
chmod 2775 /var/spool/lpd/fwd

pkgver() {
    case $1 in
    lprng | rlpr) dpkg-query -W -f '${Package} ${Version}' "$1" ;;
    cups) echo "cups $(zcat "$PEERS_ROOT/cups/usr/share/doc/cups/changelog.Debian.gz" |
        sed -n '1s/^cups (\([^)]*\)).*/\1/p') (unpacked with dpkg -x under $PEERS_ROOT/cups)" ;;
    lpr) echo "lpr $(zcat "$PEERS_ROOT/lpr/usr/share/doc/lpr/changelog.gz" |
        sed -n '1s/^lpr (\([^)]*\)).*/\1/p') (BSD lpr/lpd, unpacked with dpkg -x under $PEERS_ROOT/lpr)" ;;
    esac
}

SANDBOX="Recorded by rfc1179_captures/record-all.sh, as root, inside a private namespace made with \`unshare --uts --net --mount\`: hostname lpdclient, FQDN lpdclient.capture.example from a private /etc/hosts (127.0.1.1), a network namespace holding only loopback, and overlay mounts on /etc, /run, /dev and /var/spool. The working directory was rfc1179_captures/docs, so file arguments are the bare names of the sample files kept there."

how_for() {  # how_for PKG PORT HOST
    case $1 in
    lprng) echo "$SANDBOX recorder.py listened on $3:$2 and recorded the connection the client opened; the LPRng client connected to it directly (queue@host%port, no local lpd involved; /etc/lprng/lpd.conf was Debian's plus mc=10, because the default max copies of 1 refuses -# and -K)." ;;
    rlpr) echo "$SANDBOX recorder.py listened on $3:$2 and recorded the connection the client opened; rlpr connected to it directly (-H/--port, no proxy)." ;;
    cups) echo "$SANDBOX recorder.py listened on $3:$2 and recorded the connection the client opened. The CUPS lpd backend was run directly as a CUPS backend would be run by cupsd (argv: job-id user title copies options [file]; DEVICE_URI in the environment), as root, so it bound a reserved source port unless reserve= said otherwise." ;;
    lpr) echo "$SANDBOX recorder.py listened on $3:$2 and recorded the connection the client opened. BSD lpd ($PEERS_ROOT/lpr/usr/sbin/lpd -s, UNIX socket only) ran with a private /etc/printcap whose queue fwd has rm=127.0.0.2 rp=lp (127.0.0.2 because lpd treats interface addresses such as 127.0.0.1 as local); the BSD lpr client spooled the job into /var/spool/lpd/fwd and lpd's printjob forwarded it from its spool to the recorder. The BSD lpr/lpq/lprm clients ran as root (BSD lpr honours -U only for the daemon user, so P is root)." ;;
    lpr-client) echo "$SANDBOX recorder.py listened on $3:$2 and recorded the connection the client opened. The BSD client ($PEERS_ROOT/lpr/usr/bin) read the private /etc/printcap (queue fwd: rm=127.0.0.2 rp=lp) and connected straight to the remote host, as BSD lpq/lprm do for remote queues." ;;
    esac
}

COUNT=0
rec() {  # rec NAME PKG 'COMMAND' [recorder args: --expect k=v, --doc JSON, ...]
    local name=$1 pkg=$2 cmd=$3
    shift 3
    local pat match=0
    for pat in "${FILTER[@]}"; do
        # shellcheck disable=SC2053
        [[ $name == $pat ]] && match=1
    done
    [[ $match == 1 ]] || return 0
    local host=127.0.0.1 port=5515 clientpkg=$pkg
    if [[ $pkg == lpr || $pkg == lpr-client ]]; then
        host=127.0.0.2 port=515 clientpkg=lpr
    fi
    local ready=$WORK/ready.$name
    rm -f "$ready"
    echo "=== $name: $cmd"
    (cd "$DOCS" && exec "$PYTHON" "$RECORDER" --name "$name" --out "$HERE" \
        --host "$host" --port "$port" --ready-file "$ready" --timeout 60 \
        --client "$(pkgver "$clientpkg")" --command "$cmd" \
        --how "$(how_for "$pkg" "$port" "$host")" "$@") &
    local rpid=$!
    local i
    for i in $(seq 100); do
        [[ -s $ready ]] && break
        sleep 0.1
    done
    # The client runs in its own process group so that a hung client (the
    # CUPS backend ignores SIGTERM while printing from stdin) can be killed
    # with everything it started.
    (cd "$DOCS" && exec setsid bash -c "$cmd") &
    local cpid=$! waited=0
    while kill -0 "$cpid" 2>/dev/null && ((waited < 900)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$cpid" 2>/dev/null; then
        echo "    (client still running after 90 s; killed)"
        kill -KILL -- "-$cpid" 2>/dev/null || true
    fi
    wait "$cpid" || echo "    (client exit status $?)"
    wait "$rpid" || echo "    (recorder exit status $?)"
    COUNT=$((COUNT + 1))
}

start_bsd_lpd() {
    "$BSD/sbin/lpd" -s
    for _ in $(seq 50); do
        [[ -S /dev/printer ]] && return 0
        sleep 0.1
    done
}
stop_bsd_lpd() {
    if [[ -s /run/lpd.pid ]]; then
        kill "$(cat /run/lpd.pid)" 2>/dev/null || true
    fi
}
trap stop_bsd_lpd EXIT

ENDPOINT='lp@127.0.0.1%5515'
FQDN=lpdclient.capture.example
CUPSURI=lpd://127.0.0.1:5515/lp

# ================================================================ LPRng lpr ==
# LPRng lpr: control file first; H = FQDN; J defaults to the file names as given
# (comma list) or (STDIN); C defaults to the class/priority letter A; L = user
# unless -h; N before the format line; copies repeat the whole per-file block.
rec lprng-lpr-plain lprng "lpr -P $ENDPOINT testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=root --expect host=$FQDN --expect job_name=testfile.txt \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec lprng-lpr-user-jobname lprng "lpr -P $ENDPOINT -U alice -J 'Quarterly report' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Quarterly report"' \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec lprng-lpr-title lprng "lpr -P $ENDPOINT -U alice -T 'Title for pr' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt \
    --expect title='"Title for pr"' \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec lprng-lpr-class lprng "lpr -P $ENDPOINT -U alice -C B testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt \
    --expect banner=true --expect class=B --expect cf_letter=B --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec lprng-lpr-copies-hash lprng "lpr -P $ENDPOINT -U alice -#2 testfile.txt small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt,small.ps \
    --expect banner=true --expect class=A --expect copies=2 --expect collated=true \
    --doc '{"name":"testfile.txt","format":"f","copies":2,"file":"testfile.txt"}' \
    --doc '{"name":"small.ps","format":"f","copies":2,"file":"small.ps"}'

rec lprng-lpr-copies-K lprng "lpr -P $ENDPOINT -U alice -K3 testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt \
    --expect banner=true --expect class=A --expect copies=3 \
    --doc '{"name":"testfile.txt","format":"f","copies":3,"file":"testfile.txt"}'

rec lprng-lpr-no-banner lprng "lpr -P $ENDPOINT -U alice -h testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt \
    --expect banner=false --expect class=A --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec lprng-lpr-mail lprng "lpr -P $ENDPOINT -U alice -m alice@example.org testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt \
    --expect banner=true --expect class=A --expect mail=alice@example.org --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec lprng-lpr-literal lprng "lpr -P $ENDPOINT -U alice -l binary.bin" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=binary.bin \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"binary.bin","format":"l","copies":1,"file":"binary.bin"}'

rec lprng-lpr-pr lprng "lpr -P $ENDPOINT -U alice -p testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"p","copies":1,"file":"testfile.txt"}'

# LPRng refuses -Fo ("Fatal error - Bad format specification 'o'"); -Fd is
# accepted like the other RFC letters.
rec lprng-lpr-format-F lprng "lpr -P $ENDPOINT -U alice -Fd small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=small.ps \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"small.ps","format":"d","copies":1,"file":"small.ps"}'

rec lprng-lpr-multi lprng "lpr -P $ENDPOINT -U alice testfile.txt small.ps testfile.pcl" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt,small.ps,testfile.pcl \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}' \
    --doc '{"name":"small.ps","format":"f","copies":1,"file":"small.ps"}' \
    --doc '{"name":"testfile.pcl","format":"f","copies":1,"file":"testfile.pcl"}'

rec lprng-lpr-stdin lprng "lpr -P $ENDPOINT -U alice < small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"(STDIN)"' \
    --expect banner=true --expect class=A --expect copies=1 \
    --doc '{"name":"(STDIN)","format":"f","copies":1,"file":"small.ps"}'

rec lprng-lpr-stream-k lprng "cat small.ps | lpr -P $ENDPOINT -U alice -k" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"(STDIN)"' \
    --expect banner=true --expect class=A --expect copies=1 --expect data_size_zero=true \
    --doc '{"name":"(STDIN)","format":"f","copies":1,"file":"small.ps"}'

rec lprng-lpr-width-indent-Z lprng "lpr -P $ENDPOINT -U alice -w 80 -i 4 -Z 'sides=two-sided-long-edge,media=a4' -R acct42 testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name=testfile.txt \
    --expect banner=true --expect class=A --expect copies=1 \
    --expect width=80 --expect indent=4 --expect options='"sides=two-sided-long-edge,media=a4"' \
    --expect accounting=acct42 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

# ========================================================= LPRng lpq / lprm ==
rec lprng-lpq-default lprng "lpq -P $ENDPOINT" \
    --expect kind='"queue-long"' --expect queue=lp --expect list='[]'
rec lprng-lpq-short lprng "lpq -P $ENDPOINT -s" \
    --expect kind='"queue-short"' --expect queue=lp --expect list='[]'
rec lprng-lpq-long lprng "lpq -P $ENDPOINT -l" \
    --expect kind='"queue-long"' --expect queue=lp --expect list='[]'
rec lprng-lpq-filter lprng "lpq -P $ENDPOINT alice 123" \
    --expect kind='"queue-long"' --expect queue=lp --expect list='["alice","123"]'
rec lprng-lprm-job lprng "lprm -P $ENDPOINT 123" \
    --expect kind='"remove"' --expect queue=lp --expect agent=root --expect list='["123"]'
rec lprng-lprm-user lprng "lprm -P $ENDPOINT -U alice alice" \
    --expect kind='"remove"' --expect queue=lp --expect agent=alice --expect list='["alice"]'
rec lprng-lprm-all lprng "lprm -P $ENDPOINT all" \
    --expect kind='"remove"' --expect queue=lp --expect agent=root --expect list='["all"]'

# ========================================================= BSD lpd forwarding ==
# BSD lpr: H = short host name; P = root; C = host name, J and L only with a
# banner (unlike FreeBSD, this lpr drops C too with -h); each file's format line repeated per copy (uncollated), then
# U, then N; stdin is N " ". lpd forwards data files first, control file last.
start_bsd_lpd
rec bsd-lpd-forward-one lpr "$BSD/bin/lpr -P fwd testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=data-first \
    --expect user=root --expect host=lpdclient --expect job_name=testfile.txt \
    --expect banner=true --expect class=lpdclient --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec bsd-lpd-forward-two-copies lpr "$BSD/bin/lpr -P fwd -J 'Two files' -#2 testfile.txt small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=data-first \
    --expect user=root --expect host=lpdclient --expect job_name='"Two files"' \
    --expect banner=true --expect class=lpdclient --expect copies=2 --expect collated=false \
    --doc '{"name":"testfile.txt","format":"f","copies":2,"file":"testfile.txt"}' \
    --doc '{"name":"small.ps","format":"f","copies":2,"file":"small.ps"}'

rec bsd-lpd-forward-nobanner-pr lpr "$BSD/bin/lpr -P fwd -h -p -T 'Pretty title' -w 100 testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=data-first \
    --expect user=root --expect host=lpdclient --expect job_name=null \
    --expect banner=false --expect class=null --expect copies=1 \
    --expect title='"Pretty title"' --expect width=100 \
    --doc '{"name":"testfile.txt","format":"p","copies":1,"file":"testfile.txt"}'

rec bsd-lpd-forward-stdin-literal lpr "$BSD/bin/lpr -P fwd -l -m -C Accounting -J 'From stdin' < binary.bin" \
    --expect kind='"print"' --expect queue=lp --expect order=data-first \
    --expect user=root --expect host=lpdclient --expect job_name='"From stdin"' \
    --expect banner=true --expect class=Accounting --expect mail=root --expect copies=1 \
    --doc '{"name":" ","format":"l","copies":1,"file":"binary.bin"}'

# Quirk of this BSD lpr: with "-i 8" (indent as a separate argument) the
# default job name is taken from the argument after -i, so J is "8".
rec bsd-lpd-forward-indent-three lpr "$BSD/bin/lpr -P fwd -i 8 testfile.txt small.ps testfile.pcl" \
    --expect kind='"print"' --expect queue=lp --expect order=data-first \
    --expect user=root --expect host=lpdclient --expect job_name='"8"' \
    --expect banner=true --expect class=lpdclient --expect copies=1 --expect indent=8 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}' \
    --doc '{"name":"small.ps","format":"f","copies":1,"file":"small.ps"}' \
    --doc '{"name":"testfile.pcl","format":"f","copies":1,"file":"testfile.pcl"}'
stop_bsd_lpd

rec bsd-lpq-short lpr-client "$BSD/bin/lpq -P fwd" \
    --expect kind='"queue-short"' --expect queue=lp --expect list='[]'
rec bsd-lpq-long-user lpr-client "$BSD/bin/lpq -P fwd -l alice" \
    --expect kind='"queue-long"' --expect queue=lp --expect list='["alice"]'
rec bsd-lprm-job lpr-client "$BSD/bin/lprm -P fwd 123" \
    --expect kind='"remove"' --expect queue=lp --expect agent=root --expect list='["123"]'

# ========================================================= CUPS lpd backend ==
# argv: job-id user title copies options [file]. H = FQDN (31 max), P = user,
# J and N = title (sanitized to [A-Za-z0-9 ] unless sanitize_title=no),
# file names cfA/dfA + pid%1000 + host cut to 15 chars, format letter l by
# default, copies concatenated into one data file (manual_copies=on default).
rec cups-lpd-default cups "DEVICE_URI='$CUPSURI' $CUPS_LPD 42 alice 'Quarterly report' 1 '' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Quarterly report"' \
    --expect banner=false --expect copies=1 \
    --doc '{"name":"Quarterly report","format":"l","copies":1,"file":"testfile.txt"}'

rec cups-lpd-order-data-first cups "DEVICE_URI='$CUPSURI?order=data,control&snmp=off' $CUPS_LPD 43 alice 'Quarterly report' 1 '' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=data-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Quarterly report"' \
    --expect banner=false --expect copies=1 \
    --doc '{"name":"Quarterly report","format":"l","copies":1,"file":"testfile.txt"}'

rec cups-lpd-order-control-first cups "DEVICE_URI='$CUPSURI?order=control,data&snmp=off' $CUPS_LPD 44 alice 'Quarterly report' 1 '' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Quarterly report"' \
    --expect banner=false --expect copies=1 \
    --doc '{"name":"Quarterly report","format":"l","copies":1,"file":"testfile.txt"}'

rec cups-lpd-format-f cups "DEVICE_URI='$CUPSURI?format=f&snmp=off' $CUPS_LPD 45 alice 'Plain text' 1 '' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Plain text"' \
    --expect banner=false --expect copies=1 \
    --doc '{"name":"Plain text","format":"f","copies":1,"file":"testfile.txt"}'

rec cups-lpd-format-o cups "DEVICE_URI='$CUPSURI?format=o&snmp=off' $CUPS_LPD 46 alice 'PostScript' 1 '' small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"PostScript"' \
    --expect banner=false --expect copies=1 \
    --doc '{"name":"PostScript","format":"o","copies":1,"file":"small.ps"}'

rec cups-lpd-banner cups "DEVICE_URI='$CUPSURI?banner=on&snmp=off' $CUPS_LPD 47 alice 'With banner' 1 '' testfile.pcl" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"With banner"' \
    --expect banner=true --expect class=$FQDN --expect copies=1 \
    --doc '{"name":"With banner","format":"l","copies":1,"file":"testfile.pcl"}'

rec cups-lpd-manual-copies-on cups "DEVICE_URI='$CUPSURI?manual_copies=on&snmp=off' $CUPS_LPD 48 alice 'Two copies' 2 '' small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Two copies"' \
    --expect banner=false --expect copies=1 --expect requested_copies=2 \
    --doc '{"name":"Two copies","format":"l","copies":1,"file":"small.ps","repeat":2}'

rec cups-lpd-manual-copies-off cups "DEVICE_URI='$CUPSURI?manual_copies=off&snmp=off' $CUPS_LPD 49 alice 'Three copies' 3 '' small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Three copies"' \
    --expect banner=false --expect copies=3 --expect requested_copies=3 \
    --doc '{"name":"Three copies","format":"l","copies":3,"file":"small.ps"}'

rec cups-lpd-mode-stream cups "DEVICE_URI='$CUPSURI?mode=stream&snmp=off' $CUPS_LPD 50 alice 'Streamed' 1 '' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Streamed"' \
    --expect banner=false --expect copies=1 --expect stream=true \
    --doc '{"name":"Streamed","format":"l","copies":1,"file":"testfile.txt"}'

rec cups-lpd-reserve-none-unsanitized cups "DEVICE_URI='lpd://bob@127.0.0.1:5515/lp?reserve=none&sanitize_title=no&contimeout=30&timeout=60&snmp=off' $CUPS_LPD 51 alice 'Q3 report (final).txt' 1 '' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=bob --expect host=$FQDN --expect job_name='"Q3 report (final).txt"' \
    --expect banner=false --expect copies=1 --expect source_port_reserved=false \
    --doc '{"name":"Q3 report (final).txt","format":"l","copies":1,"file":"testfile.txt"}'

rec cups-lpd-title-sanitized cups "DEVICE_URI='$CUPSURI?snmp=off' $CUPS_LPD 52 alice 'Q3 report (final).txt' 1 '' testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Q3 report _final__txt"' \
    --expect banner=false --expect copies=1 \
    --doc '{"name":"Q3 report _final__txt","format":"l","copies":1,"file":"testfile.txt"}'

# Printing from stdin, the backend polls fd 4 (cupsd's side channel) and
# spins forever when it is not open, so fds 3 and 4 are given as /dev/null.
rec cups-lpd-stdin cups "DEVICE_URI='$CUPSURI?snmp=off' $CUPS_LPD 53 alice 'From stdin' 1 '' < testfile.pcl 3</dev/null 4</dev/null" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"From stdin"' \
    --expect banner=false --expect copies=1 \
    --doc '{"name":"From stdin","format":"l","copies":1,"file":"testfile.pcl"}'

rec cups-lpd-mode-stream-stdin cups "DEVICE_URI='$CUPSURI?mode=stream&snmp=off' $CUPS_LPD 54 alice 'Streamed stdin' 1 '' < small.ps 3</dev/null 4</dev/null" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=$FQDN --expect job_name='"Streamed stdin"' \
    --expect banner=false --expect copies=1 --expect stream=true \
    --doc '{"name":"Streamed stdin","format":"l","copies":1,"file":"small.ps"}'

# ===================================================================== rlpr ==
# rlpr behaves like BSD lpr (H = short host name or --hostname, C = local
# host name, C/J/L only with a banner,
# format line per copy, U, N) but sends the control file first by default.
rec rlpr-plain rlpr "rlpr -H 127.0.0.1 --port=5515 -P lp testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=root --expect host=lpdclient --expect job_name=testfile.txt \
    --expect banner=true --expect class=lpdclient --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}'

rec rlpr-options rlpr "rlpr -H 127.0.0.1 --port=5515 -P lp -U alice -J 'rlpr job' -C Finance -T 'rlpr title' -#2 -m testfile.txt" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=alice --expect host=lpdclient --expect job_name='"rlpr job"' \
    --expect banner=true --expect class=Finance --expect copies=2 --expect mail=alice \
    --expect title='"rlpr title"' \
    --doc '{"name":"testfile.txt","format":"f","copies":2,"file":"testfile.txt"}'

rec rlpr-data-first-literal rlpr "rlpr -H 127.0.0.1 --port=5515 -P lp --send-data-first -h -l binary.bin" \
    --expect kind='"print"' --expect queue=lp --expect order=data-first \
    --expect user=root --expect host=lpdclient --expect job_name=null \
    --expect banner=false --expect class=null --expect copies=1 \
    --doc '{"name":"binary.bin","format":"l","copies":1,"file":"binary.bin"}'

rec rlpr-stdin-postscript rlpr "rlpr -H 127.0.0.1 --port=5515 -P lp --hostname=ws17.example.org -o < small.ps" \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=root --expect host=ws17.example.org --expect job_name='"stdin"' \
    --expect banner=true --expect class=lpdclient --expect copies=1 \
    --doc '{"name":"stdin","format":"o","copies":1,"file":"small.ps"}'

# --windows sends each file as its own job, one connection each (the
# recorder records two consecutive connections, "conn" 0 and 1).
rec rlpr-windows-two-files rlpr "rlpr -H 127.0.0.1 --port=5515 -P lp --windows testfile.txt small.ps" \
    --connections 2 --expect jobs=2 \
    --expect kind='"print"' --expect queue=lp --expect order=control-first \
    --expect user=root --expect host=lpdclient --expect job_names='["testfile.txt","small.ps"]' \
    --expect banner=true --expect class=lpdclient --expect copies=1 \
    --doc '{"name":"testfile.txt","format":"f","copies":1,"file":"testfile.txt"}' \
    --doc '{"name":"small.ps","format":"f","copies":1,"file":"small.ps"}'

echo "recorded $COUNT sessions into $HERE"
