//! pop3
