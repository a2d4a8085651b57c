//! Dissector tests: literal wire bytes, both directions interleaved as captured, each chunk
//! with its frame number.

use super::*;
use crate::model::Ts;
use crate::proto::mime::sha256_hex;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// One event on the wire.
enum Ev<'a> {
    /// Client bytes in frame n.
    C(u64, &'a [u8]),
    /// Server bytes in frame n.
    S(u64, &'a [u8]),
    /// Bytes lost from the client (frame, length).
    GapC(u64, u64),
    /// Bytes lost from the server (frame, length).
    GapS(u64, u64),
}
use Ev::*;

fn meta(frame: u64) -> ChunkMeta {
    ChunkMeta {
        frame,
        ts: Ts(frame as i64 * 1_000),
    }
}

fn run_cfg(cfg: &SmtpConfig, evs: &[Ev]) -> (SmtpDissector, SessionOutput) {
    let mut d = SmtpDissector::new(cfg);
    let mut last = 0;
    for ev in evs {
        match *ev {
            C(f, b) => d.data(Side::Client, b, meta(f)),
            S(f, b) => d.data(Side::Server, b, meta(f)),
            GapC(f, n) => d.gap(Side::Client, n, meta(f)),
            GapS(f, n) => d.gap(Side::Server, n, meta(f)),
        }
        last = match *ev {
            C(f, _) | S(f, _) | GapC(f, _) | GapS(f, _) => f,
        };
    }
    d.end(EndReason::Fin, meta(last + 1));
    let out = d.finish();
    (d, out)
}

fn run(evs: &[Ev]) -> (SmtpDissector, SessionOutput) {
    run_cfg(&SmtpConfig::default(), evs)
}

fn detail(out: &SessionOutput) -> &SmtpDetail {
    match &out.detail {
        ProtocolDetail::Smtp(d) => d,
        _ => panic!("not smtp"),
    }
}

fn b64(s: &[u8]) -> String {
    STANDARD.encode(s)
}

fn data(m: &Message) -> &[u8] {
    m.data.as_deref().map(Vec::as_slice).unwrap()
}

/// `verb arg -> code text` per command, to compare pairing at a glance.
fn pairs(out: &SessionOutput) -> Vec<String> {
    out.commands
        .iter()
        .map(|c| match &c.reply {
            Some(r) => format!("{} {} -> {} {}", c.verb, c.arg, r.code, r.text),
            None => format!("{} {} -> -", c.verb, c.arg),
        })
        .collect()
}

fn codes(out: &SessionOutput) -> Vec<&str> {
    out.findings.iter().map(|f| f.code.as_str()).collect()
}

/// A whole session after the Exim example in zeek/smtp/smtp-bdat-pipeline-8bitmime.pcap,
/// with AUTH LOGIN and a dot-stuffed message.
#[test]
fn full_session_login_data_quit() {
    let user = b64(b"alice@example.test");
    let pass = b64(b"s3cr3t pw");
    let body: &[u8] = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: Hi\r\n\r\n..dot line\r\nplain\r\n.\r\n";
    let (d, out) = run(&[
        S(1, b"220-scoot-81.wizint.net ESMTP Exim 4.94.115 Thu, 04 Mar 2021 09:42:07 +0000\r\n220 Spam disliked here\r\n"),
        C(2, b"EHLO vger.kernel.org\r\n"),
        S(3, b"250-scoot-81.wizint.net Hello vger.kernel.org [23.128.96.18]\r\n250-SIZE 52428800\r\n250-AUTH=LOGIN PLAIN\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-STARTTLS\r\n250 HELP\r\n"),
        C(4, b"AUTH LOGIN\r\n"),
        S(5, b"334 VXNlcm5hbWU6\r\n"),
        C(6, format!("{user}\r\n").as_bytes()),
        S(7, b"334 UGFzc3dvcmQ6\r\n"),
        C(8, format!("{pass}\r\n").as_bytes()),
        S(9, b"235 2.7.0 Authentication succeeded\r\n"),
        C(10, b"MAIL FROM:<alice@example.test> SIZE=120\r\n"),
        S(11, b"250 2.1.0 Ok\r\n"),
        C(12, b"RCPT TO:<bob@example.test>\r\n"),
        S(13, b"250 2.1.5 Ok\r\n"),
        C(14, b"DATA\r\n"),
        S(15, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        C(16, body),
        S(17, b"250 2.0.0 Ok: queued as 4F2A\r\n"),
        C(18, b"QUIT\r\n"),
        S(19, b"221 2.0.0 Bye\r\n"),
    ]);
    assert!(d.is_smtp());
    assert_eq!(
        out.banner.as_deref(),
        Some("scoot-81.wizint.net ESMTP Exim 4.94.115 Thu, 04 Mar 2021 09:42:07 +0000\nSpam disliked here")
    );
    let det = detail(&out);
    assert_eq!(det.helo.as_deref(), Some("vger.kernel.org"));
    assert_eq!(
        det.extensions,
        [
            "SIZE 52428800",
            "AUTH=LOGIN PLAIN",
            "PIPELINING",
            "CHUNKING",
            "STARTTLS",
            "HELP"
        ]
    );
    assert!(out.starttls_offered);
    assert_eq!(out.tls, Tls::None);
    assert!(out.complete);

    assert_eq!(out.credentials.len(), 1);
    let c = &out.credentials[0];
    assert_eq!(c.mechanism, "LOGIN");
    assert_eq!(c.username.as_deref(), Some("alice@example.test"));
    assert_eq!(c.password.as_deref(), Some("s3cr3t pw"));
    assert_eq!(c.success, Some(true));
    assert_eq!(
        c.reply.as_deref(),
        Some("235 2.7.0 Authentication succeeded")
    );
    assert_eq!((c.frame, c.time), (8, Ts(8_000)));

    assert_eq!(
        pairs(&out),
        [
            "EHLO vger.kernel.org -> 250 scoot-81.wizint.net Hello vger.kernel.org [23.128.96.18]\nSIZE 52428800\nAUTH=LOGIN PLAIN\nPIPELINING\nCHUNKING\nSTARTTLS\nHELP".to_string(),
            "AUTH LOGIN -> 334 VXNlcm5hbWU6".into(),
            format!("AUTH-DATA {user} -> 334 UGFzc3dvcmQ6"),
            format!("AUTH-DATA {pass} -> 235 Authentication succeeded"),
            "MAIL FROM:<alice@example.test> SIZE=120 -> 250 Ok".into(),
            "RCPT TO:<bob@example.test> -> 250 Ok".into(),
            "DATA  -> 354 End data with <CR><LF>.<CR><LF>".into(),
            "QUIT  -> 221 Bye".into(),
        ]
    );
    let auth_reply = out.commands[3].reply.as_ref().unwrap();
    assert_eq!(auth_reply.enhanced.as_deref(), Some("2.7.0"));
    assert_eq!((out.commands[3].frame, auth_reply.frame), (8, 9));

    let tx = &det.transactions[0];
    assert_eq!(det.transactions.len(), 1);
    assert_eq!(tx.mail_from.as_deref(), Some("alice@example.test"));
    assert_eq!(tx.mail_params, "SIZE=120");
    assert_eq!(
        tx.rcpt_to,
        [Recipient {
            address: "bob@example.test".into(),
            accepted: true,
            reply: Some("250 2.1.5 Ok".into())
        }]
    );
    assert_eq!(tx.message.as_deref(), Some("0"));
    assert_eq!(
        tx.data_reply.as_deref(),
        Some("250 2.0.0 Ok: queued as 4F2A")
    );
    assert_eq!(tx.accepted, Some(true));
    assert_eq!(tx.frame, 10);

    let expect: &[u8] = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: Hi\r\n\r\n.dot line\r\nplain\r\n";
    let m = &out.messages[0];
    assert_eq!(data(m), expect);
    assert_eq!(m.sha256, sha256_hex(expect));
    assert_eq!(m.size, expect.len() as u64);
    assert!(m.complete);
    assert_eq!(m.direction, MessageDirection::Sent);
    assert_eq!(m.mail_from.as_deref(), Some("alice@example.test"));
    assert_eq!(
        m.rcpt_to.as_deref(),
        Some(&["bob@example.test".to_string()][..])
    );
    assert_eq!(m.headers.subject.as_deref(), Some("Hi"));
    assert_eq!(m.frame, 16);

    assert_eq!(
        codes(&out),
        [
            "cleartext-auth",
            "cleartext-mail",
            "starttls-offered-not-used"
        ]
    );
    assert_eq!(
        out.findings[2].detail,
        "the server offered STARTTLS; the client sent AUTH in clear without it (frame 4)"
    );
    assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
    assert!(out.truncated.is_empty());
}

#[test]
fn transcript_entries() {
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"HELO me\r\n"),
        S(3, b"250 mx\r\n"),
        C(4, b"MAIL FROM:<>\r\nRCPT TO:<a@x>\r\nDATA\r\n"),
        S(5, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        C(6, b"Subject: t\r\n\r\nline\r\n"),
        C(7, b"more\r\n.\r\n"),
        GapS(8, 10),
        S(9, b"250 queued\r\n"),
    ]);
    let render: Vec<String> = out
        .dialogue
        .iter()
        .map(|e| {
            let who = if e.from == Side::Client { "C" } else { "S" };
            match &e.event {
                DialogueEvent::Line { line } => format!("{}{who} {line}", e.frame),
                DialogueEvent::Body {
                    lines,
                    bytes,
                    message,
                } => format!("{}{who} body {lines}/{bytes} {message:?}", e.frame),
                DialogueEvent::Gap { bytes } => format!("{}{who} gap {bytes}", e.frame),
                DialogueEvent::Tls { bytes } => format!("{}{who} tls {bytes}", e.frame),
                DialogueEvent::Literal { bytes, .. } => format!("{}{who} literal {bytes}", e.frame),
            }
        })
        .collect();
    assert_eq!(
        render,
        [
            "1S 220 mx ESMTP",
            "2C HELO me",
            "3S 250 mx",
            "4C MAIL FROM:<>",
            "4C RCPT TO:<a@x>",
            "4C DATA",
            "5S 250 ok",
            "5S 250 ok",
            "5S 354 go",
            "6C body 4/26 Some(\"0\")",
            "7C .",
            "8S gap 10",
            "9S 250 queued",
        ]
    );
    let det = detail(&out);
    assert_eq!(det.transactions[0].mail_from.as_deref(), Some(""));
    assert_eq!(det.transactions[0].accepted, Some(true));
}

