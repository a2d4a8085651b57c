//! SASL decoding: base64 (strict and lenient) and per-mechanism extraction of identities
//! and secrets from arbitrary client responses and server challenges.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::model::Protocol;
use pcapmail::proto::sasl::{decode_b64, SaslExchange};
use pcapmail::proto::ChunkMeta;

const MECHS: [&[u8]; 8] = [
    b"PLAIN",
    b"LOGIN",
    b"CRAM-MD5",
    b"XOAUTH2",
    b"OAUTHBEARER",
    b"DIGEST-MD5",
    b"NTLM",
    b"plain",
];

fuzz_target!(|data: &[u8]| {
    let _ = decode_b64(data);
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mech = MECHS[sel as usize % MECHS.len()];
    let proto = if sel & 0x80 == 0 {
        Protocol::Smtp
    } else {
        Protocol::Pop3
    };
    // Lines alternate server challenge / client response; the first is the initial response
    // when bit 6 is set.
    let mut lines = rest.split(|&b| b == b'\n');
    let initial = if sel & 0x40 != 0 { lines.next() } else { None };
    let mut ex = SaslExchange::start(proto, mech, initial, ChunkMeta::default());
    for (i, l) in lines.enumerate() {
        if i % 2 == 0 {
            ex.server(l);
        } else {
            ex.client(
                l,
                ChunkMeta {
                    frame: i as u64,
                    ..Default::default()
                },
            );
        }
    }
    let _ = ex.cancelled();
    let _ = ex.finish(Some(sel & 0x20 != 0), Some("235 ok".into()));
});
