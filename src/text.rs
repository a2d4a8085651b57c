//! Safe text for terminals and files: capture bytes never reach them raw.
