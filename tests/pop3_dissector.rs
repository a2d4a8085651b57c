//! POP3 dissector tests: literal byte chunks fed as the reassembler would, exact values.

use md5::{Digest as _, Md5};
use pcapmail::model::{DialogueEvent, Message, ProtocolDetail, Side, Tls, Ts};
use pcapmail::proto::pop3::{looks_like_pop3, Pop3Config, Pop3Dissector};
use pcapmail::proto::Recognition;
use pcapmail::proto::{ChunkMeta, Dissector, EndReason, SessionOutput, StreamConsumer};
use sha2::Sha256;

use Side::{Client as C, Server as S};

fn meta(frame: u64) -> ChunkMeta {
    ChunkMeta {
        frame,
        ts: Ts(frame as i64 * 1_000_000),
    }
}

/// One step of a stream: data from a side, a gap, in capture order; frames numbered 1.. .
enum Step<'a> {
    D(Side, &'a [u8]),
    Gap(Side, u64),
}

fn run_with(cfg: &Pop3Config, steps: &[Step<'_>], end: EndReason) -> (SessionOutput, bool) {
    let mut d = Pop3Dissector::new(cfg);
    for (i, s) in steps.iter().enumerate() {
        let m = meta(i as u64 + 1);
        match s {
            Step::D(side, b) => d.data(*side, b, m),
            Step::Gap(side, n) => d.gap(*side, *n, m),
        }
    }
    d.end(end, meta(steps.len() as u64 + 1));
    let pop3 = d.is_pop3();
    (d.finish(), pop3)
}

/// Data steps only, frames numbered from 1.
fn run(steps: &[(Side, &[u8])]) -> (SessionOutput, bool) {
    let steps: Vec<Step> = steps.iter().map(|(s, b)| Step::D(*s, b)).collect();
    run_with(&Pop3Config::default(), &steps, EndReason::Fin)
}

fn detail(o: &SessionOutput) -> &pcapmail::model::Pop3Detail {
    match &o.detail {
        ProtocolDetail::Pop3(p) => p,
        other => panic!("not POP3: {other:?}"),
    }
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn codes(o: &SessionOutput) -> Vec<&str> {
    o.findings.iter().map(|f| f.code.as_str()).collect()
}

fn verbs(o: &SessionOutput) -> Vec<String> {
    o.commands
        .iter()
        .map(|c| {
            let r = c.reply.as_ref().map_or("-", |r| r.code.as_str());
            format!("{} {}={}", c.verb, c.arg, r)
        })
        .collect()
}

fn data(m: &Message) -> &[u8] {
    m.data.as_deref().expect("message bytes kept")
}

const BANNER: &[u8] = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n";

#[test]
fn zeek_pop3_capture_stream_auth_plain_listings_and_three_messages() {
    // tcp.stream 6 of zeek/pop3/pop3.pcap, one line per TCP payload: frame, side, hex.
    let text = include_str!("pop3_zeek_stream6.txt");
    let mut d = Pop3Dissector::new(&Pop3Config::default());
    for l in text.lines() {
        let mut f = l.split(' ');
        let frame: u64 = f.next().unwrap().parse().unwrap();
        let side = if f.next().unwrap() == "C" { C } else { S };
        let bytes = hex::decode(f.next().unwrap()).unwrap();
        d.data(side, &bytes, meta(frame));
    }
    d.end(EndReason::Fin, meta(125));
    assert!(d.is_pop3());
    let o = d.finish();
    assert_eq!(
        o.banner.as_deref(),
        Some("POP server ready H mimap15 0LfD5x-1VsVU4327M-00pHSn")
    );
    assert!(o.complete);
    assert!(o.starttls_offered);
    assert_eq!(o.anomalies, Vec::<String>::new());
    let p = detail(&o);
    assert_eq!(
        p.capabilities,
        [
            "TOP",
            "USER",
            "UIDL",
            "STLS",
            "SASL PLAIN",
            "IMPLEMENTATION trinity"
        ]
    );
    assert_eq!(p.stat, Some((3, 19191)));
    assert_eq!(p.list, [(1, 5565), (2, 8412), (3, 5214)]);
    assert_eq!(p.uidl[2], (3, "0MLPgA-1VC2Ru34ja-000jOl".to_string()));
    assert_eq!(p.retrieved, [1, 2, 3]);
    assert_eq!(
        verbs(&o),
        [
            "AUTH =-ERR",
            "CAPA =+OK",
            "AUTH PLAIN=+",
            "AUTH-DATA AGRpZ2l0YWxpbnZlc3RpZ2F0b3JAbmV0d29ya3NpbXMuY29tAG5hcGllcjEyMw===+OK",
            "STAT =+OK",
            "LIST =+OK",
            "UIDL =+OK",
            "RETR 1=+OK",
            "RETR 2=+OK",
            "RETR 3=+OK",
            "QUIT =+OK",
        ]
    );
    assert_eq!(
        o.commands[5].reply.as_ref().unwrap().text,
        "\n1 5565\n2 8412\n3 5214"
    );
    assert_eq!(o.credentials.len(), 1);
    let c = &o.credentials[0];
    assert_eq!(c.mechanism, "PLAIN");
    assert_eq!(
        c.username.as_deref(),
        Some("digitalinvestigator@networksims.com")
    );
    assert_eq!(c.password.as_deref(), Some("napier123"));
    assert_eq!((c.success, c.frame), (Some(true), 85));
    // Sizes equal the LIST reply; hashes computed independently (python, dot-unstuffed).
    let got: Vec<_> = o
        .messages
        .iter()
        .map(|m| {
            (
                m.pop3_number,
                m.size,
                m.sha256.as_str(),
                m.complete,
                m.frame,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Some(1),
                5565,
                "a659aebad07cff8152b2a1e30faafc888833dd0b9eb7b986d73497b0919b87ba",
                true,
                95
            ),
            (
                Some(2),
                8412,
                "1a5c8904a200b617c7a52aa0ad39617afef53aab751e2f32177b733deff16ffb",
                true,
                103
            ),
            (
                Some(3),
                5214,
                "2fb69aa98fac3bc0a73dff8eadca6e8586f6d5a7e9c0453aa61cfcf339f781d9",
                true,
                114
            ),
        ]
    );
    assert_eq!(
        o.messages[0].uidl.as_deref(),
        Some("0M8Oog-1VyW6I2B74-00vNGA")
    );
    assert_eq!(
        o.messages[0].headers.subject.as_deref(),
        Some("A message from 1&1 Internet")
    );
    assert_eq!(
        codes(&o),
        [
            "cleartext-auth",
            "cleartext-mail",
            "cleartext-mail",
            "cleartext-mail",
            "starttls-offered-not-used"
        ]
    );
}

#[test]
fn banner_apop_timestamp_and_hashcat_line() {
    let ts = "<1896.697170952@dbc.mtview.ca.us>";
    let digest = hex::encode(Md5::digest(format!("{ts}tanstaaf").as_bytes()));
    // RFC 1939 §7 example digest for this timestamp and secret.
    assert_eq!(digest, "c4c9334bac560ecc979e58001b3e22fb");
    let apop = format!("APOP mrose {digest}\r\n");
    let (o, pop3) = run(&[
        (S, BANNER),
        (C, apop.as_bytes()),
        (S, b"+OK mrose's maildrop has 2 messages (320 octets)\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"+OK dewey POP3 server signing off\r\n"),
    ]);
    assert!(pop3 && o.complete);
    assert_eq!(
        o.banner.as_deref(),
        Some("POP3 server ready <1896.697170952@dbc.mtview.ca.us>")
    );
    let c = &o.credentials[0];
    assert_eq!(c.mechanism, "APOP");
    assert_eq!(c.username.as_deref(), Some("mrose"));
    assert_eq!(c.password, None);
    assert_eq!(c.hash.as_deref(), Some(format!("{digest}:{ts}").as_str()));
    assert_eq!((c.success, c.frame), (Some(true), 2));
    assert_eq!(
        c.reply.as_deref(),
        Some("+OK mrose's maildrop has 2 messages (320 octets)")
    );
}

#[test]
fn capa_lists_stls() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"CAPA\r\n"),
        (S, b"+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\nSTLS\r\nPIPELINING\r\n.\r\n"),
    ]);
    assert_eq!(
        detail(&o).capabilities,
        ["TOP", "USER", "SASL PLAIN LOGIN", "STLS", "PIPELINING"]
    );
    assert!(o.starttls_offered);
    assert!(!o.complete, "no QUIT");
}

