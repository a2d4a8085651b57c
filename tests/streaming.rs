//! Streaming: records leave as sessions end (also on a live pipe), the output bytes do not
//! depend on `--threads`, `--merge` joins a session cut across rotated files, and memory
//! does not grow with the number of sessions.

mod common;

use common::mailgen::{generate, GenConfig};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pcapmail"))
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("streaming");
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = bin().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn generated(name: &str, size: u64, concurrent: usize, seed: u64) -> PathBuf {
    let p = tmp(&format!("{name}-{size}-{concurrent}-{seed}.pcap"));
    if !p.exists() {
        let cfg = GenConfig {
            size_bytes: size,
            mail_percent: 100,
            concurrent,
            loss: 0.001,
            reorder: 0.01,
            duplicate: 0.005,
            fragment: 0.0,
            ipv6_every: 7,
            max_attachment: 4_000,
            seed,
            ..GenConfig::default()
        };
        let part = p.with_extension("part");
        let f = std::fs::File::create(&part).unwrap();
        generate(&cfg, std::io::BufWriter::new(f)).unwrap();
        std::fs::rename(&part, &p).unwrap();
    }
    p
}

#[test]
fn jsonl_on_a_live_pipe_gives_the_first_session_before_the_writer_closes() {
    let capture = std::fs::read(common::sample("smtp-auth-plain.pcap")).unwrap();
    let mut child = bin()
        .args(["analyze", "--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The whole session (it ends with FIN both ways), the pipe stays open.
    stdin.write_all(&capture).unwrap();
    stdin.flush().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("no record while the pipe is open");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["type"], "session");
    assert_eq!(v["id"], "s1");
    assert_eq!(v["close"], "fin");
    assert!(start.elapsed() < Duration::from_secs(60));
    // The rest of the session's records follow at once; the capture record only at EOF.
    let cred: Value =
        serde_json::from_str(&rx.recv_timeout(Duration::from_secs(30)).unwrap()).unwrap();
    assert_eq!(cred["type"], "credential");
    assert_eq!(cred["session"], "s1");
    assert_eq!(cred["password"], "ben-Secret-22");
    assert!(rx
        .recv_timeout(Duration::from_millis(300))
        .is_ok_and(|l| l.contains("\"message\"")));
    // The second session follows; the capture's record waits for the end of the input.
    let mut more = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(1500)) {
        more.push(serde_json::from_str::<Value>(&l).unwrap());
    }
    assert!(more
        .iter()
        .any(|r| r["type"] == "session" && r["id"] == "s2"));
    assert!(
        more.iter().all(|r| r["type"] != "capture"),
        "capture record before EOF"
    );
    drop(stdin);
    let last: Value =
        serde_json::from_str(&rx.recv_timeout(Duration::from_secs(30)).unwrap()).unwrap();
    assert_eq!(last["type"], "capture");
    assert!(child.wait().unwrap().success());
}

