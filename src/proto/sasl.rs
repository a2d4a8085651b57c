//! SASL exchanges (RFC 4422) as seen on the wire, shared by SMTP AUTH and POP3 AUTH:
//! base64 decoding of each step and extraction of the identity and secret per mechanism.
//!
//! The protocol dissector does the framing (which line is a challenge, which a response,
//! which reply ends the exchange) and feeds the payloads here.

use super::ChunkMeta;
use crate::model::{Credential, Endpoint, Protocol};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::net::{IpAddr, Ipv4Addr};

/// Base64 that tolerates missing or extra padding, as real clients send it.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a base64 payload as sent in SASL (strict first, then lenient). `=` alone is the
/// empty initial response of RFC 4954. Whitespace around the value is ignored.
pub fn decode_b64(text: &[u8]) -> Option<Vec<u8>> {
    let t = trim(text);
    if t == b"=" {
        return Some(Vec::new());
    }
    STANDARD.decode(t).or_else(|_| LENIENT.decode(t)).ok()
}

fn trim(t: &[u8]) -> &[u8] {
    let start = t
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(t.len());
    let end = t
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &t[start..end]
}

/// Text for the report: UTF-8 when valid, else Latin-1 (every byte kept, none invented).
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// A new credential record with placeholder session and endpoints (the analysis layer fills
/// them in when the session is known).
pub fn new_credential(protocol: Protocol, mechanism: &str, meta: ChunkMeta) -> Credential {
    let nowhere = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port: 0,
    };
    Credential {
        session: String::new(),
        protocol,
        client: nowhere,
        server: nowhere,
        mechanism: mechanism.to_string(),
        username: None,
        password: None,
        token: None,
        hash: None,
        authzid: None,
        success: None,
        reply: None,
        time: meta.ts,
        frame: meta.frame,
        capture: None,
        encrypted: false,
        undecodable: Vec::new(),
    }
}

/// One SASL authentication attempt in progress.
#[derive(Debug, Clone)]
pub struct SaslExchange {
    cred: Credential,
    /// Raw base64 of the last server challenge (CRAM-MD5 needs it for the hash line).
    last_challenge: Option<Vec<u8>>,
    /// Client responses seen so far (initial response included).
    responses: usize,
    cancelled: bool,
}

impl SaslExchange {
    /// `AUTH <mechanism> [initial-response]` was sent in the packet `meta`.
    pub fn start(
        protocol: Protocol,
        mechanism: &[u8],
        initial: Option<&[u8]>,
        meta: ChunkMeta,
    ) -> SaslExchange {
        let mech = text(mechanism).to_ascii_uppercase();
        let mut ex = SaslExchange {
            cred: new_credential(protocol, &mech, meta),
            last_challenge: None,
            responses: 0,
            cancelled: false,
        };
        if let Some(ir) = initial {
            ex.client(ir, meta);
        }
        ex
    }

    /// The mechanism name, upper-case.
    pub fn mechanism(&self) -> &str {
        &self.cred.mechanism
    }

    /// A server challenge (the text after `334 ` or `+ `), base64 as sent.
    pub fn server(&mut self, challenge: &[u8]) {
        let c = trim(challenge);
        if self.cred.mechanism == "XOAUTH2" || self.cred.mechanism == "OAUTHBEARER" {
            // A challenge after the token is the JSON error of RFC 7628 §3.2.2.
            if let Some(json) = decode_b64(c).filter(|j| !j.is_empty()) {
                self.cred.reply = Some(text(&json));
            }
        }
        self.last_challenge = Some(c.to_vec());
    }

    /// A client response line, base64 as sent; `*` cancels the exchange.
    pub fn client(&mut self, response: &[u8], meta: ChunkMeta) {
        let r = trim(response);
        if r == b"*" {
            self.cancelled = true;
            return;
        }
        self.responses += 1;
        let Some(decoded) = decode_b64(r) else {
            self.cred.undecodable.push(text(r));
            self.mark(meta);
            return;
        };
        match self.cred.mechanism.as_str() {
            "PLAIN" => self.plain(&decoded, r, meta),
            "LOGIN" => self.login(&decoded, meta),
            "CRAM-MD5" => self.cram_md5(&decoded, r, meta),
            "XOAUTH2" => self.xoauth2(&decoded, r, meta),
            "OAUTHBEARER" => self.oauthbearer(&decoded, r, meta),
            "DIGEST-MD5" => {
                if let Some(user) = digest_md5_username(&decoded) {
                    self.cred.username = Some(user);
                    self.mark(meta);
                }
            }
            _ => {}
        }
    }

