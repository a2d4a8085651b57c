//! TLS handshake parsing: handshake message reassembly over input-chosen record sizes, the
//! ClientHello/ServerHello/EncryptedExtensions/Certificate parsers (tls-parser, x509-parser),
//! and the key log parser on the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::tls::handshake::{self, HandshakeReader};
use pcapmail::tls::keylog::KeyLog;

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = step as usize % 64 + 1;
    let mut r = HandshakeReader::default();
    for chunk in rest.chunks(step) {
        r.push(chunk, &mut |t, body| {
            let _ = handshake::client_hello(body);
            let _ = handshake::server_hello(body);
            let _ = handshake::encrypted_extensions_alpn(body);
            for tls13 in [false, true] {
                if let Some(der) = handshake::leaf_certificate(body, tls13) {
                    let _ = handshake::certificate_info(der);
                }
            }
            let _ = handshake::version_name(u16::from(t) << 8 | body.len() as u16 & 0xff);
        });
    }
    // The same bytes as a certificate and as a key log.
    let _ = handshake::certificate_info(rest);
    let mut k = KeyLog::new();
    k.add_bytes(rest.to_vec());
    let st = k.stats();
    assert!(rest.is_empty() || st.indexed + st.ignored + st.bad >= 1);
    let _ = k.lookup(&[0u8; 32]);
});
