//! `c4 stress` (make stress): the seeded fuzzer and stress test of
//! `selftests/` at a size `make check` cannot afford, in one boot of the
//! debug kernel. `make check` runs both at their default size.
//!
//! `make stress ARGS='--minutes N'` (default 30) gives the stress test N
//! minutes and N * 2000 children at most, and the fuzzer N * 20000 calls.
//! The guest's console is checked as for every boot (a KASAN, UBSAN,
//! lockdep, WARNING or BUG report fails the run); the tests print their
//! seeds and `figure:` lines.

use anyhow::{bail, Context, Result};

use crate::guest_suites::SELFTESTS_BIN;
use crate::project::{step, Project};
use crate::vm::Vm;
use crate::{kernel, testbuild};

/// Minutes when `--minutes` is not given.
const DEFAULT_MINUTES: u64 = 30;

/// The `--minutes N` of `args`, or the default.
pub fn minutes(args: &[String]) -> Result<u64> {
    match args.iter().position(|a| a == "--minutes") {
        None => Ok(DEFAULT_MINUTES),
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .context("--minutes takes a positive number"),
    }
}

/// The guest command: the fuzzer, then the stress test, each with its
/// size; fails if either fails.
pub fn guest_command(minutes: u64) -> String {
    let seconds = minutes * 60;
    format!(
        "C4_FUZZ_CALLS={calls} {SELFTESTS_BIN} clone4_fuzz; fuzz=$?; \
         C4_STRESS_CHILDREN={children} C4_STRESS_SECONDS={seconds} \
         {SELFTESTS_BIN} clonefd_stress; stress=$?; \
         echo \"make stress: clone4_fuzz exit $fuzz, clonefd_stress exit $stress\"; \
         [ $fuzz -eq 0 ] && [ $stress -eq 0 ]",
        calls = minutes * 20_000,
        children = minutes * 2_000,
    )
}

pub fn run(p: &Project, minutes: u64) -> Result<()> {
    kernel::build(p)?;
    testbuild::build_selftests(p)?;
    step(&format!(
        "make stress: fuzzing, then {minutes} minutes of stress"
    ));
    // The stress test's own cap, the fuzzer's calls, boot and margin.
    let timeout = u32::try_from(minutes * 60 * 3 + 600).context("--minutes is too large")?;
    let e = Vm::new(p)?.run("stress", &guest_command(minutes), timeout)?;
    if e.exit_code() != 0 {
        bail!("make stress failed in the guest: {e:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn minutes_default_and_given() {
        assert_eq!(minutes(&[]).unwrap(), DEFAULT_MINUTES);
        assert_eq!(minutes(&args(&["--minutes", "5"])).unwrap(), 5);
        assert!(minutes(&args(&["--minutes"])).is_err());
        assert!(minutes(&args(&["--minutes", "0"])).is_err());
    }

    #[test]
    fn the_command_fails_when_either_test_fails() {
        let c = guest_command(2);
        assert!(c.contains("C4_FUZZ_CALLS=40000"));
        assert!(c.contains("C4_STRESS_CHILDREN=4000 C4_STRESS_SECONDS=120"));
        assert!(c.ends_with("[ $fuzz -eq 0 ] && [ $stress -eq 0 ]"));
    }
}
