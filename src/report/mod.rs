//! Renderers of the model: tables, JSON, JSON lines, transcripts. They only render; every
//! fact comes from the model.

pub mod json;
pub mod table;
pub mod transcript;
