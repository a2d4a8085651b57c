//! FlowTable behaviour through hand-built segments and a recording stream consumer.

mod flow_support;

use flow_support::*;
use pcapmail::flow::{Decision, FlowConfig, PIECE_OVERHEAD};
use pcapmail::model::{Endpoint, Side, Ts};
use pcapmail::proto::EndReason;
use Side::{Client as C, Server as S};

fn data(side: Side, b: &[u8], frame: u64) -> Ev {
    Ev::Data(side, b.to_vec(), frame)
}

#[test]
fn in_order_with_handshake_and_fin_both_ways() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN); // frames 1..=3
    f.send(&seg(S, 5001, Some(1001), PSH, b"220 hi\r\n")); // 4
    f.send(&seg(C, 1001, Some(5009), PSH, b"EHLO x\r\n")); // 5
    f.send(&seg(S, 5009, Some(1009), PSH, b"250 ok\r\n")); // 6
    f.send(&seg(C, 1009, Some(5017), FIN, b"")); // 7
    f.send(&seg(S, 5017, Some(1010), FIN, b"")); // 8: both directions complete
    f.send(&seg(C, 1010, Some(5018), 0, b"")); // 9: after the end
    let (h, st) = f.finish();
    assert_eq!(h.done.len(), 1);
    let (info, cs, rec) = &h.done[0];
    assert_eq!(
        rec.events,
        vec![
            data(S, b"220 hi\r\n", 4),
            data(C, b"EHLO x\r\n", 5),
            data(S, b"250 ok\r\n", 6),
            Ev::End(EndReason::Fin, 8),
        ]
    );
    assert_eq!(info.client, client());
    assert_eq!(info.server, server());
    assert!(info.handshake);
    assert_eq!((info.first_frame, info.first_ts), (1, Ts(MS)));
    assert!(cs.client.syn && cs.server.syn && cs.client.fin && cs.server.fin);
    assert!(!cs.client.rst && !cs.server.rst);
    assert_eq!(
        (cs.client.delivered_bytes, cs.server.delivered_bytes),
        (8, 16)
    );
    assert_eq!((cs.client.packets, cs.server.packets), (4, 4));
    assert_eq!(
        (cs.first_frame, cs.last_frame, cs.end),
        (1, 8, EndReason::Fin)
    );
    assert_eq!(st.ended_fin, 1);
    assert_eq!(st.tombstone_packets, 1);
    assert_eq!(st.gaps, 0);
    assert_eq!(st.delivered_bytes, 24);
    // Classified once, when first seen, with empty prefixes.
    assert_eq!(h.calls.len(), 1);
    assert!(h.calls[0].1.is_empty() && h.calls[0].2.is_empty());
}

#[test]
fn reversed_order_delivers_in_order_with_carrier_frames() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    let c = f.send(&seg(C, 1009, Some(5001), 0, b"cccc"));
    let b = f.send(&seg(C, 1005, Some(5001), 0, b"bbbb"));
    let a = f.send(&seg(C, 1001, Some(5001), 0, b"aaaa"));
    let (h, _) = f.finish();
    let rec = &h.done[0].2;
    assert_eq!(
        rec.chunks(C),
        vec![
            (a, b"aaaa".to_vec()),
            (b, b"bbbb".to_vec()),
            (c, b"cccc".to_vec())
        ]
    );
    // Timestamps follow the carrying packet too.
    let ts: Vec<i64> = rec.metas.iter().map(|m| m.ts.0).collect();
    assert_eq!(ts[..3], [a as i64 * MS, b as i64 * MS, c as i64 * MS]);
    assert_eq!(rec.end(), Some((EndReason::EndOfCapture, a)));
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn every_permutation_of_four_segments() {
    let parts: [(u32, &[u8]); 4] = [(0, b"one "), (4, b"two, "), (9, b"three"), (14, b" four!")];
    let perms = permutations(4);
    assert_eq!(perms.len(), 24);
    for p in perms {
        let mut f = Feed::new(follow_all());
        handshake(&mut f, CISN, SISN);
        let mut frames = [0u64; 4];
        for &i in &p {
            let (o, b) = parts[i];
            frames[i] = f.send(&seg(C, 1001 + o, Some(5001), 0, b));
        }
        let (h, st) = f.finish();
        let rec = &h.done[0].2;
        assert_eq!(rec.bytes(C), b"one two, three four!", "order {p:?}");
        assert_eq!(st.gaps, 0, "order {p:?}");
        let got: Vec<u64> = rec.chunks(C).iter().map(|c| c.0).collect();
        assert_eq!(got, frames.to_vec(), "order {p:?}");
    }
}