#[test]
fn auth_login_with_initial_response() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, format!("AUTH LOGIN {}\r\n", b64(b"ben")).as_bytes()),
        S(3, b"334 UGFzc3dvcmQ6\r\n"),
        C(4, format!("{}\r\n", b64(b"pw")).as_bytes()),
        S(5, b"235 ok\r\n"),
    ]);
    let c = &out.credentials[0];
    assert_eq!(
        (
            c.username.as_deref(),
            c.password.as_deref(),
            c.success,
            c.frame
        ),
        (Some("ben"), Some("pw"), Some(true), 4)
    );
}

#[test]
fn auth_plain_same_line_from_capture() {
    // bruteshark/SMTP - Auth Plain.pcap
    let (_, out) = run(&[
        S(4, b"220 ESMTMP okay\r\n"),
        C(6, b"HELO mudynamics.com\r\n"),
        S(8, b"250 Nice to meet you\r\n"),
        C(10, b"AUTH PLAIN dXNlcm5hbWUAAHBhc3N3b3Jk\r\n"),
        S(12, b"235 Okay\r\n"),
    ]);
    let c = &out.credentials[0];
    assert_eq!(c.mechanism, "PLAIN");
    // authzid "username", empty authcid, password "password": as sent.
    assert_eq!(c.authzid.as_deref(), Some("username"));
    assert_eq!(c.password.as_deref(), Some("password"));
    assert_eq!((c.success, c.frame), (Some(true), 10));
    assert_eq!(codes(&out), ["cleartext-auth"]);
}

#[test]
fn auth_plain_after_empty_challenge() {
    let ir = b64(b"\0carol\0pa:ss");
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"AUTH PLAIN\r\n"),
        S(3, b"334 \r\n"),
        C(4, format!("{ir}\r\n").as_bytes()),
        S(5, b"535 5.7.8 Authentication credentials invalid\r\n"),
        C(6, b"QUIT\r\n"),
        S(7, b"221 bye\r\n"),
    ]);
    let c = &out.credentials[0];
    assert_eq!(c.username.as_deref(), Some("carol"));
    assert_eq!(c.password.as_deref(), Some("pa:ss"));
    assert_eq!(c.success, Some(false));
    assert_eq!(
        c.reply.as_deref(),
        Some("535 5.7.8 Authentication credentials invalid")
    );
    assert_eq!(c.frame, 4);
    // Back to commands after the failure.
    assert_eq!(out.commands.last().unwrap().verb, "QUIT");
    assert!(out.complete);
}

#[test]
fn cram_md5_hash_line_from_capture() {
    // bruteshark/SMTP - Auth Cram MD5.pcap
    let (_, out) = run(&[
        S(4, b"220 ESMTMP okay\r\n"),
        C(6, b"HELO mudynamics.com\r\n"),
        S(8, b"250 Nice to meet you\r\n"),
        C(10, b"AUTH CRAM-MD5\r\n"),
        S(
            12,
            b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
        ),
        C(
            14,
            b"dXNlcm5hbWUgMDZkMGEzMjVmMDU0NjQ4NjQ2ZTA3MmNkNGZlYjE3YzQ=\r\n",
        ),
        S(16, b"235 Okay\r\n"),
    ]);
    let c = &out.credentials[0];
    assert_eq!(c.mechanism, "CRAM-MD5");
    assert_eq!(c.username.as_deref(), Some("username"));
    assert_eq!(c.password, None);
    assert_eq!(
        c.hash.as_deref(),
        Some("$cram_md5$PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+$dXNlcm5hbWUgMDZkMGEzMjVmMDU0NjQ4NjQ2ZTA3MmNkNGZlYjE3YzQ=")
    );
    assert_eq!((c.success, c.frame), (Some(true), 14));
}

