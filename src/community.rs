//! Community ID v1 (the corelight community-id spec): one string per flow that Zeek,
//! Suricata, Arkime and Elastic compute the same way, so records of several tools join.

use crate::model::Endpoint;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// IANA protocol number of TCP.
pub const TCP: u8 = 6;

/// The Community ID v1 of a flow with seed 0: `"1:" + base64(sha1(seed . saddr . daddr .
/// proto . 0 . sport . dport))`, the endpoint with the smaller (address, port) first, so
/// both directions give the same value.
pub fn community_id(a: &Endpoint, b: &Endpoint, proto: u8) -> String {
    community_id_seeded(a, b, proto, 0)
}

/// [`community_id`] with an explicit seed.
pub fn community_id_seeded(a: &Endpoint, b: &Endpoint, proto: u8, seed: u16) -> String {
    let key = |e: &Endpoint| -> (Vec<u8>, u16) {
        let ip = match e.ip {
            IpAddr::V4(v) => v.octets().to_vec(),
            // IPv6 stays IPv6 (mapped addresses too): the spec hashes the address as seen.
            IpAddr::V6(v) => v.octets().to_vec(),
        };
        (ip, e.port)
    };
    let (ka, kb) = (key(a), key(b));
    let (first, second) = if ka <= kb { (ka, kb) } else { (kb, ka) };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&first.0);
    h.update(&second.0);
    h.update([proto, 0]);
    h.update(first.1.to_be_bytes());
    h.update(second.1.to_be_bytes());
    let digest = h.finalize();
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    /// The spec's published vectors (also in Zeek's and Suricata's test suites).
    #[test]
    fn community_id_spec_vector_tcp_ipv4_both_directions() {
        let a = ep("1.2.3.4", 1122);
        let b = ep("5.6.7.8", 3344);
        assert_eq!(community_id(&a, &b, TCP), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
        assert_eq!(community_id(&b, &a, TCP), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    }

    #[test]
    fn community_id_spec_vector_smtp_ipv6() {
        let c = ep("2001:470:e5bf:dead:4957:2174:e82c:4887", 63943);
        let s = ep("2607:f8b0:400c:c03::1a", 25);
        assert_eq!(community_id(&c, &s, TCP), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=");
        assert_eq!(community_id(&s, &c, TCP), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=");
    }

    #[test]
    fn community_id_seed_changes_value() {
        let a = ep("1.2.3.4", 1122);
        let b = ep("5.6.7.8", 3344);
        assert_ne!(
            community_id_seeded(&a, &b, TCP, 1),
            community_id(&a, &b, TCP)
        );
    }
}
