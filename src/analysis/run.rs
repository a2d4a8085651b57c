//! One run over one or more captures, streaming: each session leaves for the sink as soon
//! as its connection has ended and no earlier-ending connection can still appear.
//!
//! Order and ids: a finished connection carries the moment it ended
//! ([`crate::flow::ConnStats::order`], the capture clock and frame of the packet that ended
//! it). Sessions are released in that order (ties by first frame, then ports) once every
//! flow table has seen the capture up to that moment, and numbered in release order. The
//! order is therefore the same whether one table sees every packet or several worker
//! tables each see a share: the output bytes do not depend on `--threads`.

use super::{split, Config, Finished, MailHandler, INTERRUPT_CHECK_EVERY, PROGRESS_EVERY};
use crate::capture::{CaptureError, CaptureReader, LinkType};
use crate::community::{community_id, TCP};
use crate::decode::{Decoded, Decoder};
use crate::flow::FlowTable;
use crate::model::{CaptureInfo, Counters, ProtocolDetail, Session, Ts, Warning};
use crate::proto::ChunkMeta;
use crate::sink::{placeholder_id, CaptureFailure, Render, Rendered, SessionRecord, Sink};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::io;
use std::path::Path;
use std::sync::{mpsc, Arc, Condvar, Mutex};

/// With `--merge`, frame numbers carry their file's index above this bit, so every record
/// can name its real file and frame. 2^40 frames per file is far beyond any capture.
pub(super) const FILE_SHIFT: u32 = 40;
const FRAME_MASK: u64 = (1 << FILE_SHIFT) - 1;

/// The position of a finished connection in the output order.
pub(super) type OrderKey = (i64, u64, u64, u16, u16);

/// A release mark: every connection that ends at or before it has been reported by the
/// flow table(s) that saw it.
pub(super) type Mark = (i64, u64);

/// The mark after the end of input.
pub(super) const END_MARK: Mark = (i64::MAX, u64::MAX);

pub(super) fn order_key(f: &Finished) -> OrderKey {
    (
        f.stats.order.0,
        f.stats.order.1,
        f.info.first_frame,
        f.info.client.port,
        f.info.server.port,
    )
}

/// A finished connection on its way to the sink: as the flow table left it, or with its
/// record already prepared by the thread that finished it (see [`RenderCtx`]).
pub(super) enum Done {
    Raw(Box<Finished>),
    Prepared(Box<Prepared>),
}

/// A record prepared before its id was known.
pub(super) struct Prepared {
    key: OrderKey,
    /// The index of the capture whose counters the session adds to.
    file: usize,
    /// The session's contribution to its capture's counters.
    counters: Counters,
    body: Body,
}

/// What a [`Prepared`] record holds.
// Always inside a boxed `Prepared`: the size of the larger variant costs nothing extra.
#[allow(clippy::large_enum_variant)]
pub(super) enum Body {
    /// Rendered by the sink's renderer.
    Rendered(io::Result<Rendered>),
    /// Built, for a sink that only reads it ([`Sink::reads_records`]), and to go back to
    /// the thread that built it, which frees it once the sink has read it (glibc's
    /// allocator pays dearly for memory freed by another thread than the allocating one).
    Built {
        record: SessionRecord,
        home: mpsc::Sender<Box<Prepared>>,
    },
}

impl Done {
    pub(super) fn raw(f: Finished) -> Done {
        Done::Raw(Box::new(f))
    }

    fn key(&self) -> OrderKey {
        match self {
            Done::Raw(f) => order_key(f),
            Done::Prepared(p) => p.key,
        }
    }
}

/// What a worker needs to build and render the records of the sessions it finishes, so
/// that the reading thread only numbers and writes them: the sink's renderer, and the
/// files of the run.
pub(super) struct RenderCtx<'a> {
    how: Prep,
    files: &'a Files,
    file: usize,
}

