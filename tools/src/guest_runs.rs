//! The guest boots of `make check`: the runner's self-test, the main boot
//! (our selftests, the kernel's suites, the man page's example, the
//! crate's tests) and the CONFIG_CLONEFD=n boot, each result counted.

use anyhow::{Context, Result};

use crate::ktap::{self, Outcome, Suite};
use crate::project::{cmd, output, step, Project};
use crate::tally::Tally;
use crate::vm::{GuestExit, Vm};
use crate::{baseline, guest_suites, kernel, kmemleak, man_example};

/// Time for one boot running guest tests under TCG: the kernel's suites
/// on the lean kernel took 4 minutes, ours on the debug kernel 8m32s
/// before the fuzzer and the crate's tests (unmeasured there: more than
/// 9 minutes with the other core compiling).
pub(crate) const GUEST_TESTS_TIMEOUT: u32 = 2400;

/// Time for a self-test boot of the debug kernel: it reaches the guest
/// command in about 80 s under TCG (KASAN, kmemleak and lockdep; 12 s
/// without them), and more with the other core busy.
const SELFTEST_BOOT_TIMEOUT: u32 = 300;

/// Time for a self-test boot of the lean kernel: about 12 s to the guest
/// command under TCG.
const LEAN_BOOT_TIMEOUT: u32 = 120;

/// The runner must turn a failing guest command, a hang and a panic into
/// failures of the host command, and a report of the debug kernel into a
/// failure even when the guest command succeeds. The runner treats both
/// kernels alike: the cases that need no debug option boot the lean kernel
/// ([`kernel::WALK`]'s tip), which boots several times faster under TCG.
pub fn runner_selftest(p: &Project, t: &mut Tally) -> Result<()> {
    let lean = Vm::with_kernel(p, kernel::WALK.out(p))?;
    step("runner self-test: a guest command that exits 3");
    let e = lean.run(
        "runner-exit3",
        "echo guest says hello; exit 3",
        LEAN_BOOT_TIMEOUT,
    )?;
    expect(
        t,
        "runner: guest exit 3 becomes host exit 3",
        e,
        GuestExit::Status(3),
    );
    step("runner self-test: a kernel panic in the guest");
    let e = lean.run(
        "runner-panic",
        "echo c > /proc/sysrq-trigger; sleep 60",
        LEAN_BOOT_TIMEOUT,
    )?;
    expect(
        t,
        "runner: guest panic becomes host exit 125",
        e,
        GuestExit::Panic,
    );
    let debug = Vm::new(p)?;
    for (kind, crash) in PROVOKED_REPORTS {
        step(&format!("runner self-test: a {kind} report in the guest"));
        let e = debug.run(
            &format!("runner-{}", kind.to_ascii_lowercase()),
            &format!("{LKDTM_SETUP}; echo {crash} > {LKDTM}; echo provoked {crash}"),
            SELFTEST_BOOT_TIMEOUT,
        )?;
        expect(
            t,
            &format!("runner: a {kind} report ({crash}) becomes host exit 125"),
            e,
            GuestExit::Panic,
        );
    }
    step("runner self-test: a guest that hangs");
    let e = lean.run("runner-hang", "sleep 1000", 45)?;
    expect(
        t,
        "runner: guest hang becomes host exit 124",
        e,
        GuestExit::Timeout,
    );
    Ok(())
}

/// The reports the debug kernel must turn into a failed run, each with the
/// LKDTM crash type that provokes one (the guest command itself succeeds).
const PROVOKED_REPORTS: &[(&str, &str)] = &[
    ("KASAN", "READ_AFTER_FREE"),
    ("UBSAN", "ARRAY_BOUNDS"),
    ("WARNING", "WARNING"),
];
const LKDTM: &str = "/sys/kernel/debug/provoke-crash/DIRECT";
const LKDTM_SETUP: &str =
    "mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug";

fn expect(t: &mut Tally, name: &str, got: GuestExit, want: GuestExit) {
    if got == want {
        t.pass(name);
    } else {
        t.fail(name, &format!("got {got:?}, want {want:?}"));
    }
}

