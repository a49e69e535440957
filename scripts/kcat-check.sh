#!/usr/bin/env bash
# kcat-check.sh checks that Herald's Kafka records are plain enough for any Kafka
# client: it produces one message with kcat (librdkafka, nothing of ours) and
# waits until a processor reports it delivered on the status topic.
#
#   scripts/kcat-check.sh BROKERS [PREFIX]
#
# BROKERS is host:port[,host:port...], e.g. the "Kafka (in memory)" address that
# `herald dev` prints; PREFIX is the topic prefix (default "herald."). The message
# goes to <PREFIX>messages.normal keyed by its account, as processor.Message says;
# the device it is for must be connected, e.g. with
#
#   go run ./cmd/herald listen --url http://127.0.0.1:8080 --account a1 --device tv1
#
# Environment:
#   KCAT_ACCOUNT, KCAT_DEVICE  the device to send to (default a1, tv1)
#   KCAT_TIMEOUT               seconds to wait for "delivered" (default 20)
#   KCAT_ADDRESS_FAMILY        librdkafka's broker.address.family: v4 (default),
#                              v6 or any
#   KCAT_CONFIG                librdkafka properties file (kcat's own variable),
#                              for TLS or SASL on a real cluster
#
# stdout has one line "produced ID ...", then "status JSON" per status event of
# the message, then "delivered ID". Exit 0 when a device got it, 1 when it was not
# delivered (another status, or none in time), 2 on a usage error.
set -euo pipefail

log() { printf 'kcat-check: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ $# -lt 1 || $# -gt 2 || -z $1 ]]; then
	echo "usage: $0 BROKERS [PREFIX]" >&2
	exit 2
fi
BROKERS=$1
PREFIX=${2-herald.}
ACCOUNT=${KCAT_ACCOUNT:-a1}
DEVICE=${KCAT_DEVICE:-tv1}
TIMEOUT=${KCAT_TIMEOUT:-20}
FAMILY=${KCAT_ADDRESS_FAMILY:-v4}

[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "KCAT_TIMEOUT must be a whole number of seconds, got '$TIMEOUT'"
# The values go into JSON and the account is the key of a tab-delimited line:
# keep them to characters that need no escaping.
for v in "$ACCOUNT" "$DEVICE"; do
	[[ $v =~ ^[A-Za-z0-9._:@-]+$ ]] || die "KCAT_ACCOUNT and KCAT_DEVICE must match [A-Za-z0-9._:@-]+, got '$v'"
done
command -v kcat >/dev/null || die "kcat not found; install it (apt-get install kcat, brew install kcat)"

# kfake (herald dev) listens on 127.0.0.1 only: v4 keeps librdkafka from trying
# ::1 first when localhost resolves to both. -m bounds each run's metadata wait.
KCAT=(kcat -b "$BROKERS" -X "broker.address.family=$FAMILY" -m 5 -q)
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT

# now_ms prints the Unix time in milliseconds; BSD date has no %N.
now_ms() {
	local ms
	ms=$(date +%s%3N)
	[[ $ms =~ ^[0-9]+$ ]] || ms=$(($(date +%s) * 1000))
	echo "$ms"
}

# A topic that does not exist makes kcat -P wait out librdkafka's metadata
# propagation (30 s) and -C fail on every pass: say so up front.
for t in "${PREFIX}messages.normal" "${PREFIX}status"; do
	meta=$("${KCAT[@]}" -L -t "$t" 2>"$errfile") ||
		die "cannot read metadata from $BROKERS: $(tr '\n' ' ' <"$errfile")"
	grep -q "topic \"$t\" with [1-9]" <<<"$meta" ||
		die "topic $t not found on $BROKERS (topic prefix '$PREFIX'): $(grep -F "topic \"$t\"" <<<"$meta" || true)"
done

accepted=$(now_ms)
id="kcat-$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
topic="${PREFIX}messages.normal"
value=$(printf '{"id":"%s","account":"%s","device":"%s","type":"notification.v1","payload":{"title":"from kcat","body":"interop"},"from":"kcat","priority":"normal","accepted":%s}' \
	"$id" "$ACCOUNT" "$DEVICE" "$accepted")

# One line "key<TAB>value"; -K splits it, so the record key is the account.
printf '%s\t%s\n' "$ACCOUNT" "$value" |
	"${KCAT[@]}" -P -t "$topic" -K '\t' -X "message.timeout.ms=$((TIMEOUT * 1000))" 2>"$errfile" ||
	die "kcat could not produce to $topic on $BROKERS: $(tr '\n' ' ' <"$errfile")"
echo "produced $id to $topic (key $ACCOUNT, device $DEVICE)"

# Read the status topic from a minute before the message was accepted (room for
# clock skew between this host and the processors) rather than from the
# beginning, which on a long-lived cluster is a lot of records per pass. Each
# pass reads to the end (-e) and the loop repeats until the deadline.
since=$((accepted - 60000))
deadline=$((SECONDS + TIMEOUT))
printed=0
err=""
while :; do
	if out=$("${KCAT[@]}" -C -t "${PREFIX}status" -o "s@$since" -e -f '%k\t%s\n' 2>"$errfile"); then
		err=""
		# The key is the message id, so its events share one partition and
		# every pass sees them in the same order: print only the new ones.
		n=0
		while IFS=$'\t' read -r key event; do
			[[ $key == "$id" ]] || continue
			n=$((n + 1))
			((n <= printed)) || { echo "status $event"; printed=$n; }
			status=$(sed -n 's/.*"status":"\([a-z]*\)".*/\1/p' <<<"$event")
			case $status in
			delivered | acked)
				echo "delivered $id"
				exit 0
				;;
			offline) die "$id is offline: is $ACCOUNT/$DEVICE connected to an edge of this cluster?" ;;
			expired | collapsed | failed) die "$id was not delivered: $event" ;;
			esac
		done <<<"$out"
	else
		# A broker may be restarting or a partition moving: keep trying until
		# the deadline, and say why at the end.
		err=$(tr '\n' ' ' <"$errfile")
	fi
	if ((SECONDS > deadline)); then
		[[ -z $err ]] || log "last kcat error: $err"
		if ((printed == 0)); then
			die "no status event for $id on ${PREFIX}status within ${TIMEOUT}s: is a processor consuming $topic?"
		fi
		die "$id not delivered within ${TIMEOUT}s"
	fi
	sleep 0.5
done