/// What workers do with the records of the sessions they finish.
enum Prep {
    /// Render them with the sink's renderer.
    Render(Arc<dyn Render>),
    /// Build them; the sink reads them on the reading thread and they come back to be
    /// freed.
    Build,
}

impl RenderCtx<'_> {
    /// Builds `f`'s record with the placeholder id and renders it, or hands it on to be
    /// lent to the sink and then sent back to `home`.
    pub(super) fn prepare(&self, f: Finished, home: &mpsc::Sender<Box<Prepared>>) -> Done {
        let key = order_key(&f);
        let file = self.files.file_of(f.info.first_frame, self.file);
        let mut counters = Counters::new();
        let id = placeholder_id().to_string();
        let record = build_record(f, id, self.files, file, &mut counters);
        let body = match &self.how {
            Prep::Render(render) => Body::Rendered(render.render(record)),
            Prep::Build => Body::Built {
                record,
                home: home.clone(),
            },
        };
        Done::Prepared(Box::new(Prepared {
            key,
            file,
            counters,
            body,
        }))
    }
}

/// Puts `id` where a record built by [`RenderCtx::prepare`] has the placeholder: every
/// field [`build_record`] fills from the id.
fn fill_ids(rec: &mut SessionRecord, id: &str) {
    let p = placeholder_id();
    let fill = |s: &mut String| {
        if s.starts_with(p) {
            s.replace_range(..p.len(), id);
        }
    };
    fill(&mut rec.session.id);
    if let ProtocolDetail::Smtp(smtp) = &mut rec.session.detail {
        for t in &mut smtp.transactions {
            if let Some(m) = &mut t.message {
                fill(m);
            }
        }
    }
    for e in &mut rec.session.dialogue {
        if let crate::model::DialogueEvent::Body {
            message: Some(m), ..
        } = &mut e.event
        {
            fill(m);
        }
    }
    for c in &mut rec.credentials {
        fill(&mut c.session);
    }
    for m in &mut rec.messages {
        fill(&mut m.id);
        fill(&mut m.session);
    }
}

struct Keyed(OrderKey, Done);

impl PartialEq for Keyed {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

/// Finished connections waiting until no earlier one can still appear. It holds only the
/// connections that ended since the slowest table's last mark: a handful.
#[derive(Default)]
pub(super) struct Reorder {
    heap: BinaryHeap<Reverse<Keyed>>,
}

impl Reorder {
    pub(super) fn push(&mut self, f: Done) {
        self.heap.push(Reverse(Keyed(f.key(), f)));
    }

    /// The next connection that ended at or before `mark`, in order.
    pub(super) fn pop_upto(&mut self, mark: Mark) -> Option<Done> {
        let top = self.heap.peek()?;
        if (top.0 .0 .0, top.0 .0 .1) <= mark {
            self.heap.pop().map(|Reverse(Keyed(_, f))| f)
        } else {
            None
        }
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// One packet of the run's input, with its (possibly file-tagged) frame number.
pub(super) struct Pkt<'a> {
    pub frame: u64,
    pub ts: Ts,
    pub link_type: LinkType,
    pub data: &'a [u8],
}

/// The packets of one run: one file, or several merged by timestamp.
pub(super) trait PacketSource {
    fn next_pkt(&mut self) -> Option<Pkt<'_>>;
    /// Tells `progress(file index, bytes read)` where reading stands.
    fn report_progress(&self, progress: &(dyn Fn(usize, u64) + Sync));
}

/// One file.
struct Single<'r> {
    reader: &'r mut CaptureReader,
    index: usize,
}

impl PacketSource for Single<'_> {
    #[inline]
    fn next_pkt(&mut self) -> Option<Pkt<'_>> {
        let p = self.reader.next_packet()?;
        Some(Pkt {
            frame: p.frame,
            ts: p.ts,
            link_type: p.link_type,
            data: p.data,
        })
    }
    fn report_progress(&self, progress: &(dyn Fn(usize, u64) + Sync)) {
        progress(self.index, self.reader.summary().file_bytes);
    }
}

