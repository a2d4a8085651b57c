//! Where records go as a run produces them: the interface between the engine
//! ([`crate::analysis`]) and the renderers ([`crate::report`]).
//!
//! A run hands each session to its sink once the session's connection has ended, complete
//! with its credentials and messages, and then forgets it: memory does not grow with the
//! number of sessions. The JSON lines, the JSON document, the tables, `creds`, `extract`
//! and `transcript` are all sinks.

use crate::model::{CaptureInfo, Credential, Message, Report, Session, Tool};
use std::io;

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
