//! TLS key logs: the SSLKEYLOGFILE format (NSS key log, RFC 9850), from files given with
//! `--keylog` and from pcapng Decryption Secrets Blocks.
//!
//! A browser's key log for a whole day can have millions of lines, so nothing but a compact
//! index stays in memory: one `u64` per useful line, holding the first 26 bits of the
//! client random and the line's 38-bit byte offset (files up to 256 GiB), sorted. A lookup
//! binary-searches the index, then reads the candidate lines again from their source and
//! compares the whole client random (a 26-bit prefix makes false candidates rare, and they
//! cost one short read each). 10 million lines cost 80 MB of index.
//!
//! Secrets are never printed: [`Secret`]'s `Debug` shows only its length, and no error or
//! statistic carries a line's content.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// Longest key log line accepted: the longest valid line (a label, 64 hex digits of client
/// random and 96 of a SHA-384 secret) is under 200 bytes. Longer lines are counted as bad
/// and skipped without being kept.
pub const MAX_LINE: usize = 512;

/// Bytes of client random that decide the index order (26 bits are used).
const PREFIX_BITS: u32 = 26;
const OFFSET_BITS: u32 = 64 - PREFIX_BITS;
const MAX_OFFSET: u64 = (1 << OFFSET_BITS) - 1;

/// Largest secret accepted (SHA-384 traffic secrets are 48 bytes; so is a TLS 1.2 master
/// secret).
pub const MAX_SECRET: usize = 64;

/// A key log label this crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// TLS ≤ 1.2: the 48-byte master secret.
    ClientRandom,
    /// TLS 1.3 client handshake traffic secret.
    ClientHandshake,
    /// TLS 1.3 server handshake traffic secret.
    ServerHandshake,
    /// TLS 1.3 first client application traffic secret.
    ClientTraffic0,
    /// TLS 1.3 first server application traffic secret.
    ServerTraffic0,
}

impl Label {
    fn parse(s: &[u8]) -> Option<Label> {
        Some(match s {
            b"CLIENT_RANDOM" => Label::ClientRandom,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshake,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshake,
            b"CLIENT_TRAFFIC_SECRET_0" => Label::ClientTraffic0,
            b"SERVER_TRAFFIC_SECRET_0" => Label::ServerTraffic0,
            _ => return None,
        })
    }
}

/// Key material. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    bytes: [u8; MAX_SECRET],
    len: u8,
}

impl Secret {
    /// Wraps key bytes (at most [`MAX_SECRET`]; `None` when longer or empty).
    pub fn new(b: &[u8]) -> Option<Secret> {
        if b.is_empty() || b.len() > MAX_SECRET {
            return None;
        }
        let mut bytes = [0u8; MAX_SECRET];
        bytes[..b.len()].copy_from_slice(b);
        Some(Secret {
            bytes,
            len: b.len() as u8,
        })
    }

    /// The key bytes. Callers must not print or log them.
    pub fn expose(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.len)
    }
}

/// The secrets a key log holds for one client random.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    pub master: Option<Secret>,
    pub client_handshake: Option<Secret>,
    pub server_handshake: Option<Secret>,
    pub client_traffic0: Option<Secret>,
    pub server_traffic0: Option<Secret>,
}

impl SessionSecrets {
    /// No secret at all.
    pub fn is_empty(&self) -> bool {
        self.master.is_none()
            && self.client_handshake.is_none()
            && self.server_handshake.is_none()
            && self.client_traffic0.is_none()
            && self.server_traffic0.is_none()
    }

    fn set(&mut self, label: Label, s: Secret) {
        let slot = match label {
            Label::ClientRandom => &mut self.master,
            Label::ClientHandshake => &mut self.client_handshake,
            Label::ServerHandshake => &mut self.server_handshake,
            Label::ClientTraffic0 => &mut self.client_traffic0,
            Label::ServerTraffic0 => &mut self.server_traffic0,
        };
        // The first line wins, as in Wireshark: a later duplicate is usually the same value.
        if slot.is_none() {
            *slot = Some(s);
        }
    }
}

/// What reading key logs found (no content, only counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLogStats {
    /// Lines with a label used here, indexed.
    pub indexed: u64,
    /// Lines with another label (EARLY_TRAFFIC_SECRET, EXPORTER_SECRET, ...) or comments.
    pub ignored: u64,
    /// Lines that are not `LABEL <hex> <hex>` with a 32-byte client random, or too long.
    pub bad: u64,
    /// Valid lines beyond the offset range of the index (a key log over 256 GiB).
    pub dropped: u64,
}

