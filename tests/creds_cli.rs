//! `pcapmail creds` against samples/truth.json: table rows, JSON, JSON lines, CSV, the
//! hashcat lines (recomputed from the known passwords), the summary, and `--redact` in
//! every output format (also on `analyze`).

#[path = "../scripts/adversarial/captures.rs"]
mod captures;
mod common;

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::Value;
use std::collections::HashSet;
use std::process::{Command, Output};

/// Runs pcapmail with standard output piped and no COLUMNS: tables are not fitted to a
/// width, so every credential is a row.
fn pcapmail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcapmail"))
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .unwrap()
}

fn ok_stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn truth() -> Value {
    let text = std::fs::read_to_string(common::sample("truth.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every sample with its truth, in truth order.
fn samples() -> Vec<(String, Value)> {
    truth()
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn sample_paths() -> Vec<String> {
    samples()
        .iter()
        .map(|(k, _)| common::sample(k).display().to_string())
        .collect()
}

/// (file, server ip, credential) for every credential of the truth.
fn truth_credentials() -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (file, t) in samples() {
        for s in t["sessions"].as_array().unwrap() {
            for c in s["credentials"].as_array().unwrap() {
                out.push((
                    file.clone(),
                    s["server_ip"].as_str().unwrap().to_string(),
                    c.clone(),
                ));
            }
        }
    }
    out
}

fn hmac_md5(key: &[u8], msg: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Md5::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[test]
fn hmac_md5_matches_rfc_2104_vector() {
    // RFC 2104 test vector 2.
    assert_eq!(
        hex::encode(hmac_md5(b"Jefe", b"what do ya want for nothing?")),
        "750c783e6ab0b503eaa86e310a5db738"
    );
}

#[test]
fn table_lists_every_credential_of_the_truth() {
    let mut args = vec!["creds".to_string()];
    args.extend(sample_paths());
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let text = ok_stdout(&pcapmail(&args));
    let lines: Vec<&str> = text.lines().collect();
    for (file, _, c) in truth_credentials() {
        let user = c["username"].as_str().unwrap();
        let mech = c["mechanism"].as_str().unwrap();
        let secret = match (c["password"].as_str(), c["challenge"].as_str()) {
            (Some(p), _) => p.to_string(),
            // CRAM-MD5: the hash line holds the challenge in base64.
            (None, Some(ch)) => base64::engine::general_purpose::STANDARD.encode(ch),
            // APOP: digest:timestamp.
            (None, None) => c["digest"].as_str().unwrap().to_string(),
        };
        let verdict = if c["success"].as_bool().unwrap() {
            "accepted"
        } else {
            "rejected"
        };
        assert!(
            lines.iter().any(|l| l.contains(&format!(" {mech} "))
                && l.contains(user)
                && l.contains(&secret)
                && l.contains(verdict)),
            "{file}: no row for {mech} {user} {secret} {verdict} in\n{text}"
        );
    }
    assert!(text.contains("Findings per server"));
}

/// Every attempt (`--all`): the truth lists attempts, not distinct credentials.
fn creds_json(paths: &[String]) -> Value {
    let mut args = vec!["creds", "--format", "json", "--all"];
    args.extend(paths.iter().map(|s| s.as_str()));
    serde_json::from_str(&ok_stdout(&pcapmail(&args))).unwrap()
}

#[test]
fn json_matches_the_truth_file_by_file() {
    let doc = creds_json(&sample_paths());
    assert_eq!(doc["schema"], "pcapmail/1");
    let creds = doc["credentials"].as_array().unwrap();
    for (file, _) in samples() {
        let want: Vec<(String, String, Option<String>, bool)> = truth_credentials()
            .into_iter()
            .filter(|(f, _, _)| *f == file)
            .map(|(_, _, c)| {
                (
                    c["mechanism"].as_str().unwrap().to_string(),
                    c["username"].as_str().unwrap().to_string(),
                    c["password"].as_str().map(String::from),
                    c["success"].as_bool().unwrap(),
                )
            })
            .collect();
        let got: Vec<(String, String, Option<String>, bool)> = creds
            .iter()
            .filter(|c| {
                c["capture"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{file}"))
            })
            .map(|c| {
                (
                    c["mechanism"].as_str().unwrap().to_string(),
                    c["username"].as_str().unwrap().to_string(),
                    c["password"].as_str().map(String::from),
                    c["success"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want, "{file}");
    }
    for c in creds {
        assert_eq!(c["encrypted"], false);
        assert_eq!(c["session_tls"], "none");
        assert!(c["time"].as_str().unwrap().ends_with('Z'));
        assert!(c["frame"].as_u64().unwrap() >= 1);
        let exposure = if c["password"].is_string() {
            "plaintext"
        } else {
            "hash"
        };
        assert_eq!(c["exposure"], exposure);
    }
}

#[test]
fn summary_numbers_follow_the_truth() {
    let paths = sample_paths();
    let doc = creds_json(&paths);
    let (mut plain, mut plain_ok, mut hashes, mut hashes_ok) = (0, 0, 0, 0);
    let (mut accounts, mut servers) = (HashSet::new(), HashSet::new());
    let (mut h_accounts, mut h_servers) = (HashSet::new(), HashSet::new());
    for (_, ip, c) in truth_credentials() {
        let user = c["username"].as_str().unwrap().to_string();
        let ok = c["success"].as_bool().unwrap();
        if c["password"].is_string() {
            plain += 1;
            plain_ok += ok as u64;
            accounts.insert((ip.clone(), user));
            servers.insert(ip);
        } else {
            hashes += 1;
            hashes_ok += ok as u64;
            h_accounts.insert((ip.clone(), user));
            h_servers.insert(ip);
        }
    }
    let encrypted = samples()
        .iter()
        .flat_map(|(_, t)| t["sessions"].as_array().unwrap().clone())
        .filter(|s| s["starttls"] == true)
        .count();
    let s = &doc["summary"];
    assert_eq!(s["plaintext"]["credentials"], plain);
    assert_eq!(s["plaintext"]["accounts"], accounts.len());
    assert_eq!(s["plaintext"]["servers"], servers.len());
    assert_eq!(s["plaintext"]["accepted"], plain_ok);
    assert_eq!(s["hashes"]["credentials"], hashes);
    assert_eq!(s["hashes"]["accepted"], hashes_ok);
    assert_eq!(s["encrypted_sessions"], encrypted);
    let text = format!(
        "{plain} plaintext credentials for {} accounts on {} servers, {plain_ok} accepted; \
         {hashes} crackable hashes (CRAM-MD5/APOP) for {} accounts on {} server, {hashes_ok} \
         accepted; {encrypted} encrypted session (not readable)",
        accounts.len(),
        servers.len(),
        h_accounts.len(),
        h_servers.len()
    );
    assert_eq!(s["text"], text.as_str());
    // The table starts with the same line.
    let mut args = vec!["creds"];
    args.extend(paths.iter().map(|s| s.as_str()));
    let table = ok_stdout(&pcapmail(&args));
    assert_eq!(table.lines().next().unwrap(), text);
    // And the smallest case reads naturally.
    let one = creds_json(&[common::sample("smtp-auth-login.pcap").display().to_string()]);
    assert_eq!(
        one["summary"]["text"],
        "1 plaintext credential for 1 account on 1 server, 1 accepted"
    );
}

#[test]
fn findings_per_server() {
    let doc = creds_json(&[
        common::sample("smtp-auth-plain.pcap").display().to_string(),
        common::sample("smtp-starttls.pcap").display().to_string(),
        common::sample("pop3-user-pass.pcap").display().to_string(),
    ]);
    let servers = doc["servers"].as_array().unwrap();
    let find = |port: u64| {
        servers
            .iter()
            .find(|s| s["server"]["port"] == port)
            .unwrap_or_else(|| panic!("no server on {port}: {servers:?}"))
    };
    let s25 = find(25);
    assert_eq!(s25["protocol"], "smtp");
    assert_eq!(s25["sessions"], 2);
    assert_eq!(s25["credentials"], 2);
    assert_eq!(s25["findings"]["cleartext-auth"], 2);
    assert_eq!(s25["findings"]["starttls-offered-not-used"], 2);
    let s587 = find(587);
    assert_eq!(s587["tls_sessions"], 1);
    assert_eq!(s587["credentials"], 0);
    assert!(s587["findings"].get("cleartext-auth").is_none());
    let s110 = find(110);
    assert_eq!(s110["protocol"], "pop3");
    assert_eq!(s110["findings"]["cleartext-auth"], 1);
}

#[test]
fn jsonl_records_parse_one_by_one() {
    let paths = sample_paths();
    let doc = creds_json(&paths);
    let mut args = vec!["creds", "--format", "jsonl", "--all"];
    args.extend(paths.iter().map(|s| s.as_str()));
    let text = ok_stdout(&pcapmail(&args));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let creds: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "credential")
        .collect();
    assert_eq!(creds.len(), doc["credentials"].as_array().unwrap().len());
    for (r, c) in creds.iter().zip(doc["credentials"].as_array().unwrap()) {
        assert_eq!(r["username"], c["username"]);
        assert_eq!(r["password"], c["password"]);
        assert_eq!(r["hash"], c["hash"]);
    }
    assert_eq!(
        records.iter().filter(|r| r["type"] == "server").count(),
        doc["servers"].as_array().unwrap().len()
    );
    let last = records.last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["text"], doc["summary"]["text"]);
}

/// A minimal RFC 4180 reader: quoted fields with doubled quotes, CRLF records.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
        } else {
            match c {
                '"' => {
                    assert!(field.is_empty(), "quote inside an unquoted field");
                    quoted = true;
                }
                ',' => row.push(std::mem::take(&mut field)),
                '\r' => assert_eq!(chars.next(), Some('\n'), "bare CR"),
                '\n' => panic!("bare LF outside quotes"),
                c => field.push(c),
            }
            if c == '\r' {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "unterminated"
    );
    rows
}

#[test]
fn csv_parses_and_matches_json() {
    let paths = sample_paths();
    let doc = creds_json(&paths);
    let mut args = vec!["creds", "--format", "csv", "--all"];
    args.extend(paths.iter().map(|s| s.as_str()));
    let rows = parse_csv(&ok_stdout(&pcapmail(&args)));
    assert_eq!(rows[0], pcapmail::report::creds::CSV_COLUMNS);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let creds = doc["credentials"].as_array().unwrap();
    assert_eq!(rows.len() - 1, creds.len());
    for (r, c) in rows[1..].iter().zip(creds) {
        assert_eq!(r.len(), rows[0].len());
        assert_eq!(r[col("username")], c["username"].as_str().unwrap());
        assert_eq!(r[col("password")], c["password"].as_str().unwrap_or(""));
        assert_eq!(r[col("hash")], c["hash"].as_str().unwrap_or(""));
        assert_eq!(r[col("mechanism")], c["mechanism"].as_str().unwrap());
        assert_eq!(r[col("time")], c["time"].as_str().unwrap());
        assert_eq!(
            r[col("success")],
            c["success"].as_bool().unwrap().to_string()
        );
    }
}

#[test]
fn csv_quotes_commas_quotes_and_newlines() {
    let path = common::sample("smtp-auth-plain.pcap");
    let (mut report, failures) = pcapmail::analysis::analyze(&[&path], &Default::default());
    assert!(failures.is_empty());
    let tricky_user = "a,b \"quoted\"\r\nsecond line";
    let tricky_pw = " lead,\"\"\n";
    report.credentials[0].username = Some(tricky_user.to_string());
    report.credentials[0].password = Some(tricky_pw.to_string());
    report.credentials[1].reply = Some("x\x1b[2Jy".to_string());
    let mut out = Vec::new();
    pcapmail::report::creds::write_csv(&mut out, &report).unwrap();
    let text = String::from_utf8(out).unwrap();
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][8], tricky_user);
    assert_eq!(rows[1][9], tricky_pw);
    assert_eq!(rows[2][15], "x\x1b[2Jy");
}

/// Issue 12, item 18: one rule for CSV, RFC 4180 quoting that keeps every byte. A password
/// holding CR, LF, CRLF, ESC and other controls reads back from the CSV (through the
/// binary, as a user gets it) equal to the JSON value.
#[test]
fn csv_password_with_cr_lf_esc_round_trips_equal_to_json() {
    let pw = "a\rb\nc\r\nd\x1b[31me\x7f\u{9b}f\t\"g,";
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0user\0{pw}"));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("csv-controls.pcap");
    let mut bytes = Vec::new();
    {
        let w = &mut bytes;
        captures::pcap_header(w, 65535).unwrap();
        let mut c = captures::Conn::open(w, 40100, 25).unwrap();
        c.send(1, b"220 mx.example ESMTP\r\n").unwrap();
        c.send(0, b"EHLO c\r\n").unwrap();
        c.send(1, b"250-mx.example\r\n250 AUTH PLAIN\r\n").unwrap();
        c.send(0, format!("AUTH PLAIN {plain}\r\n").as_bytes())
            .unwrap();
        c.send(1, b"235 2.7.0 ok\r\n").unwrap();
        c.send(0, b"QUIT\r\n").unwrap();
        c.send(1, b"221 bye\r\n").unwrap();
        c.close().unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    let p = path.display().to_string();
    let doc = creds_json(std::slice::from_ref(&p));
    let json_pw = doc["credentials"][0]["password"].as_str().unwrap();
    assert_eq!(json_pw, pw);
    let rows = parse_csv(&ok_stdout(&pcapmail(&["creds", "--format", "csv", &p])));
    assert_eq!(rows.len(), 2);
    let col = rows[0].iter().position(|c| c == "password").unwrap();
    assert_eq!(rows[1][col], json_pw);
}

fn truth_secret(file: &str) -> Value {
    truth()[file]["sessions"][0]["credentials"][0].clone()
}

#[test]
fn hashcat_files_per_mode_recompute_from_the_known_passwords() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("creds-hashcat");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("hashes.txt");
    let files = [
        "smtp-cram-md5.pcap",
        "pop3-cram-md5.pcap",
        "pop3-apop.pcap",
        "smtp-auth-login.pcap",
    ];
    let mut args: Vec<String> = vec![
        "creds".into(),
        "--format".into(),
        "json".into(),
        "--hashcat".into(),
        base.display().to_string(),
    ];
    args.extend(
        files
            .iter()
            .map(|f| common::sample(f).display().to_string()),
    );
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let doc: Value = serde_json::from_str(&ok_stdout(&pcapmail(&args))).unwrap();
    // One file per mode, named FILE.<mode>, and nothing at FILE itself.
    assert!(!base.exists());
    let read = |suffix: &str| {
        let p = dir.join(format!("hashes.txt.{suffix}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{suffix} readable by others: {mode:o}");
        }
        std::fs::read_to_string(&p).unwrap()
    };
    let cram = read("10200");
    let apop = read("20");
    let index = read("index.tsv");
    assert_eq!(cram.lines().count(), 2, "{cram}");
    assert_eq!(apop.lines().count(), 1, "{apop}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let by_file = [
        (&files[0], &cram, 0),
        (&files[1], &cram, 1),
        (&files[2], &apop, 0),
    ];
    for (f, text, n) in by_file {
        let t = truth_secret(f);
        let pw = t["password_for_cracking"].as_str().unwrap();
        let user = t["username"].as_str().unwrap();
        // `hashcat --username`: the user name, a colon, the hash.
        let (u, line) = text.lines().nth(n).unwrap().split_once(':').unwrap();
        assert_eq!(u, user, "{f}");
        if let Some(rest) = line.strip_prefix("$cram_md5$") {
            assert_eq!(pcapmail::report::creds::hashcat_mode(line), Some(10200));
            let (chal, resp) = rest.split_once('$').unwrap();
            let chal = b64.decode(chal).unwrap();
            let resp = String::from_utf8(b64.decode(resp).unwrap()).unwrap();
            assert_eq!(chal, t["challenge"].as_str().unwrap().as_bytes(), "{f}");
            let (u, digest) = resp.rsplit_once(' ').unwrap();
            assert_eq!(u, user, "{f}");
            assert_eq!(digest, hex::encode(hmac_md5(pw.as_bytes(), &chal)), "{f}");
        } else {
            assert_eq!(pcapmail::report::creds::hashcat_mode(line), Some(20));
            let (digest, salt) = line.split_once(':').unwrap();
            assert_eq!(salt, t["timestamp"].as_str().unwrap(), "{f}");
            assert!(salt.starts_with('<') && salt.ends_with('>'));
            let mut h = Md5::new();
            h.update(salt.as_bytes());
            h.update(pw.as_bytes());
            assert_eq!(digest, hex::encode(h.finalize()), "{f}");
        }
        // The same hash is the credential's `hash` in the JSON, and the index row names its
        // account, server, outcome, capture and frame.
        let c = doc["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["hash"] == *line)
            .unwrap();
        let row = format!(
            "{}\t{user}\t{}:{}\taccepted\t{}\t{}\tyes",
            pcapmail::report::creds::hashcat_mode(line).unwrap(),
            c["server"]["ip"].as_str().unwrap(),
            c["server"]["port"],
            common::sample(f).display(),
            c["frame"]
        );
        assert!(index.lines().any(|l| l == row), "{row} not in\n{index}");
    }
    assert_eq!(
        index.lines().next(),
        Some(pcapmail::report::hashcat::INDEX_HEADER)
    );
    assert_eq!(index.lines().count(), 4, "{index}");
}

#[test]
fn rejected_attempts_stay_out_of_the_hashcat_files_but_in_the_index() {
    let path = common::sample("pop3-apop.pcap");
    let (mut report, failures) = pcapmail::analysis::analyze(&[&path], &Default::default());
    assert!(failures.is_empty());
    let files = pcapmail::report::hashcat::hashcat_files(&report);
    assert_eq!(files.modes.len(), 1);
    report.credentials[0].success = Some(false);
    report.credentials[0].username = Some("odd:user\n".into());
    let files = pcapmail::report::hashcat::hashcat_files(&report);
    assert!(files.modes.is_empty(), "{:?}", files.modes);
    let row = files.index.lines().nth(1).unwrap();
    let cols: Vec<&str> = row.split('\t').collect();
    assert_eq!(cols[0], "20");
    assert_eq!(
        cols[1], "odd\\x3auser\\n",
        "a colon or line break must not split fields"
    );
    assert_eq!((cols[3], cols[6]), ("rejected", "no"));
    // Unknown outcome (no reply seen): written.
    report.credentials[0].success = None;
    let files = pcapmail::report::hashcat::hashcat_files(&report);
    assert!(files.modes[&20].starts_with("odd\\x3auser\\n:"));
}

#[test]
fn hashcat_and_redact_together_are_a_usage_error() {
    let out = pcapmail(&[
        "creds",
        "--redact",
        "--hashcat",
        "/nonexistent/h.txt",
        &common::sample("pop3-apop.pcap").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unreadable_capture_exits_1() {
    let out = pcapmail(&["creds", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(pcapmail(&["creds"]).status.code(), Some(2));
    assert_eq!(
        pcapmail(&["creds", "--format", "xml", "x"]).status.code(),
        Some(2)
    );
}

/// Every secret of the truth and of the unredacted output: passwords, digests, hashes
/// and the secret-bearing command arguments (base64 SASL responses, PASS, APOP).
fn secrets(paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, _, c) in truth_credentials() {
        for k in ["password", "password_for_cracking", "digest"] {
            if let Some(s) = c[k].as_str() {
                out.push(s.to_string());
            }
        }
    }
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(paths.iter().map(|s| s.as_str()));
    let doc: Value = serde_json::from_str(&ok_stdout(&pcapmail(&args))).unwrap();
    for c in doc["credentials"].as_array().unwrap() {
        for k in ["password", "token", "hash"] {
            if let Some(s) = c[k].as_str() {
                out.push(s.to_string());
            }
        }
    }
    for s in doc["sessions"].as_array().unwrap() {
        for c in s["commands"].as_array().unwrap() {
            let arg = c["arg"].as_str().unwrap();
            match c["verb"].as_str().unwrap() {
                "PASS" | "AUTH-DATA" => out.push(arg.to_string()),
                "APOP" => out.push(arg.rsplit_once(' ').unwrap().1.to_string()),
                "AUTH" => {
                    if let Some((_, r)) = arg.split_once(' ') {
                        out.push(r.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    out.retain(|s| s.len() >= 6);
    out.sort();
    out.dedup();
    assert!(out.len() > 20, "{out:?}");
    out
}

#[test]
fn redact_leaves_no_secret_in_any_output() {
    let paths = sample_paths();
    let secrets = secrets(&paths);
    let runs: [&[&str]; 7] = [
        &["creds", "--redact"],
        &["creds", "--redact", "--format", "json"],
        &["creds", "--redact", "--format", "jsonl"],
        &["creds", "--redact", "--format", "csv"],
        &["analyze", "--redact", "--format", "json"],
        &["analyze", "--redact", "--format", "jsonl"],
        &["analyze", "--redact"],
    ];
    for run in runs {
        let mut args = run.to_vec();
        args.extend(paths.iter().map(|s| s.as_str()));
        let text = ok_stdout(&pcapmail(&args));
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{run:?} leaks {s:?}");
        }
        // Not over-redacted: user names stay, masks are visible.
        assert!(text.contains("ana@sample.test"), "{run:?}");
        assert!(text.contains("A***!"), "{run:?}");
    }
}

#[test]
fn redact_masks_commands_and_transcript_of_the_library_report() {
    let path = common::sample("smtp-auth-plain.pcap");
    let (mut report, _) = pcapmail::analysis::analyze(&[&path], &Default::default());
    let before: Vec<String> = report.sessions[0]
        .dialogue
        .iter()
        .map(|e| format!("{:?}", e.event))
        .collect();
    assert!(before
        .iter()
        .any(|l| l.contains("AGJlbkBzYW1wbGUudGVzdABiZW4tU2VjcmV0LTIy")));
    pcapmail::redact::redact(&mut report);
    let after = format!("{:?}", report.sessions);
    assert!(!after.contains("AGJlbkBzYW1wbGUudGVzdABiZW4tU2VjcmV0LTIy"));
    assert!(!after.contains("AGN5ZEBzYW1wbGUudGVzdABjeWQjcG9wLTM="));
    let auth = report.sessions[0]
        .commands
        .iter()
        .find(|c| c.verb == "AUTH")
        .unwrap();
    assert_eq!(auth.arg, "PLAIN A***y");
    assert_eq!(report.credentials[1].password.as_deref(), Some("c***3"));
}

#[test]
fn distinct_credentials_group_repeated_attempts_with_their_count() {
    // Two sessions log in with the same AUTH PLAIN credential.
    let path = common::sample("pop3-auth-plain.pcap").display().to_string();
    let all = creds_json(std::slice::from_ref(&path));
    assert_eq!(all["credentials"].as_array().unwrap().len(), 2);
    let out = pcapmail(&["creds", "--format", "json", &path]);
    let grouped: Value = serde_json::from_str(&ok_stdout(&out)).unwrap();
    let creds = grouped["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    let (first, second) = (&all["credentials"][0], &all["credentials"][1]);
    assert_eq!(creds[0]["count"], 2);
    assert_eq!(creds[0]["password"], first["password"]);
    assert_eq!(creds[0]["frame"], first["frame"]);
    assert_eq!(creds[0]["last_frame"], second["frame"]);
    assert_eq!(creds[0]["last_session"], second["session"]);
    // The summary still counts every attempt.
    assert_eq!(grouped["summary"], all["summary"]);
}