#[test]
fn xoauth2_error_then_empty_line_then_535() {
    let ir = b64(b"user=someone@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01");
    let err = b64(br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#);
    let (_, out) = run(&[
        S(1, b"220 mx.google.com ESMTP\r\n"),
        C(2, format!("AUTH XOAUTH2 {ir}\r\n").as_bytes()),
        S(3, format!("334 {err}\r\n").as_bytes()),
        C(4, b"\r\n"),
        S(5, b"535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 https://support.google.com/mail/?p=BadCredentials\r\n"),
        C(6, b"QUIT\r\n"),
        S(7, b"221 2.0.0 closing connection\r\n"),
    ]);
    assert_eq!(out.credentials.len(), 1);
    let c = &out.credentials[0];
    assert_eq!(c.mechanism, "XOAUTH2");
    assert_eq!(c.username.as_deref(), Some("someone@example.com"));
    assert_eq!(
        c.token.as_deref(),
        Some("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    );
    assert_eq!(c.success, Some(false));
    assert_eq!(c.frame, 2);
    assert!(c.reply.as_deref().unwrap().contains(r#""status":"401""#));
    assert_eq!(
        pairs(&out)[1..],
        [
            "AUTH-DATA  -> 535 Username and Password not accepted.\nhttps://support.google.com/mail/?p=BadCredentials".to_string(),
            "QUIT  -> 221 closing connection".into(),
        ]
    );
}

#[test]
fn failed_then_successful_auth_gives_two_credentials() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(
            2,
            format!("AUTH PLAIN {}\r\n", b64(b"\0dan\0wrong")).as_bytes(),
        ),
        S(3, b"535 5.7.8 no\r\n"),
        C(
            4,
            format!("AUTH PLAIN {}\r\n", b64(b"\0dan\0right")).as_bytes(),
        ),
        S(5, b"235 2.7.0 yes\r\n"),
    ]);
    let got: Vec<_> = out
        .credentials
        .iter()
        .map(|c| (c.password.as_deref(), c.success, c.frame))
        .collect();
    assert_eq!(
        got,
        [
            (Some("wrong"), Some(false), 2),
            (Some("right"), Some(true), 4)
        ]
    );
    assert_eq!(
        out.findings[0].detail,
        "2 AUTH attempts (PLAIN) sent without TLS, the first in frame 2"
    );
}

#[test]
fn auth_cancel_and_unknown_mechanism() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"AUTH LOGIN\r\n"),
        S(3, b"334 VXNlcm5hbWU6\r\n"),
        C(4, b"*\r\n"),
        S(5, b"501 5.0.0 AUTH aborted\r\n"),
        C(6, b"AUTH GSSAPI\r\n"),
        S(7, b"504 5.5.4 Unrecognized authentication type\r\n"),
        C(8, b"NOOP\r\n"),
        S(9, b"250 ok\r\n"),
    ]);
    assert_eq!(out.credentials.len(), 2);
    assert_eq!(out.credentials[0].mechanism, "LOGIN");
    assert_eq!(out.credentials[0].success, Some(false));
    assert_eq!(out.credentials[1].mechanism, "GSSAPI");
    assert_eq!(out.credentials[1].success, Some(false));
    assert_eq!(out.credentials[1].username, None);
    assert_eq!(pairs(&out)[3], "NOOP  -> 250 ok");
    // No secret crossed: no cleartext-auth finding.
    assert!(codes(&out).is_empty());
}

#[test]
fn pipelining_batch_pairs_by_order() {
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"EHLO c\r\n"),
        S(3, b"250-mx\r\n250 PIPELINING\r\n"),
        C(4, b"MAIL FROM:<a@x> BODY=8BITMIME\r\nRCPT TO:<ok@y>\r\nRCPT TO:<bad@y>\r\nDATA\r\n"),
        S(5, b"250 2.1.0 Sender ok\r\n250 2.1.5 Recipient ok\r\n550 5.1.1 <bad@y>: Recipient address rejected\r\n354 Go ahead\r\n"),
        C(6, b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n"),
        S(7, b"250 2.0.0 queued\r\n221 2.0.0 bye\r\n"),
    ]);
    assert_eq!(
        pairs(&out),
        [
            "EHLO c -> 250 mx\nPIPELINING",
            "MAIL FROM:<a@x> BODY=8BITMIME -> 250 Sender ok",
            "RCPT TO:<ok@y> -> 250 Recipient ok",
            "RCPT TO:<bad@y> -> 550 <bad@y>: Recipient address rejected",
            "DATA  -> 354 Go ahead",
            "QUIT  -> 221 bye",
        ]
    );
    let frames: Vec<_> = out
        .commands
        .iter()
        .map(|c| (c.frame, c.reply.as_ref().unwrap().frame))
        .collect();
    assert_eq!(frames, [(2, 3), (4, 5), (4, 5), (4, 5), (4, 5), (6, 7)]);
    let tx = &detail(&out).transactions[0];
    assert_eq!(
        tx.rcpt_to
            .iter()
            .map(|r| (r.address.as_str(), r.accepted, r.reply.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("ok@y", true, Some("250 2.1.5 Recipient ok")),
            (
                "bad@y",
                false,
                Some("550 5.1.1 <bad@y>: Recipient address rejected")
            ),
        ]
    );
    assert_eq!(tx.accepted, Some(true));
    assert_eq!(tx.mail_params, "BODY=8BITMIME");
    assert_eq!(
        out.messages[0].rcpt_to.as_deref(),
        Some(&["ok@y".to_string()][..])
    );
    assert_eq!(data(&out.messages[0]), b"Subject: p\r\n\r\nx\r\n");
    assert!(out.complete);
}

#[test]
fn two_transactions_and_rset() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"MAIL FROM:<a@x>\r\n"),
        S(3, b"250 ok\r\n"),
        C(4, b"RCPT TO:<b@y>\r\n"),
        S(5, b"250 ok\r\n"),
        C(6, b"RSET\r\n"),
        S(7, b"250 reset\r\n"),
        C(8, b"MAIL FROM:<c@x>\r\n"),
        S(9, b"250 ok\r\n"),
        C(10, b"RCPT TO:<d@y>\r\n"),
        S(11, b"250 ok\r\n"),
        C(12, b"DATA\r\n"),
        S(13, b"354 go\r\n"),
        C(14, b"one\r\n.\r\n"),
        S(15, b"250 ok\r\n"),
        C(16, b"MAIL FROM:<e@x>\r\n"),
        S(17, b"250 ok\r\n"),
        C(18, b"RCPT TO:<f@y>\r\n"),
        S(19, b"250 ok\r\n"),
        C(20, b"DATA\r\n"),
        S(21, b"354 go\r\n"),
        C(22, b"two\r\n.\r\n"),
        S(23, b"554 5.7.1 rejected as spam\r\n"),
    ]);
    let txs = &detail(&out).transactions;
    let got: Vec<_> = txs
        .iter()
        .map(|t| {
            (
                t.mail_from.as_deref().unwrap_or("-"),
                t.message.as_deref(),
                t.accepted,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a@x", None, None),
            ("c@x", Some("0"), Some(true)),
            ("e@x", Some("1"), Some(false))
        ]
    );
    assert_eq!(out.messages.len(), 2);
    assert_eq!(data(&out.messages[0]), b"one\r\n");
    assert_eq!(data(&out.messages[1]), b"two\r\n");
    assert_eq!(out.messages[1].mail_from.as_deref(), Some("e@x"));
    assert!(out.messages[1].complete);
    assert_eq!(
        txs[2].data_reply.as_deref(),
        Some("554 5.7.1 rejected as spam")
    );
    assert!(!out.complete); // no QUIT
}

#[test]
fn body_split_across_many_chunks_is_byte_exact() {
    let body: &[u8] = b"Subject: split\r\n\r\n..a\r\nline two is longer\r\n.\r\n";
    let expect: &[u8] = b"Subject: split\r\n\r\n.a\r\nline two is longer\r\n";
    // Every split point, and byte-by-byte.
    for size in [1usize, 2, 3, 5, 7, 11] {
        let mut evs = vec![
            S(1, b"220 mx\r\n"),
            C(2, b"MAIL FROM:<a@x>\r\n"),
            S(3, b"250 ok\r\n"),
            C(4, b"DATA\r\n"),
            S(5, b"354 go\r\n"),
        ];
        for (i, piece) in body.chunks(size).enumerate() {
            evs.push(C(10 + i as u64, piece));
        }
        evs.push(S(1000, b"250 ok\r\n"));
        let (_, out) = run(&evs);
        let m = &out.messages[0];
        assert_eq!(data(m), expect, "size {size}");
        assert_eq!(m.sha256, sha256_hex(expect));
        assert!(m.complete);
        assert_eq!(m.frame, 10, "first content packet");
        assert_eq!(detail(&out).transactions[0].accepted, Some(true));
    }
}

#[test]
fn command_line_split_across_chunks_keeps_first_frame() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"MAIL FR"),
        C(3, b"OM:<a@x"),
        C(4, b">\r\n"),
        S(5, b"25"),
        S(6, b"0 ok\r\n"),
    ]);
    assert_eq!(pairs(&out), ["MAIL FROM:<a@x> -> 250 ok"]);
    assert_eq!(out.commands[0].frame, 2);
    assert_eq!(out.commands[0].reply.as_ref().unwrap().frame, 5);
}