#[test]
fn user_pass_failure_then_success() {
    let (o, pop3) = run(&[
        (S, b"+OK example.com POP3-Server\r\n"),
        (C, b"USER zeek@zeek.org\r\n"),
        (S, b"+OK Please enter your password\r\n"),
        (C, b"PASS wrong one\r\n"),
        (S, b"-ERR invalid password\r\n"),
        (C, b"USER zeek@zeek.org\r\n"),
        (S, b"+OK\r\n"),
        (C, b"PASS zeek\r\n"),
        (S, b"+OK mailbox locked and ready\r\n"),
    ]);
    assert!(pop3);
    let got: Vec<_> = o
        .credentials
        .iter()
        .map(|c| {
            (
                c.mechanism.as_str(),
                c.username.as_deref(),
                c.password.as_deref(),
                c.success,
                c.frame,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "USER",
                Some("zeek@zeek.org"),
                Some("wrong one"),
                Some(false),
                4
            ),
            ("USER", Some("zeek@zeek.org"), Some("zeek"), Some(true), 8),
        ]
    );
    assert_eq!(codes(&o), ["cleartext-auth", "cleartext-auth"]);
    assert!(!codes(&o).contains(&"starttls-offered-not-used"));
}

#[test]
fn auth_plain_initial_response_and_after_continuation() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"AUTH PLAIN AGFuYQBzZWNyZXQ=\r\n"), // \0ana\0secret
        (S, b"-ERR [AUTH] Authentication failed.\r\n"),
        (C, b"AUTH PLAIN\r\n"),
        (S, b"+ \r\n"),
        (C, b"AGFuYQBzZWNyZXQy\r\n"), // \0ana\0secret2
        (S, b"+OK Logged in.\r\n"),
    ]);
    let c: Vec<_> = o
        .credentials
        .iter()
        .map(|c| (c.password.as_deref(), c.success, c.frame))
        .collect();
    assert_eq!(
        c,
        [
            (Some("secret"), Some(false), 2),
            (Some("secret2"), Some(true), 6)
        ]
    );
    assert_eq!(o.credentials[1].username.as_deref(), Some("ana"));
    assert_eq!(
        verbs(&o),
        [
            "AUTH PLAIN AGFuYQBzZWNyZXQ==-ERR",
            "AUTH PLAIN=+",
            "AUTH-DATA AGFuYQBzZWNyZXQy=+OK"
        ]
    );
}

