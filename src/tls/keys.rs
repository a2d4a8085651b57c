//! Key derivation: the TLS 1.3 key schedule from logged traffic secrets (RFC 8446 7.1–7.3,
//! HKDF-Expand-Label) and the TLS 1.2 key block from a logged master secret (RFC 5246 5 and
//! 6.3, P_hash on HMAC). Only derivation: no cipher state here.

use super::keylog::Secret;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// The hash of a cipher suite (HKDF / PRF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
}

impl HashAlg {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

/// HKDF-Expand-Label(secret, label, context, length) of RFC 8446 7.1.
pub fn expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &str,
    context: &[u8],
    out: &mut [u8],
) -> bool {
    let full = 6 + label.len();
    if full > 255 || context.len() > 255 || out.len() > u16::MAX as usize {
        return false;
    }
    let mut info = Vec::with_capacity(4 + full + context.len());
    info.extend_from_slice(&(out.len() as u16).to_be_bytes());
    info.push(full as u8);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label.as_bytes());
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    match hash {
        HashAlg::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, out).ok())
            .is_some(),
        HashAlg::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, out).ok())
            .is_some(),
    }
}

/// Write key and IV of a TLS 1.3 traffic secret (RFC 8446 7.3).
pub fn traffic_keys(hash: HashAlg, secret: &Secret, key_len: usize) -> Option<(Vec<u8>, [u8; 12])> {
    let mut key = vec![0u8; key_len];
    let mut iv = [0u8; 12];
    (expand_label(hash, secret.expose(), "key", b"", &mut key)
        && expand_label(hash, secret.expose(), "iv", b"", &mut iv))
    .then_some((key, iv))
}

/// The next application traffic secret after a KeyUpdate (RFC 8446 7.2).
pub fn next_traffic_secret(hash: HashAlg, secret: &Secret) -> Option<Secret> {
    let mut out = [0u8; 48];
    let out = &mut out[..hash.output_len()];
    if !expand_label(hash, secret.expose(), "traffic upd", b"", out) {
        return None;
    }
    let s = Secret::new(out);
    out.fill(0);
    s
}

fn p_hash<M: Mac + hmac::digest::KeyInit + Clone>(
    secret: &[u8],
    label_seed: &[u8],
    out: &mut [u8],
) {
    // A(0) = seed; A(i) = HMAC(secret, A(i-1)); output = HMAC(secret, A(i) + seed) ...
    let base = <M as hmac::digest::KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    let mut a = {
        let mut m = base.clone();
        m.update(label_seed);
        m.finalize().into_bytes()
    };
    let mut done = 0;
    while done < out.len() {
        let mut m = base.clone();
        m.update(&a);
        m.update(label_seed);
        let block = m.finalize().into_bytes();
        let n = (out.len() - done).min(block.len());
        out[done..done + n].copy_from_slice(&block[..n]);
        done += n;
        let mut m = base.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
}

/// The TLS 1.2 PRF (RFC 5246 5) with the suite's hash.
pub fn prf12(hash: HashAlg, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let mut ls = Vec::with_capacity(label.len() + seed.len());
    ls.extend_from_slice(label);
    ls.extend_from_slice(seed);
    match hash {
        HashAlg::Sha256 => p_hash::<Hmac<Sha256>>(secret, &ls, out),
        HashAlg::Sha384 => p_hash::<Hmac<Sha384>>(secret, &ls, out),
    }
}

/// The TLS 1.2 key block (RFC 5246 6.3): client MAC key, server MAC key, client key,
/// server key, client IV, server IV, in this order.
#[derive(Clone)]
pub struct KeyBlock12 {
    pub client_mac: Vec<u8>,
    pub server_mac: Vec<u8>,
    pub client_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub client_iv: Vec<u8>,
    pub server_iv: Vec<u8>,
}

impl std::fmt::Debug for KeyBlock12 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBlock12(redacted)")
    }
}

/// Derives the key block from the master secret and both randoms.
pub fn key_block12(
    hash: HashAlg,
    master: &Secret,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    mac_len: usize,
    key_len: usize,
    iv_len: usize,
) -> KeyBlock12 {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(server_random);
    seed[32..].copy_from_slice(client_random);
    let total = 2 * (mac_len + key_len + iv_len);
    let mut kb = vec![0u8; total];
    prf12(hash, master.expose(), b"key expansion", &seed, &mut kb);
    let mut at = 0;
    let mut take = |n: usize| {
        let v = kb[at..at + n].to_vec();
        at += n;
        v
    };
    let out = KeyBlock12 {
        client_mac: take(mac_len),
        server_mac: take(mac_len),
        client_key: take(key_len),
        server_key: take(key_len),
        client_iv: take(iv_len),
        server_iv: take(iv_len),
    };
    kb.fill(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn h(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(s).unwrap()
    }

    #[test]
    fn rfc8448_traffic_keys() {
        // RFC 8448 3: server handshake traffic secret → write key and IV.
        let s = Secret::new(&h(
            "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
        ))
        .unwrap();
        let (k, iv) = traffic_keys(HashAlg::Sha256, &s, 16).unwrap();
        assert_eq!(k, h("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"));
        assert_eq!(iv.to_vec(), h("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
        // Client application traffic secret.
        let s = Secret::new(&h(
            "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5",
        ))
        .unwrap();
        let (k, iv) = traffic_keys(HashAlg::Sha256, &s, 16).unwrap();
        assert_eq!(k, h("17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51"));
        assert_eq!(iv.to_vec(), h("5b 78 92 3d ee 08 57 90 33 e5 23 d9"));
    }

    #[test]
    fn prf_sha256_known_answer() {
        // The widely used TLS 1.2 PRF-SHA256 test vector (IETF TLS WG mailing list,
        // "TLS 1.2 PRF test vectors"): 100 bytes of output.
        let secret = h("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = h("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let mut out = [0u8; 100];
        prf12(HashAlg::Sha256, &secret, b"test label", &seed, &mut out);
        assert_eq!(
            out.to_vec(),
            h("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a 6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab 4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01 87 34 7b 66")
        );
    }
}