    /// True when the client cancelled with `*`.
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }

    /// Ends the exchange with the server's final reply (`success` None when not seen).
    pub fn finish(mut self, success: Option<bool>, reply: Option<String>) -> Credential {
        self.cred.success = if self.cancelled { Some(false) } else { success };
        if let Some(r) = reply {
            self.cred.reply = Some(match self.cred.reply.take() {
                Some(json) => format!("{r} ({json})"),
                None => r,
            });
        }
        self.cred
    }

    fn mark(&mut self, meta: ChunkMeta) {
        self.cred.frame = meta.frame;
        self.cred.time = meta.ts;
    }

    fn plain(&mut self, d: &[u8], raw: &[u8], meta: ChunkMeta) {
        let mut parts = d.splitn(3, |&b| b == 0);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(authz), Some(user), Some(pass)) => {
                if !authz.is_empty() {
                    self.cred.authzid = Some(text(authz));
                }
                self.cred.username = Some(text(user));
                self.cred.password = Some(text(pass));
            }
            _ => self.cred.undecodable.push(text(raw)),
        }
        self.mark(meta);
    }

    fn login(&mut self, d: &[u8], meta: ChunkMeta) {
        // Username first, then password, whatever the prompts say (some servers send
        // non-standard prompts; the order is what RFC-less LOGIN has always been).
        if self.cred.username.is_none() {
            self.cred.username = Some(text(d));
        } else if self.cred.password.is_none() {
            self.cred.password = Some(text(d));
        }
        self.mark(meta);
    }

    fn cram_md5(&mut self, d: &[u8], raw: &[u8], meta: ChunkMeta) {
        // response = "user hexdigest" (RFC 2195); hashcat mode 10200 wants both in base64.
        match d.iter().rposition(|&b| b == b' ') {
            Some(sp) => self.cred.username = Some(text(&d[..sp])),
            None => self.cred.undecodable.push(text(raw)),
        }
        if let Some(ch) = &self.last_challenge {
            self.cred.hash = Some(format!("$cram_md5${}${}", text(ch), text(raw)));
        }
        self.mark(meta);
    }

    fn xoauth2(&mut self, d: &[u8], raw: &[u8], meta: ChunkMeta) {
        if d.is_empty() {
            return; // the empty response that acknowledges an error challenge
        }
        let mut found = false;
        for field in d.split(|&b| b == 0x01) {
            if let Some(u) = field.strip_prefix(b"user=") {
                self.cred.username = Some(text(u));
                found = true;
            } else if let Some(a) = field.strip_prefix(b"auth=") {
                self.cred.token = Some(text(strip_bearer(a)));
                found = true;
            }
        }
        if !found {
            self.cred.undecodable.push(text(raw));
        }
        self.mark(meta);
    }

    fn oauthbearer(&mut self, d: &[u8], raw: &[u8], meta: ChunkMeta) {
        if d.is_empty() || d == b"\x01" {
            return;
        }
        let mut fields = d.split(|&b| b == 0x01);
        // GS2 header: "n,a=user@example.com,"
        let gs2 = fields.next().unwrap_or_default();
        let mut found = false;
        for part in gs2.split(|&b| b == b',') {
            if let Some(a) = part.strip_prefix(b"a=") {
                self.cred.username = Some(text(a).replace("=2C", ",").replace("=3D", "="));
                found = true;
            }
        }
        for field in fields {
            if let Some(a) = field.strip_prefix(b"auth=") {
                self.cred.token = Some(text(strip_bearer(a)));
                found = true;
            }
        }
        if !found {
            self.cred.undecodable.push(text(raw));
        }
        self.mark(meta);
    }
}

fn strip_bearer(a: &[u8]) -> &[u8] {
    if a.len() >= 7 && a[..7].eq_ignore_ascii_case(b"Bearer ") {
        &a[7..]
    } else {
        a
    }
}

