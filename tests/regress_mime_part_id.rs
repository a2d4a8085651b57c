//! Regression (found by the `mime` and `smtp` fuzz targets): a multipart message whose
//! boundary is followed by a truncated part made mail-parser 0.11 hit
//! `debug_assert!(false, "Invalid part ID, could not find multipart.")`, aborting any
//! build with debug assertions (tests, `cargo run`, fuzzing). Cargo.toml now builds
//! mail-parser without debug assertions in the dev profile (release never had them); these
//! inputs must parse without a panic and keep the headers.

use pcapmail::model::Side;
use pcapmail::proto::mime::{parse, MimeLimits};
use pcapmail::proto::smtp::{SmtpConfig, SmtpDissector};
use pcapmail::proto::{ChunkMeta, Dissector, EndReason, StreamConsumer};

const MIME: &[u8] = include_bytes!("data/regress-mime-part-id.eml");
/// Stream records `[side/gap][len lo][len hi][payload]` as in fuzz/src/lib.rs.
const SMTP: &[u8] = include_bytes!("data/regress-smtp-mime-part-id.stream");

#[test]
fn malformed_multipart_does_not_panic() {
    let info = parse(MIME, &MimeLimits::default());
    assert_eq!(info.headers.subject.as_deref(), Some("subject"));
}

#[test]
fn smtp_stream_with_the_same_message_does_not_panic() {
    let mut d = SmtpDissector::new(&SmtpConfig::default());
    let mut input = SMTP;
    let mut frame = 0;
    while input.len() >= 3 {
        let (h, len) = (input[0], u16::from_le_bytes([input[1], input[2]]) as usize);
        input = &input[3..];
        frame += 1;
        let side = if h & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let meta = ChunkMeta {
            frame,
            ..Default::default()
        };
        if h & 2 != 0 {
            d.gap(side, len as u64, meta);
        } else {
            let n = len.min(input.len());
            d.data(side, &input[..n], meta);
            input = &input[n..];
        }
    }
    d.end(EndReason::EndOfCapture, ChunkMeta::default());
    let out = d.finish();
    assert_eq!(out.messages.len(), 1);
}
