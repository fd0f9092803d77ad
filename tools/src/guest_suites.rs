//! What tools/ and ci/guest-tests.sh both know, in one place: the suites
//! a boot runs, the selftests binary, the filter of the CONFIG_CLONEFD=n
//! boot and the kernel's suites. The script takes all of them from the
//! command line and the environment that [`command`] writes; it has no
//! list of its own.

use crate::testbuild::UPSTREAM_SUITES;

/// The suites of the main boot, the debug kernel's, in the order they
/// run: kmemleak's scan last, after every test of ours.
pub const MAIN: &[&str] = &["selftests", "man-example", "clonefd-crate", "kmemleak"];

/// The suite of the CONFIG_CLONEFD=n boot.
pub const NO_CLONEFD: &str = "no-clonefd";

/// The suite the baseline records on the unpatched base, and the lean
/// boot runs: the kernel's own suites, on the patched kernel without the
/// debug options, as the base was recorded (under TCG the debug kernel
/// kept the pidfd suite running for over 10 minutes without finishing).
pub const UPSTREAM: &str = "upstream";

/// The Rust selftests binary, relative to the repository.
pub const SELFTESTS_BIN: &str = "selftests/target/release/clone4-selftests";

/// The tests the CONFIG_CLONEFD=n boot runs: clone4() without CLONE_FD.
pub const NO_CLONEFD_FILTER: &str = "clone4_";

/// The guest command that runs `suites` with ci/guest-tests.sh.
pub fn command(suites: &[&str]) -> String {
    format!(
        "C4_SELFTESTS_BIN={SELFTESTS_BIN} C4_NO_CLONEFD_FILTER={NO_CLONEFD_FILTER} \
         C4_UPSTREAM_SUITES='{}' bash ci/guest-tests.sh {}",
        UPSTREAM_SUITES.join(" "),
        suites.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_names_every_suite_and_what_the_script_needs() {
        let c = command(MAIN);
        assert!(c.ends_with("bash ci/guest-tests.sh selftests man-example clonefd-crate kmemleak"));
        for var in [
            "C4_SELFTESTS_BIN=",
            "C4_NO_CLONEFD_FILTER=",
            "C4_UPSTREAM_SUITES=",
        ] {
            assert!(c.contains(var), "{var} missing from {c}");
        }
    }

    /// Every suite tools/ asks for is one the script knows, and the
    /// script has no default list of its own.
    #[test]
    fn the_script_knows_every_suite() {
        let script = include_str!("../../ci/guest-tests.sh");
        for suite in MAIN.iter().chain([&NO_CLONEFD, &UPSTREAM]) {
            assert!(
                script.contains(&format!("\n\t{suite})\n")),
                "ci/guest-tests.sh has no case for {suite}"
            );
        }
        assert!(!script.contains("set -- selftests"));
    }
}
