#!/usr/bin/env bash
# Record the sample captures in samples/ with real mail servers and real clients.
#
#   scripts/record-samples.sh [NAME ...]     (as root, from anywhere)
#
# What it does (idempotent; every run rewrites the files it produces):
#   1. ../shared/tools/mail-lab.sh setup + start (relative to the repo root): Postfix 3.7 on
#      127.0.0.1/::1 ports 25, 587, 2525 (SASL via Dovecot, STARTTLS) and Dovecot 2.3 POP3 on
#      110; also installs swaks, tcpdump, tshark/dumpcap/capinfos, curl. Loopback only.
#   2. scripts/record/record_samples.py: for each capture, empties/refills the test mailbox
#      when POP3 needs one (delivery happens outside the capture), starts tcpdump or dumpcap
#      with a filter on the mail ports, drives the clients (Python smtplib/poplib, raw-socket
#      Python clients, swaks, curl), stops the capture (SIGINT to the PID it started), and
#      records the ground truth computed from what the clients sent/received. Writes
#      samples/*.pcap, *.pcapng, *.gz, samples/truth.json and samples/README.md.
#      With NAMEs (e.g. smtp-bdat.pcap) only those captures are re-recorded.
#   3. scripts/record/verify_samples.py: re-derives credentials and message hashes from the
#      captures (tshark TCP reassembly) and compares them with truth.json; then prints a
#      tshark conversation summary per file.
#
# The project does not depend on this script or on ../shared to build or test; the committed
# samples/ are the product. Message bytes for SMTP are fixed; POP3 deliveries carry Received
# headers with the current time, so a re-recording changes POP3 hashes (truth.json follows).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab="$repo/../shared/tools/mail-lab.sh"
[ "$(id -u)" = 0 ] || { echo "run as root (tcpdump, mail servers)" >&2; exit 1; }
[ -f "$lab" ] || { echo "missing $lab (the shared mail lab)" >&2; exit 1; }

# mail-lab.sh must be run from its own directory
(cd "$(dirname "$lab")" && bash ./mail-lab.sh setup && bash ./mail-lab.sh start)
sleep 1   # let Postfix's smtpd/auth services settle

mkdir -p "$repo/samples"
python3 "$repo/scripts/record/record_samples.py" "$repo/samples" "$@"
python3 "$repo/scripts/record/verify_samples.py" "$repo/samples"

cd "$repo/samples"
for f in *.pcap *.pcapng *.gz; do
  echo "--- $f"
  capinfos -M -t -E -c "$f" 2>/dev/null | sed -n '2,$p'
  tshark -r "$f" -q -z conv,tcp 2>/dev/null | sed -n '/<->/p'
done
echo "record-samples: done ($(ls | wc -l) files in samples/)"