pub(crate) fn guest_failure(e: GuestExit, p: &Project, log: &str) -> Option<String> {
    let log = p.logs().join(log);
    match e {
        GuestExit::Status(_) => None,
        GuestExit::Timeout => Some(format!("guest hung; console log {}", log.display())),
        GuestExit::Panic => Some(format!("kernel panic; console log {}", log.display())),
        GuestExit::BootFailure(c) => Some(format!(
            "the VM did not start (runner exit {c}); log {}",
            log.display()
        )),
    }
}

/// The kernel's clone3, pidfd, core and pid_namespace suites on the
/// lean kernel, compared with the base's results.
fn upstream_tests(p: &Project, t: &mut Tally) -> Result<()> {
    step("booting the lean kernel and running the kernel's suites");
    let (e, out) = Vm::with_kernel(p, kernel::WALK.out(p))?.run_capture(
        "upstream-tests",
        &guest_suites::command(&[guest_suites::UPSTREAM]),
        GUEST_TESTS_TIMEOUT,
    )?;
    if let Some(why) = guest_failure(e, p, "upstream-tests.console.log") {
        t.fail("the kernel's suites' run", &why);
    }
    let suites = ktap::parse(&out);
    match suites.iter().find(|s| s.name == guest_suites::UPSTREAM) {
        Some(s) => baseline::compare(p, s, t)?,
        None => t.fail("the kernel's selftests", "no output from the guest"),
    }
    Ok(())
}

/// Two boots, counted in `t`: our tests on the debug kernel, then the
/// kernel's own suites on the lean one ([`kernel::WALK`]'s tip).
pub fn guest_tests(p: &Project, t: &mut Tally) -> Result<()> {
    step("booting the debug kernel and running our guest tests");
    let (e, out) = Vm::new(p)?.run_capture(
        "guest-tests",
        &guest_suites::command(guest_suites::MAIN),
        GUEST_TESTS_TIMEOUT,
    )?;
    if let Some(why) = guest_failure(e, p, "guest-tests.console.log") {
        t.fail("guest test run", &why);
    }
    let suites = ktap::parse(&out);
    let find = |n: &str| suites.iter().find(|s| s.name == n);
    let expected = expected_selftests(p, None)?;
    match find("selftests") {
        Some(s) => count_selftests(s, t, "selftests", MAY_SKIP_MAIN, &expected),
        None => t.fail("selftests/", "no output from the guest"),
    }
    match find("man-example") {
        Some(s) => man_example::check_output(s, t),
        None => t.fail("man page EXAMPLES program", "no output from the guest"),
    }
    match find("kmemleak") {
        Some(s) => kmemleak::check(p, s, t)?,
        None => t.fail("kmemleak scan", "no output from the guest"),
    }
    let label = "tools/clonefd tests in the guest (clone4(CLONE_FD) and the fallback)";
    match find("clonefd-crate") {
        Some(s) => match clonefd_crate_summary(s) {
            Ok(summary) => t.pass(&format!("{label}: {summary}")),
            Err(why) => {
                for line in &s.lines {
                    println!("    {line}");
                }
                t.fail(label, &why)
            }
        },
        None => t.fail(label, "no output from the guest"),
    }
    upstream_tests(p, t)
}

/// The `clonefd: N passed, M failed` line of tools/clonefd's run-tests.sh,
/// if the run passed: exit status 0, something passed, nothing failed.
fn clonefd_crate_summary(s: &Suite) -> std::result::Result<String, String> {
    let last = s
        .lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("clonefd: "))
        .ok_or("no summary line")?;
    let counts: Vec<u32> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match (s.exit, counts.as_slice()) {
        (Some(0), [passed, 0]) if *passed > 0 => Ok(last.to_string()),
        (exit, _) => Err(format!("{last} (exit {exit:?})")),
    }
}