#[test]
fn duplicates_and_overlaps_first_arrival_wins() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1006, Some(5001), 0, b"WORLD")); // 4: buffered
    f.send(&seg(C, 1006, Some(5001), 0, b"WORLD")); // 5: exact duplicate
    f.send(&seg(C, 1004, Some(5001), 0, b"loEAR")); // 6: conflicts with buffered WORLD
    f.send(&seg(C, 1001, Some(5001), 0, b"hel")); // 7: fills the hole
    f.send(&seg(C, 1001, Some(5001), 0, b"hello")); // 8: retransmission of delivered bytes
    f.send(&seg(C, 1011, Some(5001), 0, b"!")); // 9
    let (h, st) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(rec.bytes(C), b"helloWORLD!");
    assert_eq!(
        rec.chunks(C),
        vec![
            (7, b"hel".to_vec()),
            (6, b"lo".to_vec()),
            (4, b"WORLD".to_vec()),
            (9, b"!".to_vec())
        ]
    );
    assert_eq!(cs.client.overlap_conflicts, 1);
    // 5 (dup) + 3 (EAR over WOR) + 5 (retransmission) positions seen again.
    assert_eq!(cs.client.retransmitted_bytes, 13);
    assert_eq!(st.overlap_conflicts, 1);
    assert_eq!(cs.client.gaps, 0);
}

#[test]
fn keep_alive_is_a_retransmission() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"abcd"));
    f.send(&seg(C, 1004, Some(5001), 0, b"\0")); // keep-alive: next - 1
    f.send(&seg(C, 1005, Some(5001), 0, b"ef"));
    let (h, _) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(rec.bytes(C), b"abcdef");
    assert_eq!(cs.client.retransmitted_bytes, 1);
}

#[test]
fn wrap_around_across_2_pow_32() {
    let cisn = u32::MAX - 3; // data starts at MAX-2 and wraps after 3 bytes
    let sisn = u32::MAX;
    let mut f = Feed::new(follow_all());
    handshake(&mut f, cisn, sisn);
    f.send(&seg(C, 1, Some(0), 0, b"efgh")); // after the wrap, first
    f.send(&seg(C, u32::MAX - 2, Some(0), 0, b"abcd"));
    f.send(&seg(S, 0, Some(5), 0, b"server")); // server base is 0 (ISN MAX + 1)
    f.send(&seg(C, 5, Some(6), FIN, b""));
    f.send(&seg(S, 6, Some(6), FIN, b""));
    let (h, st) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(rec.bytes(C), b"abcdefgh");
    assert_eq!(rec.bytes(S), b"server");
    assert_eq!(rec.end().unwrap().0, EndReason::Fin);
    assert_eq!(st.gaps, 0);
    assert_eq!(cs.client.before_start_bytes, 0);
}

#[test]
fn missing_segment_is_one_gap_at_the_right_place() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa")); // 4
                                                   // 1005..1009 lost by the capture
    let c = f.send(&seg(C, 1009, Some(5001), 0, b"cccc")); // 5
    f.send(&seg(C, 1013, Some(5001), 0, b"dd")); // 6
    let (h, st) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(
        rec.events,
        vec![
            data(C, b"aaaa", 4),
            Ev::Gap(C, 4, c),
            data(C, b"cccc", 5),
            data(C, b"dd", 6),
            Ev::End(EndReason::EndOfCapture, 6),
        ]
    );
    assert_eq!((cs.client.gaps, cs.client.gap_bytes), (1, 4));
    assert_eq!((st.gaps, st.gap_bytes), (1, 4));
}

