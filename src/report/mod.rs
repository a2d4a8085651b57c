//! Renderers of the model: tables, JSON, JSON lines, transcripts. They only render; every
//! fact comes from the model.

pub(crate) mod cards;
pub mod creds;
pub mod extract;
pub mod hashcat;
pub mod json;
pub mod table;
pub mod transcript;
