//! pcapmail: reads packet captures and reports the SMTP and POP3 traffic in them.
//!
//! Layers, each depending only on the ones before it:
//! `capture` (files, formats, link types) → `decode` (L2–L4) → `flow` (connections,
//! reassembly) → `proto` (sans-IO SMTP/POP3 dissectors, SASL, MIME) → `model` (plain
//! serde data) → `report` (renderers). `analysis` wires the layers together for one run.

pub mod analysis;
pub mod capture;
pub mod community;
pub mod decode;
pub mod flow;
pub mod model;
pub mod proto;
pub mod redact;
pub mod report;
pub mod sink;
pub mod text;
pub mod tls;