#[test]
fn auth_login_cram_md5_and_cancel() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"AUTH LOGIN\r\n"),
        (S, b"+ VXNlcm5hbWU6\r\n"),
        (C, b"Ym9i\r\n"), // bob
        (S, b"+ UGFzc3dvcmQ6\r\n"),
        (C, b"aHVudGVyMg==\r\n"), // hunter2
        (S, b"-ERR nope\r\n"),
        (C, b"AUTH CRAM-MD5\r\n"),
        (
            S,
            b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n",
        ),
        (C, b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"),
        (S, b"+OK\r\n"),
        (C, b"AUTH LOGIN\r\n"),
        (S, b"+ VXNlcm5hbWU6\r\n"),
        (C, b"*\r\n"),
        (S, b"-ERR cancelled\r\n"),
        (C, b"AUTH\r\n"),
        (S, b"+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n"),
    ]);
    assert_eq!(
        o.credentials.len(),
        2,
        "cancel and bare AUTH reveal nothing"
    );
    let l = &o.credentials[0];
    assert_eq!(
        (
            l.mechanism.as_str(),
            l.username.as_deref(),
            l.password.as_deref()
        ),
        ("LOGIN", Some("bob"), Some("hunter2"))
    );
    assert_eq!((l.success, l.frame), (Some(false), 6));
    let c = &o.credentials[1];
    assert_eq!(c.mechanism, "CRAM-MD5");
    assert_eq!(c.username.as_deref(), Some("tim"));
    assert_eq!(c.password, None);
    assert_eq!(
        c.hash.as_deref(),
        Some("$cram_md5$PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+$dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")
    );
    assert_eq!(c.success, Some(true));
    assert_eq!(
        o.commands.last().unwrap().reply.as_ref().unwrap().text,
        "\nPLAIN\nLOGIN"
    );
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

#[test]
fn auth_without_final_reply_does_not_swallow_commands() {
    let (o, _) = run_with(
        &Pop3Config::default(),
        &[
            Step::D(S, b"+OK ready\r\n"),
            Step::D(C, b"AUTH PLAIN AGJvYgBwdw==\r\n"),
            Step::Gap(S, 30),
            Step::D(C, b"RETR 1\r\n"),
            Step::D(S, b"+OK\r\nx\r\n.\r\n"),
        ],
        EndReason::Fin,
    );
    assert_eq!(verbs(&o), ["AUTH PLAIN AGJvYgBwdw===-", "RETR 1=+OK"]);
    let c = &o.credentials[0];
    assert_eq!((c.password.as_deref(), c.success), (Some("pw"), None));
    assert_eq!(o.messages.len(), 1);
}

#[test]
fn stat_list_uidl_with_and_without_argument() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"STAT\r\n"),
        (S, b"+OK 2 320\r\n"),
        (C, b"LIST 2\r\n"),
        (S, b"+OK 2 200\r\n"),
        (C, b"UIDL 2\r\n"),
        (S, b"+OK 2 QhdPYR:00WBw1Ph7x7\r\n"),
        (C, b"LIST\r\n"),
        (S, b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"),
        (C, b"UIDL\r\n"),
        (
            S,
            b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
        ),
        (C, b"LIST 9\r\n"),
        (S, b"-ERR no such message, only 2 messages in maildrop\r\n"),
        (C, b"NOOP\r\n"),
        (S, b"+OK\r\n"),
    ]);
    let p = detail(&o);
    assert_eq!(p.stat, Some((2, 320)));
    assert_eq!(p.list, [(1, 120), (2, 200)]);
    assert_eq!(
        p.uidl,
        [
            (1, "whqtswO00WBw418f9t5JxYwZ".to_string()),
            (2, "QhdPYR:00WBw1Ph7x7".to_string())
        ]
    );
    assert_eq!(
        o.commands.last().unwrap().reply.as_ref().unwrap().code,
        "+OK"
    );
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