#[test]
fn bdat_chunks_with_last() {
    let part1: &[u8] = b"Subject: b\r\n\r\n";
    let part2: &[u8] = b"body\r\n.\r\nstill body\r\n";
    let (_, out) = run(&[
        S(1, b"220 example.com ESMTP Postfix\r\n"),
        C(2, b"EHLO localhost\r\n"),
        S(3, b"250-example.com\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
        C(4, b"MAIL FROM:<zeek@localhost>\r\n"),
        S(5, b"250 2.1.0 Ok\r\n"),
        C(6, b"RCPT TO:<root@localhost>\r\n"),
        S(7, b"250 2.1.5 Ok\r\n"),
        C(8, format!("BDAT {}\r\n", part1.len()).as_bytes()),
        C(9, part1),
        S(10, b"250 2.0.0 Ok: 14 bytes\r\n"),
        // The payload holds CRLF.CRLF and spans packets; it is not dot-stuffed.
        C(11, format!("BDAT {} LAST\r\n", part2.len()).as_bytes()),
        C(12, &part2[..5]),
        C(13, &part2[5..]),
        S(14, b"250 2.0.0 Ok: queued as 75A291CA025\r\n"),
        C(15, b"QUIT\r\n"),
        S(16, b"221 2.0.0 Bye\r\n"),
    ]);
    let expect = [part1, part2].concat();
    let m = &out.messages[0];
    assert_eq!(data(m), expect.as_slice());
    assert_eq!(m.sha256, sha256_hex(&expect));
    assert!(m.complete);
    assert_eq!(m.frame, 9);
    let tx = &detail(&out).transactions[0];
    assert_eq!(tx.message.as_deref(), Some("0"));
    assert_eq!(tx.accepted, Some(true));
    assert_eq!(
        tx.data_reply.as_deref(),
        Some("250 2.0.0 Ok: queued as 75A291CA025")
    );
    assert_eq!(
        pairs(&out)[3..],
        [
            "BDAT 14 -> 250 Ok: 14 bytes".to_string(),
            "BDAT 21 LAST -> 250 Ok: queued as 75A291CA025".into(),
            "QUIT  -> 221 Bye".into(),
        ]
    );
    assert!(out.complete);
    assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
}

#[test]
fn bdat_zero_last_from_capture() {
    // zeek/smtp/rfc3030-bdat-0-last.pcap
    let (_, out) = run(&[
        S(4, b"220 example.com ESMTP Postfix (Debian/GNU)\r\n"),
        C(6, b"EHLO localhost\r\n"),
        S(8, b"250-example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
        C(10, b"MAIL FROM:<zeek@localhost>\r\n"),
        S(12, b"250 2.1.0 Ok\r\n"),
        C(14, b"RCPT TO:<root@localhost>\r\n"),
        S(16, b"250 2.1.5 Ok\r\n"),
        C(18, b"BDAT 0 LAST\r\n"),
        S(20, b"250 2.0.0 Ok: 0 bytes queued as 75A291CA025\r\n"),
        C(22, b"QUIT\r\n"),
        S(24, b"221 2.0.0 Bye\r\n"),
    ]);
    let m = &out.messages[0];
    assert_eq!((m.size, m.complete), (0, true));
    assert_eq!(m.sha256, sha256_hex(b""));
    let tx = &detail(&out).transactions[0];
    assert_eq!(tx.accepted, Some(true));
    assert_eq!(tx.message.as_deref(), Some("0"));
    assert!(out.complete);
    assert!(out.starttls_offered);
    assert_eq!(codes(&out), ["cleartext-mail", "starttls-offered-not-used"]);
}

#[test]
fn bdat_pipelined_with_other_commands() {
    // As zeek/smtp/smtp-bdat-pipeline-8bitmime.pcap: MAIL, RCPT, BDAT and its payload in
    // one segment, then QUIT right after the payload in the same segment.
    let payload: &[u8] = b"Subject: pipe\r\n\r\nhello\r\n";
    let mut batch =
        b"MAIL From:<l@vger.kernel.org> BODY=8BITMIME SIZE=4333\r\nRCPT To:<t@foundit.test>\r\n"
            .to_vec();
    batch.extend_from_slice(format!("BDAT {} LAST\r\n", payload.len()).as_bytes());
    batch.extend_from_slice(payload);
    batch.extend_from_slice(b"QUIT\r\n");
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"EHLO vger.kernel.org\r\n"),
        S(3, b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
        C(4, &batch),
        S(5, b"250 OK\r\n250 Accepted\r\n250- 24 byte chunk, total 24\r\n250 OK id=1lHkN1-0007hz-Ad\r\n221 bye\r\n"),
    ]);
    assert_eq!(
        pairs(&out)[1..],
        [
            "MAIL From:<l@vger.kernel.org> BODY=8BITMIME SIZE=4333 -> 250 OK".to_string(),
            "RCPT To:<t@foundit.test> -> 250 Accepted".into(),
            "BDAT 24 LAST -> 250  24 byte chunk, total 24\nOK id=1lHkN1-0007hz-Ad".into(),
            "QUIT  -> 221 bye".into(),
        ]
    );
    let tx = &detail(&out).transactions[0];
    assert_eq!(tx.mail_from.as_deref(), Some("l@vger.kernel.org"));
    assert_eq!(tx.mail_params, "BODY=8BITMIME SIZE=4333");
    assert_eq!(data(&out.messages[0]), payload);
    assert_eq!(out.messages[0].frame, 4);
    assert!(out.complete);
}

#[test]
fn bdat_gap_inside_payload_keeps_framing() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(
            2,
            b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 20 LAST\r\n0123456789",
        ),
        GapC(3, 5),
        C(4, b"abcde"),
        C(5, b"QUIT\r\n"),
        S(6, b"250 ok\r\n250 ok\r\n250 ok\r\n221 bye\r\n"),
    ]);
    let m = &out.messages[0];
    assert_eq!(m.size, 15);
    assert!(!m.complete);
    assert_eq!(pairs(&out).last().unwrap(), "QUIT  -> 221 bye");
    assert_eq!(detail(&out).transactions[0].accepted, Some(true));
}

#[test]
fn starttls_then_binary_is_counted_not_parsed() {
    let hello = b"\x16\x03\x01\x00\x05hello";
    let server_tls: &[u8] = b"\x16\x03\x03\x00\x02\r\n\r\nAUTH PLAIN AGFkbWluAHNlY3JldA==\r\n";
    let client_more: &[u8] = b"AUTH PLAIN AGFkbWluAHNlY3JldA==\r\n";
    let (d, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"EHLO c\r\n"),
        S(3, b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
        C(4, b"STARTTLS\r\n"),
        S(5, b"220 2.0.0 Ready to start TLS\r\n"),
        C(6, hello),
        S(7, server_tls),
        C(8, client_more),
    ]);
    assert!(d.is_smtp());
    assert_eq!(out.tls, Tls::Starttls);
    assert!(out.starttls_offered);
    assert!(out.credentials.is_empty());
    assert_eq!(out.commands.len(), 2);
    assert_eq!(pairs(&out)[1], "STARTTLS  -> 220 Ready to start TLS");
    let tls: Vec<_> = out
        .dialogue
        .iter()
        .filter_map(|e| match e.event {
            DialogueEvent::Tls { bytes } => Some((e.from, e.frame, bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(
        tls,
        [
            (Side::Client, 6, (hello.len() + client_more.len()) as u64),
            (Side::Server, 7, server_tls.len() as u64)
        ]
    );
    assert!(codes(&out).is_empty());
}

#[test]
fn starttls_refused_goes_on_in_clear() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"EHLO c\r\n"),
        S(3, b"250-mx\r\n250 STARTTLS\r\n"),
        C(4, b"STARTTLS\r\n"),
        S(5, b"454 4.7.0 TLS not available\r\n"),
        C(6, b"MAIL FROM:<a@x>\r\n"),
        S(7, b"250 ok\r\n"),
    ]);
    assert_eq!(out.tls, Tls::None);
    assert_eq!(pairs(&out)[2], "MAIL FROM:<a@x> -> 250 ok");
    // The client did ask: the finding says it was refused, not that it went unused.
    assert_eq!(codes(&out), ["starttls-refused"]);
    assert!(out.findings[0].detail.contains("MAIL, frame 6"));
}

