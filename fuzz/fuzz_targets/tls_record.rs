//! TLS layer: random byte streams and gap events in both directions through a TlsSession
//! (record framer, handshake reassembly, decryption attempts). The first input byte picks
//! whether a key log is given: its secrets then belong to whatever client random the input
//! carries, so the decryption paths run (and must fail authentication, never panic).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::model::Side;
use pcapmail::proto::{ChunkMeta, EndReason, StreamConsumer};
use pcapmail::tls::keylog::{KeyLog, KeyStore};
use pcapmail::tls::TlsSession;

#[derive(Default)]
struct Sink(u64);

impl StreamConsumer for Sink {
    fn data(&mut self, _: Side, bytes: &[u8], _: ChunkMeta) {
        self.0 += bytes.len() as u64;
    }
    fn gap(&mut self, _: Side, _: u64, _: ChunkMeta) {}
    fn end(&mut self, _: EndReason, _: ChunkMeta) {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = (mode & 1 == 1).then(|| {
        // Secrets for the client random found at the usual ClientHello offset, if any.
        let random = rest.get(11..43).map(hex_of).unwrap_or_else(|| "00".repeat(32));
        let mut k = KeyLog::new();
        let s = |b: u8| format!("{:02x}", b).repeat(if mode & 2 == 0 { 32 } else { 48 });
        k.add_bytes(
            format!(
                "CLIENT_RANDOM {random} {}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {random} {}\n\
                 SERVER_HANDSHAKE_TRAFFIC_SECRET {random} {}\nCLIENT_TRAFFIC_SECRET_0 {random} {}\n\
                 SERVER_TRAFFIC_SECRET_0 {random} {}\n",
                "ab".repeat(48),
                s(1),
                s(2),
                s(3),
                s(4)
            )
            .into_bytes(),
        );
        KeyStore::new(k)
    });
    let mut t = TlsSession::new(keys);
    let mut sink = Sink::default();
    let mut frame = 0;
    for op in pcapmail_fuzz::ops(rest) {
        frame += 1;
        let meta = ChunkMeta {
            frame,
            ..Default::default()
        };
        match op {
            pcapmail_fuzz::Op::Data(side, d) => t.data(side, d, meta, &mut sink),
            pcapmail_fuzz::Op::Gap(side, n) => t.gap(side, n, meta, &mut sink),
        }
    }
    let _ = (t.info(), t.stats(), t.decrypts());
    assert!(t.warnings().len() <= 8);
});

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