/// Two messages, dot-stuffed, fed in 7-byte chunks (lines and even the terminator split).
#[test]
fn retr_two_messages_byte_exact_across_small_chunks() {
    let m1: &[u8] = b"From: a@x.test\r\nSubject: one\r\n\r\n..dot line\r\n.\r\n\r\nend\r\n";
    let m1_wire: &[u8] =
        b"From: a@x.test\r\nSubject: one\r\n\r\n...dot line\r\n..\r\n\r\nend\r\n.\r\n";
    let m2: &[u8] = b"Subject: two\r\n\r\nline\r\n";
    let mut server = Vec::new();
    server.extend_from_slice(b"+OK 57 octets\r\n");
    server.extend_from_slice(m1_wire);
    let mut server2 = Vec::new();
    server2.extend_from_slice(b"+OK\r\n");
    server2.extend_from_slice(m2);
    server2.extend_from_slice(b".\r\n");
    let mut steps: Vec<(Side, &[u8])> = vec![
        (S, b"+OK ready\r\n"),
        (C, b"UIDL\r\n"),
        (S, b"+OK\r\n1 uid-one\r\n2 uid-two\r\n.\r\n"),
        (C, b"RETR 1\r\n"),
    ];
    steps.extend(server.chunks(7).map(|c| (S, c)));
    steps.push((C, b"RETR 2\r\n"));
    steps.extend(server2.chunks(7).map(|c| (S, c)));
    steps.push((C, b"QUIT\r\n"));
    steps.push((S, b"+OK bye\r\n"));
    let (o, _) = run(&steps);
    assert_eq!(o.messages.len(), 2);
    let (a, b) = (&o.messages[0], &o.messages[1]);
    assert_eq!(data(a), m1);
    assert_eq!(a.sha256, sha(m1));
    assert_eq!(
        (a.size, a.complete, a.partial),
        (m1.len() as u64, true, false)
    );
    assert_eq!(
        (a.pop3_number, a.uidl.as_deref()),
        (Some(1), Some("uid-one"))
    );
    assert_eq!(
        a.frame, 7,
        "the first body line begins in the 7-byte chunk of frame 7"
    );
    assert_eq!(a.headers.subject.as_deref(), Some("one"));
    assert_eq!(data(b), m2);
    assert_eq!(b.sha256, sha(m2));
    assert_eq!(
        (b.pop3_number, b.uidl.as_deref()),
        (Some(2), Some("uid-two"))
    );
    assert_eq!(detail(&o).retrieved, [1, 2]);
    assert!(o.complete);
    assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
}

#[test]
fn dele_and_rset() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"DELE 1\r\n"),
        (S, b"+OK message 1 deleted\r\n"),
        (C, b"DELE 2\r\n"),
        (S, b"+OK message 2 deleted\r\n"),
        (C, b"DELE 9\r\n"),
        (S, b"-ERR no such message\r\n"),
        (C, b"RSET\r\n"),
        (S, b"+OK maildrop has 2 messages (320 octets)\r\n"),
        (C, b"DELE 2\r\n"),
        (S, b"+OK message 2 deleted\r\n"),
    ]);
    let p = detail(&o);
    assert_eq!(p.deleted, [1, 2, 2]);
    assert!(p.reset);
    assert_eq!(codes(&o), ["deletions-undone"]);
    assert_eq!(
        o.findings[0].detail,
        "RSET undid the deletion of message(s) 1, 2 (frame 9)"
    );
}

#[test]
fn top_is_partial_and_err_to_retr_is_one_line() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"RETR 7\r\n"),
        (S, b"-ERR no such message\r\n"),
        (C, b"TOP 1 1\r\n"),
        (S, b"+OK\r\nSubject: hi\r\n\r\nfirst\r\n.\r\n"),
        (C, b"NOOP\r\n"),
        (S, b"+OK\r\n"),
    ]);
    assert_eq!(o.messages.len(), 1);
    let m = &o.messages[0];
    assert!(m.partial && m.complete);
    assert_eq!(data(m), b"Subject: hi\r\n\r\nfirst\r\n");
    assert_eq!(m.pop3_number, Some(1));
    assert!(
        detail(&o).retrieved.is_empty(),
        "TOP and failed RETR retrieve nothing"
    );
    assert_eq!(verbs(&o), ["RETR 7=-ERR", "TOP 1 1=+OK", "NOOP =+OK"]);
    assert!(o.anomalies.is_empty());
}

#[test]
fn pipelined_commands_pair_by_order() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"STAT\r\nLIST\r\nRETR 1\r\nLIST 1\r\nQUIT\r\n"),
        (
            S,
            b"+OK 1 5\r\n+OK\r\n1 5\r\n.\r\n+OK\r\n+OK x\r\n.\r\n+OK 1 5\r\n+OK bye\r\n",
        ),
    ]);
    assert_eq!(
        verbs(&o),
        [
            "STAT =+OK",
            "LIST =+OK",
            "RETR 1=+OK",
            "LIST 1=+OK",
            "QUIT =+OK"
        ]
    );
    // "+OK x" inside the body is content: the queued commands were sent before it began.
    assert_eq!(data(&o.messages[0]), b"+OK x\r\n");
    assert!(o.messages[0].complete && o.complete);
    assert!(o.anomalies.is_empty());
}

