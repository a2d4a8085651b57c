//! Handshake messages: reassembly across records (bounded) and the facts of ClientHello,
//! ServerHello, EncryptedExtensions and Certificate, parsed with `tls-parser` and
//! `x509-parser`.

use crate::model::CertificateInfo;
use sha2::{Digest, Sha256};
use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_extensions, parse_tls_handshake_client_hello,
    parse_tls_handshake_server_hello, parse_tls_server_hello_extensions, SNIType, TlsExtension,
};

/// Largest handshake message kept for parsing. Certificate chains of mail servers are a
/// few KiB; the protocol allows 2^24 bytes, which is never buffered: a longer message is
/// skipped (counted) as it streams past.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Handshake message types used here (RFC 8446 4).
pub mod msg {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const CERTIFICATE: u8 = 11;
    pub const FINISHED: u8 = 20;
    pub const KEY_UPDATE: u8 = 24;
}

/// Reassembles one direction's handshake messages from record payloads.
#[derive(Debug, Default)]
pub struct HandshakeReader {
    buf: Vec<u8>,
    /// Bytes still to skip of a message longer than [`MAX_MESSAGE`].
    skip: usize,
    /// Messages skipped for their size.
    pub oversized: u64,
}

impl HandshakeReader {
    /// Adds a handshake record's payload; `out(type, body)` gets every complete message.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut impl FnMut(u8, &[u8])) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            if self.buf.len() < 4 {
                let n = (4 - self.buf.len()).min(bytes.len());
                self.buf.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if self.buf.len() < 4 {
                    return;
                }
            }
            let len = u32::from_be_bytes([0, self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if len > MAX_MESSAGE {
                self.oversized += 1;
                self.skip = len;
                self.buf.clear();
                continue;
            }
            let n = (4 + len - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == 4 + len {
                out(self.buf[0], &self.buf[4..]);
                self.buf.clear();
            }
        }
    }

    /// Drops a partial message (after lost bytes).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.skip = 0;
    }
}

/// What a ClientHello tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub random: [u8; 32],
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub encrypt_then_mac: bool,
}

/// What a ServerHello tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub random: [u8; 32],
    /// Negotiated version: supported_versions when present, else the legacy field.
    pub version: u16,
    pub cipher: u16,
    pub alpn: Option<String>,
    pub encrypt_then_mac: bool,
    /// A HelloRetryRequest (RFC 8446 4.1.3): another ClientHello and ServerHello follow.
    pub retry: bool,
}

/// SHA-256("HelloRetryRequest"): the Random of a HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Bound on strings taken from a handshake (a host name is at most 253 bytes).
const MAX_NAME: usize = 255;
/// Bound on offered ALPN protocols kept.
const MAX_ALPN: usize = 16;

/// The extensions of a hello one by one, each with its 4-byte header: tls-parser's list
/// parsers stop at the first extension they cannot parse (renegotiation_info in a
/// ServerHello, for one), which would hide the ones after it.
fn each_extension(mut ext: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if ext.len() < 4 {
            return None;
        }
        let t = u16::from_be_bytes([ext[0], ext[1]]);
        let n = 4 + u16::from_be_bytes([ext[2], ext[3]]) as usize;
        let whole = ext.get(..n)?;
        ext = &ext[n..];
        Some((t, whole))
    })
}

/// encrypt_then_mac (RFC 7366).
const EXT_ENCRYPT_THEN_MAC: u16 = 22;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(MAX_NAME)]).into_owned()
}

/// Parses a ClientHello body (after the 4-byte message header).
pub fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let (_, ch) = parse_tls_handshake_client_hello(body).ok()?;
    let mut out = ClientHello {
        random: ch.random.try_into().ok()?,
        ..Default::default()
    };
    for (t, one) in each_extension(ch.ext.unwrap_or_default()) {
        out.encrypt_then_mac |= t == EXT_ENCRYPT_THEN_MAC;
        let Ok((_, exts)) = parse_tls_client_hello_extensions(one) else {
            continue;
        };
        for e in exts {
            match e {
                TlsExtension::SNI(names) => {
                    out.sni = names
                        .iter()
                        .find(|(t, _)| *t == SNIType::HostName)
                        .map(|(_, n)| text(n));
                }
                TlsExtension::ALPN(p) => {
                    out.alpn = p.iter().take(MAX_ALPN).map(|x| text(x)).collect();
                }
                _ => {}
            }
        }
    }
    Some(out)
}

