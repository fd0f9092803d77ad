//! `c4 check` (make check): every check of the project, one summary.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

use crate::ktap::{self, Outcome, Suite};
use crate::project::{cmd, output, run, step, Project};
use crate::tally::Tally;
use crate::vm::{GuestExit, Vm};
use crate::{
    bisect, kernel, kernel_lint, man_example, man_xref, manpage, series, setup, testbuild,
};

const BASELINE: &str = "ci/upstream-baseline.txt";

/// Time for one boot running every guest test (TCG is slow: 13 to 15
/// minutes here, pidfd_test alone over 7).
const GUEST_TESTS_TIMEOUT: u32 = 1800;

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
    checkpatch(p, &mut t)?;
    t.phase("per-patch builds");
    bisect::each_patch_builds(p, &mut t)?;
    t.phase("kernel and test builds");
    if !t.record("kernel build (LLVM=1, ci/kernel.config)", kernel::build(p)) {
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
    lints(p, &mut t);
    kernel_lint::run(p, &mut t);
    manpage::lint(p, &mut t)?;
    man_xref::run(p, &mut t);
    t.phase("guest runs");
    runner_selftest(p, &mut t)?;
    guest_tests(p, &mut t)?;
    no_clonefd_tests(p, &mut t)?;
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

const CHECKPATCH_ACCEPTED: &str = "ci/checkpatch-accepted.txt";

/// ci/checkpatch-accepted.txt: (patch file, message type) pairs.
fn accepted_reports(p: &Project) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(p.path(CHECKPATCH_ACCEPTED)).unwrap_or_default();
    let mut pairs = Vec::new();
    for line in text.lines() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let mut words = entry.split_whitespace();
        let (Some(file), Some(kind), None) = (words.next(), words.next(), words.next()) else {
            bail!("{CHECKPATCH_ACCEPTED}: bad line {line:?}");
        };
        pairs.push((file.to_string(), kind.to_string()));
    }
    Ok(pairs)
}

/// The `ERROR:TYPE:`, `WARNING:TYPE:` and `CHECK:TYPE:` reports of a
/// `checkpatch --show-types` run, as TYPE.
fn checkpatch_reports(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| {
            let rest = ["ERROR:", "WARNING:", "CHECK:"]
                .iter()
                .find_map(|level| l.strip_prefix(level))?;
            rest.split(':').next()
        })
        .collect()
}

fn checkpatch(p: &Project, t: &mut Tally) -> Result<()> {
    let accepted = accepted_reports(p)?;
    for f in series::patch_files(&p.path("patches"))? {
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        let name = format!("checkpatch --strict {file}");
        let out = cmd(
            "perl",
            &[
                "scripts/checkpatch.pl",
                "--strict",
                "--show-types",
                "--color=never",
            ],
        )
        .arg(&f)
        .current_dir(p.linux())
        .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let reports = checkpatch_reports(&text);
        let unaccepted: Vec<&str> = reports
            .iter()
            .copied()
            .filter(|kind| !accepted.iter().any(|(a, k)| *a == file && k == kind))
            .collect();
        if text.lines().any(|l| l.starts_with("total:")) && unaccepted.is_empty() {
            if reports.is_empty() {
                t.pass(&name);
            } else {
                t.pass(&format!("{name} (accepted: {})", reports.join(", ")));
            }
        } else {
            print!("{text}");
            t.fail(&name, &format!("not accepted: {}", unaccepted.join(", ")));
        }
    }
    Ok(())
}

fn lints(p: &Project, t: &mut Tally) {
    for krate in ["tools", "selftests", "tools/clonefd"] {
        let manifest = p.path(&format!("{krate}/Cargo.toml"));
        let mut fmt = cmd("cargo", &["fmt", "--check", "--manifest-path"]);
        fmt.arg(&manifest);
        t.record(&format!("cargo fmt --check ({krate})"), run(&mut fmt));
        let mut clippy = cmd(
            "cargo",
            &[
                "clippy",
                "--quiet",
                "--release",
                "--all-targets",
                "--manifest-path",
            ],
        );
        clippy
            .arg(&manifest)
            .arg("--all-features")
            .args(["--", "-D", "warnings"])
            .env("C4_UAPI_INCLUDE", p.uapi_include());
        t.record(
            &format!("cargo clippy -D warnings ({krate})"),
            run(&mut clippy),
        );
    }
    let mut unit = cmd(
        "cargo",
        &["test", "--quiet", "--release", "--manifest-path"],
    );
    unit.arg(p.path("tools/Cargo.toml"));
    t.record("cargo test (tools: KTAP reader)", run(&mut unit));
    let mut crate_tests = cmd(
        "cargo",
        &[
            "test",
            "--quiet",
            "--release",
            "--all-features",
            "--manifest-path",
        ],
    );
    crate_tests.arg(p.path("tools/clonefd/Cargo.toml"));
    t.record(
        "cargo test (tools/clonefd on the host: the clone3 + pidfd fallback)",
        run(&mut crate_tests),
    );
}

