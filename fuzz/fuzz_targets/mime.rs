//! MIME layer: the whole-message parser (mail-parser with the nesting and part guards),
//! the streaming parser in odd chunk sizes, and message bytes through the builder
//! (dot-unstuffing lines, streaming MIME).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::model::MessageDirection;
use pcapmail::proto::lines::LineReader;
use pcapmail::proto::message::{is_terminator, MessageBuilder, MessageLimits};
use pcapmail::proto::mime::{self, MimeLimits};
use pcapmail::proto::ChunkMeta;

fuzz_target!(|data: &[u8]| {
    let limits = MessageLimits {
        keep_bytes: 1 << 20,
        keep_data: true,
        spill: false,
        mime: MimeLimits {
            max_attachments: 16,
            keep_attachment_bytes: 1 << 16,
            ..MimeLimits::default()
        },
    };
    // Raw: the parser on the bytes as they are.
    let info = mime::parse(data, &limits.mime);
    assert!(info.attachments.len() <= 16);
    // Streaming, in chunks of 1 to 256 bytes chosen by the input.
    let chunk = data.first().map_or(1, |&b| b as usize + 1);
    let streamed = mime::parse_streaming(data, &limits.mime, true, chunk);
    assert!(streamed.attachments.len() <= 16);
    // Through the builder, as a DATA body.
    let mut r = LineReader::new(512);
    let mut input = data;
    let mut b = MessageBuilder::new(ChunkMeta::default(), &limits);
    let mut complete = false;
    while let Some(l) = r.next_line(&mut input, ChunkMeta::default()) {
        if is_terminator(&l) {
            complete = true;
            break;
        }
        b.push_dotted_line(&l);
    }
    let m = b.finish(complete, MessageDirection::Sent, &limits);
    assert!(m.size as usize <= data.len());
});