/// Errors opening a key log.
#[derive(Debug, thiserror::Error)]
pub enum KeyLogError {
    #[error("cannot read key log {path}: {source}")]
    Io { path: String, source: io::Error },
}

enum Source {
    File(Mutex<File>),
    Mem(Vec<u8>),
}

/// An index of key log lines by client random. Cheap to share (`Sync`); lookups re-read
/// the lines from their source.
pub struct KeyLog {
    sources: Vec<(Source, Vec<u64>)>,
    stats: KeyLogStats,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLog")
            .field("sources", &self.sources.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// Parsed line: label, client random, secret.
struct Line {
    label: Label,
    random: [u8; 32],
    secret: Secret,
}

enum Parsed {
    Line(Line),
    Ignored,
    Bad,
}

fn unhex(s: &[u8], out: &mut [u8]) -> bool {
    if s.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let d = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
        match (d(pair[0]), d(pair[1])) {
            (Some(a), Some(b)) => *o = a << 4 | b,
            _ => return false,
        }
    }
    true
}

fn parse_line(line: &[u8]) -> Parsed {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.trim_ascii();
    if line.is_empty() || line[0] == b'#' {
        return Parsed::Ignored;
    }
    let mut parts = line.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let (Some(label), Some(random), Some(secret), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Bad;
    };
    let Some(label) = Label::parse(label) else {
        // Other labels are valid key log lines, only not of use here.
        return if label
            .iter()
            .all(|c| c.is_ascii_uppercase() || *c == b'_' || c.is_ascii_digit())
        {
            Parsed::Ignored
        } else {
            Parsed::Bad
        };
    };
    let mut r = [0u8; 32];
    if !unhex(random, &mut r) {
        return Parsed::Bad;
    }
    let n = secret.len() / 2;
    if secret.len() % 2 != 0 || n == 0 || n > MAX_SECRET {
        return Parsed::Bad;
    }
    let mut s = [0u8; MAX_SECRET];
    if !unhex(secret, &mut s[..n]) {
        return Parsed::Bad;
    }
    if label == Label::ClientRandom && n != 48 {
        return Parsed::Bad;
    }
    Parsed::Line(Line {
        label,
        random: r,
        secret: Secret::new(&s[..n]).expect("length checked"),
    })
}

fn prefix(random: &[u8; 32]) -> u64 {
    (u32::from_be_bytes([random[0], random[1], random[2], random[3]]) >> (32 - PREFIX_BITS)) as u64
}

/// Reads lines of at most [`MAX_LINE`] bytes from `r`, calling `f(offset, line)` for each;
/// a longer line is passed as `None` (and never buffered whole).
fn for_each_line<R: BufRead>(mut r: R, mut f: impl FnMut(u64, Option<&[u8]>)) -> io::Result<()> {
    let mut line = Vec::with_capacity(MAX_LINE);
    let mut start = 0u64;
    let mut pos = 0u64;
    let mut too_long = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if too_long {
                f(start, None);
            } else if !line.is_empty() {
                f(start, Some(&line));
            }
            return Ok(());
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let body = if done { &buf[..take - 1] } else { &buf[..take] };
        if !too_long {
            if line.len() + body.len() > MAX_LINE {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(body);
            }
        }
        r.consume(take);
        pos += take as u64;
        if done {
            if too_long {
                f(start, None);
            } else {
                f(start, Some(&line));
            }
            line.clear();
            too_long = false;
            start = pos;
        }
    }
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog::new()
    }
}

impl KeyLog {
    /// An empty key log.
    pub fn new() -> KeyLog {
        KeyLog {
            sources: Vec::new(),
            stats: KeyLogStats::default(),
        }
    }

    /// Counts of what was indexed, ignored and refused.
    pub fn stats(&self) -> KeyLogStats {
        self.stats
    }

    /// No usable line was read.
    pub fn is_empty(&self) -> bool {
        self.sources.iter().all(|(_, ix)| ix.is_empty())
    }

    /// Bytes of memory the index takes (for the documentation of its bound).
    pub fn index_bytes(&self) -> usize {
        self.sources
            .iter()
            .map(|(s, ix)| {
                ix.capacity() * 8
                    + match s {
                        Source::Mem(v) => v.capacity(),
                        Source::File(_) => 0,
                    }
            })
            .sum()
    }

