//! The committed JSON Schema (schema/pcapmail-1.schema.json, draft 2020-12) describes the
//! real `analyze --format json` document: every sample's output validates against it, with
//! format checking on; and the schema is strict enough to reject a broken document.

mod common;

use pcapmail::analysis::{analyze, Config};
use pcapmail::report::json;
use serde_json::Value;
use std::path::Path;

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/pcapmail-1.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(jsonschema::meta::is_valid(&schema), "not a valid schema");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn document(paths: &[&Path]) -> Value {
    let (report, failures) = analyze(paths, &Config::default());
    assert!(failures.is_empty());
    let mut out = Vec::new();
    json::write_document(&mut out, &report).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

#[test]
fn every_sample_validates() {
    let v = validator();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let files = common::captures_below(&dir);
    assert!(files.len() >= 20, "{files:?}");
    for f in &files {
        let doc = document(&[f.as_path()]);
        assert_valid(&v, &doc, &f.display().to_string());
    }
}

#[test]
fn decrypted_tls_samples_validate() {
    use pcapmail::tls::keylog::{KeyLog, KeyStore};
    let v = validator();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut n = 0;
    for f in common::captures_below(&dir) {
        let keys = f.with_extension("keys");
        if !keys.exists() {
            continue;
        }
        let mut log = KeyLog::new();
        log.add_file(&keys).unwrap();
        let cfg = Config {
            keylog: KeyStore::new(log),
            ..Config::default()
        };
        let (report, failures) = analyze(&[f.as_path()], &cfg);
        assert!(failures.is_empty());
        assert!(report.sessions[0].tls_info.as_ref().unwrap().decrypted);
        let mut out = Vec::new();
        json::write_document(&mut out, &report).unwrap();
        assert_valid(
            &v,
            &serde_json::from_slice(&out).unwrap(),
            &f.display().to_string(),
        );
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn a_multi_capture_document_validates_and_ids_are_unique() {
    let v = validator();
    let a = common::sample("smtp-two-messages.pcap");
    let b = common::sample("pop3-top.pcap");
    let c = common::sample("smtp-starttls.pcap");
    let doc = document(&[&a, &b, &c]);
    assert_valid(&v, &doc, "three captures");
    let mut ids: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .chain(doc["messages"].as_array().unwrap())
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

#[test]
fn the_schema_rejects_what_the_contract_forbids() {
    let v = validator();
    let good = document(&[&common::sample("smtp-auth-login.pcap")]);
    type Breaker = fn(&mut Value);
    let broken: [(&str, Breaker); 6] = [
        ("unknown tls", |d| d["sessions"][0]["tls"] = "maybe".into()),
        ("missing sha256", |d| {
            d["messages"][0].as_object_mut().unwrap().remove("sha256");
        }),
        ("bad time", |d| {
            d["credentials"][0]["time"] = "yesterday".into()
        }),
        ("bad ip", |d| {
            d["sessions"][0]["client"]["ip"] = "10.0.0.300".into()
        }),
        ("unknown field", |d| {
            d["sessions"][0]["colour"] = "red".into()
        }),
        ("pop3 field on smtp", |d| {
            d["sessions"][0]["retrieved"] = serde_json::json!([1])
        }),
    ];
    for (what, breaker) in broken {
        let mut d = good.clone();
        breaker(&mut d);
        assert!(!v.is_valid(&d), "{what} was accepted");
    }
}