#[test]
fn starttls_one_sided_client_hello() {
    let (_, out) = run(&[
        C(1, b"EHLO c\r\n"),
        C(2, b"STARTTLS\r\n"),
        C(3, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
    ]);
    assert_eq!(out.tls, Tls::Starttls);
    assert!(out
        .anomalies
        .contains(&"smtp-tls-without-reply".to_string()));
}

#[test]
fn implicit_tls_counts_only() {
    let cfg = SmtpConfig {
        tls_from_start: true,
        ..Default::default()
    };
    let (d, out) = run_cfg(
        &cfg,
        &[
            C(1, b"\x16\x03\x01\x00\x10abcdefghijklmnop"),
            S(2, b"\x16\x03\x03\x00\x01x"),
        ],
    );
    assert!(d.is_smtp());
    assert_eq!(out.tls, Tls::Implicit);
    assert!(out.commands.is_empty());
    assert_eq!(out.dialogue.len(), 2);
}

#[test]
fn gap_in_middle_of_body_marks_message_incomplete_and_session_goes_on() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"MAIL FROM:<a@x>\r\n"),
        S(3, b"250 ok\r\n"),
        C(4, b"DATA\r\n"),
        S(5, b"354 go\r\n"),
        C(6, b"Subject: g\r\n\r\nfirst line\r\nsecond li"),
        GapC(7, 100),
        C(8, b"st of a cut line\r\nafter gap\r\n.\r\n"),
        S(9, b"250 ok\r\n"),
        C(10, b"QUIT\r\n"),
        S(11, b"221 bye\r\n"),
    ]);
    let m = &out.messages[0];
    assert!(!m.complete);
    assert_eq!(data(m), b"Subject: g\r\n\r\nfirst line\r\nafter gap\r\n");
    assert_eq!(detail(&out).transactions[0].accepted, Some(true));
    assert_eq!(pairs(&out).last().unwrap(), "QUIT  -> 221 bye");
    assert!(out.complete);
    assert!(out.anomalies.contains(&"smtp-gap-resync".to_string()));
}

#[test]
fn gap_swallowing_the_end_of_data_line() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"MAIL FROM:<a@x>\r\n"),
        S(3, b"250 ok\r\n"),
        C(4, b"DATA\r\n"),
        S(5, b"354 go\r\n"),
        C(6, b"Subject: g\r\n\r\nbody\r\n"),
        GapC(7, 3),
        S(8, b"250 2.0.0 queued\r\n"),
        C(9, b"QUIT\r\n"),
        S(10, b"221 bye\r\n"),
    ]);
    assert!(!out.messages[0].complete);
    let tx = &detail(&out).transactions[0];
    assert_eq!(tx.accepted, Some(true));
    assert_eq!(pairs(&out).last().unwrap(), "QUIT  -> 221 bye");
    assert!(out
        .anomalies
        .contains(&"smtp-lost-data-terminator".to_string()));
}

#[test]
fn gap_in_command_line_resyncs_at_next_line() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"MAIL FR"),
        GapC(3, 4),
        C(4, b"a@x>\r\nRCPT TO:<b@y>\r\n"),
        S(5, b"250 ok\r\n250 rcpt ok\r\n"),
    ]);
    // The cut MAIL line is gone; RCPT is parsed. Its reply pairing is off by one, as the
    // lost command's reply comes first: the extra reply is counted, nothing invented.
    assert_eq!(out.commands.len(), 1);
    assert_eq!(out.commands[0].verb, "RCPT");
    assert_eq!(detail(&out).transactions[0].rcpt_to[0].address, "b@y");
    assert!(out
        .anomalies
        .iter()
        .any(|a| a.starts_with("smtp-gap-resync")));
    assert!(out
        .anomalies
        .iter()
        .any(|a| a.starts_with("smtp-reply-without-command")));
    assert!(out
        .anomalies
        .iter()
        .any(|a| a.starts_with("smtp-rcpt-without-mail")));
}

#[test]
fn client_only_dialogue_with_data() {
    // As zeek/smtp-one-side-only.pcap: the server direction was not captured.
    let (d, out) = run(&[
        C(1, b"ehlo enzo.icir.org\r\n"),
        C(2, b"mail FROM:<robin@icir.org> size=9030\r\n"),
        C(3, b"rcpt TO:<robin@icir.org>\r\n"),
        C(4, b"data\r\n"),
        C(
            5,
            b"From: robin@icir.org\r\nTo: robin@icir.org\r\nSubject: Hello1!\r\n\r\nXXXX\r\n.\r\n",
        ),
        C(6, b"mail FROM:<robin@icir.org> size=9030\r\n"),
        C(7, b"rcpt TO:<rsommer@lbl.gov>\r\n"),
        C(8, b"data\r\n"),
        C(
            9,
            b"From: robin@icir.org\r\nTo: rsommer@lbl.gov\r\nSubject: Hello2!\r\n\r\nYYYY\r\n.\r\n",
        ),
        C(10, b"quit\r\n"),
    ]);
    assert!(d.is_smtp());
    let det = detail(&out);
    assert_eq!(det.helo.as_deref(), Some("enzo.icir.org"));
    assert_eq!(det.transactions.len(), 2);
    assert_eq!(det.transactions[1].rcpt_to[0].address, "rsommer@lbl.gov");
    assert!(!det.transactions[1].rcpt_to[0].accepted); // no reply seen
    assert_eq!(det.transactions[1].accepted, None);
    let subjects: Vec<_> = out
        .messages
        .iter()
        .map(|m| m.headers.subject.as_deref())
        .collect();
    assert_eq!(subjects, [Some("Hello1!"), Some("Hello2!")]);
    assert!(out.messages.iter().all(|m| m.complete));
    assert_eq!(out.commands.len(), 8);
    assert!(out.commands.iter().all(|c| c.reply.is_none()));
    assert!(!out.complete);
}

#[test]
fn client_only_auth_then_commands() {
    let (_, out) = run(&[
        C(1, b"EHLO c\r\n"),
        C(2, b"AUTH LOGIN\r\n"),
        C(3, format!("{}\r\n", b64(b"u")).as_bytes()),
        C(4, format!("{}\r\n", b64(b"p")).as_bytes()),
        C(5, b"MAIL FROM:<a@x>\r\n"),
    ]);
    let c = &out.credentials[0];
    assert_eq!(
        (c.username.as_deref(), c.password.as_deref()),
        (Some("u"), Some("p"))
    );
    assert_eq!(c.success, None);
    assert_eq!(
        detail(&out).transactions[0].mail_from.as_deref(),
        Some("a@x")
    );
}

#[test]
fn server_only_dialogue() {
    let (d, out) = run(&[
        S(1, b"220 mx.example ESMTP\r\n"),
        S(3, b"250-mx.example\r\n250 SIZE 1000\r\n"),
        S(5, b"221 bye\r\n"),
    ]);
    assert!(d.is_smtp());
    assert_eq!(out.banner.as_deref(), Some("mx.example ESMTP"));
    assert!(out.commands.is_empty());
    assert_eq!(
        out.anomalies,
        ["smtp-reply-without-command (2)".to_string()]
    );
}

#[test]
fn data_refused_lines_are_commands_again() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
        S(
            3,
            b"250 ok\r\n550 no such user\r\n554 5.5.1 Error: no valid recipients\r\n",
        ),
        C(4, b"RSET\r\n"),
        S(5, b"250 ok\r\n"),
        C(6, b"QUIT\r\n"),
        S(7, b"221 bye\r\n"),
    ]);
    assert!(out.messages.is_empty());
    assert_eq!(detail(&out).transactions[0].message, None);
    assert_eq!(pairs(&out)[3..], ["RSET  -> 250 ok", "QUIT  -> 221 bye"]);
    assert!(out.complete);
}

