//! Renderers of the model: tables, JSON, transcripts, extraction.
