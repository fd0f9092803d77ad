//! `c4 check` (make check): every check of the project, one summary.

//!
//! Only the order of things is here: the checks themselves are in
//! `checkpatch`, `lints`, `kernel_lint`, `manpage`, `man_xref`, `bisect`
//! and `guest_runs` (with `baseline` for the kernel's own suites).

use anyhow::{bail, Result};

use crate::project::Project;
use crate::tally::Tally;
use crate::{
    bisect, checkpatch, guest_runs, kernel, kernel_lint, lints, man_example, man_xref, manpage,
    series, setup, testbuild,
};

pub fn all(p: &Project) -> Result<()> {
    let mut t = Tally::default();
    t.phase("setup");
    let prepared = t.record("setup: host packages and tools", setup::ensure(p))
        && t.record(
            "apply: git am patches/ on the base",
            series::apply(p, false),
        );
    if !prepared {
        return t.finish();
    }
    t.record(
        "patches/ is what format-patch gives for the branch",
        sync_check(p),
    );
    checkpatch::check_series(p, &mut t)?;
    t.phase("per-patch builds");
    bisect::each_patch_builds(p, &mut t)?;
    t.phase("kernel and test builds");
    if !t.record(
        "kernel build (LLVM=1, ci/kernel.config + ci/kernel-debug.config)",
        kernel::build(p),
    ) {
        return t.finish();
    }
    if !t.record(
        "lean kernel build (the walk's tip, for the kernel's own suites)",
        kernel::build_lean(p),
    ) {
        return t.finish();
    }
    t.record(
        "scripts/checksyscalls.sh is quiet",
        kernel::checksyscalls(p),
    );
    t.record(
        "build: the kernel's clone3/pidfd/core/pid_namespace selftests",
        testbuild::build_upstream(p),
    );
    t.record("build: selftests/", testbuild::build_selftests(p));
    t.record(
        "build: tools/clonefd (crate, CLI, test binaries)",
        testbuild::build_clonefd_crate(p),
    );
    t.record(
        "build: the man page's EXAMPLES program (cc -Wall -Wextra -Werror)",
        man_example::build(p),
    );
    t.phase("lints");
    lints::check_crates(p, &mut t);
    kernel_lint::run(p, &mut t);
    manpage::lint(p, &mut t)?;
    man_xref::run(p, &mut t);
    t.phase("guest runs");
    guest_runs::runner_selftest(p, &mut t)?;
    guest_runs::guest_tests(p, &mut t)?;
    guest_runs::no_clonefd_tests(p, &mut t)?;
    t.finish()
}

fn sync_check(p: &Project) -> Result<()> {
    if series::in_sync(p)? {
        Ok(())
    } else {
        bail!(
            "they differ: run `c4 format-patches` (the branch is the source) or `c4 apply --force`"
        )
    }
}
