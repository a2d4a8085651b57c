//! Every capture in samples/ against samples/truth.json, which the recording script wrote
//! from the clients' side (what was sent, the passwords used, what the server delivered):
//! sessions, credentials (with success from the server), message sizes and SHA-256,
//! subjects, Message-IDs and attachments must match exactly.

mod common;

use md5::{Digest, Md5};
use pcapmail::analysis::{analyze, Config};
use pcapmail::model::{Credential, Message, ProtocolDetail, Report, Session, Tls};
use serde_json::Value;

fn truth() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(common::sample("truth.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn run(name: &str) -> Report {
    let path = common::sample(name);
    let (report, failures) = analyze(&[path.as_path()], &Config::default());
    assert!(failures.is_empty(), "{name}: {failures:?}");
    report
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn hmac_md5_hex(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Md5::new().chain_update(&ipad).chain_update(msg).finalize();
    hex::encode(
        Md5::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize(),
    )
}

fn check_credential(ctx: &str, ours: &Credential, want: &Value) {
    let mech = want["mechanism"].as_str().unwrap();
    assert_eq!(ours.mechanism, mech, "{ctx}: mechanism");
    assert_eq!(ours.username, s(&want["username"]), "{ctx}: username");
    assert_eq!(ours.success, want["success"].as_bool(), "{ctx}: success");
    match mech {
        "CRAM-MD5" => {
            // The hashcat line must verify with the password the client used.
            let hash = ours.hash.as_deref().expect("CRAM-MD5 hash line");
            let parts: Vec<&str> = hash.split('$').collect();
            assert_eq!(parts[1], "cram_md5", "{ctx}: {hash}");
            let challenge = pcapmail::proto::sasl::decode_b64(parts[2].as_bytes()).unwrap();
            let response = pcapmail::proto::sasl::decode_b64(parts[3].as_bytes()).unwrap();
            assert_eq!(
                challenge,
                want["challenge"].as_str().unwrap().as_bytes(),
                "{ctx}"
            );
            let pw = want["password_for_cracking"].as_str().unwrap();
            let digest = hmac_md5_hex(pw.as_bytes(), &challenge);
            let expect = format!("{} {}", want["username"].as_str().unwrap(), digest);
            assert_eq!(
                String::from_utf8(response).unwrap(),
                expect,
                "{ctx}: digest verifies"
            );
            assert_eq!(ours.password, None);
        }
        "APOP" => {
            let ts = want["timestamp"].as_str().unwrap();
            let pw = want["password_for_cracking"].as_str().unwrap();
            let digest = hex::encode(Md5::digest(format!("{ts}{pw}").as_bytes()));
            assert_eq!(
                ours.hash.as_deref(),
                Some(format!("{digest}:{ts}").as_str()),
                "{ctx}"
            );
            assert_eq!(ours.password, None);
        }
        _ => assert_eq!(ours.password, s(&want["password"]), "{ctx}: password"),
    }
}

fn check_message(ctx: &str, ours: &Message, want: &Value) {
    assert_eq!(ours.size, want["size"].as_u64().unwrap(), "{ctx}: size");
    assert_eq!(
        ours.sha256,
        want["sha256"].as_str().unwrap(),
        "{ctx}: sha256"
    );
    assert!(ours.complete, "{ctx}: complete");
    assert_eq!(ours.headers.subject, s(&want["subject"]), "{ctx}: subject");
    let mid = want["message_id"].as_str().map(|m| format!("<{m}>"));
    assert_eq!(ours.headers.message_id, mid, "{ctx}: message_id");
    if let Some(from) = want["mail_from"].as_str() {
        assert_eq!(ours.mail_from.as_deref(), Some(from), "{ctx}: mail_from");
        let rcpt: Vec<String> = want["rcpt_to"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(s)
            .collect();
        assert_eq!(ours.rcpt_to.as_ref(), Some(&rcpt), "{ctx}: rcpt_to");
    }
    if let Some(n) = want["number"].as_u64() {
        assert_eq!(ours.pop3_number, Some(n), "{ctx}: pop3_number");
        assert_eq!(ours.partial, want["command"] == "TOP", "{ctx}: partial");
    }
    // IMAP: direction, UID, mailbox, and whether it is a whole message.
    if let Some(d) = want["direction"].as_str() {
        let ours_dir = serde_json::to_value(ours.direction).unwrap();
        assert_eq!(ours_dir, d, "{ctx}: direction");
        assert_eq!(ours.imap_uid, want["imap_uid"].as_u64(), "{ctx}: imap_uid");
        assert_eq!(
            ours.imap_mailbox,
            s(&want["imap_mailbox"]),
            "{ctx}: imap_mailbox"
        );
        assert_eq!(
            ours.partial,
            want["partial"].as_bool().unwrap_or(false),
            "{ctx}: partial"
        );
        if let Some(sec) = want["section"].as_str() {
            assert_eq!(ours.imap_section.as_deref(), Some(sec), "{ctx}: section");
        }
    }
    if let Some(atts) = want["attachments"].as_array() {
        assert_eq!(ours.attachments.len(), atts.len(), "{ctx}: attachments");
        for (a, w) in ours.attachments.iter().zip(atts) {
            assert_eq!(a.filename, s(&w["filename"]), "{ctx}: filename");
            assert_eq!(
                a.content_type,
                w["content_type"].as_str().unwrap(),
                "{ctx}: type"
            );
            assert_eq!(
                a.size,
                w["size"].as_u64().unwrap(),
                "{ctx}: attachment size"
            );
            assert_eq!(
                a.sha256,
                w["sha256"].as_str().unwrap(),
                "{ctx}: attachment sha256"
            );
        }
    }
    if let Some(from) = want["from_decoded"].as_str() {
        assert_eq!(ours.headers.from.as_deref(), Some(from), "{ctx}: From");
    }
    if let Some(to) = want["to_decoded"].as_str() {
        assert_eq!(ours.headers.to, [to], "{ctx}: To");
    }
}

fn check_session(name: &str, i: usize, report: &Report, ours: &Session, want: &Value) {
    let ctx = format!("{name} session {i}");
    assert_eq!(
        ours.protocol.name(),
        want["protocol"].as_str().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        ours.server.port as u64,
        want["server_port"].as_u64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        ours.client.port as u64,
        want["client_port"].as_u64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        ours.client.ip.to_string(),
        want["client_ip"].as_str().unwrap(),
        "{ctx}"
    );
    if let Some(c) = want["compressed"].as_bool() {
        let ProtocolDetail::Imap(d) = &ours.detail else {
            panic!("{ctx}: not IMAP")
        };
        assert_eq!(d.compressed, c, "{ctx}: compressed");
    }
    if let Some(b) = want["banner"].as_str() {
        // Our banner is the greeting's text, without the status.
        let b = b.strip_prefix("+OK ").unwrap_or(b);
        assert_eq!(ours.banner.as_deref(), Some(b), "{ctx}: banner");
    }
    let want_tls = want["starttls"].as_bool().unwrap_or(false);
    assert_eq!(ours.tls == Tls::Starttls, want_tls, "{ctx}: tls");
    let creds: Vec<&Credential> = report
        .credentials
        .iter()
        .filter(|c| c.session == ours.id)
        .collect();
    let want_creds = want["credentials"].as_array().unwrap();
    assert_eq!(
        creds.len(),
        want_creds.len(),
        "{ctx}: credentials {creds:#?}"
    );
    for (j, (c, w)) in creds.iter().zip(want_creds).enumerate() {
        check_credential(&format!("{ctx} credential {j}"), c, w);
    }
    let msgs: Vec<&Message> = report
        .messages
        .iter()
        .filter(|m| m.session == ours.id)
        .collect();
    let want_msgs = want["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), want_msgs.len(), "{ctx}: messages");
    for (j, (m, w)) in msgs.iter().zip(want_msgs).enumerate() {
        check_message(&format!("{ctx} message {j}"), m, w);
    }
    if let ProtocolDetail::Smtp(d) = &ours.detail {
        let rejected: Vec<String> = d
            .transactions
            .iter()
            .flat_map(|t| {
                t.rcpt_to
                    .iter()
                    .filter(|r| !r.accepted)
                    .map(|r| r.address.clone())
            })
            .collect();
        let want_rejected: Vec<String> = want_msgs
            .iter()
            .flat_map(|m| m["rcpt_rejected"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| s(&v))
            .collect();
        assert_eq!(rejected, want_rejected, "{ctx}: rejected recipients");
    }
}

#[test]
fn every_sample_matches_its_truth() {
    let truth = truth();
    assert!(truth.len() >= 20);
    for (name, t) in &truth {
        let report = run(name);
        let cap = &report.captures[0];
        assert_eq!(
            cap.packets,
            t["packets"].as_u64().unwrap(),
            "{name}: packets"
        );
        assert!(cap.warnings.is_empty(), "{name}: {:?}", cap.warnings);
        let want = t["sessions"].as_array().unwrap();
        assert_eq!(report.sessions.len(), want.len(), "{name}: sessions");
        for (i, (ours, w)) in report.sessions.iter().zip(want).enumerate() {
            check_session(name, i, &report, ours, w);
        }
    }
}

#[test]
fn link_types_and_formats_of_samples() {
    let truth = truth();
    for (name, t) in &truth {
        let report = run(name);
        let cap = &report.captures[0];
        assert_eq!(cap.format, t["format"].as_str().unwrap(), "{name}");
        if let Some(lt) = t["link_type"].as_str() {
            let want: Vec<&str> = lt.split('/').collect();
            assert_eq!(cap.link_types, want, "{name}");
        }
    }
}