#[test]
fn fin_beyond_a_hole_becomes_a_gap_at_the_end() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa"));
    // 1005..1009 lost, then the FIN at 1009
    f.send(&seg(C, 1009, Some(5001), FIN, b""));
    f.send(&seg(S, 5001, Some(1005), FIN, b"")); // server has not seen the data: no ACK gap
    let (h, _) = f.finish();
    let rec = &h.done[0].2;
    assert_eq!(rec.text(C), "aaaa[gap 4]");
    assert_eq!(rec.end().unwrap().0, EndReason::EndOfCapture);
}

#[test]
fn fin_before_last_data_waits_for_it() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa")); // 4
    f.send(&seg(C, 1009, Some(5001), FIN, b"cccc")); // 5: FIN at 1013, out of order
    f.send(&seg(S, 5001, Some(1005), FIN, b"")); // 6
    let b = f.send(&seg(C, 1005, Some(5002), 0, b"bbbb")); // 7: completes both
    f.send(&seg(S, 5002, Some(1014), 0, b"")); // 8: after the end
    let (h, st) = f.finish();
    let rec = &h.done[0].2;
    assert_eq!(rec.text(C), "aaaabbbbcccc");
    assert_eq!(rec.end(), Some((EndReason::Fin, b)));
    assert_eq!(st.ended_fin, 1);
}

#[test]
fn ack_beyond_a_hole_reports_the_gap_at_once() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa")); // 4
    let c = f.send(&seg(C, 1009, Some(5001), 0, b"cccc")); // 5 (1005..1009 lost)
    f.send(&seg(S, 5001, Some(1013), 0, b"250 ok")); // 6: the server has everything
    let (h, st) = f.finish();
    let rec = &h.done[0].2;
    assert_eq!(
        rec.events,
        vec![
            data(C, b"aaaa", 4),
            Ev::Gap(C, 4, c),
            data(C, b"cccc", c),
            data(S, b"250 ok", 6),
            Ev::End(EndReason::EndOfCapture, 6),
        ]
    );
    assert_eq!(st.gaps, 1);
}

#[test]
fn ack_without_data_after_the_hole_waits() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa")); // 4
    f.send(&seg(S, 5001, Some(1009), 0, b"x")); // 5: acks 1005..1009 we have not seen yet
    f.send(&seg(C, 1005, Some(5002), 0, b"bbbb")); // 6: it arrives after all
    let (h, _) = f.finish();
    assert_eq!(h.done[0].2.text(C), "aaaabbbb");
}

#[test]
fn snaplen_truncation_is_a_gap() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    let mut t = seg(C, 1001, Some(5001), 0, b"aaaa");
    t.missing = 6;
    let tf = f.send(&t); // 4: positions 1005..1011 not captured
    f.send(&seg(C, 1011, Some(5001), 0, b"bb")); // 5
                                                 // Out of order: truncated segment after the following one.
    let mut t2 = seg(C, 1013, Some(5001), 0, b"cc");
    t2.missing = 3;
    f.send(&seg(C, 1018, Some(5001), 0, b"dd")); // 6
    let t2f = f.send(&t2); // 7
    let (h, _) = f.finish();
    let rec = &h.done[0].2;
    assert_eq!(rec.text(C), "aaaa[gap 6]bbcc[gap 3]dd");
    assert!(rec.events.contains(&Ev::Gap(C, 6, tf)));
    assert!(rec.events.contains(&Ev::Gap(C, 3, t2f)));
}