    fn index<R: BufRead>(&mut self, r: R) -> io::Result<Vec<u64>> {
        let mut ix = Vec::new();
        let stats = &mut self.stats;
        for_each_line(r, |off, line| match line.map(parse_line) {
            Some(Parsed::Line(l)) => {
                if off > MAX_OFFSET {
                    stats.dropped += 1;
                } else {
                    stats.indexed += 1;
                    ix.push(prefix(&l.random) << OFFSET_BITS | off);
                }
            }
            Some(Parsed::Ignored) => stats.ignored += 1,
            Some(Parsed::Bad) | None => stats.bad += 1,
        })?;
        ix.sort_unstable();
        ix.shrink_to_fit();
        Ok(ix)
    }

    /// Indexes a key log file; its lines are read again from the file on lookup.
    pub fn add_file(&mut self, path: &Path) -> Result<(), KeyLogError> {
        let err = |source| KeyLogError::Io {
            path: path.display().to_string(),
            source,
        };
        let f = File::open(path).map_err(err)?;
        let ix = self
            .index(BufReader::with_capacity(1 << 16, &f))
            .map_err(err)?;
        self.sources.push((Source::File(Mutex::new(f)), ix));
        Ok(())
    }

    /// Indexes key log text held in memory (a pcapng Decryption Secrets Block).
    pub fn add_bytes(&mut self, bytes: Vec<u8>) {
        let ix = self.index(&bytes[..]).expect("reading memory cannot fail");
        self.sources.push((Source::Mem(bytes), ix));
    }

    /// All secrets logged for this client random (empty when none).
    pub fn lookup(&self, client_random: &[u8; 32]) -> SessionSecrets {
        let mut out = SessionSecrets::default();
        let p = prefix(client_random);
        let lo = p << OFFSET_BITS;
        let hi = lo | MAX_OFFSET;
        let mut line = [0u8; MAX_LINE];
        for (src, ix) in &self.sources {
            let first = ix.partition_point(|&e| e < lo);
            for &e in ix[first..].iter().take_while(|&&e| e <= hi) {
                let off = e & MAX_OFFSET;
                let n = match src {
                    Source::Mem(v) => {
                        let rest = &v[(off as usize).min(v.len())..];
                        let n = rest.len().min(MAX_LINE);
                        line[..n].copy_from_slice(&rest[..n]);
                        n
                    }
                    Source::File(f) => {
                        let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                        read_at(&mut f, off, &mut line).unwrap_or(0)
                    }
                };
                let text = &line[..n];
                let text = match memchr::memchr(b'\n', text) {
                    Some(i) => &text[..i],
                    None => text,
                };
                if let Parsed::Line(l) = parse_line(text) {
                    if &l.random == client_random {
                        out.set(l.label, l.secret);
                    }
                }
            }
        }
        line.fill(0);
        out
    }
}

/// Most bytes of embedded key log text (pcapng Decryption Secrets Blocks) a [`KeyStore`]
/// keeps: a hostile capture must not grow memory without bound. Blocks beyond it are
/// refused and counted.
pub const MAX_EMBEDDED: usize = 64 << 20;

/// A key log shared by the threads of a run that may grow while a capture is read (pcapng
/// Decryption Secrets Blocks arrive between packets). Cheap to clone; lookups take a read
/// lock once per TLS session.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    inner: Arc<RwLock<Store>>,
}

#[derive(Debug, Default)]
struct Store {
    log: KeyLog,
    embedded: usize,
}

