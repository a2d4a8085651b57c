//! A pcapng made of interface descriptions only — each with its own link type and a bad
//! option — must not grow warnings or the link-type list per block, nor slow down with
//! each new interface: warnings are capped (the rest counted), interfaces per section are
//! bounded, link types are deduplicated in constant time.

mod common;

use common::pcapgen::Ng;
use pcapmail::capture::CaptureReader;
use std::time::Instant;

#[test]
fn interface_flood_is_bounded() {
    let mut ng = Ng::new(false);
    // 200,000 interfaces over 4 sections; link types cycle through all 65,536 values; an
    // if_tsresol out of range on each (a warning per block before the cap).
    for i in 0..200_000u32 {
        if i % 50_000 == 0 && i > 0 {
            ng.shb();
        }
        ng.idb(i as u16, Some(99), None);
    }
    let t = Instant::now();
    let mut r = CaptureReader::from_bytes("idb-flood".into(), ng.out).unwrap();
    while r.next_packet().is_some() {}
    let s = r.summary();
    assert!(s.warnings.len() <= 70, "{} warnings kept", s.warnings.len());
    assert!(s.link_types.len() <= 65_536);
    assert_eq!(s.link_types.len(), 65_536, "every distinct link type, once");
    let dropped = s
        .counters()
        .iter()
        .find(|(k, _)| *k == "warnings_dropped")
        .unwrap()
        .1;
    assert_eq!(dropped as usize + s.warnings.len(), 200_000);
    // Not a timing assertion: a generous bound only catches quadratic behaviour
    // (50,000 x 50,000 comparisons took minutes).
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
}