/// The next packet of one of the merged files, copied out of its reader (the readers'
/// windows move on when read); the buffer is reused.
struct Head {
    ts: Ts,
    frame: u64,
    link_type: LinkType,
    data: Vec<u8>,
    live: bool,
}

/// Several files read as one capture in timestamp order (like mergecap): ties go to the
/// file given first, so the order is deterministic.
struct Merged<'r> {
    readers: Vec<(usize, &'r mut CaptureReader)>,
    heads: Vec<Head>,
    /// The head handed out last, to be refilled on the next call.
    taken: Option<usize>,
    started: bool,
}

impl Merged<'_> {
    fn refill(&mut self, i: usize) {
        let h = &mut self.heads[i];
        match self.readers[i].1.next_packet() {
            Some(p) => {
                h.ts = p.ts;
                h.frame = p.frame;
                h.link_type = p.link_type;
                h.data.clear();
                h.data.extend_from_slice(p.data);
                h.live = true;
            }
            None => h.live = false,
        }
    }
}

impl PacketSource for Merged<'_> {
    fn next_pkt(&mut self) -> Option<Pkt<'_>> {
        if !self.started {
            self.started = true;
            for i in 0..self.readers.len() {
                self.refill(i);
            }
        } else if let Some(i) = self.taken.take() {
            self.refill(i);
        }
        let mut best: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if h.live && best.is_none_or(|b| h.ts < self.heads[b].ts) {
                best = Some(i);
            }
        }
        let i = best?;
        self.taken = Some(i);
        let h = &self.heads[i];
        Some(Pkt {
            frame: ((self.readers[i].0 as u64) << FILE_SHIFT) | h.frame,
            ts: h.ts,
            link_type: h.link_type,
            data: &h.data,
        })
    }
    fn report_progress(&self, progress: &(dyn Fn(usize, u64) + Sync)) {
        for (i, r) in &self.readers {
            progress(*i, r.summary().file_bytes);
        }
    }
}

/// A capture that could not be read at all.
#[derive(Debug)]
pub struct Failure {
    pub path: String,
    pub error: CaptureError,
}

/// How a run went.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Captures that could not be read at all (also given to the sink).
    pub failures: Vec<Failure>,
    /// Sessions handed to the sink.
    pub sessions: u64,
    /// The run was interrupted (see [`Config::interrupt`]).
    pub interrupted: bool,
}

/// What the emitter needs of the run's files.
pub(super) struct Files {
    /// Display path per file index (of `paths`).
    paths: Vec<String>,
    /// Frames carry the file index (`--merge`).
    tagged: bool,
}

impl Files {
    fn split(&self, frame: u64) -> (usize, u64) {
        if self.tagged {
            ((frame >> FILE_SHIFT) as usize, frame & FRAME_MASK)
        } else {
            (usize::MAX, frame)
        }
    }

    /// The capture a session belongs to: with `--merge` the file of its first frame,
    /// otherwise the file being read (`file`).
    fn file_of(&self, first_frame: u64, file: usize) -> usize {
        if self.tagged {
            self.split(first_frame).0
        } else {
            file
        }
    }
}

/// Numbers finished connections, builds their records and hands them to the sink.
struct Emitter<'s, S: Sink + ?Sized> {
    sink: &'s mut S,
    next_id: u64,
    /// Per-file counters collected from sessions (dissector counters), by file index.
    counters: Vec<Counters>,
    /// The first error of the sink: the run stops.
    error: Option<io::Error>,
}