#[test]
fn message_with_rejected_final_reply_is_still_a_message() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"),
        S(3, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        C(4, b"spam\r\n.\r\n"),
        S(5, b"554 5.7.1 spam\r\n"),
    ]);
    assert_eq!(out.messages.len(), 1);
    let tx = &detail(&out).transactions[0];
    assert_eq!(
        (tx.accepted, tx.message.as_deref()),
        (Some(false), Some("0"))
    );
}

#[test]
fn garbage_is_not_smtp() {
    let junk: Vec<u8> = (0..4000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let (d, out) = run(&[C(1, &junk), S(2, &junk), C(3, &junk)]);
    assert!(!d.is_smtp());
    assert!(out.commands.is_empty());
    assert!(out.messages.is_empty());
    assert!(out.credentials.is_empty());

    let (d, _) = run(&[
        C(1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        S(2, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert!(!d.is_smtp());
    let (d, _) = run(&[S(1, b"+OK POP3 ready\r\n"), C(2, b"USER a\r\n")]);
    assert!(!d.is_smtp());
}

#[test]
fn endless_line_is_bounded() {
    let cfg = SmtpConfig {
        limits: SmtpLimits {
            max_line: 2048,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut evs = vec![S(1, b"220 mx\r\n")];
    let mut ehlo = b"EHLO ".to_vec();
    ehlo.extend(std::iter::repeat_n(b'a', 5000));
    evs.push(C(2, &ehlo));
    let more = vec![b'b'; 100_000];
    for f in 3..13 {
        evs.push(C(f, &more));
    }
    evs.push(C(13, b"\r\nQUIT\r\n"));
    evs.push(S(14, b"250 hi\r\n221 bye\r\n"));
    let (_, out) = run_cfg(&cfg, &evs);
    let helo = detail(&out).helo.clone().unwrap();
    assert_eq!(helo.len(), SmtpLimits::default().max_field);
    assert!(out.truncated.contains(&"helo".to_string()));
    assert!(out.truncated.contains(&"line".to_string()));
    assert_eq!(out.commands.len(), 2);
    assert_eq!(pairs(&out)[1], "QUIT  -> 221 bye");
    assert!(out.complete);
}

#[test]
fn endless_body_line_stays_byte_exact() {
    let cfg = SmtpConfig {
        limits: SmtpLimits {
            max_line: 16,
            ..Default::default()
        },
        ..Default::default()
    };
    let long = [b'.'; 100];
    let mut body = long.to_vec();
    body.extend_from_slice(b"\r\n.\r\n");
    let (_, out) = run_cfg(
        &cfg,
        &[
            S(1, b"220 mx\r\n"),
            C(2, b"DATA\r\n"),
            S(3, b"354 go\r\n"),
            C(4, &body),
            S(5, b"250 ok\r\n"),
        ],
    );
    let mut expect = vec![b'.'; 99]; // only the line's first dot is stuffing
    expect.extend_from_slice(b"\r\n");
    assert_eq!(data(&out.messages[0]), expect.as_slice());
    assert!(out.messages[0].complete);
}

#[test]
fn reply_without_command_is_counted_not_a_crash() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        S(2, b"250 surprise\r\n"),
        C(3, b"NOOP\r\n"),
        S(4, b"250 ok\r\n"),
    ]);
    assert_eq!(pairs(&out), ["NOOP  -> 250 ok"]);
    assert_eq!(out.anomalies, ["smtp-reply-without-command"]);
}

#[test]
fn repeated_commands_are_kept() {
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"RCPT TO:<b@y>\r\n"),
        C(3, b"RCPT TO:<b@y>\r\n"),
        S(4, b"250 ok\r\n250 ok\r\n"),
    ]);
    assert_eq!(out.commands.len(), 2);
    assert_eq!(detail(&out).transactions[0].rcpt_to.len(), 2);
}

#[test]
fn bounds_on_recipients_commands_and_dialogue() {
    let cfg = SmtpConfig {
        limits: SmtpLimits {
            max_recipients: 2,
            max_commands: 3,
            max_dialogue: 4,
            max_pending: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let (_, out) = run_cfg(
        &cfg,
        &[
            S(1, b"220 mx\r\n"),
            C(
                2,
                b"MAIL FROM:<a@x>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\nRCPT TO:<3@y>\r\n",
            ),
        ],
    );
    assert_eq!(detail(&out).transactions[0].rcpt_to.len(), 2);
    assert_eq!(out.commands.len(), 3);
    assert_eq!(out.dialogue.len(), 4);
    assert_eq!(out.truncated, ["dialogue", "commands", "rcpt_to"]);
    assert_eq!(
        out.anomalies,
        [
            "smtp-pending-overflow (2)",
            "smtp-too-many-commands",
            "smtp-too-many-recipients",
            "smtp-dialogue-full"
        ]
    );
}

#[test]
fn pipe_connect_ehlo_before_greeting() {
    let (_, out) = run(&[
        C(1, b"EHLO early\r\n"),
        S(2, b"220 mx ESMTP\r\n250-mx\r\n250 PIPELINING\r\n"),
    ]);
    assert_eq!(out.banner.as_deref(), Some("mx ESMTP"));
    assert_eq!(detail(&out).extensions, ["PIPELINING"]);
}

#[test]
fn no_panic_on_arbitrary_chunkings_and_gaps() {
    let script: &[u8] = b"220 mx\r\nEHLO c\r\n250-mx\r\n250 CHUNKING\r\nAUTH PLAIN\r\n334 \r\nAGEAYg==\r\n235 ok\r\nMAIL FROM:<a>\r\nBDAT 5\r\nxxxxxBDAT 0 LAST\r\nDATA\r\n354 go\r\n.\r\n250 ok\r\nQUIT\r\n";
    let mut seed = 12345u64;
    for _ in 0..300 {
        let mut d = SmtpDissector::new(&SmtpConfig::default());
        let mut pos = 0;
        let mut frame = 1;
        while pos < script.len() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = 1 + (seed >> 33) as usize % 13;
            let end = (pos + n).min(script.len());
            let side = if (seed >> 20) & 1 == 0 {
                Side::Client
            } else {
                Side::Server
            };
            if (seed >> 40).is_multiple_of(17) {
                d.gap(side, n as u64, meta(frame));
            } else {
                d.data(side, &script[pos..end], meta(frame));
            }
            pos = end;
            frame += 1;
        }
        d.end(EndReason::EndOfCapture, meta(frame));
        let _ = d.finish();
    }
}

#[test]
fn body_sent_after_refused_data_pairs_500_replies() {
    // As zeek/smtp-mail-transactions-invalid.pcap: the client sends its body although the
    // server refused DATA; the server answers each line with 500.
    let (_, out) = run(&[
        S(1, b"220 mx\r\n"),
        C(2, b"DATA\r\n"),
        S(3, b"503-All RCPT commands were rejected with this error:\r\n503 valid RCPT command must precede DATA\r\n"),
        C(4, b"Hello, Alice (2)\r\n"),
        S(5, b"500 unrecognized command\r\n"),
        C(6, b".\r\n"),
        S(7, b"500 unrecognized command\r\n"),
        C(8, b"MAIL FROM:<bob@example.org>\r\n"),
        S(9, b"250 OK\r\n"),
    ]);
    assert!(out.messages.is_empty());
    assert_eq!(
        pairs(&out),
        [
            "DATA  -> 503 All RCPT commands were rejected with this error:\nvalid RCPT command must precede DATA",
            "MAIL FROM:<bob@example.org> -> 250 OK",
        ]
    );
    assert_eq!(
        out.anomalies,
        ["smtp-invalid-command (2)", "smtp-data-without-mail"]
    );
}

// ----- issue 12: SMTP state when the other side is silent or odd --------------------

/// The client side of a session with AUTH LOGIN, a transaction and QUIT.
const LOGIN_AND_MAIL: &[&[u8]] = &[
    b"EHLO c.example\r\n",
    b"AUTH LOGIN\r\n",
    b"YW5h\r\n",         // "ana"
    b"c2VjcmV0LTE=\r\n", // "secret-1"
    b"MAIL FROM:<ana@example.org>\r\n",
    b"RCPT TO:<bo@example.org>\r\n",
    b"DATA\r\n",
    b"Subject: x\r\n\r\nhello\r\n.\r\n",
    b"QUIT\r\n",
];

fn summary(out: &SessionOutput) -> (Vec<String>, Vec<Option<String>>, usize, Option<String>) {
    let d = detail(out);
    let verbs = out.commands.iter().map(|c| c.verb.clone()).collect();
    let froms = d.transactions.iter().map(|t| t.mail_from.clone()).collect();
    let user = out.credentials.first().and_then(|c| c.password.clone());
    (verbs, froms, out.messages.len(), user)
}

/// Item 5: AUTH LOGIN whose server replies are missing (a lost direction after the
/// banner) or garbage must not swallow MAIL, RCPT and DATA as base64: the result agrees
/// with a client-only capture of the same bytes.
#[test]
fn auth_login_without_334_does_not_swallow_the_transaction() {
    let client_only: Vec<Ev> = LOGIN_AND_MAIL
        .iter()
        .enumerate()
        .map(|(i, b)| C(i as u64 + 1, b))
        .collect();
    let (_, want) = run(&client_only);
    let want = summary(&want);
    assert_eq!(want.2, 1);
    assert_eq!(want.3.as_deref(), Some("secret-1"));
    // The banner, then nothing more from the server.
    let mut banner_only = vec![S(1, b"220 mx.example ESMTP\r\n")];
    banner_only.extend(client_only.iter().map(|e| match *e {
        C(f, b) => C(f + 1, b),
        _ => unreachable!(),
    }));
    let (_, got) = run(&banner_only);
    assert_eq!(summary(&got), want);
    // The banner, then a server that answers nonsense to everything.
    let mut garbage = vec![S(1, b"220 mx.example ESMTP\r\n")];
    for (i, b) in LOGIN_AND_MAIL.iter().enumerate() {
        garbage.push(C(2 * i as u64 + 2, b));
        garbage.push(S(2 * i as u64 + 3, b"?? what\r\n"));
    }
    let (_, got) = run(&garbage);
    assert_eq!(summary(&got), want);
}

/// Item 6: a banner without CRLF (the client speaks after it) does not swallow the EHLO
/// reply and shift every later pairing (an accepted RCPT got the 354).
#[test]
fn banner_without_crlf_keeps_replies_paired() {
    let (_, out) = run(&[
        S(1, b"220 mx.example ESMTP"),
        C(2, b"EHLO c\r\n"),
        S(3, b"250 mx.example\r\n"),
        C(4, b"MAIL FROM:<a@x>\r\n"),
        S(5, b"250 ok\r\n"),
        C(6, b"RCPT TO:<b@x>\r\n"),
        S(7, b"250 ok\r\n"),
        C(8, b"DATA\r\n"),
        S(9, b"354 go\r\n"),
        C(10, b"hi\r\n.\r\n"),
        S(11, b"250 queued\r\n"),
        C(12, b"QUIT\r\n"),
        S(13, b"221 bye\r\n"),
    ]);
    assert_eq!(out.banner.as_deref(), Some("mx.example ESMTP"));
    assert_eq!(
        pairs(&out),
        [
            "EHLO c -> 250 mx.example",
            "MAIL FROM:<a@x> -> 250 ok",
            "RCPT TO:<b@x> -> 250 ok",
            "DATA  -> 354 go",
            "QUIT  -> 221 bye",
        ]
    );
    let t = &detail(&out).transactions[0];
    assert!(t.rcpt_to[0].accepted);
    assert_eq!(t.accepted, Some(true));
    assert!(out.complete);
}

/// Item 7: a nested MAIL refused with 503 does not take over the transaction: the message
/// belongs to the first sender, with both recipients; a MAIL refused with 550 starts no
/// transaction at all.
#[test]
fn refused_nested_mail_does_not_take_over_the_transaction() {
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"HELO c\r\n"),
        S(3, b"250 mx\r\n"),
        C(4, b"MAIL FROM:<first@x>\r\n"),
        S(5, b"250 ok\r\n"),
        C(6, b"RCPT TO:<r1@x>\r\n"),
        S(7, b"250 ok\r\n"),
        C(8, b"MAIL FROM:<evil@x>\r\n"),
        S(9, b"503 5.5.1 Error: nested MAIL command\r\n"),
        C(10, b"RCPT TO:<r2@x>\r\n"),
        S(11, b"250 ok\r\n"),
        C(12, b"DATA\r\n"),
        S(13, b"354 go\r\n"),
        C(14, b"hi\r\n.\r\n"),
        S(15, b"250 queued\r\n"),
        C(16, b"MAIL FROM:<spam@x>\r\n"),
        S(17, b"550 5.7.1 rejected\r\n"),
        C(18, b"QUIT\r\n"),
        S(19, b"221 bye\r\n"),
    ]);
    let d = detail(&out);
    assert_eq!(d.transactions.len(), 1, "{:?}", d.transactions);
    let t = &d.transactions[0];
    assert_eq!(t.mail_from.as_deref(), Some("first@x"));
    let rcpts: Vec<&str> = t.rcpt_to.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(rcpts, ["r1@x", "r2@x"]);
    assert!(t.message.is_some());
    assert_eq!(out.messages[0].mail_from.as_deref(), Some("first@x"));
    assert_eq!(
        out.messages[0].rcpt_to.as_deref(),
        Some(&["r1@x".to_string(), "r2@x".to_string()][..])
    );
    // The command list says what was refused.
    let p = pairs(&out);
    assert!(
        p.contains(&"MAIL FROM:<evil@x> -> 503 Error: nested MAIL command".to_string()),
        "{p:?}"
    );
    assert!(
        p.contains(&"MAIL FROM:<spam@x> -> 550 rejected".to_string()),
        "{p:?}"
    );
}

