//! Record protection: one direction's cipher state and sequence number, opening records.
//!
//! Every suite authenticates its records (AEAD tag or HMAC), so a wrong key or a wrong
//! sequence number is detected and reported as [`OpenError::Auth`]: nothing unauthenticated
//! is ever returned as plaintext. After lost records the right sequence number is found by
//! trying the next few (the tag only verifies with the right one).
//!
//! Suites: TLS 1.3 AES-128/256-GCM and ChaCha20-Poly1305 (RFC 8446 5.2–5.3); TLS 1.2
//! AES-GCM (explicit nonce, RFC 5288), ChaCha20-Poly1305 (RFC 7905), AES-CBC with HMAC
//! (MAC-then-encrypt, RFC 5246 6.2.3.2; encrypt-then-MAC, RFC 7366).

use super::keylog::Secret;
use super::keys::{self, HashAlg};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};
use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherMac, TlsCipherSuite, TlsPRF};

const TAG: usize = 16;

/// AEAD algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadAlg {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl AeadAlg {
    fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            _ => 32,
        }
    }
}

/// MAC of a CBC suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAlg {
    Sha1,
    Sha256,
    Sha384,
}

impl MacAlg {
    fn len(self) -> usize {
        match self {
            MacAlg::Sha1 => 20,
            MacAlg::Sha256 => 32,
            MacAlg::Sha384 => 48,
        }
    }
}

/// How a negotiated suite protects records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    Aead(AeadAlg),
    /// AES-CBC with `key_len` bytes of key.
    Cbc {
        key_len: usize,
        mac: MacAlg,
    },
}

/// What decryption needs to know about a cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuiteSpec {
    pub protection: Protection,
    /// HKDF hash (TLS 1.3) or PRF hash (TLS 1.2).
    pub hash: HashAlg,
}

/// The suite's parameters, or `None` when decryption of this suite is not supported
/// (RC4, 3DES, CCM, Camellia, export and NULL suites...).
pub fn suite_spec(id: u16) -> Option<SuiteSpec> {
    let s = TlsCipherSuite::from_id(id)?;
    let hash = match s.prf {
        TlsPRF::Sha384 => HashAlg::Sha384,
        // TLS 1.2 suites without a named PRF use SHA-256 (RFC 5246 5).
        TlsPRF::Default | TlsPRF::Sha256 => HashAlg::Sha256,
        _ => return None,
    };
    let protection = match (s.enc, s.enc_mode, s.mac) {
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, TlsCipherMac::Aead) => match s.enc_size {
            128 => Protection::Aead(AeadAlg::Aes128Gcm),
            256 => Protection::Aead(AeadAlg::Aes256Gcm),
            _ => return None,
        },
        (TlsCipherEnc::Chacha20_Poly1305, _, _) => Protection::Aead(AeadAlg::ChaCha20Poly1305),
        (TlsCipherEnc::Aes, TlsCipherEncMode::Cbc, mac) => Protection::Cbc {
            key_len: match s.enc_size {
                128 => 16,
                256 => 32,
                _ => return None,
            },
            mac: match mac {
                TlsCipherMac::HmacSha1 => MacAlg::Sha1,
                TlsCipherMac::HmacSha256 => MacAlg::Sha256,
                TlsCipherMac::HmacSha384 => MacAlg::Sha384,
                _ => return None,
            },
        },
        _ => return None,
    };
    Some(SuiteSpec { protection, hash })
}

/// Why a record did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The authentication tag or MAC did not verify (wrong key, wrong sequence number, or
    /// damaged record).
    Auth,
    /// The record is too short for its cipher, or badly padded (also an authentication
    /// failure in effect).
    Malformed,
}

enum Cipher {
    Gcm128(Box<Aes128Gcm>),
    Gcm256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
    Cbc {
        key: Vec<u8>,
        mac_key: Vec<u8>,
        mac: MacAlg,
        etm: bool,
    },
}