impl<S: Sink + ?Sized> Emitter<'_, S> {
    fn emit(&mut self, f: Done, files: &Files, file: usize) {
        if self.error.is_some() {
            return;
        }
        let id = format!("s{}", self.next_id);
        self.next_id += 1;
        let r = match f {
            Done::Raw(f) => {
                let f = *f;
                let file = files.file_of(f.info.first_frame, file);
                let rec = build_record(f, id, files, file, &mut self.counters[file]);
                self.sink.session(rec)
            }
            Done::Prepared(mut p) => {
                add_counters(&mut self.counters[p.file], std::mem::take(&mut p.counters));
                match p.body {
                    Body::Rendered(rendered) => rendered.and_then(|r| self.sink.rendered(r, &id)),
                    Body::Built { .. } => self.lend(p, &id),
                }
            }
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// Lends a built record to the sink with its id, then sends it back to be freed by
    /// the thread that built it (or frees it here if that one has finished).
    fn lend(&mut self, mut p: Box<Prepared>, id: &str) -> io::Result<()> {
        let Body::Built { record, home } = &mut p.body else {
            return Ok(());
        };
        fill_ids(record, id);
        let r = self.sink.session_ref(record);
        let home = home.clone();
        let _ = home.send(p);
        r
    }
}

fn add_counters(into: &mut Counters, from: Counters) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

/// Reads the captures and streams every session to `sink`, each capture's summary after
/// its sessions. Without `merge`, files are read one after the other (each split across
/// `cfg.threads` workers) and session ids continue from file to file; with `merge`, all
/// files are read as one capture in timestamp order. `progress(file index, bytes read)` is
/// called now and then. Stops early when the sink fails (the error is returned) or the run
/// is interrupted.
///
/// With more than one thread, a sink with a [`Sink::renderer`] (the JSON document and
/// JSON lines) has each record built and rendered by the worker that finished its session,
/// its id filled in when the reading thread writes it in order; a sink that only reads
/// records ([`Sink::reads_records`]: the table report, `creds`) has them built there,
/// lent to it in order on the reading thread, and freed by their builder. Any other sink
/// works on the calling thread while the captures are read on another: rendering and
/// writing the records then overlaps reading and dissection instead of adding to the
/// reader's share.
pub fn run<S: Sink + ?Sized>(
    paths: &[&Path],
    cfg: &Config,
    merge: bool,
    sink: &mut S,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> io::Result<RunOutcome> {
    // A sink whose records are rendered or built by the threads that finish them only
    // writes or counts: a thread of its own would cost more in hand-overs than it takes
    // off the reader.
    if cfg.threads <= 1 || sink.renderer().is_some() || sink.reads_records() {
        return run_here(paths, cfg, merge, sink, progress);
    }
    let gate = Gate::default();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Event>(SINK_QUEUE);
        let gate = &gate;
        let reader = scope.spawn(move || {
            let mut fwd = Forward { tx, gate };
            run_here(paths, cfg, merge, &mut fwd, progress)
        });
        let mut error = None;
        while let Ok(ev) = rx.recv() {
            let r = match ev {
                Event::Session(r, weight) => {
                    let r = sink.session(*r);
                    gate.release(weight);
                    r
                }
                Event::Capture(info) => sink.capture(&info),
                Event::Failure(f) => sink.failure(&f),
            };
            if let Err(e) = r {
                error = Some(e);
                break;
            }
        }
        // The reader's next send fails and the run stops; a reader waiting at the gate
        // is let through to find that out.
        drop(rx);
        gate.open();
        let res = match reader.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        };
        match error {
            Some(e) => Err(e),
            None => res,
        }
    })
}

/// Records in flight from the reading thread to the sink: enough to ride out a burst of
/// sessions ending together, few enough that memory stays bounded.
const SINK_QUEUE: usize = 256;
/// Kept bytes (message and attachment data, transcript entries) in flight to the sink at
/// most; a record larger than this still goes, alone.
const SINK_BYTES: usize = 16 << 20;

/// What the reading thread hands to the sink's thread.
enum Event {
    /// A record and its weight at the [`Gate`].
    Session(Box<SessionRecord>, usize),
    Capture(Box<CaptureInfo>),
    Failure(CaptureFailure),
}