/// The runner must turn a failing guest command, a hang and a panic into
/// failures of the host command.
fn runner_selftest(p: &Project, t: &mut Tally) -> Result<()> {
    let vm = Vm::new(p)?;
    step("runner self-test: a guest command that exits 3");
    let e = vm.run("runner-exit3", "echo guest says hello; exit 3", 120)?;
    expect(
        t,
        "runner: guest exit 3 becomes host exit 3",
        e,
        GuestExit::Status(3),
    );
    step("runner self-test: a kernel panic in the guest");
    let e = vm.run(
        "runner-panic",
        "echo c > /proc/sysrq-trigger; sleep 60",
        120,
    )?;
    expect(
        t,
        "runner: guest panic becomes host exit 125",
        e,
        GuestExit::Panic,
    );
    step("runner self-test: a guest that hangs");
    let e = vm.run("runner-hang", "sleep 1000", 45)?;
    expect(
        t,
        "runner: guest hang becomes host exit 124",
        e,
        GuestExit::Timeout,
    );
    Ok(())
}

fn expect(t: &mut Tally, name: &str, got: GuestExit, want: GuestExit) {
    if got == want {
        t.pass(name);
    } else {
        t.fail(name, &format!("got {got:?}, want {want:?}"));
    }
}

fn guest_failure(e: GuestExit, p: &Project, log: &str) -> Option<String> {
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

/// One boot: our selftests and the kernel's suites, counted in `t`.
pub fn guest_tests(p: &Project, t: &mut Tally) -> Result<()> {
    step("booting the kernel and running every guest test");
    let (e, out) =
        Vm::new(p)?.run_capture("guest-tests", "bash ci/guest-tests.sh", GUEST_TESTS_TIMEOUT)?;
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
    match find("upstream") {
        Some(s) => compare_upstream(p, s, t)?,
        None => t.fail("the kernel's selftests", "no output from the guest"),
    }
    match find("man-example") {
        Some(s) => man_example::check_output(s, t),
        None => t.fail("man page EXAMPLES program", "no output from the guest"),
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
    Ok(())
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
    let v = kernel::NO_CLONEFD;
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
        "bash ci/guest-tests.sh no-clonefd",
        GUEST_TESTS_TIMEOUT,
    )?;
    if let Some(why) = guest_failure(e, p, "no-clonefd.console.log") {
        t.fail(&format!("guest test run ({label})"), &why);
    }
    let expected = expected_selftests(p, Some(NO_CLONEFD_FILTER))?;
    match ktap::parse(&out).iter().find(|s| s.name == "no-clonefd") {
        Some(s) => count_selftests(s, t, label, &[], &expected),
        None => t.fail(label, "no output from the guest"),
    }
    Ok(())
}

/// Plan and exit status must agree with the results that were printed.
fn check_suite_shape(s: &Suite, t: &mut Tally, label: &str) {
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

/// The filter `ci/guest-tests.sh no-clonefd` runs the selftests with.
const NO_CLONEFD_FILTER: &str = "clone4_";

/// The tests the guest must report: `clone4-selftests --list [FILTER]`,
/// run on the host (listing runs no test).
fn expected_selftests(p: &Project, filter: Option<&str>) -> Result<Vec<String>> {
    let bin = p.path("selftests/target/release/clone4-selftests");
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

/// "selftests: pidfd: pidfd_test" -> "pidfd:pidfd_test".
fn upstream_key(desc: &str) -> String {
    let d = desc.strip_prefix("selftests: ").unwrap_or(desc);
    d.replacen(": ", ":", 1)
}

/// ci/upstream-baseline.txt: `<pass|fail|skip> <suite>:<test> [# why]`.
fn load_baseline(p: &Project) -> Result<BTreeMap<String, (String, String)>> {
    let text = std::fs::read_to_string(p.path(BASELINE))
        .with_context(|| format!("{BASELINE} is missing: run `c4 baseline`"))?;
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (entry, why) = line.split_once('#').unwrap_or((line, ""));
        let mut it = entry.split_whitespace();
        let (Some(word), Some(key)) = (it.next(), it.next()) else {
            bail!("{BASELINE}: bad line {line:?}");
        };
        m.insert(key.to_string(), (word.to_string(), why.trim().to_string()));
    }
    Ok(m)
}

fn compare_upstream(p: &Project, s: &Suite, t: &mut Tally) -> Result<()> {
    check_suite_shape(s, t, "the kernel's selftests");
    let mut base = load_baseline(p)?;
    for (desc, o) in &s.results {
        let key = upstream_key(desc);
        let label = format!("upstream {key}");
        let Some((want, why)) = base.remove(&key) else {
            t.fail(&label, &format!("{} here, and not in {BASELINE}", o.word()));
            continue;
        };
        if want != o.word() {
            t.fail(&label, &format!("{} here, {want} on the base", o.word()));
        } else if want == "pass" {
            t.pass(&label);
        } else {
            t.skip(&label, &format!("{want} on the base too: {why}"));
        }
    }
    for (key, (want, _)) in base {
        t.fail(
            &format!("upstream {key}"),
            &format!("did not run ({want} on the base)"),
        );
    }
    Ok(())
}

/// Run the kernel's suites on the unpatched base, write the baseline.
pub fn record_baseline(p: &Project) -> Result<()> {
    let base = crate::base::ensure(p)?;
    let head = output(p.git_linux().args(["rev-parse", "HEAD"]))?;
    if head.trim() != base {
        bail!(
            "linux/ is not at the base: check out {base} in linux/ (or `git -C linux switch --detach {base}`), \
             then `c4 build` and `c4 baseline`; `c4 apply` brings the series back"
        );
    }
    kernel::build(p)?;
    testbuild::build_upstream(p)?;
    let (e, out) = Vm::new(p)?.run_capture(
        "baseline",
        "bash ci/guest-tests.sh upstream",
        GUEST_TESTS_TIMEOUT,
    )?;
    if let Some(why) = guest_failure(e, p, "baseline.console.log") {
        bail!("{why}");
    }
    let suites = ktap::parse(&out);
    let s = suites
        .iter()
        .find(|s| s.name == "upstream")
        .context("no upstream results in the guest output")?;
    let mut text = String::from(
        "# Results of the kernel's own selftests on the unpatched base, written by\n\
         # `c4 baseline` and annotated by hand: the patched kernel must give the\n\
         # same result on every line.  <pass|fail|skip> <suite>:<test> [# why]\n",
    );
    for (desc, o) in &s.results {
        let why = match o {
            Outcome::Pass => String::new(),
            Outcome::Fail(w) | Outcome::Skip(w) => format!("  # {w}"),
        };
        text.push_str(&format!("{} {}{why}\n", o.word(), upstream_key(desc)));
    }
    std::fs::write(p.path(BASELINE), text)?;
    println!("wrote {BASELINE}");
    Ok(())
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

    #[test]
    fn checkpatch_report_types() {
        let text = "WARNING:FILE_PATH_CHANGES: added, moved or deleted file(s)\n\
                    #66: \nCHECK:ALLOC_SIZEOF_STRUCT: Prefer kmalloc\n\
                    total: 0 errors, 1 warnings, 1 checks, 354 lines checked\n";
        assert_eq!(
            checkpatch_reports(text),
            ["FILE_PATH_CHANGES", "ALLOC_SIZEOF_STRUCT"]
        );
        assert!(checkpatch_reports("total: 0 errors, 0 warnings, 0 checks\n").is_empty());
    }

    #[test]
    fn upstream_keys() {
        assert_eq!(
            upstream_key("selftests: pidfd: pidfd_test"),
            "pidfd:pidfd_test"
        );
    }
}
