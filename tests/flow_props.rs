//! Reassembly properties: reordering, duplication and overlaps never change the delivered
//! bytes; lost segments become gaps that account for every missing byte.

mod flow_support;

use flow_support::*;
use pcapmail::model::Side;
use proptest::collection::vec;
use proptest::prelude::*;
use Side::{Client as C, Server as S};

/// xorshift64*: the shuffles and splits derive from one proptest-chosen seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Cuts `0..len` into consecutive ranges of 1..=max bytes.
fn split(len: usize, rng: &mut Rng, max: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = 0;
    while a < len {
        let b = (a + 1 + rng.below(max)).min(len);
        out.push((a, b));
        a = b;
    }
    out
}

/// Offsets of a direction: positions are relative to ISN + 1.
fn at(isn: u32, off: usize) -> u32 {
    isn.wrapping_add(1).wrapping_add(off as u32)
}

/// The side's stream as positions: `Some(byte)` delivered, `None` reported as a gap.
fn positions(rec: &Rec, side: Side) -> Vec<Option<u8>> {
    let mut v = Vec::new();
    for e in &rec.events {
        match e {
            Ev::Data(s, b, _) if *s == side => v.extend(b.iter().map(|&x| Some(x))),
            Ev::Gap(s, n, _) if *s == side => v.extend(std::iter::repeat_n(None, *n as usize)),
            _ => {}
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn reordered_duplicated_overlapping_segments_deliver_the_stream_exactly(
        cdata in vec(any::<u8>(), 0..1200),
        sdata in vec(any::<u8>(), 0..600),
        cisn in any::<u32>(),
        sisn in any::<u32>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let mut pkts: Vec<(Side, usize, usize)> = Vec::new();
        for (side, len) in [(C, cdata.len()), (S, sdata.len())] {
            for (a, b) in split(len, &mut rng, 120) {
                pkts.push((side, a, b));
                if rng.below(4) == 0 {
                    pkts.push((side, a, b));
                }
            }
            if len > 0 {
                for _ in 0..rng.below(6) {
                    let a = rng.below(len);
                    let b = a + 1 + rng.below((len - a).min(200));
                    pkts.push((side, a, b));
                }
            }
        }
        rng.shuffle(&mut pkts);

        let mut f = Feed::new(follow_all());
        f.send(&seg(C, cisn, None, SYN, b""));
        f.send(&seg(S, sisn, Some(cisn.wrapping_add(1)), SYN, b""));
        for &(side, a, b) in &pkts {
            let (data, isn, peer) = match side {
                C => (&cdata, cisn, sisn),
                S => (&sdata, sisn, cisn),
            };
            // The ACK acknowledges nothing of the peer's data: no ACK-driven gaps.
            f.send(&seg(side, at(isn, a), Some(peer.wrapping_add(1)), 0, &data[a..b]));
        }
        let (h, st) = f.finish();
        prop_assert_eq!(h.done.len(), 1);
        let (_, cs, rec) = &h.done[0];
        prop_assert_eq!(rec.bytes(C), cdata.clone());
        prop_assert_eq!(rec.bytes(S), sdata.clone());
        prop_assert_eq!(st.gaps, 0);
        prop_assert_eq!(st.overlap_conflicts, 0);
        prop_assert_eq!(cs.client.delivered_bytes, cdata.len() as u64);
        prop_assert_eq!(cs.server.delivered_bytes, sdata.len() as u64);
    }

    #[test]
    fn dropped_segments_are_gaps_that_account_for_every_byte(
        data in vec(any::<u8>(), 1..1500),
        isn in any::<u32>(),
        seed in any::<u64>(),
        drop_pct in 0usize..60,
        shuffle in any::<bool>(),
        acks in any::<bool>(),
    ) {
        let mut rng = Rng(seed | 1);
        let segs = split(data.len(), &mut rng, 100);
        let mut kept: Vec<(usize, usize)> =
            segs.into_iter().filter(|_| rng.below(100) >= drop_pct).collect();
        let mut covered = vec![false; data.len()];
        for &(a, b) in &kept {
            covered[a..b].iter_mut().for_each(|c| *c = true);
        }
        let acks = acks && !shuffle;
        if shuffle {
            rng.shuffle(&mut kept);
        }
        let sisn = isn ^ 0x5555_5555;
        let mut f = Feed::new(follow_all());
        f.send(&seg(C, isn, None, SYN, b""));
        f.send(&seg(S, sisn, Some(isn.wrapping_add(1)), SYN, b""));
        for &(a, b) in &kept {
            f.send(&seg(C, at(isn, a), Some(sisn.wrapping_add(1)), 0, &data[a..b]));
            if acks {
                // The network lost nothing: the server has everything up to `b`.
                f.send(&seg(S, sisn.wrapping_add(1), Some(at(isn, b)), 0, b""));
                prop_assert_eq!(f.table.buffered(), 0, "ACK-driven gaps leave nothing buffered");
            }
        }
        f.send(&seg(C, at(isn, data.len()), Some(sisn.wrapping_add(1)), FIN, b""));
        let (h, _) = f.finish();
        let (_, cs, rec) = &h.done[0];
        let pos = positions(rec, C);
        prop_assert_eq!(pos.len(), data.len());
        for i in 0..data.len() {
            let want = if covered[i] { Some(data[i]) } else { None };
            prop_assert_eq!(pos[i], want, "position {}", i);
        }
        let missing = covered.iter().filter(|c| !**c).count() as u64;
        prop_assert_eq!(cs.client.gap_bytes, missing);
        prop_assert_eq!(cs.client.delivered_bytes + cs.client.gap_bytes, data.len() as u64);
        // Gaps are maximal: never two in a row.
        let mut prev_gap = false;
        for e in &rec.events {
            let is_gap = matches!(e, Ev::Gap(..));
            prop_assert!(!(prev_gap && is_gap), "adjacent gaps: {:?}", rec.events);
            prev_gap = is_gap;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Under tight buffer limits, with reordering, duplicates, drops and truncated captures,
    /// every position is delivered with its true byte or reported in a gap, exactly once.
    #[test]
    fn limits_and_truncation_never_misplace_bytes(
        data in vec(any::<u8>(), 1..1500),
        isn in any::<u32>(),
        seed in any::<u64>(),
        limit in 0usize..600,
    ) {
        let mut rng = Rng(seed | 1);
        let mut pkts: Vec<(usize, usize, u32)> = Vec::new();
        for (a, b) in split(data.len(), &mut rng, 90) {
            match rng.below(8) {
                0 => {}
                1 => pkts.push((a, b, rng.below(b - a + 1) as u32)),
                2 => {
                    pkts.push((a, b, 0));
                    pkts.push((a, b, 0));
                }
                _ => pkts.push((a, b, 0)),
            }
        }
        rng.shuffle(&mut pkts);
        let cfg = pcapmail::flow::FlowConfig {
            max_buffer_per_direction: limit,
            ..Default::default()
        };
        let mut f = Feed::with(cfg, follow_all());
        f.send(&seg(C, isn, None, SYN, b""));
        for &(a, b, missing) in &pkts {
            let mut s = seg(C, at(isn, a), None, 0, &data[a..b - missing as usize]);
            s.missing = missing;
            f.send(&s);
            prop_assert!(f.table.buffered() <= limit.max(pcapmail::flow::PIECE_OVERHEAD + 90));
        }
        f.send(&seg(C, at(isn, data.len()), None, FIN, b""));
        let (h, _) = f.finish();
        let (_, cs, rec) = &h.done[0];
        let pos = positions(rec, C);
        prop_assert_eq!(pos.len(), data.len());
        for (i, p) in pos.iter().enumerate() {
            if let Some(x) = p {
                prop_assert_eq!(*x, data[i], "position {}", i);
            }
        }
        prop_assert_eq!(cs.client.delivered_bytes + cs.client.gap_bytes, data.len() as u64);
    }
}
