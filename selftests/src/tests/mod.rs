//! Every test the binary knows, in run order.

mod blocked_child;
mod c_harness;
mod clone3_pidfd;

use crate::ktap::Test;

pub fn all() -> Vec<Test> {
    let mut tests = clone3_pidfd::tests();
    tests.extend(c_harness::tests());
    tests
}