#[test]
fn stls_switches_to_opaque_tls() {
    let (o, _) = run(&[
        (
            S,
            b"+OK Cyrus POP3 server ready <1512.1400173552@ladymacbeth.local>\r\n",
        ),
        (C, b"STLS\r\n"),
        (S, b"+OK Begin TLS negotiation now\r\n"),
        (C, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03USER x\r\n"),
        (S, b"\x16\x03\x03\x00\x40+OK\r\n"),
        (C, b"\x17\x03\x03\x00\x10PASS y\r\n"),
    ]);
    assert_eq!(o.tls, Tls::Starttls);
    assert!(o.starttls_offered);
    assert!(o.credentials.is_empty());
    assert_eq!(verbs(&o), ["STLS =+OK"]);
    let tls: Vec<_> = o
        .dialogue
        .iter()
        .filter_map(|e| match e.event {
            DialogueEvent::Tls { bytes } => Some((e.from, e.frame, bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(tls, [(C, 4, 19 + 13), (S, 5, 10)]);
    assert!(o.complete, "banner seen, FIN after TLS");
}

#[test]
fn implicit_tls_evidence() {
    let cfg = Pop3Config {
        tls_from_start: true,
        ..Default::default()
    };
    let (o, pop3) = run_with(
        &cfg,
        &[
            Step::D(C, b"\x16\x03\x01\x00\x05hello"),
            Step::D(S, b"\x16\x03\x03.."),
        ],
        EndReason::Fin,
    );
    assert!(pop3);
    assert_eq!(o.tls, Tls::Implicit);
    assert!(o.commands.is_empty());
    let (_, pop3) = run_with(&cfg, &[Step::D(C, b"GET / HTTP/1.1\r\n")], EndReason::Fin);
    assert!(!pop3);
}

#[test]
fn gap_in_body_marks_message_incomplete_and_resyncs() {
    let (o, _) = run_with(
        &Pop3Config::default(),
        &[
            Step::D(S, b"+OK ready\r\n"),
            Step::D(C, b"RETR 1\r\n"),
            Step::D(S, b"+OK\r\nSubject: x\r\n\r\nfirst part"),
            Step::Gap(S, 1000),
            Step::D(S, b"lost tail\r\nlast line\r\n.\r\n"),
            Step::D(C, b"QUIT\r\n"),
            Step::D(S, b"+OK bye\r\n"),
        ],
        EndReason::Fin,
    );
    let m = &o.messages[0];
    assert!(!m.complete);
    // The partial line before the hole is dropped by the line reader; after it, content
    // continues at the fragment (kept, not unstuffed).
    assert_eq!(data(m), b"Subject: x\r\n\r\nlost tail\r\nlast line\r\n");
    assert_eq!(verbs(&o), ["RETR 1=+OK", "QUIT =+OK"]);
    assert!(o
        .dialogue
        .iter()
        .any(|e| e.event == DialogueEvent::Gap { bytes: 1000 } && e.frame == 4));
    assert!(o.complete);
}

#[test]
fn gap_between_commands_fragment_not_interpreted() {
    let (o, _) = run_with(
        &Pop3Config::default(),
        &[
            Step::D(S, b"+OK ready\r\n"),
            Step::D(C, b"US"),
            Step::Gap(C, 10),
            Step::D(C, b"ER x\r\nSTAT\r\n"),
            Step::D(S, b"+OK 0 0\r\n"),
        ],
        EndReason::Fin,
    );
    assert_eq!(verbs(&o), ["STAT =+OK"]);
    assert_eq!(o.anomalies.len(), 2, "{:?}", o.anomalies);
}

/// zeek/pop3/bad-list-retr-crafted.pcap, payload by payload.
#[test]
fn crafted_lying_list_reply_resynchronises_on_retr_reply() {
    let (o, pop3) = run(&[
        (S, b"+OK example.com POP3-Server\r\n"),
        (C, b"LIST\r\n"),
        (S, b"GARBAGE (and LIST response missing .)\r\n"),
        (S, b"+OK 2 messages (320 octets)\r\n"),
        (S, b"1 120\r\n"),
        (S, b"2 200\r\n"),
        (C, b"RETR 1\r\n"),
        (S, b"+OK message follows\r\n"),
        (S, b"MIME-Version: 1.0\r\n"),
        (S, b"From: zeek@zeek.org\r\n"),
        (S, b"To: zeek@zeek.org\r\n"),
        (S, b"Subject: Crafted email\r\n"),
        (S, b"\r\n"),
        (S, b"The body of the email.\r\n"),
        (S, b".\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"+OK bye\r\n"),
    ]);
    assert!(pop3 && o.complete);
    assert_eq!(verbs(&o), ["LIST =+OK", "RETR 1=+OK", "QUIT =+OK"]);
    assert_eq!(detail(&o).list, [(1, 120), (2, 200)]);
    assert_eq!(detail(&o).retrieved, [1]);
    assert_eq!(
        o.anomalies,
        [
            "server line that is not a reply (frame 3): \"GARBAGE (and LIST response missing .)\"",
            "multi-line response to LIST not terminated; resynchronised on the status line in frame 8",
        ]
    );
    let m = &o.messages[0];
    assert!(m.complete);
    assert_eq!(m.size, 109);
    assert_eq!(m.headers.subject.as_deref(), Some("Crafted email"));
    assert_eq!(m.frame, 9);
}

#[test]
fn retr_lying_about_body_resyncs_and_message_is_incomplete() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"RETR 1\r\n"),
        (S, b"+OK\r\n"),
        (S, b"Subject: never ends\r\n"),
        (C, b"DELE 1\r\n"),
        (S, b"+OK deleted\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"+OK\r\n"),
    ]);
    assert_eq!(verbs(&o), ["RETR 1=+OK", "DELE 1=+OK", "QUIT =+OK"]);
    assert!(!o.messages[0].complete);
    assert_eq!(data(&o.messages[0]), b"Subject: never ends\r\n");
    assert_eq!(o.anomalies.len(), 1);
}

#[test]
fn listing_line_bound_ends_runaway_response() {
    let mut cfg = Pop3Config::default();
    cfg.limits.max_listing_lines = 3;
    let steps = [
        Step::D(S, b"+OK ready\r\n"),
        Step::D(C, b"LIST\r\n"),
        Step::D(S, b"+OK\r\n1 1\r\n2 2\r\n3 3\r\n4 4\r\n5 5\r\n"),
    ];
    let (o, _) = run_with(&cfg, &steps, EndReason::EndOfCapture);
    assert_eq!(detail(&o).list, [(1, 1), (2, 2), (3, 3)]);
    assert!(o.anomalies[0].starts_with("multi-line response to LIST exceeds 3 lines"));
}

/// zeek/pop3/redis-50-pings.pcap: Redis (RESP) on a POP3 port answers +OK and +PONG.
#[test]
fn redis_ping_pong_is_not_pop3() {
    let mut steps: Vec<(Side, &[u8])> = vec![
        (C, b"*2\r\n$4\r\nAUTH\r\n$4\r\nzeek\r\n"),
        (S, b"+OK\r\n"),
        (
            C,
            b"*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$8\r\nredis-py\r\n",
        ),
        (S, b"+OK\r\n"),
    ];
    for _ in 0..50 {
        steps.push((C, b"*1\r\n$4\r\nPING\r\n"));
        steps.push((S, b"+PONG\r\n"));
    }
    let (o, pop3) = run(&steps);
    assert!(!pop3);
    assert!(o.credentials.is_empty());
    assert_eq!(o.banner, None);
    assert_eq!(
        looks_like_pop3(b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
        Recognition::No
    );
    assert_eq!(
        looks_like_pop3(b"*2\r\n$4\r\nAUTH\r\n", b"+OK\r\n"),
        Recognition::No
    );
    // A bare PING/+PONG exchange without RESP framing is not POP3 either.
    let (_, pop3) = run(&[(C, b"PING\r\n"), (S, b"+PONG\r\n")]);
    assert!(!pop3);
}

#[test]
fn recognition() {
    use Recognition::{NeedMore, No};
    #[allow(non_upper_case_globals)]
    const Yes: Recognition = Recognition::Yes {
        skip_client: 0,
        skip_server: 0,
    };
    assert_eq!(looks_like_pop3(b"", b"+OK POP3 ready\r\n"), Yes);
    assert_eq!(looks_like_pop3(b"", b"+OK\r\n"), Yes);
    assert_eq!(looks_like_pop3(b"", b"+OK Dove"), Yes);
    assert_eq!(looks_like_pop3(b"", b"+O"), NeedMore);
    assert_eq!(looks_like_pop3(b"", b""), NeedMore);
    assert_eq!(looks_like_pop3(b"", b"+PONG\r\n"), No);
    assert_eq!(looks_like_pop3(b"", b"220 smtp ready\r\n"), No);
    assert_eq!(looks_like_pop3(b"CAPA\r\n", b""), Yes);
    assert_eq!(looks_like_pop3(b"USER bob\r\n", b""), Yes);
    assert_eq!(looks_like_pop3(b"USER b", b""), Yes);
    assert_eq!(looks_like_pop3(b"US", b""), NeedMore);
    assert_eq!(looks_like_pop3(b"*1\r", b""), No);
    assert_eq!(looks_like_pop3(b"GET", b""), No);
    assert_eq!(looks_like_pop3(b"STAT\r\n", b""), NeedMore);
    assert_eq!(looks_like_pop3(b"STAT\r\n", b"+OK 1 2\r\n"), Yes);
    assert_eq!(looks_like_pop3(b"GET / HTTP/1.1\r\n", b""), No);
    assert_eq!(looks_like_pop3(b"\x16\x03\x01\x02\x00", b""), No);
    assert_eq!(
        looks_like_pop3(b"USER bob\r\n", b"HTTP/1.1 400 Bad\r\n"),
        No
    );
}

#[test]
fn mid_session_capture_without_banner_is_pop3_by_commands() {
    let (o, pop3) = run(&[
        (C, b"STAT\r\n"),
        (S, b"+OK 1 10\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"+OK\r\n"),
    ]);
    assert!(pop3);
    assert_eq!(o.banner, None);
    assert!(!o.complete, "no greeting seen");
    assert_eq!(detail(&o).stat, Some((1, 10)));
}

#[test]
fn server_only_and_client_only_streams() {
    let (o, pop3) = run(&[
        (S, b"+OK ready\r\n"),
        (S, b"+OK 1 10\r\n"),
        (S, b"+OK\r\nSubject: x\r\n.\r\n"),
    ]);
    assert!(pop3, "the greeting is evidence");
    assert!(o.commands.is_empty() && o.messages.is_empty());
    assert_eq!(o.anomalies.len(), 4, "{:?}", o.anomalies);

    let (o, pop3) = run(&[(C, b"USER bob\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n")]);
    assert!(!pop3, "no reply: no evidence");
    assert_eq!(o.commands.len(), 5);
    let c = &o.credentials[0];
    assert_eq!((c.password.as_deref(), c.success), (Some("secret"), None));
    assert!(o.commands.iter().all(|c| c.reply.is_none()));
}

#[test]
fn endless_line_is_bounded() {
    let mut cfg = Pop3Config::default();
    cfg.limits.max_line = 1024;
    cfg.limits.max_text = 100;
    cfg.limits.max_dialogue = 50;
    let chunk = vec![b'A'; 64 * 1024];
    let mut steps = vec![Step::D(S, b"+OK ready\r\n")];
    for _ in 0..32 {
        steps.push(Step::D(C, &chunk));
    }
    steps.push(Step::D(C, b"\r\nNOOP\r\n"));
    steps.push(Step::D(S, b"-ERR what\r\n+OK\r\n"));
    let (o, _) = run_with(&cfg, &steps, EndReason::Fin);
    assert_eq!(o.commands.len(), 2);
    assert_eq!(o.commands[0].verb.len(), 32);
    assert!(o.truncated.contains(&"command".to_string()));
    assert!(o.dialogue.len() <= 50);
    assert_eq!(verbs(&o)[1], "NOOP =+OK");

    // Endless message line: bytes stay exact, memory bounded by the message limit.
    let mut cfg = Pop3Config::default();
    cfg.limits.max_line = 1024;
    cfg.message.keep_bytes = 4096;
    let mut steps = vec![
        Step::D(S, b"+OK ready\r\n"),
        Step::D(C, b"RETR 1\r\n"),
        Step::D(S, b"+OK\r\n"),
    ];
    for _ in 0..16 {
        steps.push(Step::D(S, &chunk));
    }
    steps.push(Step::D(S, b"\r\n.\r\n"));
    let (o, _) = run_with(&cfg, &steps, EndReason::Fin);
    let m = &o.messages[0];
    assert_eq!(m.size, 16 * 64 * 1024 + 2);
    let mut whole = vec![b'A'; 16 * 64 * 1024];
    whole.extend_from_slice(b"\r\n");
    assert_eq!(m.sha256, sha(&whole));
    assert!(m.complete && m.data.is_none());
}

#[test]
fn transcript_entries() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"RETR 1\r\n"),
        (S, b"+OK\r\na\r\nb\r\n.\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"+OK bye\r\n"),
    ]);
    let t: Vec<String> = o
        .dialogue
        .iter()
        .map(|e| {
            let who = if e.from == C { "C" } else { "S" };
            match &e.event {
                DialogueEvent::Line { line } => format!("{} {who} {line}", e.frame),
                DialogueEvent::Body {
                    lines,
                    bytes,
                    message,
                } => format!("{} {who} body {lines}/{bytes} {message:?}", e.frame),
                other => format!("{} {who} {other:?}", e.frame),
            }
        })
        .collect();
    assert_eq!(
        t,
        [
            "1 S +OK ready",
            "2 C RETR 1",
            "3 S +OK",
            "3 S body 2/6 Some(\"0\")",
            "3 S .",
            "4 C QUIT",
            "5 S +OK bye",
        ]
    );
    assert_eq!(
        o.messages[0].id, "0",
        "local id, referenced by the Body entry"
    );
}

/// zeek/pop3-unknown-commands.pcap: bare LF endings and binary junk before a reply.
#[test]
fn junk_before_reply_and_bare_lf() {
    let (o, pop3) = run(&[
        (S, b"+OK example.com POP3-Server\n"),
        (C, b"USER zeek@zeek.org\n"),
        (S, b"+OK Please enter your password\n"),
        (C, b"PASS zeek\n"),
        (S, b"+OK mailbox locked and ready\n"),
        (C, b"STAT\n"),
        (S, b"+\x00\xff\x80\x13x\r\n"),
        (S, b"\x01\x02\x03'\n"),
        (S, b"x\n"),
        (S, b"+OK 1 236\n"),
        (C, b"QUIT\n"),
        (S, b"+OK Bye\n"),
    ]);
    assert!(pop3 && o.complete);
    assert_eq!(detail(&o).stat, Some((1, 236)));
    assert_eq!(o.credentials[0].success, Some(true));
    assert_eq!(o.anomalies.len(), 3);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]
        /// Arbitrary POP3-flavoured bytes on both sides, arbitrary chunking and gaps: no panic,
        /// outputs bounded.
        #[test]
        fn never_panics(chunks in proptest::collection::vec(
            (any::<bool>(), any::<u8>(), proptest::collection::vec(
                prop_oneof![
                    Just(b"+OK ".to_vec()), Just(b"-ERR".to_vec()), Just(b"\r\n".to_vec()),
                    Just(b".\r\n".to_vec()), Just(b"RETR 1\r\n".to_vec()), Just(b"LIST\r\n".to_vec()),
                    Just(b"AUTH PLAIN\r\n".to_vec()), Just(b"+ \r\n".to_vec()), Just(b"STLS\r\n".to_vec()),
                    Just(b"USER a\r\nPASS b\r\n".to_vec()), Just(b"APOP x y\r\n".to_vec()),
                    proptest::collection::vec(any::<u8>(), 0..20),
                ], 0..8)),
            0..40)) {
            let mut cfg = Pop3Config::default();
            cfg.limits.max_line = 16;
            cfg.limits.max_pending = 4;
            cfg.limits.max_dialogue = 64;
            let mut d = Pop3Dissector::new(&cfg);
            for (i, (client, g, parts)) in chunks.iter().enumerate() {
                let side = if *client { C } else { S };
                let m = meta(i as u64 + 1);
                if *g == 0 {
                    d.gap(side, 5, m);
                }
                d.data(side, &parts.concat(), m);
            }
            d.end(EndReason::Rst, meta(999));
            let _ = d.is_pop3();
            let o = d.finish();
            prop_assert!(o.dialogue.len() <= 64);
        }
    }
}

