//! Regression: 100,000 nested `message/rfc822` parts overflowed the stack inside
//! mail-parser (found with scripts/adversarial: `nested-rfc822 100000` with the depth guard
//! off aborted the process with "has overflowed its stack"). The pre-scan guard
//! (`MimeLimits::max_depth`) must keep such a message away from the parser, even on a
//! worker thread with a small stack.

#[path = "../scripts/adversarial/captures.rs"]
mod captures;

use pcapmail::proto::mime::{parse, shape, MimeLimits};

#[test]
fn hundred_thousand_nested_messages_do_not_reach_the_parser() {
    let msg = captures::nested_rfc822(100_000);
    assert_eq!(shape(&msg).containers, 100_000);
    let info = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || parse(&msg, &MimeLimits::default()))
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(info.skipped, Some("mime-depth"));
    assert_eq!(info.headers.subject.as_deref(), Some("level 0"));
}

#[test]
fn depth_at_the_limit_is_still_decoded_on_a_small_stack() {
    let limits = MimeLimits::default();
    let msg = captures::nested_rfc822(limits.max_depth);
    let info = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || parse(&msg, &limits))
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(info.skipped, None);
}
