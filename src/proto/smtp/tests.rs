//! Dissector tests: literal wire bytes, both directions interleaved as captured.