#[test]
fn stls_signals_the_tls_offset_and_reads_plaintext_when_told() {
    let mut d = Pop3Dissector::new(&Pop3Config::default());
    d.data(S, b"+OK ready\r\n", meta(1));
    d.data(C, b"STLS\r\n", meta(2));
    d.data(S, b"+OK Begin TLS\r\n", meta(3));
    assert_eq!(d.take_tls_start(), None);
    let hello = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00";
    d.data(C, hello, meta(4));
    // Every byte of that call is TLS; asked once.
    assert_eq!(d.take_tls_start(), Some(hello.len()));
    assert_eq!(d.take_tls_start(), None);
    d.data(S, b"\x16\x03\x03\x00\x01\x02", meta(5));
    // The transport decrypted the session: plaintext from here on.
    d.tls_decrypted();
    d.data(C, b"USER ana\r\n", meta(6));
    d.data(S, b"+OK\r\n", meta(7));
    d.data(C, b"PASS secret\r\n", meta(8));
    d.data(S, b"+OK logged in\r\n", meta(9));
    d.data(C, b"RETR 1\r\n", meta(10));
    d.data(S, b"+OK 5 octets\r\nhi\r\n.\r\n", meta(11));
    d.data(C, b"QUIT\r\n", meta(12));
    d.data(S, b"+OK bye\r\n", meta(13));
    d.end(EndReason::Fin, meta(14));
    let o = d.finish();
    assert_eq!(o.tls, Tls::Starttls);
    let c = &o.credentials[0];
    assert_eq!(
        (c.username.as_deref(), c.password.as_deref(), c.encrypted),
        (Some("ana"), Some("secret"), true)
    );
    assert!(o.messages[0].encrypted);
    assert_eq!(o.messages[0].size, 4);
    // Protected on the wire: no clear-text finding.
    assert!(codes(&o).is_empty(), "{:?}", codes(&o));
    assert!(o.complete, "QUIT answered inside TLS");
}

#[test]
fn stls_refused_then_clear_text_is_a_finding() {
    let (o, _) = run(&[
        (S, b"+OK ready\r\n"),
        (C, b"STLS\r\n"),
        (S, b"-ERR TLS not available\r\n"),
        (C, b"USER ana\r\n"),
        (S, b"+OK\r\n"),
        (C, b"PASS pw\r\n"),
        (S, b"+OK\r\n"),
    ]);
    assert_eq!(o.tls, Tls::None);
    assert_eq!(codes(&o), ["cleartext-auth", "starttls-refused"]);
    assert!(o.findings[1].detail.contains("USER, frame 4"));
}