#[test]
fn mid_stream_start_with_swap() {
    let mut f = Feed::new(handler(|info, _, _| follow(info.client.port == 25, 0, 0)));
    // The first packet seen comes from the server: it becomes the tentative client.
    f.send(&seg(S, 7000, Some(3000), PSH, b"250 ok\r\n")); // 1
    f.send(&seg(C, 3000, Some(7008), PSH, b"DATA\r\n")); // 2
    f.send(&seg(C, 2990, Some(7008), PSH, b"0123456789DATA\r\n")); // 3: starts before the base
    f.send(&seg(S, 7008, Some(3006), PSH, b"354 go\r\n")); // 4
    let (h, st) = f.finish();
    assert_eq!(h.calls[0].0.client, server(), "tentative roles");
    assert!(!h.calls[0].0.handshake);
    let (info, cs, rec) = &h.done[0];
    assert_eq!(info.client, client());
    assert_eq!(info.server, server());
    assert!(!info.handshake);
    assert_eq!(
        rec.events,
        vec![
            data(S, b"250 ok\r\n", 1),
            data(C, b"DATA\r\n", 2),
            data(S, b"354 go\r\n", 4),
            Ev::End(EndReason::EndOfCapture, 4),
        ]
    );
    assert_eq!(cs.client.before_start_bytes, 10);
    assert_eq!(cs.client.retransmitted_bytes, 6);
    assert_eq!(cs.server.delivered_bytes, 16);
    assert_eq!(st.gaps, 0);
}

#[test]
fn syn_ack_only_gives_roles() {
    let mut f = Feed::new(follow_all());
    f.send(&seg(S, SISN, Some(CISN + 1), SYN, b"")); // SYN-ACK, SYN not captured
    f.send(&seg(C, CISN + 1, Some(SISN + 1), 0, b"EHLO"));
    f.send(&seg(S, SISN + 1, Some(CISN + 5), 0, b"250"));
    let (h, _) = f.finish();
    let (info, cs, rec) = &h.done[0];
    assert!(info.handshake);
    assert_eq!(info.client, client());
    assert_eq!(rec.text(C), "EHLO");
    assert_eq!(rec.text(S), "250");
    assert!(cs.server.syn && !cs.client.syn);
}

#[test]
fn one_sided_capture_still_delivers() {
    let mut f = Feed::new(follow_all());
    f.send(&seg(C, 100, Some(900), 0, b"MAIL ")); // 1
    f.send(&seg(C, 115, Some(900), 0, b"\r\n")); // 2: out of order
    f.send(&seg(C, 105, Some(900), 0, b"FROM:<a@b>")); // 3
    f.send(&seg(C, 117, Some(900), FIN, b"")); // 4
    let (h, _) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(rec.text(C), "MAIL FROM:<a@b>\r\n");
    assert_eq!(rec.text(S), "");
    assert_eq!(cs.server.packets, 0);
    assert_eq!(rec.end(), Some((EndReason::EndOfCapture, 4)));
}

#[test]
fn rst_ends_the_connection() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa")); // 4
    f.send(&seg(C, 1009, Some(5001), 0, b"cccc")); // 5: buffered
    let r = f.send(&seg(S, 5001, Some(1005), RST, b"")); // 6
    f.send(&seg(C, 1013, Some(5001), 0, b"late")); // 7: tombstone
    let (h, st) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(rec.text(C), "aaaa[gap 4]cccc");
    assert_eq!(rec.end(), Some((EndReason::Rst, r)));
    assert!(cs.server.rst);
    assert_eq!((st.ended_rst, st.tombstone_packets), (1, 1));
}

#[test]
fn port_reuse_after_fin_is_a_new_connection() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), FIN, b"one"));
    f.send(&seg(S, 5001, Some(1005), FIN, b""));
    f.send(&seg(C, 1005, Some(5002), 0, b""));
    // The same SYN again is ignored; a new ISN is a new connection.
    handshake(&mut f, 9000, 20000);
    f.send(&seg(C, 9001, Some(20001), 0, b"two"));
    f.send(&seg(C, CISN, None, SYN, b"")); // another ISN while open: supersedes the second
    let (h, st) = f.finish();
    assert_eq!(h.done.len(), 3);
    assert_eq!(h.done[0].2.text(C), "one");
    assert_eq!(h.done[0].1.end, EndReason::Fin);
    assert_eq!(h.done[1].2.text(C), "two");
    assert_eq!(h.done[1].1.end, EndReason::Timeout, "superseded while open");
    assert_eq!(h.done[2].1.end, EndReason::EndOfCapture);
    assert_eq!(st.connections, 3);
    assert_eq!(st.superseded, 1);
}

