//! The transcript a dissector keeps of its session: protocol lines, message bodies, gaps
//! and the switch to TLS, in stream order, bounded.

use super::ChunkMeta;
use crate::model::{DialogueEntry, DialogueEvent, Side};

/// A transcript of at most `max` entries. Entries are addressed by index so a dissector
/// can keep updating one (the byte count of a body or of the TLS stream).
#[derive(Debug, Default)]
pub struct Dialogue {
    entries: Vec<DialogueEntry>,
    max: usize,
    off: bool,
}

impl Dialogue {
    /// An empty transcript that keeps at most `max` entries.
    pub fn new(max: usize) -> Self {
        Dialogue {
            entries: Vec::new(),
            max,
            off: false,
        }
    }

    /// A transcript that keeps nothing, for runs that do not show it: the dissector skips
    /// building its entries (no text is decoded or allocated per line).
    pub fn off() -> Self {
        Dialogue {
            entries: Vec::new(),
            max: 0,
            off: true,
        }
    }

    /// Entries are kept (the transcript is not `off`).
    pub fn is_kept(&self) -> bool {
        !self.off
    }

    /// Appends an entry and returns its index; None when the bound is reached (the caller
    /// records the cut).
    pub fn push(&mut self, from: Side, meta: ChunkMeta, event: DialogueEvent) -> Option<usize> {
        if self.off || self.entries.len() >= self.max {
            return None;
        }
        self.entries.push(DialogueEntry {
            frame: meta.frame,
            time: meta.ts,
            from,
            event,
        });
        Some(self.entries.len() - 1)
    }

    /// The event of entry `i`, to update it.
    pub fn event_mut(&mut self, i: usize) -> Option<&mut DialogueEvent> {
        self.entries.get_mut(i).map(|e| &mut e.event)
    }

    /// The entries, leaving the transcript empty.
    pub fn take(&mut self) -> Vec<DialogueEntry> {
        std::mem::take(&mut self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_updatable() {
        let mut d = Dialogue::new(2);
        let m = ChunkMeta::default();
        let i = d
            .push(Side::Client, m, DialogueEvent::Tls { bytes: 0 })
            .unwrap();
        assert_eq!(
            d.push(Side::Server, m, DialogueEvent::Gap { bytes: 3 }),
            Some(1)
        );
        assert_eq!(
            d.push(Side::Server, m, DialogueEvent::Gap { bytes: 4 }),
            None
        );
        if let Some(DialogueEvent::Tls { bytes }) = d.event_mut(i) {
            *bytes = 9;
        }
        let e = d.take();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].event, DialogueEvent::Tls { bytes: 9 });
        assert!(d.take().is_empty());
        let mut off = Dialogue::off();
        assert!(!off.is_kept());
        assert_eq!(
            off.push(Side::Client, m, DialogueEvent::Gap { bytes: 1 }),
            None
        );
    }
}
