//! TCP connections and stream reassembly.