/// Bounds the bytes in flight to the sink: records that keep message bytes (`extract`)
/// or dialogues (`transcript`) can be large, and a count alone would not bound them.
#[derive(Default)]
struct Gate {
    /// Bytes in flight, and whether the sink's side is gone.
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Gate {
    fn acquire(&self, weight: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.0 > 0 && st.0 + weight > SINK_BYTES && !st.1 {
            st = self.freed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.0 += weight;
    }
    fn release(&self, weight: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.0 = st.0.saturating_sub(weight);
        self.freed.notify_one();
    }
    fn open(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.freed.notify_one();
    }
}

/// What a record holds beyond its fixed fields, roughly.
fn weight(r: &SessionRecord) -> usize {
    let data: usize = r
        .messages
        .iter()
        .map(|m| {
            m.data.as_ref().map_or(0, |d| d.len())
                + m.attachments
                    .iter()
                    .map(|a| a.data.as_ref().map_or(0, |d| d.len()))
                    .sum::<usize>()
        })
        .sum();
    1024 + data + 128 * r.session.dialogue.len()
}

/// The reading thread's sink: forwards every call to the sink's thread.
struct Forward<'g> {
    tx: mpsc::SyncSender<Event>,
    gate: &'g Gate,
}

impl Forward<'_> {
    fn send(&self, ev: Event) -> io::Result<()> {
        // The other side only hangs up after its sink failed; that error is the one
        // returned, this one only stops the reading.
        self.tx
            .send(ev)
            .map_err(|_| io::Error::other("the sink stopped"))
    }
}

impl Sink for Forward<'_> {
    fn session(&mut self, record: SessionRecord) -> io::Result<()> {
        let w = weight(&record);
        self.gate.acquire(w);
        self.send(Event::Session(Box::new(record), w))
    }
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.send(Event::Capture(Box::new(info.clone())))
    }
    fn failure(&mut self, failure: &CaptureFailure) -> io::Result<()> {
        self.send(Event::Failure(failure.clone()))
    }
}

