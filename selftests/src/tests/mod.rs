//! Every test the binary knows, in run order.

mod blocked_child;
mod c_harness;
mod clone3_pidfd;
mod clone4_args;
mod clone4_child;
mod clone4_common;
mod clone4_flags;
mod common;

use crate::ktap::Test;

pub fn all() -> Vec<Test> {
    let mut tests = clone3_pidfd::tests();
    tests.extend(clone4_args::tests());
    tests.extend(clone4_flags::tests());
    tests.extend(clone4_child::tests());
    tests.extend(c_harness::tests());
    tests
}