/// The CONFIG_CLONEFD=n kernel: clone4() works, CLONE_FD gives EINVAL.
pub fn no_clonefd_tests(p: &Project, t: &mut Tally) -> Result<()> {
    let v = kernel::WALK_NO_CLONEFD;
    let label = "CONFIG_CLONEFD=n";
    if !t.record(
        &format!("kernel build ({label})"),
        kernel::build_in(p, &v.out(p), &v),
    ) {
        return Ok(());
    }
    step("booting the CONFIG_CLONEFD=n kernel: clone4() without CLONE_FD");
    let (e, out) = Vm::with_kernel(p, v.out(p))?.run_capture(
        "no-clonefd",
        &guest_suites::command(&[guest_suites::NO_CLONEFD]),
        GUEST_TESTS_TIMEOUT,
    )?;
    if let Some(why) = guest_failure(e, p, "no-clonefd.console.log") {
        t.fail(&format!("guest test run ({label})"), &why);
    }
    let expected = expected_selftests(p, Some(guest_suites::NO_CLONEFD_FILTER))?;
    match ktap::parse(&out).iter().find(|s| s.name == "no-clonefd") {
        Some(s) => count_selftests(s, t, label, &[], &expected),
        None => t.fail(label, "no output from the guest"),
    }
    Ok(())
}

/// Plan and exit status must agree with the results that were printed.
pub(crate) fn check_suite_shape(s: &Suite, t: &mut Tally, label: &str) {
    if s.plan != Some(s.results.len()) {
        t.fail(
            label,
            &format!("planned {:?} tests, reported {}", s.plan, s.results.len()),
        );
    }
    let any_fail = s.results.iter().any(|(_, o)| matches!(o, Outcome::Fail(_)));
    match s.exit {
        Some(0) | Some(4) => {}
        Some(_) if any_fail => {}
        other => t.fail(
            label,
            &format!("exit status {other:?} with no failing test"),
        ),
    }
}

/// The selftests that may skip on the kernel they run on, with the reason
/// their skip must give: on the patched kernel every other test must run,
/// so a feature probe that gives up on a broken kernel fails the check
/// instead of hiding it, and so does an allowed test skipping for another
/// reason.
const MAY_SKIP_MAIN: &[(&str, &str)] = &[(
    "clone4_without_clonefd_einval",
    "runs on the CONFIG_CLONEFD=n kernel only",
)];

/// The tests the guest must report: `clone4-selftests --list [FILTER]`,
/// run on the host (listing runs no test).
fn expected_selftests(p: &Project, filter: Option<&str>) -> Result<Vec<String>> {
    let bin = p.path(guest_suites::SELFTESTS_BIN);
    let mut c = cmd(bin.to_str().context("non-UTF-8 path")?, &["--list"]);
    c.args(filter);
    let list = output(&mut c)?;
    Ok(list.lines().map(str::to_string).collect())
}