/// `username="..."` from a DIGEST-MD5 response (RFC 2831 §2.1.2).
fn digest_md5_username(d: &[u8]) -> Option<String> {
    let s = text(d);
    let i = s.find("username=")?;
    let v = &s[i + 9..];
    if let Some(q) = v.strip_prefix('"') {
        q.find('"').map(|e| q[..e].to_string())
    } else {
        Some(v.split(',').next().unwrap_or("").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(frame: u64) -> ChunkMeta {
        ChunkMeta {
            frame,
            ts: crate::model::Ts(0),
        }
    }

    fn b64(s: &[u8]) -> Vec<u8> {
        STANDARD.encode(s).into_bytes()
    }

    #[test]
    fn plain_initial_response_with_authzid() {
        let ir = b64(b"admin\0ana@x.test\0pw 1!");
        let ex = SaslExchange::start(Protocol::Smtp, b"plain", Some(&ir), m(4));
        let c = ex.finish(Some(true), Some("235 2.7.0 ok".into()));
        assert_eq!(c.mechanism, "PLAIN");
        assert_eq!(c.authzid.as_deref(), Some("admin"));
        assert_eq!(c.username.as_deref(), Some("ana@x.test"));
        assert_eq!(c.password.as_deref(), Some("pw 1!"));
        assert_eq!((c.success, c.frame), (Some(true), 4));
    }

    #[test]
    fn login_username_then_password_frames() {
        let mut ex = SaslExchange::start(Protocol::Smtp, b"LOGIN", None, m(1));
        ex.server(b"VXNlcm5hbWU6");
        ex.client(&b64(b"ben"), m(3));
        ex.server(b"UGFzc3dvcmQ6");
        ex.client(&b64(b"s3cret"), m(5));
        let c = ex.finish(Some(false), Some("535 5.7.8 failed".into()));
        assert_eq!(c.username.as_deref(), Some("ben"));
        assert_eq!(c.password.as_deref(), Some("s3cret"));
        assert_eq!((c.success, c.frame), (Some(false), 5));
    }

    #[test]
    fn cram_md5_hashcat_line() {
        let mut ex = SaslExchange::start(Protocol::Smtp, b"CRAM-MD5", None, m(1));
        ex.server(b"PDEyMzQuNTY3OEBleGFtcGxlLnRlc3Q+");
        let resp = b64(b"ana 0123456789abcdef0123456789abcdef");
        ex.client(&resp, m(7));
        let c = ex.finish(Some(true), None);
        assert_eq!(c.username.as_deref(), Some("ana"));
        assert_eq!(c.password, None);
        assert_eq!(
            c.hash.unwrap(),
            format!("$cram_md5$PDEyMzQuNTY3OEBleGFtcGxlLnRlc3Q+${}", text(&resp))
        );
    }

    #[test]
    fn xoauth2_token_and_json_error() {
        let ir = b64(b"user=someone@example.com\x01auth=Bearer ya29.tok\x01\x01");
        let mut ex = SaslExchange::start(Protocol::Smtp, b"XOAUTH2", Some(&ir), m(2));
        ex.server(&b64(br#"{"status":"401"}"#));
        ex.client(b"", m(4));
        let c = ex.finish(Some(false), Some("535 5.7.8".into()));
        assert_eq!(c.username.as_deref(), Some("someone@example.com"));
        assert_eq!(c.token.as_deref(), Some("ya29.tok"));
        assert_eq!(c.reply.as_deref(), Some(r#"535 5.7.8 ({"status":"401"})"#));
        assert_eq!((c.success, c.frame), (Some(false), 2));
    }

    #[test]
    fn oauthbearer_user_and_token() {
        let ir = b64(b"n,a=user@example.com,\x01host=server.example.com\x01port=587\x01auth=Bearer vF9dft4qmT\x01\x01");
        let ex = SaslExchange::start(Protocol::Smtp, b"OAUTHBEARER", Some(&ir), m(2));
        let c = ex.finish(Some(true), None);
        assert_eq!(c.username.as_deref(), Some("user@example.com"));
        assert_eq!(c.token.as_deref(), Some("vF9dft4qmT"));
    }

    #[test]
    fn garbage_base64_is_kept_raw_and_flagged() {
        let mut ex = SaslExchange::start(Protocol::Pop3, b"LOGIN", None, m(1));
        ex.client(b"!!not base64!!", m(2));
        let c = ex.finish(None, None);
        assert_eq!(c.undecodable, ["!!not base64!!"]);
        assert_eq!(c.username, None);
    }

    #[test]
    fn sloppy_padding_decodes() {
        assert_eq!(decode_b64(b"YW5h").unwrap(), b"ana");
        assert_eq!(decode_b64(b"YW4").unwrap(), b"an");
        assert_eq!(decode_b64(b" YW4= ").unwrap(), b"an");
        assert_eq!(decode_b64(b"=").unwrap(), b"");
    }

    #[test]
    fn cancel_is_a_failure() {
        let mut ex = SaslExchange::start(Protocol::Smtp, b"LOGIN", None, m(1));
        ex.client(b"*", m(2));
        assert!(ex.cancelled());
        let c = ex.finish(None, Some("501 cancelled".into()));
        assert_eq!(c.success, Some(false));
    }

    #[test]
    fn digest_md5_username() {
        let resp = b64(
            br#"charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh""#,
        );
        let mut ex = SaslExchange::start(Protocol::Smtp, b"DIGEST-MD5", None, m(1));
        ex.server(b"cmVhbG09ImVsd29vZC5pbm5vc29mdC5jb20i");
        ex.client(&resp, m(3));
        assert_eq!(ex.finish(None, None).username.as_deref(), Some("chris"));
    }
}