/// Parses a ServerHello body.
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let (_, sh) = parse_tls_handshake_server_hello(body).ok()?;
    let mut out = ServerHello {
        random: sh.random.try_into().ok()?,
        version: sh.version.0,
        cipher: sh.cipher.0,
        ..Default::default()
    };
    out.retry = out.random == HRR_RANDOM;
    for (t, one) in each_extension(sh.ext.unwrap_or_default()) {
        out.encrypt_then_mac |= t == EXT_ENCRYPT_THEN_MAC;
        let Ok((_, exts)) = parse_tls_server_hello_extensions(one) else {
            continue;
        };
        for e in exts {
            match e {
                TlsExtension::SupportedVersions(v) => {
                    if let Some(v) = v.first() {
                        out.version = v.0;
                    }
                }
                TlsExtension::ALPN(p) => out.alpn = p.first().map(|x| text(x)),
                _ => {}
            }
        }
    }
    Some(out)
}

/// The ALPN answer inside TLS 1.3 EncryptedExtensions.
pub fn encrypted_extensions_alpn(body: &[u8]) -> Option<String> {
    let len = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let ext = body.get(2..2 + len)?;
    each_extension(ext).find_map(|(_, one)| {
        let (_, exts) = parse_tls_extensions(one).ok()?;
        exts.into_iter().find_map(|e| match e {
            TlsExtension::ALPN(p) => p.first().map(|x| text(x)),
            _ => None,
        })
    })
}

fn u24(b: &[u8], at: usize) -> Option<usize> {
    let x = b.get(at..at + 3)?;
    Some(u32::from_be_bytes([0, x[0], x[1], x[2]]) as usize)
}

/// The first (leaf) certificate's DER from a Certificate message body, in the TLS ≤ 1.2
/// layout (RFC 5246 7.4.2) or the TLS 1.3 one (request context and per-entry extensions,
/// RFC 8446 4.4.2).
pub fn leaf_certificate(body: &[u8], tls13: bool) -> Option<&[u8]> {
    let mut at = 0;
    if tls13 {
        at += 1 + *body.first()? as usize;
    }
    let list = u24(body, at)?;
    at += 3;
    let list = body.get(at..at + list)?;
    let n = u24(list, 0)?;
    list.get(3..3 + n)
}

/// Facts of a DER certificate (`None` when it does not parse).
pub fn certificate_info(der: &[u8]) -> Option<CertificateInfo> {
    use x509_parser::extensions::ParsedExtension;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
    let mut ski = None;
    let mut aki = None;
    for e in cert.iter_extensions() {
        match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => {}
        }
    }
    let same_name = cert.subject().as_raw() == cert.issuer().as_raw();
    let self_signed = same_name && (aki.is_none() || aki == ski);
    let rfc3339 = |t: i64| crate::model::Ts::from_parts(t, 0).rfc3339();
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        sha256: hex::encode(Sha256::digest(der)),
        self_signed,
        validity_unix: (nb, na),
    })
}

/// "TLS 1.2" for 0x0303 and so on.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v => format!("0x{v:04x}"),
    }
}

/// IANA name of a cipher suite, "0x1234" when unknown.
pub fn cipher_name(id: u16) -> String {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(s) => s.name.to_string(),
        None => format!("0x{id:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testdata::*;

    #[test]
    fn rfc8448_hellos() {
        let ch = h(CH);
        let c = client_hello(&ch[4..]).unwrap();
        assert_eq!(c.random.to_vec(), h(CLIENT_RANDOM));
        assert_eq!(c.sni.as_deref(), Some("server"));
        let sh = h(SH_REC);
        let s = server_hello(&sh[9..]).unwrap();
        assert_eq!(s.version, 0x0304);
        assert_eq!(cipher_name(s.cipher), "TLS_AES_128_GCM_SHA256");
        assert!(!s.retry);
    }

    #[test]
    fn messages_spanning_records_are_reassembled() {
        let ch = h(CH);
        let mut r = HandshakeReader::default();
        let mut got = Vec::new();
        for part in ch.chunks(7) {
            r.push(part, &mut |t, b| got.push((t, b.len())));
        }
        assert_eq!(got, [(1, 192)]);
    }

    #[test]
    fn an_endless_handshake_message_is_skipped_not_buffered() {
        let mut r = HandshakeReader::default();
        let mut got = Vec::new();
        // Type 11, length 2^24 - 1, then that many bytes in pieces, then a Finished.
        r.push(&[11, 0xff, 0xff, 0xff], &mut |t, _| got.push(t));
        let chunk = vec![0u8; 1 << 16];
        for _ in 0..255 {
            r.push(&chunk, &mut |t, _| got.push(t));
        }
        assert!(r.buf.capacity() < 1024);
        r.push(&chunk[..(1 << 16) - 1], &mut |t, _| got.push(t));
        r.push(&[20, 0, 0, 1, 9], &mut |t, _| got.push(t));
        assert_eq!(got, [20]);
        assert_eq!(r.oversized, 1);
    }
}