/// [`run`] on the calling thread.
fn run_here<S: Sink + ?Sized>(
    paths: &[&Path],
    cfg: &Config,
    merge: bool,
    sink: &mut S,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> io::Result<RunOutcome> {
    let mut outcome = RunOutcome::default();
    let mut em = Emitter {
        sink,
        next_id: 1,
        counters: vec![Counters::new(); paths.len()],
        error: None,
    };
    let display: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    if merge && paths.len() > 1 {
        let mut readers = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            match CaptureReader::open(p) {
                Ok(r) => readers.push((i, with_keys(r, cfg))),
                Err(error) => fail(&mut em, &mut outcome, &display[i], error),
            }
        }
        if em.error.is_none() && !readers.is_empty() {
            let files = Files {
                paths: display.clone(),
                tagged: true,
            };
            let n = readers.len();
            let mut merged = Merged {
                heads: (0..n)
                    .map(|_| Head {
                        ts: Ts(0),
                        frame: 0,
                        link_type: LinkType(0),
                        data: Vec::new(),
                        live: false,
                    })
                    .collect(),
                readers: readers.iter_mut().map(|(i, r)| (*i, r)).collect(),
                taken: None,
                started: false,
            };
            let res = read_source(&mut merged, cfg, &files, 0, &mut em, progress);
            merged.report_progress(progress);
            drop(merged);
            outcome.interrupted |= res.interrupted_at.is_some();
            // Run-wide counters (decoder, flow table) go with the first file read.
            let mut run_counters = Some(res);
            for (i, r) in readers {
                let extra = run_counters.take();
                let info = capture_info(r, &display[i], extra, &em.counters[i]);
                if em.error.is_none() {
                    if let Err(e) = em.sink.capture(&info) {
                        em.error = Some(e);
                    }
                }
            }
        }
    } else {
        let files = Files {
            paths: display.clone(),
            tagged: false,
        };
        for (i, p) in paths.iter().enumerate() {
            if em.error.is_some() || cfg.interrupted() {
                break;
            }
            let mut reader = match CaptureReader::open(p) {
                Ok(r) => with_keys(r, cfg),
                Err(error) => {
                    fail(&mut em, &mut outcome, &display[i], error);
                    continue;
                }
            };
            let mut single = Single {
                reader: &mut reader,
                index: i,
            };
            let res = read_source(&mut single, cfg, &files, i, &mut em, progress);
            single.report_progress(progress);
            outcome.interrupted |= res.interrupted_at.is_some();
            let info = capture_info(reader, &display[i], Some(res), &em.counters[i]);
            if em.error.is_none() {
                if let Err(e) = em.sink.capture(&info) {
                    em.error = Some(e);
                }
            }
        }
    }
    outcome.sessions = em.next_id - 1;
    match em.error {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Keys embedded in the capture (pcapng Decryption Secrets Blocks) join the run's key
/// log before the packets that follow them are read.
fn with_keys(mut r: CaptureReader, cfg: &Config) -> CaptureReader {
    let keys = cfg.keylog.clone();
    r.on_tls_secrets(Box::new(move |text| {
        // Refused beyond the bound; the reader already bounds each file.
        let _ = keys.add_embedded(text);
    }));
    r
}

fn fail<S: Sink + ?Sized>(
    em: &mut Emitter<'_, S>,
    outcome: &mut RunOutcome,
    path: &str,
    error: CaptureError,
) {
    if em.error.is_none() {
        let f = CaptureFailure {
            path: path.to_string(),
            error: error.to_string(),
        };
        if let Err(e) = em.sink.failure(&f) {
            em.error = Some(e);
        }
    }
    outcome.failures.push(Failure {
        path: path.to_string(),
        error,
    });
}

/// What reading one packet source left besides the sessions.
pub(super) struct SourceResult {
    pub interrupted_at: Option<u64>,
    pub not_mail: u64,
    pub flow_counters: Vec<(&'static str, u64)>,
    pub decode_counters: Vec<(&'static str, u64)>,
    pub unsupported: BTreeSet<LinkType>,
}

fn read_source<S: Sink + ?Sized>(
    src: &mut dyn PacketSource,
    cfg: &Config,
    files: &Files,
    file: usize,
    em: &mut Emitter<'_, S>,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> SourceResult {
    let mut decoder = Decoder::new(cfg.decode);
    let mut unsupported = BTreeSet::new();
    let mut interrupted_at = None;
    let threads = cfg.threads.max(1);
    // With several threads, each renders the records of the sessions it finishes (when
    // the sink can have them rendered elsewhere).
    let how = match em.sink.renderer() {
        Some(r) => Some(Prep::Render(r)),
        None => em.sink.reads_records().then_some(Prep::Build),
    };
    let render = how
        .filter(|_| threads > 1)
        .map(|how| RenderCtx { how, files, file });
    let mut emit = |f: Done| {
        em.emit(f, files, file);
        em.error.is_none()
    };
    let (not_mail, flow_counters) = if threads > 1 {
        split::run(
            src,
            &mut decoder,
            &mut unsupported,
            cfg,
            threads,
            render.as_ref(),
            progress,
            &mut interrupted_at,
            &mut emit,
        )
    } else {
        let handler = MailHandler {
            cfg,
            finished: Vec::new(),
            not_mail: 0,
            ignored: None,
        };
        let mut table = FlowTable::new(cfg.flow.clone(), handler);
        let mut reorder = Reorder::default();
        let mut now = i64::MIN;
        let mut count: u64 = 0;
        let mut stop = false;
        while let Some(pkt) = src.next_pkt() {
            count += 1;
            if count.is_multiple_of(INTERRUPT_CHECK_EVERY) && cfg.interrupted() {
                interrupted_at = Some(pkt.frame & FRAME_MASK);
                break;
            }
            let meta = ChunkMeta {
                frame: pkt.frame,
                ts: pkt.ts,
            };
            match decoder.decode(pkt.link_type, pkt.data, pkt.ts) {
                Decoded::Tcp(seg) => {
                    now = now.max(pkt.ts.0);
                    table.packet(&seg, meta);
                    let done = &mut table.handler_mut().finished;
                    if !done.is_empty() || reorder.len() > 0 {
                        for f in done.drain(..) {
                            reorder.push(Done::raw(f));
                        }
                        while let Some(f) = reorder.pop_upto((now, pkt.frame)) {
                            if !emit(f) {
                                stop = true;
                            }
                        }
                    }
                }
                Decoded::UnsupportedLink(lt) => {
                    unsupported.insert(lt);
                }
                _ => {}
            }
            if stop {
                break;
            }
            if count.is_multiple_of(PROGRESS_EVERY) {
                src.report_progress(progress);
            }
        }
        let (mut handler, flow_stats) = table.finish();
        for f in handler.finished.drain(..) {
            reorder.push(Done::raw(f));
        }
        while let Some(f) = reorder.pop_upto(END_MARK) {
            if !stop && !emit(f) {
                stop = true;
            }
        }
        (handler.not_mail, flow_stats.counters())
    };
    SourceResult {
        interrupted_at,
        not_mail,
        flow_counters,
        decode_counters: decoder.counters().pairs().to_vec(),
        unsupported,
    }
}

/// The summary of one capture file once read.
fn capture_info(
    reader: CaptureReader,
    display: &str,
    run: Option<SourceResult>,
    session_counters: &Counters,
) -> CaptureInfo {
    let summary = reader.into_summary();
    let mut counters = session_counters.clone();
    let mut warnings = summary.warnings.clone();
    if let Some(run) = run {
        for (k, v) in run.decode_counters {
            if v != 0 {
                counters.insert(format!("decode.{k}"), v);
            }
        }
        for (k, v) in run.flow_counters {
            if v != 0 {
                counters.insert(format!("flow.{k}"), v);
            }
        }
        if run.not_mail != 0 {
            counters.insert("sessions.not_mail".into(), run.not_mail);
        }
        if let Some(frame) = run.interrupted_at {
            warnings.push(Warning {
                offset: None,
                frame: Some(frame),
                message: "interrupted: the report covers the packets read before this frame".into(),
            });
        }
        // One warning per link type, up to a few: a crafted pcapng can declare thousands.
        const LISTED: usize = 8;
        for lt in run.unsupported.iter().take(LISTED) {
            warnings.push(Warning {
                offset: None,
                frame: None,
                message: format!(
                    "unsupported link type {} ({}): its packets were skipped",
                    lt.name(),
                    lt.0
                ),
            });
        }
        if run.unsupported.len() > LISTED {
            warnings.push(Warning {
                offset: None,
                frame: None,
                message: format!(
                    "{} more unsupported link types: their packets were skipped",
                    run.unsupported.len() - LISTED
                ),
            });
        }
    }
    for (k, v) in summary.counters() {
        if v != 0 {
            counters.insert(format!("capture.{k}"), v);
        }
    }
    CaptureInfo {
        path: display.to_string(),
        format: summary.format.name().to_string(),
        gzip: summary.gzip,
        link_types: summary.link_types.iter().map(|l| l.name()).collect(),
        packets: summary.packets,
        bytes: summary.bytes,
        first: summary.first,
        last: summary.last,
        warnings,
        counters,
    }
}

/// Builds a finished connection's record with id `id`. `file` is the index of its capture.
fn build_record(
    f: Finished,
    id: String,
    files: &Files,
    file: usize,
    counters: &mut Counters,
) -> SessionRecord {
    let Finished {
        info,
        stats,
        protocol,
        output,
        tls,
    } = f;
    output.add_counters(protocol, counters);
    let capture = files.paths[file].clone();
    let mut anomalies = output.anomalies;
    let mut findings = output.findings;
    let tls_info = tls.map(|t| {
        super::tls_counters(&t, counters);
        for w in &t.warnings {
            anomalies.push(format!("tls: {w}"));
        }
        findings.extend(super::tls_findings(&t.info, info.first_ts));
        t.info
    });
    let conflicts = stats.client.overlap_conflicts + stats.server.overlap_conflicts;
    if conflicts > 0 {
        // First arrival wins in reassembly; the differing copies are worth knowing about.
        anomalies.push(format!("tcp-overlap-conflict ({conflicts})"));
    }
    let mut detail = output.detail;
    // Message ids: the dissectors refer to messages by their index.
    let msg_ids: Vec<String> = (0..output.messages.len())
        .map(|i| format!("{id}-m{}", i + 1))
        .collect();
    if let ProtocolDetail::Smtp(smtp) = &mut detail {
        for t in &mut smtp.transactions {
            t.message = t
                .message
                .as_deref()
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| msg_ids.get(i).cloned());
        }
    }
    let mut dialogue = output.dialogue;
    for e in &mut dialogue {
        if let crate::model::DialogueEvent::Body { message, .. } = &mut e.event {
            *message = message
                .as_deref()
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| msg_ids.get(i).cloned());
        }
    }
    let start = info.first_ts;
    let end = stats.last_ts.max(start);
    let session = Session {
        id: id.clone(),
        protocol,
        community_id: community_id(&info.client, &info.server, TCP),
        client: info.client,
        server: info.server,
        start,
        end,
        tls: output.tls,
        tls_info,
        complete: output.complete,
        gaps: stats.client.gaps + stats.server.gaps,
        gap_bytes: stats.client.gap_bytes + stats.server.gap_bytes,
        capture,
        first_frame: info.first_frame,
        last_frame: stats.last_frame,
        bytes_client: stats.client.payload_bytes,
        bytes_server: stats.server.payload_bytes,
        starttls_offered: output.starttls_offered,
        banner: output.banner,
        close: stats.end.name().to_string(),
        detail,
        commands: output.commands,
        findings,
        truncated: output.truncated,
        anomalies,
        dialogue,
    };
    let mut credentials = output.credentials;
    for c in &mut credentials {
        c.session = id.clone();
        c.client = info.client;
        c.server = info.server;
    }
    let mut messages = output.messages;
    for (m, mid) in messages.iter_mut().zip(msg_ids) {
        m.id = mid;
        m.session = id.clone();
    }
    let mut rec = SessionRecord {
        session,
        credentials,
        messages,
    };
    if files.tagged {
        untag_frames(&mut rec, files, file);
    }
    rec
}

/// `--merge`: frame numbers back to their file's numbering; a credential, message or
/// command from another file than the session's first names its file.
fn untag_frames(rec: &mut SessionRecord, files: &Files, file: usize) {
    let plain = |f: &mut u64| *f &= FRAME_MASK;
    let other = |f: u64| -> Option<String> {
        let (i, _) = files.split(f);
        (i != file).then(|| files.paths.get(i).cloned()).flatten()
    };
    let s = &mut rec.session;
    plain(&mut s.first_frame);
    plain(&mut s.last_frame);
    for c in &mut s.commands {
        c.capture = other(c.frame);
        plain(&mut c.frame);
        if let Some(r) = &mut c.reply {
            plain(&mut r.frame);
        }
    }
    if let ProtocolDetail::Smtp(d) = &mut s.detail {
        for t in &mut d.transactions {
            plain(&mut t.frame);
        }
    }
    for e in &mut s.dialogue {
        plain(&mut e.frame);
    }
    for c in &mut rec.credentials {
        c.capture = other(c.frame);
        plain(&mut c.frame);
    }
    for m in &mut rec.messages {
        m.capture = other(m.frame);
        plain(&mut m.frame);
    }
}
