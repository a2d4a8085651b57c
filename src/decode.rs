//! Link, network and transport decoding: from a frame to a TCP segment, zero-copy.