impl Cipher {
    fn aead(alg: AeadAlg, key: &[u8]) -> Option<Cipher> {
        Some(match alg {
            AeadAlg::Aes128Gcm => Cipher::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            AeadAlg::Aes256Gcm => Cipher::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            AeadAlg::ChaCha20Poly1305 => {
                Cipher::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        })
    }

    fn open_aead(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let n = aes_gcm::Nonce::from_slice(nonce);
        let t = aes_gcm::Tag::from_slice(tag);
        match self {
            Cipher::Gcm128(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Cipher::Gcm256(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Cipher::ChaCha(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Cipher::Cbc { .. } => false,
        }
    }
}

enum Mode {
    /// TLS 1.3: nonce = iv XOR seq; keeps the traffic secret for KeyUpdate.
    Tls13 {
        iv: [u8; 12],
        secret: Secret,
        alg: AeadAlg,
        hash: HashAlg,
    },
    /// TLS 1.2 AES-GCM: 4-byte implicit salt and 8-byte explicit nonce in each record.
    Gcm12 {
        salt: [u8; 4],
    },
    /// TLS 1.2 ChaCha20-Poly1305: nonce = iv XOR seq, as in TLS 1.3.
    ChaCha12 {
        iv: [u8; 12],
    },
    Cbc12,
}

/// One direction's record protection state.
pub struct Decryptor {
    cipher: Cipher,
    mode: Mode,
    seq: u64,
    /// Scratch for the record being opened (reused; at most one record).
    buf: Vec<u8>,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Decryptor(seq {}, keys redacted)", self.seq)
    }
}

/// A successfully opened record: inner content type and plaintext.
#[derive(Debug)]
pub struct Opened<'a> {
    pub content_type: u8,
    pub plaintext: &'a [u8],
    /// Records skipped to find the sequence number that authenticated this one.
    pub skipped: u64,
}

fn xor_seq(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

fn hmac_verify<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]], want: &[u8]) -> bool {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        m.update(p);
    }
    m.verify_slice(want).is_ok()
}

