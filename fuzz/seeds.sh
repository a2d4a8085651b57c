#!/usr/bin/env bash
# Builds the seed corpora of every fuzz target under fuzz/corpus/<target>/ from the
# committed samples and the shared captures: capture files as they are for `capture`,
# extracted frames for `decode`, TCP payload streams (both directions, with gaps) for
# `smtp`/`pop3`/`imap` (the `imap` ones behind a piece-size byte for `imap_framing`),
# message bytes for `mime`, credentials for `sasl`, small synthetic seeds for `flow`. Run
# from anywhere; idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
corpus="$here/corpus"
shared="${SHARED_CAPTURES:-$root/../shared/captures}"
[ -d "$shared" ] || shared="/work/shared/captures"
mkdir -p "$corpus"/{capture,decode,flow,smtp,pop3,imap,imap_framing,sasl,mime,tls_record,tls_handshake}

mapfile -d '' caps < <(find "$root/samples" "$shared" -type f \
    \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.pcap.gz' -o -name '*.cap' \) \
    -size -2M -print0 2>/dev/null)
echo "seeds from ${#caps[@]} captures"
i=0
for c in "${caps[@]}"; do
    cp "$c" "$corpus/capture/f$i"
    i=$((i + 1))
done
# A gzip seed and a pcapng seed are among the samples; add a truncated one.
head -c 100 "$root/samples/smtp-auth-login.pcapng" > "$corpus/capture/truncated-ng"

cargo run --quiet --release --manifest-path "$root/Cargo.toml" --example fuzz-seeds -- \
    "$corpus" "${caps[@]}"

# flow: a few hand-made segment sequences (8-byte headers, see fuzz_targets/flow.rs).
printf '\x02\x00\x00\x00\x00\x00\x00\x00\x12\x01\x00\x00\x00\x00\x00\x00\x10\x00\x01\x00\x10\x00\x00\x00' > "$corpus/flow/handshake"
printf '\x18\x00\x00\x00\x20\x00\x00\x00\x18\x00\x40\x00\x20\x00\x00\x00\x18\x00\xc0\xff\x20\x00\x00\x00\x11\x00\x00\x00\x00\x00\x00\x00' > "$corpus/flow/ooo"
# imap_framing: the imap streams behind a byte that picks the piece sizes.
for f in "$corpus"/imap/*; do
    [ -f "$f" ] || continue
    { printf '\x25'; cat "$f"; } > "$corpus/imap_framing/$(basename "$f")"
done
# sasl: one seed per mechanism.
for m in 0 1 2 3 4 5; do printf "\\x$m\\ndXNlcg==\\ncGFzcw==\\n" > "$corpus/sasl/m$m"; done
for t in capture decode flow smtp pop3 imap imap_framing sasl mime tls_record; do
    echo "$t: $(ls "$corpus/$t" | wc -l) seeds"
done
