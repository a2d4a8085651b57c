//! The TLS samples (samples/tls-*.pcap: real Postfix/Dovecot, real clients writing key
//! logs; truth in samples/tls-truth.json) through the whole analysis: with their key log
//! (or the keys embedded in the pcapng) every credential and message the client sent is
//! found inside TLS, marked `encrypted`; without keys the same sessions carry only
//! `tls_info`, and nothing from inside TLS is guessed.

use pcapmail::analysis::{analyze_file, CaptureResult, Config};
use pcapmail::model::{Protocol, Tls};
use pcapmail::tls::keylog::{KeyLog, KeyStore};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn truth() -> serde_json::Map<String, Value> {
    let t: Value =
        serde_json::from_slice(&std::fs::read(samples().join("tls-truth.json")).unwrap()).unwrap();
    t.as_object().unwrap().clone()
}

fn run(name: &str, keys: Option<&str>) -> CaptureResult {
    let mut log = KeyLog::new();
    if let Some(k) = keys {
        log.add_file(&samples().join(k)).unwrap();
    }
    let cfg = Config {
        keylog: KeyStore::new(log),
        ..Config::default()
    };
    analyze_file(&samples().join(name), &cfg, 1).unwrap()
}

fn iana(openssl: &str) -> &str {
    match openssl {
        "ECDHE-RSA-AES128-GCM-SHA256" => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384" => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-CHACHA20-POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-AES256-SHA" => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        "ECDHE-RSA-AES128-SHA256" => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        x => x,
    }
}

#[test]
fn every_tls_sample_gives_its_credentials_and_messages_with_keys() {
    let truth = truth();
    assert!(truth.len() >= 11);
    for (name, t) in &truth {
        // Keys from the file given, or embedded in the pcapng (used without --keylog).
        let r = run(name, t["keys"].as_str());
        let want = &t["sessions"][0];
        assert_eq!(r.sessions.len(), 1, "{name}");
        let s = &r.sessions[0];
        let proto = match want["protocol"].as_str().unwrap() {
            "smtp" => Protocol::Smtp,
            "pop3" => Protocol::Pop3,
            _ => Protocol::Imap,
        };
        assert_eq!(s.protocol, proto, "{name}");
        let tls = if want["tls"] == "implicit" {
            Tls::Implicit
        } else {
            Tls::Starttls
        };
        assert_eq!(s.tls, tls, "{name}");
        let info = s.tls_info.as_ref().expect("tls_info");
        assert!(info.decrypted, "{name}: {:?}", s.anomalies);
        // The client tool reported these (curl does not).
        if let Some(v) = want["tls_version"].as_str() {
            assert_eq!(
                info.version.as_deref().unwrap(),
                v.replace("TLSv", "TLS "),
                "{name}"
            );
        }
        if let Some(c) = want["openssl_cipher"].as_str() {
            assert_eq!(info.cipher.as_deref().unwrap(), iana(c), "{name}");
        }
        let cert = info.server_certificate.as_ref().expect("certificate");
        assert_eq!(cert.subject, "CN=mail.sample.test");
        assert!(!s.anomalies.iter().any(|a| a.starts_with("tls:")), "{name}");
        // Credentials: exactly the client's, with their outcome, marked encrypted.
        let creds: Vec<(String, String, String, Option<bool>, bool)> = r
            .credentials
            .iter()
            .map(|c| {
                (
                    c.mechanism.clone(),
                    c.username.clone().unwrap_or_default(),
                    c.password.clone().unwrap_or_default(),
                    c.success,
                    c.encrypted,
                )
            })
            .collect();
        let expected: Vec<(String, String, String, Option<bool>, bool)> = want["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["mechanism"].as_str().unwrap().to_string(),
                    c["username"].as_str().unwrap().to_string(),
                    c["password"].as_str().unwrap().to_string(),
                    c["success"].as_bool(),
                    true,
                )
            })
            .collect();
        assert_eq!(creds, expected, "{name}");
        // Messages: byte-exact (size and SHA-256), marked encrypted.
        let msgs: Vec<(u64, String, bool, bool)> = r
            .messages
            .iter()
            .map(|m| (m.size, m.sha256.clone(), m.encrypted, m.complete))
            .collect();
        let expected: Vec<(u64, String, bool, bool)> = want["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["size"].as_u64().unwrap(),
                    m["sha256"].as_str().unwrap().to_string(),
                    true,
                    true,
                )
            })
            .collect();
        assert_eq!(msgs, expected, "{name}");
        // Nothing inside TLS is a clear-text finding; the lab's certificate is self-signed.
        let codes: Vec<&str> = s.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["tls-self-signed-certificate"], "{name}");
        assert!(
            s.complete,
            "{name}: the proper end is visible once decrypted"
        );
        let c = &r.capture.counters;
        assert_eq!(c.get("tls.sessions_decrypted"), Some(&1), "{name}");
        assert_eq!(c.get("tls.auth_failures"), None, "{name}");
    }
}