/// Item 7, pipelined: the refusal arrives after the RCPT and DATA that followed it.
#[test]
fn refused_mail_pipelined_starts_no_transaction() {
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"EHLO c\r\n"),
        S(3, b"250-mx\r\n250 PIPELINING\r\n"),
        C(4, b"MAIL FROM:<spam@x>\r\nRCPT TO:<r@x>\r\nDATA\r\n"),
        S(
            5,
            b"550 5.7.1 no\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n",
        ),
        C(6, b"QUIT\r\n"),
        S(7, b"221 bye\r\n"),
    ]);
    assert!(
        detail(&out).transactions.is_empty(),
        "{:?}",
        detail(&out).transactions
    );
    assert!(out.messages.is_empty());
    assert_eq!(
        pairs(&out),
        [
            "EHLO c -> 250 mx\nPIPELINING",
            "MAIL FROM:<spam@x> -> 550 no",
            "RCPT TO:<r@x> -> 503 need MAIL",
            "DATA  -> 503 need RCPT",
            "QUIT  -> 221 bye",
        ]
    );
}

/// Item 8: a stray RCPT or DATA before any MAIL (in a dialogue seen from its greeting)
/// makes no phantom transaction; a refused EHLO followed by HELO keeps the HELO name.
#[test]
fn stray_rcpt_and_refused_ehlo_follow_rfc5321_state() {
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"EHLO bad.name\r\n"),
        S(3, b"502 5.5.2 Error: command not recognized\r\n"),
        C(4, b"HELO good.name\r\n"),
        S(5, b"250 mx\r\n"),
        C(6, b"RCPT TO:<r@x>\r\n"),
        S(7, b"503 5.5.1 Error: need MAIL command\r\n"),
        C(8, b"DATA\r\n"),
        S(9, b"503 5.5.1 Error: need RCPT command\r\n"),
        C(10, b"QUIT\r\n"),
        S(11, b"221 bye\r\n"),
    ]);
    let d = detail(&out);
    assert_eq!(d.helo.as_deref(), Some("good.name"));
    assert!(d.transactions.is_empty(), "{:?}", d.transactions);
    assert_eq!(pairs(&out).last().unwrap(), "QUIT  -> 221 bye");
    // A refused HELO after an accepted EHLO keeps the accepted name.
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"EHLO good.name\r\n"),
        S(3, b"250 mx\r\n"),
        C(4, b"HELO\r\n"),
        S(5, b"501 Syntax: HELO hostname\r\n"),
    ]);
    assert_eq!(detail(&out).helo.as_deref(), Some("good.name"));
}