#[test]
fn retransmitted_syn_is_not_a_new_connection() {
    let mut f = Feed::new(follow_all());
    f.send(&seg(C, CISN, None, SYN, b""));
    f.send(&seg(C, CISN, None, SYN, b""));
    f.send(&seg(S, SISN, Some(CISN + 1), SYN, b""));
    f.send(&seg(C, CISN + 1, Some(SISN + 1), 0, b"x"));
    let (h, st) = f.finish();
    assert_eq!(st.connections, 1);
    assert_eq!(h.done[0].2.text(C), "x");
}

#[test]
fn idle_timeout_by_capture_time() {
    let cfg = FlowConfig {
        idle_timeout_ns: 10_000 * MS,
        ..FlowConfig::default()
    };
    let mut f = Feed::with(cfg, follow_all());
    f.send_at(&seg(C, 100, None, 0, b"abc"), Ts(MS)); // 1
    let last = f.send_at(&seg(C, 107, None, 0, b"ghi"), Ts(2 * MS)); // 2: hole 103..107
    let other = Endpoint {
        port: 40001,
        ..client()
    };
    // Another connection 10 s later: not yet idle for longer than the timeout.
    f.send_at(
        &seg_between(other, server(), 1, None, 0, b"x"),
        Ts(10_002 * MS),
    );
    assert_eq!(f.table.handler().done.len(), 0);
    f.send_at(
        &seg_between(other, server(), 2, None, 0, b"y"),
        Ts(10_003 * MS),
    );
    let done = &f.table.handler().done;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].2.text(C), "abc[gap 4]ghi");
    assert_eq!(done[0].2.end(), Some((EndReason::Timeout, last)));
    assert_eq!(f.table.stats().timed_out, 1);
    let (h, st) = f.finish();
    assert_eq!(h.done.len(), 2);
    assert_eq!(st.ended_at_capture_end, 1);
}

#[test]
fn direction_buffer_limit_gives_up_the_hole() {
    let cfg = FlowConfig {
        max_buffer_per_direction: 2 * (PIECE_OVERHEAD + 50) - 1,
        ..FlowConfig::default()
    };
    let mut f = Feed::with(cfg, follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"head")); // 4
                                                   // 1005..1015 lost; then 50-byte segments pile up.
    let a = f.send(&seg(C, 1015, Some(5001), 0, &[b'a'; 50])); // 5: fits
    assert_eq!(f.table.stats().direction_limit_hits, 0);
    f.send(&seg(C, 1065, Some(5001), 0, &[b'b'; 50])); // 6: over the limit
    assert_eq!(f.table.stats().direction_limit_hits, 1);
    assert_eq!(f.table.buffered(), 0);
    f.send(&seg(C, 1005, Some(5001), 0, b"0123456789")); // 7: too late
    let (h, st) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(rec.gaps(C), vec![10]);
    assert!(rec.events.contains(&Ev::Gap(C, 10, a)));
    assert_eq!(rec.bytes(C).len(), 104);
    assert_eq!((cs.client.limit_skips, cs.client.limit_gap_bytes), (1, 10));
    assert_eq!(cs.client.retransmitted_bytes, 10);
    assert_eq!(st.limit_gap_bytes, 10);
}

