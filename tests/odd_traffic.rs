//! Issue 12: traffic nobody planned for — ports that lie, servers that are silent or odd,
//! protocols that look like mail. Each capture is crafted with the adversarial capture
//! helpers (`scripts/adversarial/captures.rs`: Ethernet/IPv4/TCP with a handshake, the
//! given segments, both FINs) and run through the whole pipeline (`analyze_file`).

#[path = "../scripts/adversarial/captures.rs"]
mod captures;

use captures::Conn;
use pcapmail::analysis::{analyze_file, CaptureResult, Config};
use pcapmail::model::{Protocol, ProtocolDetail, Tls};

/// One write on the wire: (0 client / 1 server, bytes).
type Script<'a> = &'a [(usize, &'a [u8])];

/// A capture of one connection from client port 40000 to `port` carrying `script`.
fn capture(name: &str, port: u16, script: Script) -> std::path::PathBuf {
    let mut v = Vec::new();
    captures::pcap_header(&mut v, 65535).unwrap();
    let mut c = Conn::open(&mut v, 40000, port).unwrap();
    for (d, b) in script {
        c.send(*d, b).unwrap();
    }
    c.close().unwrap();
    let p = std::env::temp_dir().join(format!("pcapmail-odd-{}-{name}.pcap", std::process::id()));
    std::fs::write(&p, v).unwrap();
    p
}

fn run(name: &str, port: u16, script: Script) -> CaptureResult {
    run_cfg(name, port, script, &Config::default())
}

fn run_cfg(name: &str, port: u16, script: Script, cfg: &Config) -> CaptureResult {
    let p = capture(name, port, script);
    let r = analyze_file(&p, cfg, 1).unwrap();
    let _ = std::fs::remove_file(&p);
    r
}

fn codes(r: &CaptureResult) -> Vec<&str> {
    r.sessions[0]
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect()
}

const SMTP_AUTH_AND_MAIL: &[(usize, &[u8])] = &[
    (1, b"220 mx.example ESMTP\r\n"),
    (0, b"EHLO c.example\r\n"),
    (1, b"250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n"),
    // "\0ana\0secret-1"
    (0, b"AUTH PLAIN AGFuYQBzZWNyZXQtMQ==\r\n"),
    (1, b"235 2.7.0 ok\r\n"),
    (0, b"MAIL FROM:<ana@example.org>\r\n"),
    (1, b"250 ok\r\n"),
    (0, b"RCPT TO:<bo@example.org>\r\n"),
    (1, b"250 ok\r\n"),
    (0, b"DATA\r\n"),
    (1, b"354 go\r\n"),
    (0, b"Subject: hi\r\n\r\nhello\r\n.\r\n"),
    (1, b"250 queued\r\n"),
    (0, b"QUIT\r\n"),
    (1, b"221 bye\r\n"),
];

const POP3_USER_PASS: &[(usize, &[u8])] = &[
    (1, b"+OK POP3 ready\r\n"),
    (0, b"USER cyd\r\n"),
    (1, b"+OK\r\n"),
    (0, b"PASS pop-secret\r\n"),
    (1, b"+OK logged in\r\n"),
    (0, b"RETR 1\r\n"),
    (1, b"+OK 20 octets\r\nSubject: x\r\n\r\nbody\r\n.\r\n"),
    (0, b"QUIT\r\n"),
    (1, b"+OK bye\r\n"),
];

fn assert_smtp_in_clear(r: &CaptureResult, what: &str) {
    assert_eq!(r.sessions.len(), 1, "{what}: {:?}", r.capture.counters);
    let s = &r.sessions[0];
    assert_eq!(s.protocol, Protocol::Smtp, "{what}");
    assert_eq!(s.tls, Tls::None, "{what}");
    assert_eq!(s.banner.as_deref(), Some("mx.example ESMTP"), "{what}");
    assert_eq!(r.credentials.len(), 1, "{what}");
    assert_eq!(
        r.credentials[0].password.as_deref(),
        Some("secret-1"),
        "{what}"
    );
    assert!(!r.credentials[0].encrypted, "{what}");
    assert_eq!(r.messages.len(), 1, "{what}");
}

fn assert_pop3_in_clear(r: &CaptureResult, what: &str) {
    assert_eq!(r.sessions.len(), 1, "{what}: {:?}", r.capture.counters);
    let s = &r.sessions[0];
    assert_eq!(s.protocol, Protocol::Pop3, "{what}");
    assert_eq!(s.tls, Tls::None, "{what}");
    assert_eq!(r.credentials.len(), 1, "{what}");
    assert_eq!(
        r.credentials[0].password.as_deref(),
        Some("pop-secret"),
        "{what}"
    );
    assert_eq!(r.messages.len(), 1, "{what}");
}

/// A TLS 1.2 ClientHello record header and the start of its body.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03abcdefghijklmnopqrstuvwxyz012345\x00\x00\x02\x00\x2f\x01\x00";
const SERVER_HELLO: &[u8] =
    b"\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\x00\x00\x2f\x00";

/// Item 1: cleartext SMTP on 465 (malware does this; servers answer `220 ... ESMTP`
/// there) is parsed as clear text; TLS on 465 stays implicit TLS.
#[test]
fn cleartext_smtp_on_465_is_parsed_not_taken_as_tls() {
    let r = run("465-clear", 465, SMTP_AUTH_AND_MAIL);
    assert_smtp_in_clear(&r, "SMTP in clear on 465");
    assert!(codes(&r).contains(&"cleartext-auth"));
    let r = run("465-tls", 465, &[(0, CLIENT_HELLO), (1, SERVER_HELLO)]);
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(r.sessions[0].tls, Tls::Implicit);
    assert!(r.credentials.is_empty());
}

/// Item 1 and 2: cleartext POP3 on 995 is parsed; TLS on 995 stays implicit.
#[test]
fn cleartext_pop3_on_995_is_parsed_not_taken_as_tls() {
    let r = run("995-clear", 995, POP3_USER_PASS);
    assert_pop3_in_clear(&r, "POP3 in clear on 995");
    let r = run("995-tls", 995, &[(0, CLIENT_HELLO), (1, SERVER_HELLO)]);
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(r.sessions[0].protocol, Protocol::Pop3);
    assert_eq!(r.sessions[0].tls, Tls::Implicit);
}

/// Item 2: a configured port's protocol is a hint; the content decides.
#[test]
fn pop3_on_port_25_and_smtp_on_port_110_are_found() {
    let r = run("pop3-on-25", 25, POP3_USER_PASS);
    assert_pop3_in_clear(&r, "POP3 on 25");
    let r = run("smtp-on-110", 110, SMTP_AUTH_AND_MAIL);
    assert_smtp_in_clear(&r, "SMTP on 110");
    // Also with `--smtp-ports 2525 --pop3-ports 2525`-like overlaps: the first bytes win.
    let cfg = Config {
        smtp_ports: vec![],
        pop3_ports: vec![2626],
        ..Config::default()
    };
    let r = run_cfg("smtp-on-pop3-port", 2626, SMTP_AUTH_AND_MAIL, &cfg);
    assert_smtp_in_clear(&r, "SMTP on a configured POP3 port");
}

const FTP: &[(usize, &[u8])] = &[
    (1, b"220 (vsFTPd 3.0.5)\r\n"),
    (0, b"USER anonymous\r\n"),
    (1, b"331 Please specify the password.\r\n"),
    (0, b"PASS guest@\r\n"),
    (1, b"230 Login successful.\r\n"),
    (0, b"SYST\r\n"),
    (1, b"215 UNIX Type: L8\r\n"),
    (0, b"PWD\r\n"),
    (1, b"257 \"/\" is the current directory\r\n"),
    (0, b"TYPE I\r\n"),
    (1, b"200 Switching to Binary mode.\r\n"),
    (0, b"PASV\r\n"),
    (1, b"227 Entering Passive Mode (10,0,0,2,200,10).\r\n"),
    (0, b"RETR notes.txt\r\n"),
    (
        1,
        b"150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n",
    ),
    (0, b"QUIT\r\n"),
    (1, b"221 Goodbye.\r\n"),
];

/// Item 3: FTP (a `220` banner, USER/PASS) on 21 and 2121 is not mail; neither is an FTP
/// login that never got further than USER/PASS, nor a server-only FTP capture.
#[test]
fn ftp_on_port_21_and_2121_is_not_reported_as_smtp() {
    for port in [21, 2121] {
        let r = run(&format!("ftp-{port}"), port, FTP);
        assert!(r.sessions.is_empty(), "port {port}: {:?}", r.sessions);
        assert!(r.credentials.is_empty());
    }
    let r = run("ftp-short", 21, &FTP[..5]);
    assert!(r.sessions.is_empty(), "{:?}", r.sessions);
    let server_only: Vec<(usize, &[u8])> = FTP.iter().copied().filter(|e| e.0 == 1).collect();
    let r = run("ftp-server-only", 21, &server_only);
    assert!(r.sessions.is_empty(), "{:?}", r.sessions);
    // SMTP stays SMTP, on any port, even with an FTP-like command in it.
    let mut smtp: Vec<(usize, &[u8])> = SMTP_AUTH_AND_MAIL.to_vec();
    smtp.insert(3, (0, b"USER x\r\n"));
    smtp.insert(4, (1, b"502 5.5.2 Error: command not recognized\r\n"));
    let r = run("smtp-2121", 2121, &smtp);
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(r.sessions[0].protocol, Protocol::Smtp);
}

/// Item 4: after `220` to STARTTLS, bytes that are not a TLS record (a client that goes on
/// in clear, a broken proxy) are parsed, and the session says so with a finding; a real
/// TLS record still makes the rest opaque.
#[test]
fn cleartext_after_starttls_220_is_parsed_with_a_finding() {
    let script: &[(usize, &[u8])] = &[
        (1, b"220 mx.example ESMTP\r\n"),
        (0, b"EHLO c.example\r\n"),
        (1, b"250-mx.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
        (0, b"STARTTLS\r\n"),
        (1, b"220 2.0.0 Ready to start TLS\r\n"),
        (0, b"AUTH PLAIN AGFuYQBzZWNyZXQtMQ==\r\n"),
        (1, b"235 2.7.0 ok\r\n"),
        (0, b"QUIT\r\n"),
        (1, b"221 bye\r\n"),
    ];
    let r = run("starttls-clear", 25, script);
    assert_eq!(r.sessions.len(), 1);
    let s = &r.sessions[0];
    assert_eq!(s.tls, Tls::None);
    assert_eq!(r.credentials.len(), 1);
    assert_eq!(r.credentials[0].password.as_deref(), Some("secret-1"));
    assert_eq!(r.credentials[0].success, Some(true));
    let c = codes(&r);
    assert!(c.contains(&"starttls-not-negotiated"), "{c:?}");
    assert!(c.contains(&"cleartext-auth"), "{c:?}");
    assert!(s.complete);

    let tls: &[(usize, &[u8])] = &[
        (1, b"220 mx.example ESMTP\r\n"),
        (0, b"EHLO c.example\r\n"),
        (1, b"250-mx.example\r\n250 STARTTLS\r\n"),
        (0, b"STARTTLS\r\n"),
        (1, b"220 2.0.0 Ready to start TLS\r\n"),
        (0, CLIENT_HELLO),
        (1, SERVER_HELLO),
        (0, b"\x17\x03\x03\x00\x05AUTH "),
    ];
    let r = run("starttls-tls", 25, tls);
    assert_eq!(r.sessions[0].tls, Tls::Starttls);
    assert!(r.credentials.is_empty());
    assert!(!codes(&r).contains(&"starttls-not-negotiated"));
}

/// Item 4, POP3: the same after `+OK` to STLS.
#[test]
fn cleartext_after_stls_ok_is_parsed_with_a_finding() {
    let script: &[(usize, &[u8])] = &[
        (1, b"+OK POP3 ready\r\n"),
        (0, b"CAPA\r\n"),
        (1, b"+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        (0, b"STLS\r\n"),
        (1, b"+OK Begin TLS negotiation\r\n"),
        (0, b"USER cyd\r\n"),
        (1, b"+OK\r\n"),
        (0, b"PASS pop-secret\r\n"),
        (1, b"+OK logged in\r\n"),
        (0, b"QUIT\r\n"),
        (1, b"+OK bye\r\n"),
    ];
    let r = run("stls-clear", 110, script);
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(r.sessions[0].tls, Tls::None);
    assert_eq!(r.credentials.len(), 1);
    assert_eq!(r.credentials[0].password.as_deref(), Some("pop-secret"));
    assert!(
        codes(&r).contains(&"starttls-not-negotiated"),
        "{:?}",
        codes(&r)
    );

    let tls: &[(usize, &[u8])] = &[
        (1, b"+OK POP3 ready\r\n"),
        (0, b"STLS\r\n"),
        (1, b"+OK Begin TLS negotiation\r\n"),
        (0, CLIENT_HELLO),
        (1, SERVER_HELLO),
    ];
    let r = run("stls-tls", 110, tls);
    assert_eq!(r.sessions[0].tls, Tls::Starttls);
    assert!(!codes(&r).contains(&"starttls-not-negotiated"));
}

#[allow(dead_code)]
fn smtp(r: &CaptureResult) -> &pcapmail::model::SmtpDetail {
    match &r.sessions[0].detail {
        ProtocolDetail::Smtp(d) => d,
        _ => panic!("not SMTP"),
    }
}

/// Item 13: display names keep what makes them one address: `"Buchanan, Bill" <b@x>` stays
/// quoted (a comma or other special inside), plain names stay as they are.
#[test]
fn display_names_keep_their_quotes() {
    use pcapmail::proto::mime::{parse_streaming, MimeLimits};
    let msg = b"From: \"Buchanan, Bill\" <b@x.test>\r\nTo: \"O'Neil, Ann (Ops)\" <a@x.test>, Cyd <c@x.test>, =?utf-8?Q?M=C3=BCller=2C_Hans?= <h@x.test>, \"say \\\"hi\\\"\" <q@x.test>\r\nSubject: s\r\n\r\nbody\r\n";
    let info = parse_streaming(msg, &MimeLimits::default(), false, 0);
    assert_eq!(
        info.headers.from.as_deref(),
        Some("\"Buchanan, Bill\" <b@x.test>")
    );
    assert_eq!(
        info.headers.to,
        [
            "\"O'Neil, Ann (Ops)\" <a@x.test>",
            "Cyd <c@x.test>",
            "\"Müller, Hans\" <h@x.test>",
            "\"say \\\"hi\\\"\" <q@x.test>",
        ]
    );
}

/// Item 10: a snaplen-truncated capture says so in a warning (not only a counter).
#[test]
fn snaplen_truncated_capture_warns() {
    let mut v = Vec::new();
    captures::pcap_header(&mut v, 96).unwrap();
    {
        let mut c = Conn::open(&mut v, 40000, 25).unwrap();
        c.send(1, b"220 mx.example ESMTP\r\n").unwrap();
        c.send(0, b"EHLO c\r\n").unwrap();
    }
    // Rewrite the second data record as cut by a snap length: incl_len < orig_len.
    let mut off = 24;
    let mut n = 0;
    while off < v.len() {
        let incl = u32::from_le_bytes(v[off + 8..off + 12].try_into().unwrap()) as usize;
        n += 1;
        if n == 5 {
            let keep = incl - 4;
            v[off + 8..off + 12].copy_from_slice(&(keep as u32).to_le_bytes());
            v.drain(off + 16 + keep..off + 16 + incl);
            break;
        }
        off += 16 + incl;
    }
    let p = std::env::temp_dir().join(format!("pcapmail-odd-{}-snaplen.pcap", std::process::id()));
    std::fs::write(&p, &v).unwrap();
    let r = analyze_file(&p, &Config::default(), 1).unwrap();
    let _ = std::fs::remove_file(&p);
    assert_eq!(r.capture.counters.get("capture.snaplen_cut"), Some(&1));
    assert!(
        r.capture
            .warnings
            .iter()
            .any(|w| w.message.contains("snap length") && w.frame == Some(5)),
        "{:?}",
        r.capture.warnings
    );
}

/// Item 12 through the pipeline: the forwarded PDF inside an attached .eml is listed
/// with `container`, and the JSON says so.
#[test]
fn attachment_inside_attached_message_is_reported_with_container() {
    let body = b"From: a@example.org\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nsee\r\n--BB\r\nContent-Type: message/rfc822; name=\"fwd.eml\"\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--in--\r\n--BB--\r\n";
    let mut v = Vec::new();
    captures::smtp_with_message(&mut v, body).unwrap();
    let p = std::env::temp_dir().join(format!("pcapmail-odd-{}-fwd.pcap", std::process::id()));
    std::fs::write(&p, &v).unwrap();
    let r = analyze_file(&p, &Config::default(), 1).unwrap();
    let _ = std::fs::remove_file(&p);
    let a = &r.messages[0].attachments;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[1].filename.as_deref(), Some("r.pdf"));
    assert_eq!(a[1].container.as_deref(), Some("2"));
    assert_eq!(a[1].size, 5);
    let json = serde_json::to_value(&r.messages[0]).unwrap();
    assert_eq!(json["attachments"][1]["container"], "2");
    assert!(json["attachments"][0].get("container").is_none());
}
