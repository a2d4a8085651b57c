//! mime
