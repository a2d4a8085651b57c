//! Unit tests of the IMAP dissector with literal bytes, one per trap.

use super::*;
use crate::model::Ts;
use crate::proto::mime::sha256_hex;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// One event of a scripted connection.
enum Ev<'a> {
    C(&'a [u8]),
    S(&'a [u8]),
    GapC(u64),
    GapS(u64),
}
use Ev::*;

/// Feeds the events, each in its own frame (1-based), and finishes the session.
fn run_cfg(cfg: &ImapConfig, evs: &[Ev<'_>]) -> SessionOutput {
    let mut d = ImapDissector::new(cfg);
    for (i, e) in evs.iter().enumerate() {
        let meta = ChunkMeta {
            frame: i as u64 + 1,
            ts: Ts(i as i64),
        };
        match e {
            C(b) => d.data(Side::Client, b, meta),
            S(b) => d.data(Side::Server, b, meta),
            GapC(n) => d.gap(Side::Client, *n, meta),
            GapS(n) => d.gap(Side::Server, *n, meta),
        }
    }
    d.end(EndReason::Fin, ChunkMeta::default());
    assert!(d.recognised());
    d.finish()
}

fn run(evs: &[Ev<'_>]) -> SessionOutput {
    run_cfg(&ImapConfig::default(), evs)
}

const GREETING: &[u8] =
    b"* OK [CAPABILITY IMAP4rev1 LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n";

fn detail(o: &SessionOutput) -> &ImapDetail {
    match &o.detail {
        ProtocolDetail::Imap(d) => d,
        _ => panic!("not imap"),
    }
}

fn b64(s: &[u8]) -> Vec<u8> {
    STANDARD.encode(s).into_bytes()
}

fn data(m: &Message) -> &[u8] {
    m.data.as_deref().map(|d| d.as_slice()).unwrap_or_default()
}

#[test]
fn login_atom() {
    let o = run(&[
        S(GREETING),
        C(b"a1 LOGIN ana pw1\r\n"),
        S(b"a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
    ]);
    let c = &o.credentials[0];
    assert_eq!(c.mechanism, "IMAP-LOGIN");
    assert_eq!(c.username.as_deref(), Some("ana"));
    assert_eq!(c.password.as_deref(), Some("pw1"));
    assert_eq!((c.success, c.frame), (Some(true), 2));
    assert_eq!(
        o.banner.as_deref(),
        Some("[CAPABILITY IMAP4rev1 LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.")
    );
    // Capabilities before authentication, not those of the LOGIN reply.
    assert!(detail(&o).capabilities.contains(&"STARTTLS".to_string()));
    assert!(o.starttls_offered);
    let codes: Vec<&str> = o.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["cleartext-auth", "starttls-offered-not-used"]);
    let cmd = &o.commands[0];
    assert_eq!(
        (cmd.tag.as_deref(), cmd.verb.as_str(), cmd.arg.as_str()),
        (Some("a1"), "LOGIN", "ana pw1")
    );
    assert_eq!(cmd.reply.as_ref().unwrap().status.as_deref(), Some("OK"));
}

#[test]
fn login_quoted_with_escapes() {
    let o = run(&[
        S(GREETING),
        C(b"a1 LOGIN \"ana smith\" \"p\\\"w\\\\1 x\"\r\n"),
        S(b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
    ]);
    let c = &o.credentials[0];
    assert_eq!(c.username.as_deref(), Some("ana smith"));
    assert_eq!(c.password.as_deref(), Some("p\"w\\1 x"));
    assert_eq!(c.success, Some(false));
}

#[test]
fn login_literals_synchronizing_and_plus() {
    let o = run(&[
        S(GREETING),
        C(b"a1 LOGIN {3}\r\n"),
        S(b"+ Ready for literal data\r\n"),
        C(b"ana {7+}\r\n"),
        C(b"p w\r\n1!\r\n"),
        S(b"a1 OK Logged in\r\n"),
    ]);
    let c = &o.credentials[0];
    assert_eq!(c.username.as_deref(), Some("ana"));
    // The literal's octets exactly, a line ending inside included.
    assert_eq!(c.password.as_deref(), Some("p w\r\n1!"));
    // The frame of the packet that carried the password's octets.
    assert_eq!((c.success, c.frame), (Some(true), 5));
    // The password literal is marked secret in the transcript.
    let secrets = o
        .dialogue
        .iter()
        .filter(|e| matches!(e.event, DialogueEvent::Literal { secret: true, .. }))
        .count();
    assert_eq!(secrets, 1);
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

const MSG: &[u8] = b"Subject: hi\r\n\r\na1 OK not a reply\r\n* BYE not either\r\n.\r\n";

fn fetch_response(seq: u64, uid: u64, item: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "* {seq} FETCH (FLAGS (\\Seen) {item} {{{}}}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v.extend_from_slice(format!(" UID {uid})\r\n").as_bytes());
    v
}

#[test]
fn literal_split_across_segments_with_reply_lookalikes() {
    let r = fetch_response(2, 77, "BODY[]", MSG);
    let (a, rest) = r.split_at(20);
    let (b, c) = rest.split_at(30);
    let o = run(&[
        S(GREETING),
        C(b"a1 LOGIN ana pw\r\n"),
        S(b"a1 OK done\r\n"),
        C(b"a2 SELECT Entw&APw-rfe\r\n"),
        S(b"* 3 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\na2 OK [READ-WRITE] Select completed\r\n"),
        C(b"a3 UID FETCH 77 BODY.PEEK[]\r\n"),
        S(a),
        S(b),
        S(c),
        S(b"a3 OK Fetch completed\r\n"),
        C(b"a4 LOGOUT\r\n"),
        S(b"* BYE Logging out\r\na4 OK Logout completed.\r\n"),
    ]);
    assert_eq!(o.messages.len(), 1);
    let m = &o.messages[0];
    assert_eq!(data(m), MSG);
    assert_eq!(m.sha256, sha256_hex(MSG));
    assert_eq!(
        (m.size, m.complete, m.partial),
        (MSG.len() as u64, true, false)
    );
    assert_eq!(m.direction, MessageDirection::Retrieved);
    assert_eq!((m.imap_seq, m.imap_uid), (Some(2), Some(77)));
    assert_eq!(m.imap_mailbox.as_deref(), Some("Entwürfe"));
    assert_eq!(m.headers.subject.as_deref(), Some("hi"));
    let d = detail(&o);
    assert_eq!(d.mailboxes[0].name, "Entwürfe");
    assert_eq!(d.mailboxes[0].exists, Some(3));
    assert_eq!(o.commands[2].verb, "UID FETCH");
    assert_eq!(
        o.commands[2].reply.as_ref().unwrap().text,
        "Fetch completed"
    );
    assert!(o.complete);
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

#[test]
fn gap_inside_a_literal() {
    let r = fetch_response(1, 5, "BODY[]", MSG);
    let cut = 40; // inside the literal
    let o = run(&[
        S(GREETING),
        C(b"a1 FETCH 1 BODY[]\r\n"),
        S(&r[..cut]),
        GapS(10),
        S(&r[cut + 10..]),
        S(b"a1 OK done\r\n"),
    ]);
    let m = &o.messages[0];
    assert!(!m.complete);
    assert_eq!(m.size, MSG.len() as u64 - 10);
    assert_eq!(m.imap_uid, Some(5));
    assert_eq!(o.commands[0].reply.as_ref().unwrap().code, "OK");
}

#[test]
fn gap_swallowing_the_end_of_a_literal_resyncs_on_a_pending_tag() {
    let r = fetch_response(1, 5, "BODY[]", MSG);
    let o = run(&[
        S(GREETING),
        C(b"a1 FETCH 1 BODY[]\r\n"),
        S(&r[..40]),
        GapS(r.len() as u64 - 40 + 3),
        S(b" OK x\r\na1 OK done\r\n"),
    ]);
    assert!(!o.messages[0].complete);
    assert_eq!(o.commands[0].reply.as_ref().unwrap().text, "done");
}

#[test]
fn client_gap_drops_the_line_and_resyncs() {
    let o = run(&[
        S(GREETING),
        C(b"a1 LOG"),
        GapC(9),
        C(b"pw\r\na2 NOOP\r\n"),
        S(b"a1 OK x\r\na2 OK y\r\n"),
    ]);
    // The cut LOGIN is not interpreted; the next command is.
    assert!(o.credentials.is_empty());
    assert_eq!(o.commands.len(), 1);
    assert_eq!(o.commands[0].reply.as_ref().unwrap().text, "y");
}

#[test]
fn tagged_reply_before_untagged_of_earlier_command() {
    let o = run(&[
        S(GREETING),
        C(b"a1 SELECT INBOX\r\na2 NOOP\r\n"),
        S(b"a2 OK NOOP done\r\n* 4 EXISTS\r\na1 OK [READ-WRITE] selected\r\n"),
    ]);
    assert_eq!(
        o.commands[0].reply.as_ref().unwrap().text,
        "[READ-WRITE] selected"
    );
    assert_eq!(o.commands[1].reply.as_ref().unwrap().text, "NOOP done");
    assert_eq!(o.commands[1].reply.as_ref().unwrap().frame, 3);
    assert_eq!(detail(&o).mailboxes[0].exists, Some(4));
    assert_eq!(detail(&o).mailboxes[0].success, Some(true));
}

fn deflate(z: &mut flate2::Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    z.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    out
}

#[test]
fn compress_mid_session() {
    let mut zc = flate2::Compress::new(flate2::Compression::default(), false);
    let mut zs = flate2::Compress::new(flate2::Compression::default(), false);
    let mut ok_and_first = b"a2 OK DEFLATE active\r\n".to_vec();
    // The server's first compressed bytes travel in the same segment as the tagged OK.
    ok_and_first.extend(deflate(&mut zs, b"* 1 EXISTS\r\n"));
    let fetch = fetch_response(1, 9, "BODY[]", MSG);
    let zfetch = deflate(&mut zs, &fetch);
    let o = run(&[
        S(GREETING),
        C(b"a1 LOGIN ana pw\r\n"),
        S(b"a1 OK done\r\n"),
        C(b"a2 COMPRESS DEFLATE\r\n"),
        S(&ok_and_first),
        C(&deflate(&mut zc, b"a3 FETCH 1 (UID BODY[])\r\n")),
        S(&zfetch[..zfetch.len() / 2]),
        S(&zfetch[zfetch.len() / 2..]),
        S(&deflate(&mut zs, b"a3 OK done\r\n")),
        C(&deflate(&mut zc, b"a4 LOGOUT\r\n")),
        S(&deflate(&mut zs, b"* BYE bye\r\na4 OK bye\r\n")),
    ]);
    assert!(detail(&o).compressed);
    assert_eq!(data(&o.messages[0]), MSG);
    assert_eq!(o.messages[0].imap_uid, Some(9));
    assert_eq!(o.commands.len(), 4);
    assert!(o.complete);
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

#[test]
fn idle_and_done() {
    let o = run(&[
        S(GREETING),
        C(b"a1 LOGIN ana pw\r\n"),
        S(b"a1 OK done\r\n"),
        C(b"a2 IDLE\r\n"),
        S(b"+ idling\r\n"),
        S(b"* 5 EXISTS\r\n"),
        C(b"DONE\r\n"),
        S(b"a2 OK Idle completed.\r\n"),
        C(b"a3 LOGOUT\r\n"),
        S(b"* BYE x\r\na3 OK x\r\n"),
    ]);
    let verbs: Vec<&str> = o.commands.iter().map(|c| c.verb.as_str()).collect();
    assert_eq!(verbs, ["LOGIN", "IDLE", "DONE", "LOGOUT"]);
    assert_eq!(
        o.commands[1].reply.as_ref().unwrap().text,
        "Idle completed."
    );
    assert!(o.complete);
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

#[test]
fn authenticate_plain_with_and_without_sasl_ir() {
    let ir = b64(b"\0ana\0Ana-pw-1!");
    let mut with = b"a1 AUTHENTICATE PLAIN ".to_vec();
    with.extend_from_slice(&ir);
    with.extend_from_slice(b"\r\n");
    let o = run(&[S(GREETING), C(&with), S(b"a1 OK Logged in\r\n")]);
    let c = &o.credentials[0];
    assert_eq!(
        (
            c.mechanism.as_str(),
            c.username.as_deref(),
            c.password.as_deref()
        ),
        ("PLAIN", Some("ana"), Some("Ana-pw-1!"))
    );
    assert_eq!(c.success, Some(true));

    let mut resp = ir.clone();
    resp.extend_from_slice(b"\r\n");
    for first in [
        &b"a1 AUTHENTICATE PLAIN\r\n"[..],
        b"a1 AUTHENTICATE PLAIN =\r\n",
    ] {
        let o = run(&[
            S(GREETING),
            C(first),
            S(b"+ \r\n"),
            C(&resp),
            S(b"a1 NO [AUTHENTICATIONFAILED] failed\r\n"),
            C(b"a2 LOGOUT\r\n"),
        ]);
        assert_eq!(o.credentials.len(), 1);
        let c = &o.credentials[0];
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("ana"), Some("Ana-pw-1!"))
        );
        assert_eq!((c.success, c.frame), (Some(false), 4));
        assert!(c.undecodable.is_empty());
        let verbs: Vec<&str> = o.commands.iter().map(|c| c.verb.as_str()).collect();
        assert_eq!(verbs, ["AUTHENTICATE", "AUTH-DATA", "LOGOUT"]);
    }
}

#[test]
fn authenticate_login_and_cram_md5() {
    let mut u = b64(b"ana");
    u.extend_from_slice(b"\r\n");
    let mut p = b64(b"pw-1");
    p.extend_from_slice(b"\r\n");
    let o = run(&[
        S(GREETING),
        C(b"a1 AUTHENTICATE LOGIN\r\n"),
        S(b"+ VXNlcm5hbWU6\r\n"),
        C(&u),
        S(b"+ UGFzc3dvcmQ6\r\n"),
        C(&p),
        S(b"a1 OK x\r\n"),
    ]);
    let c = &o.credentials[0];
    assert_eq!(
        (
            c.mechanism.as_str(),
            c.username.as_deref(),
            c.password.as_deref()
        ),
        ("LOGIN", Some("ana"), Some("pw-1"))
    );

    let resp = b64(b"ana 0123456789abcdef0123456789abcdef");
    let mut line = resp.clone();
    line.extend_from_slice(b"\r\n");
    let o = run(&[
        S(GREETING),
        C(b"a1 AUTHENTICATE CRAM-MD5\r\n"),
        S(b"+ PDEyMzQuNTY3OEBleGFtcGxlLnRlc3Q+\r\n"),
        C(&line),
        S(b"a1 OK x\r\n"),
    ]);
    let c = &o.credentials[0];
    assert_eq!(c.username.as_deref(), Some("ana"));
    assert_eq!(
        c.hash.as_deref().unwrap(),
        format!(
            "$cram_md5$PDEyMzQuNTY3OEBleGFtcGxlLnRlc3Q+${}",
            String::from_utf8_lossy(&resp)
        )
    );
}

#[test]
fn authenticate_oauth_errors_and_cancel() {
    let mut x = b"a1 AUTHENTICATE XOAUTH2 ".to_vec();
    x.extend(b64(b"user=ana@x.test\x01auth=Bearer ya29.tok\x01\x01"));
    x.extend_from_slice(b"\r\n");
    let mut err = b"+ ".to_vec();
    err.extend(b64(br#"{"status":"401"}"#));
    err.extend_from_slice(b"\r\n");
    let o = run(&[
        S(GREETING),
        C(&x),
        S(&err),
        C(b"\r\n"),
        S(b"a1 NO failed\r\n"),
    ]);
    let c = &o.credentials[0];
    assert_eq!(
        (c.username.as_deref(), c.token.as_deref()),
        (Some("ana@x.test"), Some("ya29.tok"))
    );
    assert_eq!(c.success, Some(false));
    assert!(c.reply.as_deref().unwrap().contains("401"));

    let mut x = b"a1 AUTHENTICATE OAUTHBEARER ".to_vec();
    x.extend(b64(b"n,a=ana@x.test,\x01auth=Bearer tok2\x01\x01"));
    x.extend_from_slice(b"\r\n");
    let o = run(&[
        S(GREETING),
        C(&x),
        S(&err),
        C(b"AQ==\r\n"),
        S(b"a1 NO failed\r\n"),
    ]);
    let c = &o.credentials[0];
    assert_eq!(
        (c.username.as_deref(), c.token.as_deref()),
        (Some("ana@x.test"), Some("tok2"))
    );
    assert_eq!(o.credentials.len(), 1);

    // `*` cancels before anything was revealed: no credential, the exchange is counted.
    let o = run(&[
        S(GREETING),
        C(b"a1 AUTHENTICATE GSSAPI\r\n"),
        S(b"+ \r\n"),
        C(b"*\r\n"),
        S(b"a1 BAD cancelled\r\n"),
        C(b"a2 LOGIN ana pw\r\n"),
        S(b"a2 OK x\r\n"),
    ]);
    assert_eq!(o.credentials.len(), 1);
    assert_eq!(o.credentials[0].mechanism, "IMAP-LOGIN");
    assert!(o
        .anomalies
        .iter()
        .any(|a| a == "imap-authenticate-cancelled (1)"));
}

#[test]
fn append_and_multiappend() {
    let m2: &[u8] = b"Subject: two\r\n\r\nx\r\n";
    let mut multi = format!("a3 APPEND Sent (\\Seen) {{{}+}}\r\n", MSG.len()).into_bytes();
    multi.extend_from_slice(MSG);
    multi.extend_from_slice(format!(" {{{}+}}\r\n", m2.len()).as_bytes());
    multi.extend_from_slice(m2);
    multi.extend_from_slice(b"\r\n");
    let mut single = format!("a2 APPEND {{4}}\r\nSent (\\Seen) {{{}}}\r\n", MSG.len()).into_bytes();
    let (s1, s2) = single.split_at(12);
    let (s1, s2) = (s1.to_vec(), s2.to_vec());
    single.clear();
    let mut lit = MSG.to_vec();
    lit.extend_from_slice(b"\r\n");
    let o = run(&[
        S(GREETING),
        C(&s1),
        S(b"+ OK\r\n"),
        C(&s2),
        S(b"+ OK\r\n"),
        C(&lit),
        S(b"a2 OK [APPENDUID 1 42] Append completed.\r\n"),
        C(&multi),
        S(b"a3 OK [APPENDUID 1 43:44] done\r\n"),
    ]);
    assert_eq!(o.messages.len(), 3);
    let m = &o.messages[0];
    assert_eq!(m.direction, MessageDirection::Appended);
    assert_eq!(
        (data(m), m.imap_uid, m.imap_mailbox.as_deref()),
        (MSG, Some(42), Some("Sent"))
    );
    assert_eq!(data(&o.messages[2]), m2);
    assert_eq!(o.messages[2].imap_mailbox.as_deref(), Some("Sent"));
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

#[test]
fn partial_ranges_rebuild_the_message() {
    let (a, b) = MSG.split_at(20);
    let o = run(&[
        S(GREETING),
        C(b"a1 FETCH 1 (UID BODY.PEEK[]<0.20>)\r\n"),
        S(&fetch_response(1, 3, "BODY[]<0>", a)),
        S(b"a1 OK x\r\n"),
        C(b"a2 FETCH 1 (UID BODY.PEEK[]<20.20>)\r\n"),
        S(&fetch_response(1, 3, "BODY[]<20>", &b[..20])),
        S(b"a2 OK x\r\n"),
        C(b"a3 FETCH 1 (UID BODY.PEEK[]<40.20>)\r\n"),
        S(&fetch_response(1, 3, "BODY[]<40>", &b[20..])),
        S(b"a3 OK x\r\n"),
    ]);
    assert_eq!(o.messages.len(), 1);
    let m = &o.messages[0];
    assert_eq!(data(m), MSG);
    assert!(!m.partial && m.complete && m.missing.is_none());
    assert_eq!(m.imap_uid, Some(3));

    // Only the first range: partial, and it says what is missing.
    let o = run(&[
        S(GREETING),
        C(b"a1 FETCH 1 (RFC822.SIZE BODY.PEEK[]<0.20>)\r\n"),
        S(&fetch_response(
            1,
            3,
            &format!("RFC822.SIZE {} BODY[]<0>", MSG.len()),
            a,
        )),
        S(b"a1 OK x\r\n"),
    ]);
    let m = &o.messages[0];
    assert!(m.partial && !m.complete);
    assert_eq!(
        m.missing.as_deref(),
        Some(
            format!(
                "bytes 20 to {} were not fetched (RFC822.SIZE {})",
                MSG.len(),
                MSG.len()
            )
            .as_str()
        )
    );
}

#[test]
fn header_and_section_fetches_are_partial() {
    let hdr: &[u8] = b"Subject: hi\r\n\r\n";
    let mut r = format!("* 1 FETCH (UID 3 BODY[HEADER] {{{}}}\r\n", hdr.len()).into_bytes();
    r.extend_from_slice(hdr);
    r.extend_from_slice(b" BODY[1] {3}\r\nabc)\r\n");
    let o = run(&[
        S(GREETING),
        C(b"a1 FETCH 1 (UID BODY.PEEK[HEADER] BODY.PEEK[1])\r\n"),
        S(&r),
        S(b"a1 OK x\r\n"),
    ]);
    assert_eq!(o.messages.len(), 2);
    assert!(o
        .messages
        .iter()
        .all(|m| m.partial && m.imap_uid == Some(3)));
    assert_eq!(o.messages[0].imap_section.as_deref(), Some("BODY[HEADER]"));
    assert_eq!(data(&o.messages[1]), b"abc");
}

#[test]
fn starttls_opaque_or_not() {
    let o = run(&[
        S(GREETING),
        C(b"a1 STARTTLS\r\n"),
        S(b"a1 OK Begin TLS negotiation now.\r\n"),
        C(b"\x16\x03\x01\x00\x05hello"),
        S(b"\x16\x03\x03\x00\x05world"),
        C(b"\x17\x03\x03a1 LOGIN x y\r\n"),
    ]);
    assert_eq!(o.tls, Tls::Starttls);
    assert!(o.credentials.is_empty());
    let o = run(&[
        S(GREETING),
        C(b"a1 STARTTLS\r\n"),
        S(b"a1 OK Begin TLS negotiation now.\r\n"),
        C(b"a2 LOGIN ana pw\r\n"),
        S(b"a2 OK x\r\n"),
    ]);
    assert_eq!(o.tls, Tls::None);
    assert_eq!(o.credentials[0].password.as_deref(), Some("pw"));
    assert!(o
        .findings
        .iter()
        .any(|f| f.code == "starttls-not-negotiated"));
}

#[test]
fn refused_synchronizing_literal_is_not_awaited() {
    let o = run(&[
        S(GREETING),
        C(b"a1 LOGIN ana {500}\r\n"),
        S(b"a1 NO literal too big\r\n"),
        C(b"a2 LOGIN ana pw\r\n"),
        S(b"a2 OK x\r\n"),
    ]);
    assert_eq!(
        o.credentials.last().unwrap().password.as_deref(),
        Some("pw")
    );
    assert_eq!(o.credentials.last().unwrap().success, Some(true));
}

#[test]
fn preauth_id_enable() {
    let o = run(&[
        S(b"* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"),
        C(b"a1 ID (\"name\" \"K-9\" \"version\" NIL)\r\n"),
        S(b"* ID (\"name\" \"Dovecot\")\r\na1 OK ID completed\r\n"),
        C(b"a2 ENABLE UTF8=ACCEPT\r\n"),
        S(b"* ENABLED UTF8=ACCEPT\r\na2 OK x\r\n"),
        C("a3 EXAMINE \"Entwürfe\"\r\n".as_bytes()),
        S(b"* 0 EXISTS\r\na3 OK x\r\n"),
    ]);
    let d = detail(&o);
    assert!(d.preauth);
    assert_eq!(
        d.client_id.as_deref().unwrap(),
        [
            ("name".to_string(), Some("K-9".to_string())),
            ("version".to_string(), None)
        ]
    );
    assert_eq!(
        d.server_id.as_deref().unwrap(),
        [("name".to_string(), Some("Dovecot".to_string()))]
    );
    assert_eq!(d.enabled, ["UTF8=ACCEPT"]);
    assert_eq!(d.mailboxes[0].name, "Entwürfe");
    assert_eq!(d.mailboxes[0].command, "EXAMINE");
}

#[test]
fn recognition() {
    let yes = Recognition::Yes {
        skip_client: 0,
        skip_server: 0,
    };
    assert_eq!(looks_like_imap(b"", GREETING), yes);
    assert_eq!(looks_like_imap(b"", b"* PREAUTH hi\r\n"), yes);
    assert_eq!(looks_like_imap(b"a1 LOGIN ana pw\r\n", b""), yes);
    assert_eq!(looks_like_imap(b"", b"* O"), Recognition::NeedMore);
    assert_eq!(looks_like_imap(b"", b"+OK POP3 ready\r\n"), Recognition::No);
    assert_eq!(looks_like_imap(b"", b"220 smtp ready\r\n"), Recognition::No);
    assert_eq!(looks_like_imap(b"USER bob\r\n", b""), Recognition::No);
    assert_eq!(looks_like_imap(b"EHLO x\r\n", b""), Recognition::No);
    assert_eq!(looks_like_imap(b"GET / HTTP/1.1\r\n", b""), Recognition::No);
}

#[test]
fn bounds_are_counted() {
    let cfg = ImapConfig {
        limits: ImapLimits {
            max_pending: 4,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut cmds = Vec::new();
    for i in 0..10 {
        cmds.extend_from_slice(format!("t{i} NOOP\r\n").as_bytes());
    }
    let o = run_cfg(&cfg, &[S(GREETING), C(&cmds), S(b"t9 OK x\r\n")]);
    assert!(
        o.anomalies.iter().any(|a| a == "imap-pending-overflow (6)"),
        "{:?}",
        o.anomalies
    );
    assert_eq!(o.commands[9].reply.as_ref().unwrap().code, "OK");
}

#[test]
fn starttls_signals_the_tls_offset_and_reads_plaintext_when_told() {
    let mut d = ImapDissector::new(&ImapConfig::default());
    let m = |f: u64| ChunkMeta {
        frame: f,
        ts: Ts(f as i64),
    };
    d.data(Side::Server, GREETING, m(1));
    d.data(Side::Client, b"a1 STARTTLS\r\n", m(2));
    d.data(Side::Server, b"a1 OK Begin TLS negotiation now\r\n", m(3));
    assert_eq!(d.take_tls_start(), None);
    let hello = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00";
    d.data(Side::Client, hello, m(4));
    assert_eq!(d.take_tls_start(), Some(hello.len()));
    assert_eq!(d.take_tls_start(), None);
    d.tls_decrypted();
    d.data(Side::Client, b"a2 LOGIN ana \"pw 1\"\r\n", m(5));
    d.data(Side::Server, b"a2 OK Logged in\r\n", m(6));
    d.data(Side::Client, b"a3 LOGOUT\r\n", m(7));
    d.data(Side::Server, b"* BYE\r\na3 OK\r\n", m(8));
    d.end(EndReason::Fin, m(9));
    let o = d.finish();
    assert_eq!(o.tls, Tls::Starttls);
    let c = &o.credentials[0];
    assert_eq!(c.password.as_deref(), Some("pw 1"));
    assert!(c.encrypted);
    let codes: Vec<&str> = o.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.is_empty(), "{codes:?}");
    assert!(o.complete);
}

#[test]
fn starttls_refused_then_clear_text_is_a_finding() {
    let o = run(&[
        S(GREETING),
        C(b"a1 STARTTLS\r\n"),
        S(b"a1 NO TLS not available\r\n"),
        C(b"a2 LOGIN ana pw\r\n"),
        S(b"a2 OK Logged in\r\n"),
    ]);
    let codes: Vec<&str> = o.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["cleartext-auth", "starttls-refused"]);
    assert!(o.findings[1].detail.contains("LOGIN, frame 4"));
}

#[test]
fn overlong_line_marker_is_found_wherever_the_line_is_cut() {
    // max_line 64: the line is handed out in pieces; its marker `{12}` straddles the cut at
    // byte 128 when the line comes in one segment, and sits elsewhere when the reader cut
    // one byte later (a byte at a time: it keeps up to max + 1 bytes). Either way the
    // literal is skipped as octets (its "a2 NO" line answers nothing) and the first 64
    // bytes of the line are what is kept.
    let cfg = ImapConfig {
        limits: ImapLimits {
            max_line: 64,
            ..Default::default()
        },
        skip_dialogue: true,
        ..Default::default()
    };
    let head = b"* 1 FETCH (UID 7 X-PAD \"";
    let mut resp = head.to_vec();
    resp.resize(126 - 2, b'p');
    resp.extend_from_slice(b"\" {12}\r\na2 NO fake\r\n)\r\na2 OK done\r\n");
    assert_eq!(&resp[126..130], b"{12}");
    let login = b"a1 LOGIN ana pw\r\n";
    let whole = run_cfg(
        &cfg,
        &[
            S(GREETING),
            C(login),
            S(b"a1 OK hi\r\n"),
            C(b"a2 FETCH 1 (UID X-PAD BODY[])\r\n"),
            S(&resp),
        ],
    );
    let mut evs = vec![
        S(GREETING),
        C(login),
        S(b"a1 OK hi\r\n"),
        C(b"a2 FETCH 1 (UID X-PAD BODY[])\r\n"),
    ];
    evs.extend(resp.chunks(1).map(S));
    let bytewise = run_cfg(&cfg, &evs);
    for o in [&whole, &bytewise] {
        let r = o.commands[1].reply.as_ref().unwrap();
        assert_eq!((r.code.as_str(), r.text.as_str()), ("OK", "done"));
        assert!(o.truncated.contains(&"line".to_string()));
        assert!(
            o.anomalies.iter().all(|a| !a.contains("not a response")),
            "{:?}",
            o.anomalies
        );
    }
    assert_eq!(whole.anomalies, bytewise.anomalies);
}
