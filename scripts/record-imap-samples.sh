#!/usr/bin/env bash
# Record the IMAP sample captures (samples/imap-*.pcap) with the lab's Dovecot and real
# clients, and merge their client-side truth into samples/truth.json.
#
#   scripts/record-imap-samples.sh [NAME ...]     (as root, from anywhere)
#
#   1. ../shared/tools/mail-lab.sh setup + start: Dovecot 2.3 IMAP on 127.0.0.1:143
#      (LOGIN, AUTHENTICATE PLAIN/LOGIN/CRAM-MD5, COMPRESS=DEFLATE, IDLE, LITERAL+).
#   2. scripts/record/record_imap.py: per capture, resets the lab mailboxes outside the
#      capture (INBOX refilled by APPEND with fixed messages, Sent emptied), starts
#      `tcpdump -i lo -U -w samples/NAME 'tcp port 143'`, drives the client (python3
#      imaplib, curl imap:// with --login-options AUTH=... and --sasl-ir, a raw-socket
#      client for literals, LITERAL+, pipelining, COMPRESS and IDLE), stops tcpdump
#      (SIGINT to the PID it started) and writes the truth: credentials as the client sent
#      them with the server's tagged reply, and the literal octets the client read or wrote.
#      With NAMEs (e.g. imap-curl.pcap) only those are re-recorded.
# Client ports, CRAM-MD5 challenges and UIDs change on every recording (truth.json follows);
# the message bytes are fixed.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab="$repo/../shared/tools/mail-lab.sh"
[ -f "$lab" ] || lab=/work/shared/tools/mail-lab.sh
[ "$(id -u)" = 0 ] || { echo "run as root (tcpdump, mail servers)" >&2; exit 1; }
[ -f "$lab" ] || { echo "missing the shared mail lab (mail-lab.sh)" >&2; exit 1; }
(cd "$(dirname "$lab")" && bash ./mail-lab.sh setup && bash ./mail-lab.sh start)
python3 "$repo/scripts/record/record_imap.py" "$repo/samples" "$@"
cd "$repo/samples"
for f in imap-*.pcap; do
  echo "--- $f"
  tshark -r "$f" -q -z conv,tcp 2>/dev/null | sed -n '/<->/p'
done
