#!/usr/bin/env bash
# Record the TLS samples (samples/tls-*.pcap, their key logs samples/tls-*.keys, the pcapng
# with the keys embedded, and the client-side truth samples/tls-truth.json).
#
#   scripts/record-tls-samples.sh [NAME ...]     (as root, from anywhere)
#
# 1. ../shared/tools/mail-lab.sh setup + start: Postfix (STARTTLS on 25/587, SMTPS 465) and
#    Dovecot (STLS 110, POP3S 995, IMAP STARTTLS 143, IMAPS 993) on loopback with a
#    self-signed certificate for CN=mail.sample.test.
# 2. scripts/record/record_tls.py: per sample, tcpdump on lo for the sample's port, one
#    client connection writing its TLS key log (Python ssl keylog_filename, curl
#    SSLKEYLOGFILE, openssl s_client -keylogfile), forced to a TLS version and cipher suite;
#    then editcap --inject-secrets for the pcapng. Truth = what the clients sent/received.
# 3. A tshark check: with the key log, tshark must see the mail commands inside TLS.
#
# The key logs are throwaway lab keys of fake accounts. Every re-recording changes keys,
# randoms and POP3 message hashes (Received headers); truth follows.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab="$repo/../shared/tools/mail-lab.sh"
[ "$(id -u)" = 0 ] || { echo "run as root (tcpdump, mail servers)" >&2; exit 1; }
[ -f "$lab" ] || lab=/work/shared/tools/mail-lab.sh
(cd "$(dirname "$lab")" && bash ./mail-lab.sh setup && bash ./mail-lab.sh start)
sleep 1
python3 "$repo/scripts/record/record_tls.py" "$repo/samples" "$@"
cd "$repo/samples"
for f in tls-*.pcap; do
  k=${f%.pcap}.keys
  n=$(tshark -r "$f" -o "tls.keylog_file:$k" -Y 'smtp.req or pop.request or imap.request' 2>/dev/null | wc -l)
  echo "$f: $n mail requests readable by tshark with $k"
  [ "$n" -gt 0 ] || { echo "tshark cannot decrypt $f" >&2; exit 1; }
done