#[test]
fn output_bytes_are_identical_for_1_2_and_8_threads() {
    let a = generated("threads-a", 3 << 20, 200, 11);
    let b = generated("threads-b", 2 << 20, 50, 12);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    for format in ["jsonl", "json", "table"] {
        let one = run(&["analyze", "--format", format, "--threads", "1", a, b]);
        assert!(one.len() > 1000);
        for t in ["2", "8"] {
            let other = run(&["analyze", "--format", format, "--threads", t, a, b]);
            // Only the per-worker peaks may differ: compare without them.
            let strip = |v: &[u8]| -> String {
                String::from_utf8_lossy(v)
                    .lines()
                    .filter(|l| !l.contains("flow.worker_peak_"))
                    .map(|l| {
                        // jsonl: one line holds the counters; drop the peak fields.
                        let mut l = l.to_string();
                        for key in [
                            "\"flow.worker_peak_buffered\":",
                            "\"flow.worker_peak_entries\":",
                        ] {
                            while let Some(i) = l.find(key) {
                                let end = l[i..].find([',', '}']).map_or(l.len(), |e| i + e + 1);
                                l.replace_range(i..end, "");
                            }
                        }
                        l
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert!(
                strip(&one) == strip(&other),
                "--format {format}: --threads {t} differs from --threads 1"
            );
        }
    }
}

/// Splits a classic little-endian pcap after record `at` (1-based) into two files.
fn split_pcap(src: &Path, at: usize, a: &Path, b: &Path) {
    let d = std::fs::read(src).unwrap();
    assert_eq!(&d[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian µs pcap");
    let (head, mut off, mut n) = (&d[..24], 24, 0);
    let mut first = head.to_vec();
    let mut second = head.to_vec();
    while off + 16 <= d.len() {
        let cl = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        let rec = &d[off..off + 16 + cl];
        n += 1;
        if n <= at {
            first.extend_from_slice(rec);
        } else {
            second.extend_from_slice(rec);
        }
        off += 16 + cl;
    }
    std::fs::write(a, first).unwrap();
    std::fs::write(b, second).unwrap();
}

#[test]
fn merge_joins_a_session_cut_across_two_rotated_files() {
    let truth: Value =
        serde_json::from_slice(&std::fs::read(common::sample("truth.json")).unwrap()).unwrap();
    let t = &truth["smtp-auth-plain.pcap"]["sessions"][0];
    let (a, b) = (tmp("rotated-00.pcap"), tmp("rotated-01.pcap"));
    // Two SMTP sessions (frames 1-22 and 24-47); the cut after frame 12 falls between the
    // first session's AUTH (frame 9) and its DATA (frame 17).
    split_pcap(&common::sample("smtp-auth-plain.pcap"), 12, &a, &b);
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    let doc: Value =
        serde_json::from_slice(&run(&["analyze", "--format", "json", "--merge", sa, sb])).unwrap();
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "the cut session is one session");
    let s = &sessions[0];
    assert_eq!(s["capture"], sa);
    assert_eq!(s["complete"], true);
    assert_eq!(s["gaps"], 0);
    assert_eq!(s["first_frame"], 1);
    assert_eq!(
        s["last_frame"],
        22 - 12,
        "the last frame is in the second file"
    );
    let m = &doc["messages"][0];
    assert_eq!(m["session"], "s1");
    assert_eq!(m["sha256"], t["messages"][0]["sha256"]);
    assert_eq!(m["complete"], true);
    // The message crossed in the second file: it names it, with that file's frame number.
    assert_eq!(m["capture"], sb);
    assert_eq!(m["frame"], 17 - 12);
    let c = &doc["credentials"][0];
    assert_eq!(c["password"], t["credentials"][0]["password"]);
    assert!(
        c.get("capture").is_none(),
        "the credential is in the first file"
    );
    assert_eq!(c["frame"], 9);
    assert_eq!(doc["captures"].as_array().unwrap().len(), 2);
    // Without --merge the cut session is two sessions, neither complete.
    let apart: Value =
        serde_json::from_slice(&run(&["analyze", "--format", "json", sa, sb])).unwrap();
    let apart = apart["sessions"].as_array().unwrap();
    assert_eq!(apart.len(), 3);
    assert_eq!(apart.iter().filter(|s| s["complete"] == true).count(), 1);
}

#[test]
fn every_session_has_the_community_id_of_its_5_tuple() {
    let doc: Value = serde_json::from_slice(&run(&[
        "analyze",
        "--format",
        "json",
        common::sample("smtp-ipv6.pcap").to_str().unwrap(),
    ]))
    .unwrap();
    let s = &doc["sessions"][0];
    let id = s["community_id"].as_str().unwrap();
    assert!(id.starts_with("1:") && id.len() == 30, "{id}");
}

/// Peak resident memory of a child process, in KiB (Linux: VmHWM, polled until it exits).
fn peak_rss_kib(args: &[&str]) -> u64 {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            if let Some(v) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(v);
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    peak
}

#[test]
fn memory_does_not_grow_with_the_number_of_sessions() {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("notice: no /proc; skipping the memory test");
        return;
    }
    // The same kind of traffic (50 connections open at once), 4 times longer.
    let small = generated("mem", 3 << 20, 50, 21);
    let large = generated("mem", 12 << 20, 50, 21);
    let out = tmp("mem-extract");
    for (what, args) in [
        ("analyze", vec!["analyze"]),
        ("analyze json", vec!["analyze", "--format", "json"]),
        ("creds", vec!["creds"]),
        (
            "extract",
            vec!["extract", "--force", "-o", out.to_str().unwrap()],
        ),
    ] {
        let run = |p: &Path| {
            let mut a = args.clone();
            a.push("--threads");
            a.push("1");
            a.push(p.to_str().unwrap());
            peak_rss_kib(&a)
        };
        let (s, l) = (run(&small), run(&large));
        assert!(s > 0 && l > 0);
        // Generous: allocator noise, but not 4 times the sessions.
        assert!(
            l < s * 3 / 2 + 8 * 1024,
            "{what}: {l} KiB for 4x the sessions vs {s} KiB"
        );
    }
}

/// Zeek's community-id test capture: the spec (and Zeek's baseline for this file) give
/// `1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=` for its SMTP-over-IPv6 connection.
#[test]
fn community_id_equals_zeeks_on_its_ipv6_test_capture() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let p = shared.join("captures/zeek/communityid/ipv6.pcap");
    let doc: Value =
        serde_json::from_slice(&run(&["analyze", "--format", "json", p.to_str().unwrap()]))
            .unwrap();
    assert_eq!(
        doc["sessions"][0]["community_id"],
        "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="
    );
}