fn count_selftests(
    s: &Suite,
    t: &mut Tally,
    label: &str,
    may_skip: &[(&str, &str)],
    expected: &[String],
) {
    check_suite_shape(s, t, label);
    if s.results.is_empty() {
        t.fail(label, "no test ran (empty plan)");
    }
    for name in expected {
        if !s.results.iter().chain(&s.nested).any(|(n, _)| n == name) {
            t.fail(&format!("{label}: {name}"), "did not run in the guest");
        }
    }
    // A C kselftest's cases too: one that skips or fails is not hidden by
    // its program's exit status.
    for (name, o) in s.results.iter().chain(&s.nested) {
        let label = format!("{label}: {name}");
        match o {
            Outcome::Pass => t.pass(&label),
            Outcome::Fail(why) => t.fail(&label, if why.is_empty() { "not ok" } else { why }),
            Outcome::Skip(why)
                if may_skip
                    .iter()
                    .any(|(n, reason)| n == name && why.contains(reason)) =>
            {
                t.skip(&label, why)
            }
            Outcome::Skip(why) => t.fail(&label, &format!("skipped on the patched kernel: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Does `make check` pass with this guest output for selftests/,
    /// the host listing tests `a` and `b`?
    fn selftests_pass(out: &str) -> bool {
        selftests_pass_expecting(out, &["a", "b"])
    }

    fn selftests_pass_expecting(out: &str, expected: &[&str]) -> bool {
        let suites = ktap::parse(out);
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        let mut t = Tally::default();
        count_selftests(&suites[0], &mut t, "selftests", MAY_SKIP_MAIN, &expected);
        t.finish().is_ok()
    }

    /// A run that reports fewer tests than the host lists fails, even
    /// if its plan matches what it printed.
    #[test]
    fn missing_expected_test_fails_the_run() {
        assert!(!selftests_pass_expecting(
            "# c4-suite: selftests\n1..1\nok 1 a\n# c4-exit: 0\n",
            &["a", "b"]
        ));
    }

    /// An empty plan (`1..0`) is no pass.
    #[test]
    fn empty_plan_fails_the_run() {
        assert!(!selftests_pass_expecting(
            "# c4-suite: selftests\n1..0\n# c4-exit: 4\n",
            &[]
        ));
    }

    /// A test that fails in the guest must fail `make check`.
    #[test]
    fn failing_guest_test_fails_the_run() {
        assert!(!selftests_pass(
            "# c4-suite: selftests\nTAP version 13\n1..2\nok 1 a\nnot ok 2 b\n# c4-exit: 1\n"
        ));
    }

    /// A suite that dies half-way (fewer results than planned) fails.
    #[test]
    fn missing_results_fail_the_run() {
        assert!(!selftests_pass("# c4-suite: selftests\n1..3\nok 1 a\n"));
    }

    /// A non-zero exit without a failing test fails.
    #[test]
    fn bad_exit_status_fails_the_run() {
        assert!(!selftests_pass(
            "# c4-suite: selftests\n1..1\nok 1 a\n# c4-exit: 139\n"
        ));
    }

    #[test]
    fn passing_suite_passes() {
        assert!(selftests_pass_expecting(
            "# c4-suite: selftests\n1..2\nok 1 a\nok 2 clone4_without_clonefd_einval # SKIP runs on the CONFIG_CLONEFD=n kernel only\n\
             # c4-exit: 0\n",
            &["a", "clone4_without_clonefd_einval"]
        ));
    }

    /// A test allowed to skip must skip for its reason.
    #[test]
    fn allowed_skip_for_another_reason_fails_the_run() {
        let run = |why: &str| {
            selftests_pass_expecting(
                &format!(
                    "# c4-suite: selftests\n1..2\nok 1 a\n\
                     ok 2 clone4_without_clonefd_einval # SKIP {why}\n# c4-exit: 0\n"
                ),
                &["a", "clone4_without_clonefd_einval"],
            )
        };
        assert!(run(
            "runs on the CONFIG_CLONEFD=n kernel only (C4_EXPECT_NO_CLONEFD=1)"
        ));
        assert!(!run("clone4() is not available: ENOSYS"));
    }

    /// On the patched kernel, a skip (a probe that gave up) is a failure.
    #[test]
    fn unexpected_skip_fails_the_run() {
        assert!(!selftests_pass(
            "# c4-suite: selftests\n1..2\nok 1 a\nok 2 b # SKIP CLONE_FD is not usable\n\
             # c4-exit: 4\n"
        ));
    }

    /// A C kselftest whose program passes but one of whose cases skipped
    /// or is missing fails.
    #[test]
    fn nested_skip_or_missing_case_fails_the_run() {
        let run = |case_line: &str, expected: &[&str]| {
            selftests_pass_expecting(
                &format!(
                    "# c4-suite: selftests\n1..1\n    ok 1 f.a\n    {case_line}\n\
                     ok 1 c/x\n# c4-exit: 0\n"
                ),
                expected,
            )
        };
        assert!(run("ok 2 f.b", &["c/x", "c/x/f.a", "c/x/f.b"]));
        assert!(!run("ok 2 f.b # SKIP no b", &["c/x", "c/x/f.a", "c/x/f.b"]));
        assert!(!run("ok 2 f.b", &["c/x", "c/x/f.a", "c/x/f.b", "c/x/f.c"]));
    }
}