#[test]
fn global_buffer_limit_is_never_exceeded() {
    let limit = 3 * (PIECE_OVERHEAD + 20);
    let cfg = FlowConfig {
        max_buffer_total: limit,
        ..FlowConfig::default()
    };
    let mut f = Feed::with(cfg, follow_all());
    for port in 1..=4u16 {
        let c = Endpoint { port, ..client() };
        f.send(&seg_between(c, server(), 100, None, 0, b"x"));
        // Hole at 101, then buffered data.
        f.send(&seg_between(c, server(), 110, None, 0, &[b'y'; 20]));
        assert!(f.table.buffered() <= limit);
    }
    let (h, st) = f.finish();
    assert!(st.global_limit_hits >= 1);
    assert!(st.peak_buffered as usize <= limit + PIECE_OVERHEAD + 20);
    for (_, _, rec) in &h.done {
        assert_eq!(rec.text(C), format!("x[gap 9]{}", "y".repeat(20)));
    }
}

#[test]
fn skip_client_and_server_preambles() {
    let mut f = Feed::new(handler(|_, _, _| follow(false, 5, 4)));
    handshake(&mut f, CISN, SISN);
    f.send(&seg(S, 5001, Some(1001), 0, b"12")); // all skipped
    f.send(&seg(S, 5003, Some(1001), 0, b"34220 hi"));
    f.send(&seg(C, 1001, Some(5011), 0, b"XXX"));
    f.send(&seg(C, 1004, Some(5011), 0, b"XXEHLO"));
    let (h, st) = f.finish();
    let (_, cs, rec) = &h.done[0];
    assert_eq!(rec.text(C), "EHLO");
    assert_eq!(rec.text(S), "220 hi");
    assert_eq!((cs.client.skipped_bytes, cs.server.skipped_bytes), (5, 4));
    assert_eq!(st.skipped_bytes, 9);
}

#[test]
fn undecided_until_banner_then_replayed() {
    let mut f = Feed::new(handler(|_, _, s| {
        if s.starts_with(b"220") {
            follow(false, 0, 0)
        } else {
            Decision::Undecided
        }
    }));
    handshake(&mut f, CISN, SISN);
    f.send(&seg(S, 5001, Some(1001), 0, b"22")); // 4
    f.send(&seg(C, 1001, Some(5003), 0, b"?")); // 5
    f.send(&seg(S, 5003, Some(1002), 0, b"0 hi\r\n")); // 6: decides
    f.send(&seg(C, 1002, Some(5009), 0, b"EHLO")); // 7
    let (h, st) = f.finish();
    // Creation, then after each packet that grew a prefix.
    let prefixes: Vec<(Vec<u8>, Vec<u8>)> =
        h.calls.iter().map(|c| (c.1.clone(), c.2.clone())).collect();
    assert_eq!(
        prefixes,
        vec![
            (b"".to_vec(), b"".to_vec()),
            (b"".to_vec(), b"22".to_vec()),
            (b"?".to_vec(), b"22".to_vec()),
            (b"?".to_vec(), b"220 hi\r\n".to_vec()),
        ]
    );
    let rec = &h.done[0].2;
    assert_eq!(
        rec.events,
        vec![
            data(S, b"22", 4),
            data(C, b"?", 5),
            data(S, b"0 hi\r\n", 6),
            data(C, b"EHLO", 7),
            Ev::End(EndReason::EndOfCapture, 7),
        ]
    );
    assert_eq!((st.followed, st.connections), (1, 1));
}

#[test]
fn undecided_with_swap_replays_with_corrected_sides() {
    let mut f = Feed::new(handler(|_, c, _| {
        if c.starts_with(b"220") {
            follow(true, 4, 0)
        } else {
            Decision::Undecided
        }
    }));
    // Mid-stream, server first: tentative client is the server.
    f.send(&seg(S, 500, Some(100), 0, b"220 hi")); // 1
    f.send(&seg(C, 100, Some(506), 0, b"skipEHLO")); // 2
    let (h, _) = f.finish();
    let (info, cs, rec) = &h.done[0];
    assert_eq!(info.client, client());
    assert_eq!(rec.text(S), "220 hi");
    assert_eq!(rec.text(C), "EHLO");
    assert_eq!(cs.client.skipped_bytes, 4);
}