#[test]
fn without_keys_a_tls_session_has_tls_info_and_nothing_from_inside() {
    for (name, t) in &truth() {
        if t["keys"].is_null() {
            continue; // keys embedded: always used
        }
        let r = run(name, None);
        assert_eq!(r.sessions.len(), 1, "{name}");
        let s = &r.sessions[0];
        let info = s.tls_info.as_ref().expect("tls_info");
        assert!(!info.decrypted);
        assert!(info.version.is_some() && info.cipher.is_some(), "{name}");
        let tls13 = info.version.as_deref() == Some("TLS 1.3");
        assert_eq!(info.server_certificate.is_some(), !tls13, "{name}");
        assert!(r.credentials.is_empty(), "{name}");
        assert!(r.messages.is_empty(), "{name}");
        assert!(
            !s.findings.iter().any(|f| f.code.starts_with("cleartext")),
            "{name}"
        );
        // No key given: no warning about missing keys either.
        assert!(!s.anomalies.iter().any(|a| a.starts_with("tls:")), "{name}");
    }
}

#[test]
fn a_wrong_key_is_a_warning_and_never_parsed_as_mail() {
    // The key log of one session used for another: the lookup finds nothing.
    let r = run(
        "tls-smtp-starttls-tls13.pcap",
        Some("tls-pop3s-995-tls13.keys"),
    );
    let s = &r.sessions[0];
    assert!(!s.tls_info.as_ref().unwrap().decrypted);
    assert!(r.credentials.is_empty() && r.messages.is_empty());
    assert!(
        s.anomalies
            .iter()
            .any(|a| a.contains("no key for this TLS session")),
        "{:?}",
        s.anomalies
    );
    // The right client random with damaged secrets: authentication fails, nothing leaks.
    let text = std::fs::read_to_string(samples().join("tls-smtp-starttls-tls13.keys")).unwrap();
    let damaged: String = text
        .lines()
        .map(|l| {
            let mut l = l.to_string();
            if let Some(c) = l.pop() {
                l.push(if c == '0' { '1' } else { '0' });
            }
            l + "\n"
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("pcapmail-wrongkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("wrong.keys");
    std::fs::write(&keys, damaged).unwrap();
    let mut log = KeyLog::new();
    log.add_file(&keys).unwrap();
    let cfg = Config {
        keylog: KeyStore::new(log),
        ..Config::default()
    };
    let r = analyze_file(&samples().join("tls-smtp-starttls-tls13.pcap"), &cfg, 1).unwrap();
    let s = &r.sessions[0];
    assert!(r.credentials.is_empty() && r.messages.is_empty());
    assert!(
        s.anomalies
            .iter()
            .any(|a| a.contains("authentication failed")),
        "{:?}",
        s.anomalies
    );
    assert!(
        r.capture
            .counters
            .get("tls.auth_failures")
            .copied()
            .unwrap_or(0)
            >= 1
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `--keylog` on the command line: JSON with `tls_info` and `encrypted`, and no byte of key
/// material in any output format.
#[test]
fn keylog_option_decrypts_and_no_output_carries_key_material() {
    let exe = env!("CARGO_BIN_EXE_pcapmail");
    let pcap = samples().join("tls-smtps-465-tls13-chacha-keyupdate.pcap");
    let keys = samples().join("tls-smtps-465-tls13-chacha-keyupdate.keys");
    let secrets: Vec<String> = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_lowercase))
        .collect();
    assert!(!secrets.is_empty());
    let out = Command::new(exe)
        .args(["analyze", "--format", "json", "--keylog"])
        .arg(&keys)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["sessions"][0]["tls_info"]["decrypted"], true);
    assert_eq!(doc["credentials"][0]["encrypted"], true);
    assert_eq!(doc["messages"][0]["encrypted"], true);
    for args in [
        &["analyze", "--format", "json"][..],
        &["analyze", "--format", "jsonl"],
        &["analyze"],
        &["creds"],
        &["transcript", "--full"],
        &["transcript", "--format", "json"],
    ] {
        let out = Command::new(exe)
            .args(args)
            .arg("--keylog")
            .arg(&keys)
            .arg(&pcap)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let all = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&all).to_lowercase();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{args:?} printed key material");
        }
    }
    // A key log that cannot be read stops the run with its name.
    let out = Command::new(exe)
        .args(["analyze", "--keylog", "/nonexistent/keys.txt"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/keys.txt"));
}