impl KeyStore {
    /// A store starting with the lines of `log` (the `--keylog` files).
    pub fn new(log: KeyLog) -> KeyStore {
        KeyStore {
            inner: Arc::new(RwLock::new(Store { log, embedded: 0 })),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the key log text of a Decryption Secrets Block. False when refused: the
    /// embedded text would exceed [`MAX_EMBEDDED`].
    pub fn add_embedded(&self, bytes: Vec<u8>) -> bool {
        let mut s = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if s.embedded + bytes.len() > MAX_EMBEDDED {
            return false;
        }
        s.embedded += bytes.len();
        s.log.add_bytes(bytes);
        true
    }

    /// No usable line so far: TLS sessions are described but no decryption is tried (and
    /// no "no key" warning is given).
    pub fn is_empty(&self) -> bool {
        self.read().log.is_empty()
    }

    /// Counts of what was indexed, ignored and refused.
    pub fn stats(&self) -> KeyLogStats {
        self.read().log.stats()
    }

    /// All secrets logged for this client random (empty when none).
    pub fn lookup(&self, client_random: &[u8; 32]) -> SessionSecrets {
        self.read().log.lookup(client_random)
    }
}

fn read_at(f: &mut File, off: u64, buf: &mut [u8]) -> io::Result<usize> {
    f.seek(SeekFrom::Start(off))?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
    const R2: &str = "cb34ecb1000000000000000000000000000000000000000000000000000000ff";

    fn random(s: &str) -> [u8; 32] {
        let mut r = [0u8; 32];
        assert!(unhex(s.as_bytes(), &mut r));
        r
    }

    fn sample() -> String {
        format!(
            "# comment\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {R1} {}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {R1} {}\r\n\
             EXPORTER_SECRET {R1} {}\n\
             CLIENT_RANDOM {R2} {}\n\
             CLIENT_RANDOM {R2} zz\n\
             garbage\n\
             CLIENT_TRAFFIC_SECRET_0 {R1} {}",
            "11".repeat(32),
            "22".repeat(32),
            "33".repeat(32),
            "44".repeat(48),
            "55".repeat(32),
        )
    }

    #[test]
    fn indexes_labels_and_counts_the_rest() {
        let mut k = KeyLog::new();
        k.add_bytes(sample().into_bytes());
        assert_eq!(
            k.stats(),
            KeyLogStats {
                indexed: 4,
                ignored: 2,
                bad: 2,
                dropped: 0
            }
        );
        let s = k.lookup(&random(R1));
        assert_eq!(s.client_handshake.unwrap().expose(), &[0x11; 32]);
        assert_eq!(s.server_handshake.unwrap().expose(), &[0x22; 32]);
        assert_eq!(s.client_traffic0.unwrap().expose(), &[0x55; 32]);
        assert!(s.master.is_none() && s.server_traffic0.is_none());
        // Same 26-bit prefix, different random: only its own line.
        let s = k.lookup(&random(R2));
        assert_eq!(s.master.as_ref().unwrap().expose(), &[0x44; 48]);
        assert!(s.client_handshake.is_none());
        assert!(k.lookup(&[0u8; 32]).is_empty());
    }

    #[test]
    fn reads_files_again_on_lookup() {
        let dir = std::env::temp_dir().join(format!("pcapmail-keylog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("keys.txt");
        std::fs::write(&p, sample()).unwrap();
        let mut k = KeyLog::new();
        k.add_file(&p).unwrap();
        assert_eq!(k.stats().indexed, 4);
        assert_eq!(k.lookup(&random(R2)).master.unwrap().expose(), &[0x44; 48]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_endless_line_is_bad_and_not_kept() {
        let mut text = vec![b'A'; 10 * MAX_LINE];
        text.extend_from_slice(format!("\nCLIENT_RANDOM {R2} {}\n", "44".repeat(48)).as_bytes());
        let mut k = KeyLog::new();
        k.add_bytes(text);
        assert_eq!(k.stats().bad, 1);
        assert_eq!(k.stats().indexed, 1);
        assert!(k.lookup(&random(R2)).master.is_some());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let mut k = KeyLog::new();
        k.add_bytes(sample().into_bytes());
        let s = k.lookup(&random(R1));
        let d = format!("{s:?} {k:?}");
        assert!(!d.contains("11") && !d.contains("17, 17"), "{d}");
        assert!(d.contains("redacted"));
    }

    /// Memory of the index for 10 million lines (run with `--ignored`; writes a 1.9 GB
    /// temporary file).
    #[test]
    #[ignore]
    fn ten_million_lines() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("pcapmail-keylog10m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("keys.txt");
        let mut w = std::io::BufWriter::new(File::create(&p).unwrap());
        let mut x = 0x9e3779b97f4a7c15u64;
        let mut last = [0u8; 32];
        for _ in 0..10_000_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            last[..8].copy_from_slice(&x.to_be_bytes());
            writeln!(w, "CLIENT_RANDOM {} {}", hex::encode(last), "ab".repeat(48)).unwrap();
        }
        drop(w);
        let t = std::time::Instant::now();
        let mut k = KeyLog::new();
        k.add_file(&p).unwrap();
        let took = t.elapsed();
        let t = std::time::Instant::now();
        assert!(k.lookup(&last).master.is_some());
        eprintln!(
            "10M lines: index {} bytes, built in {:?}, lookup {:?}",
            k.index_bytes(),
            took,
            t.elapsed()
        );
        assert!(k.index_bytes() <= 80_000_000 + 4096);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