#[test]
fn probe_exhausted_and_ignore_leave_tombstones() {
    let cfg = FlowConfig {
        probe_bytes: 10,
        ..FlowConfig::default()
    };
    let mut f = Feed::with(cfg, handler(|_, _, _| Decision::Undecided));
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"0123456"));
    assert_eq!(f.table.stats().probe_exhausted, 0);
    f.send(&seg(C, 1008, Some(5001), 0, b"789ab"));
    assert_eq!(f.table.stats().probe_exhausted, 1);
    assert_eq!(f.table.buffered(), 0);
    f.send(&seg(C, 1013, Some(5001), 0, b"more"));
    let calls = f.table.handler().calls.len();
    let (h, st) = f.finish();
    assert_eq!(h.calls.len(), calls);
    assert!(h.done.is_empty());
    assert_eq!(st.tombstone_packets, 1);
    assert_eq!(st.ended_at_capture_end, 0);

    let mut f = Feed::new(handler(|_, _, _| Decision::Ignore));
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"x"));
    let (h, st) = f.finish();
    assert_eq!(h.calls.len(), 1);
    assert_eq!((st.ignored, st.tombstone_packets), (1, 3));
}

#[test]
fn eviction_of_the_oldest_idle() {
    let cfg = FlowConfig {
        max_connections: 2,
        ..FlowConfig::default()
    };
    let mut f = Feed::with(cfg, follow_all());
    let ep = |port| Endpoint { port, ..client() };
    f.send(&seg_between(ep(1), server(), 10, None, 0, b"a")); // 1
    f.send(&seg_between(ep(2), server(), 10, None, 0, b"b")); // 2
    f.send(&seg_between(ep(1), server(), 11, None, 0, b"c")); // 3: 1 is now the most recent
    f.send(&seg_between(ep(3), server(), 10, None, 0, b"d")); // 4: evicts 2
    assert_eq!(f.table.entries(), 2);
    let (h, st) = f.finish();
    assert_eq!(st.evicted, 1);
    assert_eq!(h.done[0].0.client.port, 2);
    assert_eq!(h.done[0].2.end(), Some((EndReason::Evicted, 2)));
    assert_eq!(h.done[1].0.client.port, 1);
    assert_eq!(h.done[1].2.text(C), "ac");
    assert_eq!(h.done[2].0.client.port, 3);
}

#[test]
fn finish_orders_by_first_frame() {
    let mut f = Feed::new(follow_all());
    let ports = [40007u16, 40001, 40100, 40003, 40002];
    for (i, &port) in ports.iter().enumerate() {
        let c = Endpoint { port, ..client() };
        f.send(&seg_between(
            c,
            server(),
            1,
            None,
            0,
            format!("{i}").as_bytes(),
        ));
    }
    let (h, _) = f.finish();
    let got: Vec<u16> = h.done.iter().map(|d| d.0.client.port).collect();
    assert_eq!(got, ports.to_vec());
}

#[test]
fn stats_counters_are_named() {
    let f = Feed::new(follow_all());
    let (_, st) = f.finish();
    let c = st.counters();
    assert!(c.iter().any(|&(n, v)| n == "packets" && v == 0));
    let mut names: Vec<&str> = c.iter().map(|x| x.0).collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n);
}

/// Issue 12, item 14: an ACK that falls inside a hole (the receiver has the first part, so
/// the rest will be retransmitted or was lost) does not split it: one hole is one gap event,
/// reported when the hole is settled as a whole.
#[test]
fn one_hole_is_one_gap_even_with_an_ack_inside_it() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa")); // 4
    let c = f.send(&seg(C, 1013, Some(5001), 0, b"cccc")); // 5 (1005..1013 lost)
    f.send(&seg(S, 5001, Some(1009), 0, b"250 ok")); // 6: ack inside the hole
    let e = f.send(&seg(S, 5007, Some(1017), 0, b"")); // 7: acks everything
    let (h, st) = f.finish();
    let rec = &h.done[0].2;
    assert_eq!(rec.gaps(C), vec![8], "{:?}", rec.events);
    assert_eq!(st.gaps, 1);
    assert_eq!(rec.text(C), "aaaa[gap 8]cccc");
    // Reported when the whole hole was acknowledged, with the frame of the data after it.
    assert!(rec.events.contains(&Ev::Gap(C, 8, c)), "{:?}", rec.events);
    let _ = e;
}