/// Item 9, policy: Postfix 3.9+ (`smtpd_forbid_bare_newline = normalize`, the default)
/// and RFC 5321 end DATA only at CRLF `.` CRLF. A `\n.\n` is content (the SMTP smuggling
/// shape), the message ends at the real terminator, and the replies stay paired: QUIT
/// gets the 221.
#[test]
fn bare_lf_terminator_is_content_and_replies_stay_paired() {
    let (d, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"HELO c\r\n"),
        S(3, b"250 mx\r\n"),
        C(4, b"MAIL FROM:<a@x>\r\n"),
        S(5, b"250 ok\r\n"),
        C(6, b"RCPT TO:<b@x>\r\n"),
        S(7, b"250 ok\r\n"),
        C(8, b"DATA\r\n"),
        S(9, b"354 go\r\n"),
        C(
            10,
            b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<c@x>\r\nDATA\r\nsmuggled\r\n.\r\n",
        ),
        S(11, b"250 queued as ABC\r\n"),
        C(12, b"QUIT\r\n"),
        S(13, b"221 bye\r\n"),
    ]);
    assert_eq!(
        pairs(&out),
        [
            "HELO c -> 250 mx",
            "MAIL FROM:<a@x> -> 250 ok",
            "RCPT TO:<b@x> -> 250 ok",
            "DATA  -> 354 go",
            "QUIT  -> 221 bye",
        ]
    );
    assert_eq!(detail(&out).transactions.len(), 1);
    assert_eq!(
        data(&out.messages[0]),
        b"Subject: x\r\n\r\nhi\n\nMAIL FROM:<evil@x>\r\nRCPT TO:<c@x>\r\nDATA\r\nsmuggled\r\n"
    );
    assert!(out.messages[0].complete);
    assert_eq!(d.anomaly_count(Anomaly::BareLfTerminator), 1);
    assert!(out.complete);
}

/// Item 10: an empty message (DATA then `.`) has the frame and time of its end line, not
/// frame 0 and 1970.
#[test]
fn empty_message_has_a_frame_and_time() {
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"HELO c\r\n"),
        S(3, b"250 mx\r\n"),
        C(4, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
        S(5, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        C(6, b".\r\n"),
        S(7, b"250 queued\r\n"),
    ]);
    let m = &out.messages[0];
    assert_eq!(m.size, 0);
    assert_eq!(m.frame, 6);
    assert_eq!(m.time, Ts(6_000));
}

/// Item 8: RSET after a refused DATA, then a new MAIL: the client tried the same mail
/// again; one transaction, not two (the refused attempt stays in the command list).
#[test]
fn rset_after_refused_data_then_new_mail_is_one_transaction() {
    let (_, out) = run(&[
        S(1, b"220 mx ESMTP\r\n"),
        C(2, b"HELO c\r\n"),
        S(3, b"250 mx\r\n"),
        C(4, b"MAIL FROM:<a@x>\r\n"),
        S(5, b"250 ok\r\n"),
        C(6, b"RCPT TO:<b@x>\r\n"),
        S(7, b"450 4.2.0 greylisted\r\n"),
        C(8, b"DATA\r\n"),
        S(9, b"554 5.5.1 Error: no valid recipients\r\n"),
        C(10, b"RSET\r\n"),
        S(11, b"250 ok\r\n"),
        C(12, b"MAIL FROM:<a@x>\r\n"),
        S(13, b"250 ok\r\n"),
        C(14, b"RCPT TO:<b@x>\r\n"),
        S(15, b"250 ok\r\n"),
        C(16, b"DATA\r\n"),
        S(17, b"354 go\r\n"),
        C(18, b"hi\r\n.\r\n"),
        S(19, b"250 queued\r\n"),
    ]);
    let d = detail(&out);
    assert_eq!(d.transactions.len(), 1, "{:?}", d.transactions);
    assert!(d.transactions[0].rcpt_to[0].accepted);
    assert!(d.transactions[0].message.is_some());
    assert_eq!(out.commands.len(), 8);
    assert_eq!(
        pairs(&out)[3],
        "DATA  -> 554 Error: no valid recipients".to_string()
    );
}

#[test]
fn starttls_signals_the_tls_offset_and_reads_plaintext_when_told() {
    let mut d = SmtpDissector::new(&SmtpConfig::default());
    d.data(Side::Server, b"220 mx ESMTP\r\n", meta(1));
    d.data(Side::Client, b"EHLO c\r\n", meta(2));
    d.data(Side::Server, b"250-mx\r\n250 STARTTLS\r\n", meta(3));
    d.data(Side::Client, b"STARTTLS\r\n", meta(4));
    d.data(Side::Server, b"220 go ahead\r\n", meta(5));
    assert_eq!(d.take_tls_start(), None);
    let hello = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00";
    d.data(Side::Client, hello, meta(6));
    assert_eq!(d.take_tls_start(), Some(hello.len()));
    assert_eq!(d.take_tls_start(), None);
    d.tls_decrypted();
    d.data(Side::Client, b"EHLO c\r\n", meta(7));
    d.data(Side::Server, b"250-mx\r\n250 AUTH PLAIN\r\n", meta(8));
    d.data(Side::Client, b"AUTH PLAIN AGFuYQBwdw==\r\n", meta(9));
    d.data(Side::Server, b"235 ok\r\n", meta(10));
    d.data(Side::Client, b"MAIL FROM:<ana@x>\r\n", meta(11));
    d.data(Side::Server, b"250 ok\r\n", meta(12));
    d.data(Side::Client, b"RCPT TO:<ben@x>\r\n", meta(13));
    d.data(Side::Server, b"250 ok\r\n", meta(14));
    d.data(Side::Client, b"DATA\r\n", meta(15));
    d.data(Side::Server, b"354 go\r\n", meta(16));
    d.data(Side::Client, b"Subject: x\r\n\r\nhi\r\n.\r\n", meta(17));
    d.data(Side::Server, b"250 queued\r\n", meta(18));
    d.data(Side::Client, b"QUIT\r\n", meta(19));
    d.data(Side::Server, b"221 bye\r\n", meta(20));
    d.end(EndReason::Fin, meta(21));
    let out = d.finish();
    assert_eq!(out.tls, Tls::Starttls);
    let c = &out.credentials[0];
    assert_eq!(
        (c.username.as_deref(), c.password.as_deref(), c.encrypted),
        (Some("ana"), Some("pw"), true)
    );
    assert!(out.messages[0].encrypted && out.messages[0].complete);
    assert!(codes(&out).is_empty(), "{:?}", codes(&out));
    assert!(out.complete);
}

#[test]
fn implicit_tls_decrypted_reads_the_banner_inside() {
    let cfg = SmtpConfig {
        tls_from_start: true,
        ..SmtpConfig::default()
    };
    let mut d = SmtpDissector::new(&cfg);
    d.data(
        Side::Client,
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
        meta(1),
    );
    d.tls_decrypted();
    d.data(Side::Server, b"220 mx ESMTP\r\n", meta(2));
    d.data(Side::Client, b"EHLO c\r\n", meta(3));
    d.data(Side::Server, b"250 mx\r\n", meta(4));
    d.data(Side::Client, b"QUIT\r\n", meta(5));
    d.data(Side::Server, b"221 bye\r\n", meta(6));
    d.end(EndReason::Fin, meta(7));
    let out = d.finish();
    assert_eq!(out.tls, Tls::Implicit);
    assert_eq!(out.banner.as_deref(), Some("mx ESMTP"));
    assert!(out.complete);
}
