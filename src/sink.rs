//! Where records go as a run produces them: the interface between the engine
//! ([`crate::analysis`]) and the renderers ([`crate::report`]).
//!
//! A run hands each session to its sink once the session's connection has ended, complete
//! with its credentials and messages, and then forgets it: memory does not grow with the
//! number of sessions. The JSON lines, the JSON document, the tables, `creds`, `extract`
//! and `transcript` are all sinks.

use crate::model::{CaptureInfo, Credential, Message, Report, Session, Tool};
use std::io::{self, Write};
use std::sync::{Arc, OnceLock};

/// One finished session with everything that belongs to it.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub session: Session,
    /// The credentials seen in the session, in stream order.
    pub credentials: Vec<Credential>,
    /// The messages of the session, in stream order.
    pub messages: Vec<Message>,
}

/// A capture that could not be read at all.
#[derive(Debug, Clone)]
pub struct CaptureFailure {
    /// The path as given.
    pub path: String,
    /// Why, in words (names the file and, when known, the offset).
    pub error: String,
}

/// Receives the records of a run, in a deterministic order: each capture's sessions in the
/// order their connections ended, then that capture's summary.
pub trait Sink {
    /// A session ended. Returning an error stops the run (e.g. a closed pipe).
    fn session(&mut self, record: SessionRecord) -> io::Result<()>;
    /// A capture was read to its end (or to its damage); its counters and warnings are final.
    /// With `--merge`, every capture's summary comes after all the sessions.
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()>;
    /// A capture could not be read at all.
    fn failure(&mut self, _failure: &CaptureFailure) -> io::Result<()> {
        Ok(())
    }
    /// How this sink's records can be rendered away from it, if they can: a run with
    /// several threads then renders each record on the thread that finished its session
    /// and hands the bytes to [`Sink::rendered`]. None (the default): every record comes
    /// to [`Sink::session`].
    fn renderer(&self) -> Option<Arc<dyn Render>> {
        None
    }
    /// A record rendered by this sink's [`Sink::renderer`], to be written with session
    /// id `id`, in the place [`Sink::session`] would have had it.
    fn rendered(&mut self, _record: Rendered, _id: &str) -> io::Result<()> {
        Err(io::Error::other("this sink renders no records elsewhere"))
    }
    /// Whether [`Sink::session_ref`] only reads the record (keeping at most bounded
    /// copies): a run with several threads then builds each record on the thread that
    /// finished its session and frees it there once the sink has read it, instead of
    /// freeing on one thread what another allocated.
    fn reads_records(&self) -> bool {
        false
    }
    /// A session ended, its record lent (see [`Sink::reads_records`]). The default hands
    /// a copy to [`Sink::session`].
    fn session_ref(&mut self, record: &SessionRecord) -> io::Result<()> {
        self.session(record.clone())
    }
}

/// Renders records into bytes on whatever thread finished them (see [`Sink::renderer`]).
pub trait Render: Send + Sync {
    /// Renders one record whose session id (and every id made from it) is
    /// [`placeholder_id`].
    fn render(&self, record: SessionRecord) -> io::Result<Rendered>;
}

/// The session id a record carries while it is rendered before its place in the output
/// (and so its id) is known. A private-use character and 128 random bits drawn once per
/// process: capture data cannot contain it except by guessing them, and JSON writes it
/// unescaped, so every occurrence in the rendered bytes is an id to fill in.
pub fn placeholder_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let r = || {
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        };
        format!("\u{e000}id{:016x}{:016x}\u{e000}", r(), r())
    })
}

fn placeholder_finder() -> &'static memchr::memmem::Finder<'static> {
    static F: OnceLock<memchr::memmem::Finder<'static>> = OnceLock::new();
    F.get_or_init(|| memchr::memmem::Finder::new(placeholder_id().as_bytes()))
}

/// A record rendered into bytes, in parts (e.g. the session, then each credential, then
/// each message), the places of its session id noted.
#[derive(Debug, Default)]
pub struct Rendered {
    bytes: Vec<u8>,
    /// Where [`placeholder_id`] starts in `bytes`, in order.
    ids: Vec<usize>,
    /// Each part's tag (the renderer's) and end.
    parts: Vec<(u8, usize)>,
}