/// Issue 12, item 14: with the ACK inside the hole and the rest of the hole arriving later
/// (a retransmission the capture saw), only the part the capture really lost is a gap.
#[test]
fn ack_inside_a_hole_waits_for_the_retransmission() {
    let mut f = Feed::new(follow_all());
    handshake(&mut f, CISN, SISN);
    f.send(&seg(C, 1001, Some(5001), 0, b"aaaa")); // 4
    f.send(&seg(C, 1013, Some(5001), 0, b"cccc")); // 5 (1005..1013 not seen yet)
    f.send(&seg(S, 5001, Some(1009), 0, b"250 ok")); // 6: ack inside the hole
    f.send(&seg(C, 1009, Some(5007), 0, b"bbbb")); // 7: retransmitted second half
    f.send(&seg(S, 5007, Some(1017), 0, b"")); // 8: acks everything
    let (h, st) = f.finish();
    let rec = &h.done[0].2;
    assert_eq!(rec.gaps(C), vec![4], "{:?}", rec.events);
    assert_eq!(st.gaps, 1);
    assert_eq!(rec.text(C), "aaaa[gap 4]bbbbcccc");
}

#[test]
fn closed_tombstones_beyond_the_bound_go_early_and_are_counted() {
    let cfg = FlowConfig {
        max_closed_tombstones: 3,
        ..FlowConfig::default()
    };
    let mut f = Feed::with(cfg, follow_all());
    let from = |port| Endpoint { port, ..client() };
    // Five connections closed by RST within one second: all inside the 5 s linger.
    for port in 1..=5u16 {
        let t = Ts(i64::from(port) * 100 * MS);
        f.send_at(&seg_between(from(port), server(), 100, None, 0, b"x"), t);
        f.send_at(&seg_between(from(port), server(), 101, None, RST, b""), t);
    }
    assert_eq!(f.table.stats().ended_rst, 5);
    // Only the three newest tombstones are left.
    assert_eq!(f.table.entries(), 3);
    assert_eq!(f.table.stats().tombstones_closed_limit, 2);
    // A late packet of the newest hits its tombstone; one of the oldest starts anew.
    let late = Ts(600 * MS);
    f.send_at(&seg_between(from(5), server(), 102, None, 0, b""), late);
    assert_eq!(f.table.stats().tombstone_packets, 1);
    f.send_at(&seg_between(from(1), server(), 102, None, 0, b"y"), late);
    let (_, st) = f.finish();
    assert_eq!(st.connections, 6);
}

#[test]
fn an_ignored_connection_that_ends_lingers_5_s_not_the_idle_timeout() {
    let mut f = Feed::new(handler(|_, _, _| Decision::Ignore));
    handshake(&mut f, CISN, SISN);
    f.send_at(&seg(C, 1001, Some(5001), FIN, b""), Ts(MS));
    assert_eq!(f.table.entries(), 1);
    // Another connection's packets move the clock: within 5 s the tombstone stays, after
    // that it goes (before, it stayed for the 10-minute idle timeout).
    let other = Endpoint {
        port: 40001,
        ..client()
    };
    f.send_at(
        &seg_between(other, server(), 1, None, 0, b""),
        Ts(4_000 * MS),
    );
    assert_eq!(f.table.entries(), 2);
    f.send_at(
        &seg_between(other, server(), 1, None, 0, b""),
        Ts(6_002 * MS),
    );
    assert_eq!(f.table.entries(), 1);
    assert_eq!(f.table.stats().tombstones_expired, 1);
}
