//! clone4() on a kernel built without CONFIG_CLONEFD.
//!
//! `make check` boots that kernel too and runs the `clone4_` tests there
//! with `C4_EXPECT_NO_CLONEFD=1`; elsewhere this test SKIPs.
//!
//! - `clone4_without_clonefd_einval`: clone4() works (the probe forks a
//!   child), and CLONE_FD, with or without CLONEFD_* flags, gives EINVAL.
//!   Fails with `CLONE_FD gave an fd` if the option did not remove it.

use std::ptr;

use nix::errno::Errno;

use crate::clonefd::{self, CLOEXEC, CLONE_FD, NONBLOCK};
use crate::feature::clone4_available;
use crate::ktap::{Outcome, Test, TestResult};

const EXPECT_ENV: &str = "C4_EXPECT_NO_CLONEFD";

pub fn tests() -> Vec<Test> {
    vec![Test::new("clone4_without_clonefd_einval", without_clonefd)]
}

fn without_clonefd() -> TestResult {
    if std::env::var_os(EXPECT_ENV).is_none() {
        skip!("runs on the CONFIG_CLONEFD=n kernel only ({EXPECT_ENV}=1)");
    }
    require!(clone4_available());
    for flags in [CLONE_FD, CLONE_FD | CLOEXEC | NONBLOCK] {
        // SAFETY: no struct; the child, if the kernel made one, only exits.
        let got = unsafe { clonefd::fork_like_returning_fd(flags, 0, ptr::null(), || 0) };
        match got {
            Err(Errno::EINVAL) => {}
            Err(err) => fail!("CLONE_FD ({flags:#x}) gave {err}, not EINVAL"),
            Ok(_) => fail!("CLONE_FD ({flags:#x}) gave an fd on a CONFIG_CLONEFD=n kernel"),
        }
    }
    Ok(Outcome::Pass)
}