impl Rendered {
    /// An empty record with room for `bytes` (a renderer's guess of its size, so the
    /// buffer is not regrown step by step).
    pub fn with_capacity(bytes: usize) -> Rendered {
        Rendered {
            bytes: Vec::with_capacity(bytes),
            ids: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// The bytes written so far: a renderer appends its next part here, then calls
    /// [`Rendered::end_part`].
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Ends the part written since the previous one, tagged `tag`.
    pub fn end_part(&mut self, tag: u8) {
        let start = self.parts.last().map_or(0, |p| p.1);
        let found = placeholder_finder().find_iter(&self.bytes[start..]);
        self.ids.extend(found.map(|i| start + i));
        self.parts.push((tag, self.bytes.len()));
    }

    /// The rendered size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Nothing rendered.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The parts, in order: each one's tag and its range of bytes.
    pub fn parts(&self) -> impl Iterator<Item = (u8, std::ops::Range<usize>)> + '_ {
        let mut start = 0;
        self.parts.iter().map(move |&(tag, end)| {
            let r = start..end;
            start = end;
            (tag, r)
        })
    }

    /// Writes the bytes of `range` (a part, or several) with `id` in place of the
    /// placeholder.
    pub fn write_range<W: Write + ?Sized>(
        &self,
        range: std::ops::Range<usize>,
        id: &str,
        out: &mut W,
    ) -> io::Result<()> {
        let p = placeholder_id().len();
        let first = self.ids.partition_point(|&i| i < range.start);
        let mut at = range.start;
        for &i in self.ids[first..].iter().take_while(|&&i| i < range.end) {
            out.write_all(&self.bytes[at..i])?;
            out.write_all(id.as_bytes())?;
            at = i + p;
        }
        out.write_all(&self.bytes[at..range.end])
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn session(&mut self, record: SessionRecord) -> io::Result<()> {
        (**self).session(record)
    }
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        (**self).capture(info)
    }
    fn failure(&mut self, failure: &CaptureFailure) -> io::Result<()> {
        (**self).failure(failure)
    }
    fn renderer(&self) -> Option<Arc<dyn Render>> {
        (**self).renderer()
    }
    fn rendered(&mut self, record: Rendered, id: &str) -> io::Result<()> {
        (**self).rendered(record, id)
    }
    fn reads_records(&self) -> bool {
        (**self).reads_records()
    }
    fn session_ref(&mut self, record: &SessionRecord) -> io::Result<()> {
        (**self).session_ref(record)
    }
}

/// Collects every record into one [`Report`]: the convenience for small inputs and tests.
/// Its memory grows with the capture; the streaming sinks of [`crate::report`] do not.
#[derive(Debug)]
pub struct Collect {
    pub report: Report,
    pub failures: Vec<CaptureFailure>,
}

impl Default for Collect {
    fn default() -> Self {
        Collect {
            report: Report {
                schema: crate::model::SCHEMA,
                tool: Tool::default(),
                captures: Vec::new(),
                sessions: Vec::new(),
                credentials: Vec::new(),
                messages: Vec::new(),
            },
            failures: Vec::new(),
        }
    }
}

impl Sink for Collect {
    fn session(&mut self, r: SessionRecord) -> io::Result<()> {
        self.report.sessions.push(r.session);
        self.report.credentials.extend(r.credentials);
        self.report.messages.extend(r.messages);
        Ok(())
    }
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.report.captures.push(info.clone());
        Ok(())
    }
    fn failure(&mut self, f: &CaptureFailure) -> io::Result<()> {
        self.failures.push(f.clone());
        Ok(())
    }
}

/// Sends every record to two sinks (e.g. the table and an extraction).
pub struct Tee<A, B>(pub A, pub B);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn session(&mut self, r: SessionRecord) -> io::Result<()> {
        self.0.session(r.clone())?;
        self.1.session(r)
    }
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.0.capture(info)?;
        self.1.capture(info)
    }
    fn failure(&mut self, f: &CaptureFailure) -> io::Result<()> {
        self.0.failure(f)?;
        self.1.failure(f)
    }
}

#[cfg(doc)]
/// A sink of one's own, e.g. printing each credential as its session ends:
/// ```
/// use pcapmail::analysis::{run, Config};
/// use pcapmail::sink::{SessionRecord, Sink};
///
/// struct Print(u64);
/// impl Sink for Print {
///     fn session(&mut self, r: SessionRecord) -> std::io::Result<()> {
///         for c in &r.credentials {
///             println!("{} {:?} {:?}", r.session.id, c.username, c.success);
///             self.0 += 1;
///         }
///         Ok(())
///     }
///     fn capture(&mut self, _: &pcapmail::model::CaptureInfo) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/smtp-auth-login.pcap");
/// let mut sink = Print(0);
/// run(&[path.as_path()], &Config::default(), false, &mut sink, &|_, _| {}).unwrap();
/// assert_eq!(sink.0, 1);
/// ```
pub mod example {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids go where the placeholder was, in every part and at the parts' edges; text that
    /// only looks like a placeholder (a capture cannot know its random bits) stays.
    #[test]
    fn rendered_ids_fill_every_placeholder_and_only_those() {
        let p = placeholder_id();
        let fake = "\u{e000}id00000000000000000000000000000000\u{e000}";
        assert_ne!(p, fake);
        let mut r = Rendered::default();
        r.buf()
            .extend_from_slice(format!("{p}|a {p}-m1|{fake}").as_bytes());
        r.end_part(0);
        r.buf().extend_from_slice(b"no id here");
        r.end_part(1);
        r.buf().extend_from_slice(format!("{p}{p}").as_bytes());
        r.end_part(2);
        let parts: Vec<(u8, String)> = r
            .parts()
            .map(|(tag, range)| {
                let mut out = Vec::new();
                r.write_range(range, "s12", &mut out).unwrap();
                (tag, String::from_utf8(out).unwrap())
            })
            .collect();
        assert_eq!(
            parts,
            [
                (0, format!("s12|a s12-m1|{fake}")),
                (1, "no id here".to_string()),
                (2, "s12s12".to_string()),
            ]
        );
        let mut whole = Vec::new();
        r.write_range(0..r.len(), "s3", &mut whole).unwrap();
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            format!("s3|a s3-m1|{fake}no id heres3s3")
        );
    }

    /// JSON writes the placeholder as it is, so it can be found in the rendered bytes.
    #[test]
    fn placeholder_survives_json_escaping() {
        let json = serde_json::to_string(placeholder_id()).unwrap();
        assert_eq!(json, format!("\"{}\"", placeholder_id()));
    }
}