impl Decryptor {
    /// TLS 1.3 direction from a traffic secret.
    pub fn tls13(alg: AeadAlg, hash: HashAlg, secret: &Secret) -> Option<Decryptor> {
        let (key, iv) = keys::traffic_keys(hash, secret, alg.key_len())?;
        Some(Decryptor {
            cipher: Cipher::aead(alg, &key)?,
            mode: Mode::Tls13 {
                iv,
                secret: secret.clone(),
                alg,
                hash,
            },
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// TLS 1.2 direction from the key block's key, IV and MAC key for this side.
    /// `etm`: encrypt-then-MAC was negotiated (CBC only).
    pub fn tls12(
        protection: Protection,
        key: &[u8],
        iv: &[u8],
        mac_key: &[u8],
        etm: bool,
    ) -> Option<Decryptor> {
        let (cipher, mode) = match protection {
            Protection::Aead(alg @ (AeadAlg::Aes128Gcm | AeadAlg::Aes256Gcm)) => (
                Cipher::aead(alg, key)?,
                Mode::Gcm12 {
                    salt: iv.get(..4)?.try_into().ok()?,
                },
            ),
            Protection::Aead(alg @ AeadAlg::ChaCha20Poly1305) => (
                Cipher::aead(alg, key)?,
                Mode::ChaCha12 {
                    iv: iv.get(..12)?.try_into().ok()?,
                },
            ),
            Protection::Cbc { key_len, mac } => {
                if key.len() != key_len || mac_key.len() != mac.len() {
                    return None;
                }
                (
                    Cipher::Cbc {
                        key: key.to_vec(),
                        mac_key: mac_key.to_vec(),
                        mac,
                        etm,
                    },
                    Mode::Cbc12,
                )
            }
        };
        Some(Decryptor {
            cipher,
            mode,
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// Key-block lengths (MAC key, key, IV) of a TLS 1.2 suite.
    pub fn tls12_lengths(p: Protection) -> (usize, usize, usize) {
        match p {
            Protection::Aead(AeadAlg::ChaCha20Poly1305) => (0, 32, 12),
            Protection::Aead(a) => (0, a.key_len(), 4),
            Protection::Cbc { key_len, mac } => (mac.len(), key_len, 16),
        }
    }

    /// The sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Applies a TLS 1.3 KeyUpdate of this direction: the next traffic secret, sequence 0.
    pub fn key_update(&mut self) -> bool {
        let Mode::Tls13 {
            secret, alg, hash, ..
        } = &self.mode
        else {
            return false;
        };
        let (alg, hash) = (*alg, *hash);
        let Some(next) = keys::next_traffic_secret(hash, secret) else {
            return false;
        };
        match Decryptor::tls13(alg, hash, &next) {
            Some(d) => {
                *self = d;
                true
            }
            None => false,
        }
    }

    /// Opens a record (`header` is its 5-byte header, `body` its protected bytes), trying
    /// sequence numbers `seq ..= seq + max_skip` (more than 0 after lost records). On
    /// success the sequence number moves past the record.
    pub fn open(
        &mut self,
        header: &[u8; 5],
        body: &[u8],
        max_skip: u64,
    ) -> Result<Opened<'_>, OpenError> {
        let mut last = OpenError::Auth;
        for k in 0..=max_skip {
            let seq = self.seq.wrapping_add(k);
            match self.try_open(header, body, seq) {
                Ok((ct, range)) => {
                    self.seq = seq.wrapping_add(1);
                    return Ok(Opened {
                        content_type: ct,
                        plaintext: &self.buf[range],
                        skipped: k,
                    });
                }
                Err(OpenError::Malformed) => return Err(OpenError::Malformed),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn try_open(
        &mut self,
        header: &[u8; 5],
        body: &[u8],
        seq: u64,
    ) -> Result<(u8, std::ops::Range<usize>), OpenError> {
        let ct = header[0];
        let version = [header[1], header[2]];
        self.buf.clear();
        match &self.mode {
            Mode::Tls13 { iv, .. } => {
                if body.len() < TAG + 1 {
                    return Err(OpenError::Malformed);
                }
                let (c, tag) = body.split_at(body.len() - TAG);
                self.buf.extend_from_slice(c);
                if !self
                    .cipher
                    .open_aead(&xor_seq(iv, seq), header, &mut self.buf, tag)
                {
                    return Err(OpenError::Auth);
                }
                // TLSInnerPlaintext: content, content type, zero padding (RFC 8446 5.2).
                let Some(end) = self.buf.iter().rposition(|&b| b != 0) else {
                    return Err(OpenError::Malformed);
                };
                Ok((self.buf[end], 0..end))
            }
            Mode::Gcm12 { salt } => {
                if body.len() < 8 + TAG {
                    return Err(OpenError::Malformed);
                }
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(&body[..8]);
                let (c, tag) = body[8..].split_at(body.len() - 8 - TAG);
                let aad = aad12(seq, ct, version, c.len());
                self.buf.extend_from_slice(c);
                if !self.cipher.open_aead(&nonce, &aad, &mut self.buf, tag) {
                    return Err(OpenError::Auth);
                }
                Ok((ct, 0..self.buf.len()))
            }
            Mode::ChaCha12 { iv } => {
                if body.len() < TAG {
                    return Err(OpenError::Malformed);
                }
                let (c, tag) = body.split_at(body.len() - TAG);
                let aad = aad12(seq, ct, version, c.len());
                self.buf.extend_from_slice(c);
                if !self
                    .cipher
                    .open_aead(&xor_seq(iv, seq), &aad, &mut self.buf, tag)
                {
                    return Err(OpenError::Auth);
                }
                Ok((ct, 0..self.buf.len()))
            }
            Mode::Cbc12 => {
                let Cipher::Cbc {
                    key,
                    mac_key,
                    mac,
                    etm,
                } = &self.cipher
                else {
                    return Err(OpenError::Malformed);
                };
                let ml = mac.len();
                let (enc, mac_bytes) = if *etm {
                    if body.len() < 32 + ml {
                        return Err(OpenError::Malformed);
                    }
                    body.split_at(body.len() - ml)
                } else {
                    (body, &[][..])
                };
                if enc.len() < 32 || enc.len() % 16 != 0 {
                    return Err(OpenError::Malformed);
                }
                if *etm {
                    // RFC 7366: the MAC covers IV and ciphertext, checked before decrypting.
                    let len = (enc.len() as u16).to_be_bytes();
                    let parts: [&[u8]; 5] = [&seq.to_be_bytes(), &[ct], &version, &len, enc];
                    if !mac_ok(*mac, mac_key, &parts, mac_bytes) {
                        return Err(OpenError::Auth);
                    }
                }
                let (iv, c) = enc.split_at(16);
                self.buf.extend_from_slice(c);
                let ok = match key.len() {
                    16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
                        .ok()
                        .and_then(|d| d.decrypt_padded_mut::<NoPadding>(&mut self.buf).ok())
                        .is_some(),
                    _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
                        .ok()
                        .and_then(|d| d.decrypt_padded_mut::<NoPadding>(&mut self.buf).ok())
                        .is_some(),
                };
                if !ok {
                    return Err(OpenError::Malformed);
                }
                let pad = *self.buf.last().expect("at least one block") as usize;
                let tail = pad + 1 + if *etm { 0 } else { ml };
                if tail > self.buf.len()
                    || self.buf[self.buf.len() - pad - 1..]
                        .iter()
                        .any(|&b| b as usize != pad)
                {
                    // Bad padding: with MAC-then-encrypt a wrong key shows here first.
                    return Err(OpenError::Auth);
                }
                let content = self.buf.len() - tail;
                if !*etm {
                    let len = (content as u16).to_be_bytes();
                    let (data, rest) = self.buf.split_at(content);
                    let parts: [&[u8]; 5] = [&seq.to_be_bytes(), &[ct], &version, &len, data];
                    if !mac_ok(*mac, mac_key, &parts, &rest[..ml]) {
                        return Err(OpenError::Auth);
                    }
                }
                Ok((ct, 0..content))
            }
        }
    }
}

fn mac_ok(mac: MacAlg, key: &[u8], parts: &[&[u8]], want: &[u8]) -> bool {
    match mac {
        MacAlg::Sha1 => hmac_verify::<Hmac<Sha1>>(key, parts, want),
        MacAlg::Sha256 => hmac_verify::<Hmac<Sha256>>(key, parts, want),
        MacAlg::Sha384 => hmac_verify::<Hmac<Sha384>>(key, parts, want),
    }
}

/// TLS 1.2 additional data: seq_num, type, version, length of the plaintext.
fn aad12(seq: u64, ct: u8, version: [u8; 2], len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&seq.to_be_bytes());
    a[8] = ct;
    a[9..11].copy_from_slice(&version);
    a[11..].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testdata::*;

    fn secret(s: &str) -> Secret {
        Secret::new(&h(s)).unwrap()
    }

    fn split(rec: &[u8]) -> ([u8; 5], &[u8]) {
        (rec[..5].try_into().unwrap(), &rec[5..])
    }

    #[test]
    fn suites_map_to_protection() {
        let s = suite_spec(0x1302).unwrap();
        assert_eq!(s.protection, Protection::Aead(AeadAlg::Aes256Gcm));
        assert_eq!(s.hash, HashAlg::Sha384);
        assert_eq!(
            suite_spec(0xc02f).unwrap().protection,
            Protection::Aead(AeadAlg::Aes128Gcm)
        );
        assert_eq!(
            suite_spec(0xcca8).unwrap().protection,
            Protection::Aead(AeadAlg::ChaCha20Poly1305)
        );
        assert_eq!(
            suite_spec(0xc013).unwrap().protection,
            Protection::Cbc {
                key_len: 16,
                mac: MacAlg::Sha1
            }
        );
        // RC4 is not supported.
        assert_eq!(suite_spec(0x0005), None);
    }

    #[test]
    fn rfc8448_application_records_decrypt() {
        let mut c = Decryptor::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &secret(C_AP)).unwrap();
        let rec = h(C_APP_REC);
        let (hd, body) = split(&rec);
        let o = c.open(&hd, body, 0).unwrap();
        assert_eq!(o.content_type, 23);
        assert_eq!(o.plaintext, (0u8..50).collect::<Vec<_>>());
        // The client's close_notify alert is its next record (sequence 1).
        let rec = h(C_ALERT_REC);
        let (hd, body) = split(&rec);
        let o = c.open(&hd, body, 0).unwrap();
        assert_eq!((o.content_type, o.plaintext), (21, &[1u8, 0][..]));

        let mut s = Decryptor::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &secret(S_AP)).unwrap();
        // The server's application data record follows its NewSessionTicket (sequence 0):
        // opening it at sequence 0 fails, the search finds sequence 1.
        let rec = h(S_APP_REC);
        let (hd, body) = split(&rec);
        assert_eq!(s.open(&hd, body, 0).unwrap_err(), OpenError::Auth);
        let o = s.open(&hd, body, 3).unwrap();
        assert_eq!(o.skipped, 1);
        assert_eq!(o.plaintext.len(), 50);
        assert_eq!(s.seq(), 2);
    }

    #[test]
    fn a_wrong_key_fails_authentication() {
        let mut c = Decryptor::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &secret(S_AP)).unwrap();
        let rec = h(C_APP_REC);
        let (hd, body) = split(&rec);
        assert_eq!(c.open(&hd, body, 8).unwrap_err(), OpenError::Auth);
        assert_eq!(c.seq(), 0);
    }

    #[test]
    fn key_update_derives_the_next_secret() {
        let mut c = Decryptor::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &secret(C_AP)).unwrap();
        assert!(c.key_update());
        let rec = h(C_APP_REC);
        let (hd, body) = split(&rec);
        assert!(c.open(&hd, body, 0).is_err());
    }

    #[test]
    fn debug_redacts() {
        let c = Decryptor::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, &secret(C_AP)).unwrap();
        assert_eq!(format!("{c:?}"), "Decryptor(seq 0, keys redacted)");
    }

    /// Decryption throughput, framer included (run with `--ignored --nocapture`, in
    /// release for a meaningful number): 64 MiB of TLS 1.3 AES-256-GCM records of 16 KiB.
    #[test]
    #[ignore]
    fn throughput() {
        use crate::tls::record::{Frame, RecordFramer};
        let sec = secret(S_AP);
        // A 32-byte secret: SHA-256 key schedule (the record cipher is what is measured).
        let (key, iv) = keys::traffic_keys(HashAlg::Sha256, &sec, 32).unwrap();
        let enc = Aes256Gcm::new_from_slice(&key).unwrap();
        let n = 4096u64;
        let mut wire = Vec::new();
        for seq in 0..n {
            let mut body = vec![b'x'; 16 * 1024];
            body.push(23);
            let len = (body.len() + TAG) as u16;
            let hdr = [23, 3, 3, (len >> 8) as u8, len as u8];
            let tag = enc
                .encrypt_in_place_detached(
                    aes_gcm::Nonce::from_slice(&xor_seq(&iv, seq)),
                    &hdr,
                    &mut body,
                )
                .unwrap();
            wire.extend_from_slice(&hdr);
            wire.extend_from_slice(&body);
            wire.extend_from_slice(&tag);
        }
        let mut d = Decryptor::tls13(AeadAlg::Aes256Gcm, HashAlg::Sha256, &sec).unwrap();
        let mut f = RecordFramer::new();
        let t = std::time::Instant::now();
        let mut plain = 0usize;
        for seg in wire.chunks(1448) {
            f.data(seg, Default::default(), &mut |fr| {
                if let Frame::Record(r) = fr {
                    plain += d.open(&r.header, r.body, 0).unwrap().plaintext.len();
                }
            });
        }
        let s = t.elapsed().as_secs_f64();
        assert_eq!(plain as u64, n * 16 * 1024);
        eprintln!(
            "TLS 1.3 AES-256-GCM: {:.0} MB/s of records ({} MB in {:.3} s)",
            wire.len() as f64 / s / 1e6,
            wire.len() / 1_000_000,
            s
        );
    }
}
