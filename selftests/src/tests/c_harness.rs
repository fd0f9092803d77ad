//! The C kselftests (kselftest_harness.h) built by build.rs, one test each.
//!
//! Each executable runs from `<dir of this binary>/c-tests/`; its stdout and
//! stderr are printed indented by 4 spaces, as a nested KTAP subtest. Exit
//! code 0 is a pass (a skip if its own totals show only skips), 4
//! (KSFT_SKIP) a skip, anything else a failure. A missing executable or
//! directory is a failure: the build did not install what it built.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::ktap::{Outcome, Test, TestResult, KSFT_PASS, KSFT_SKIP};

include!(concat!(env!("OUT_DIR"), "/c_tests.rs"));

const DIR_NAME: &str = "c-tests";
/// A whole executable: kselftest_harness gives each of its tests 30 s (the
/// exec race of clonefd_test 240 s); on the debug kernel under TCG the
/// program takes minutes.
const TIMEOUT: Duration = Duration::from_secs(600);

/// One test per executable built, or found in the directory at run time.
pub fn tests() -> Vec<Test> {
    let dir = c_tests_dir();
    let mut names: BTreeSet<String> = C_TESTS.iter().map(|name| name.to_string()).collect();
    if let Ok(dir) = &dir {
        names.extend(executables_in(dir));
    }
    names
        .into_iter()
        .map(|name| {
            let dir = dir.clone();
            let cases = cases_of(&name);
            Test::new(format!("c/{name}"), move || run_c_test(&dir, &name))
                .with_timeout(TIMEOUT)
                .with_cases(cases)
        })
        .collect()
}

/// The cases that build.rs listed (`-l`) for the executable `name`, as the
/// harness names its results (`fixture[.variant].test`).
fn cases_of(name: &str) -> Vec<String> {
    C_TEST_CASES
        .iter()
        .find(|(exe, _)| *exe == name)
        .map(|(_, cases)| cases.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

fn c_tests_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|err| format!("current_exe: {err}"))?;
    let bin_dir = exe.parent().ok_or("current_exe has no parent directory")?;
    Ok(bin_dir.join(DIR_NAME))
}

fn executables_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let meta = entry.metadata();
            meta.is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

fn run_c_test(dir: &Result<PathBuf, String>, name: &str) -> TestResult {
    let dir = match dir {
        Ok(dir) => dir,
        Err(err) => fail!("cannot locate {DIR_NAME}/: {err}"),
    };
    let exe = dir.join(name);
    if !exe.is_file() {
        fail!(
            "{} is missing: build problem (build.rs installs the C tests next to \
             the binary; they were built in {})",
            exe.display(),
            env!("C4_C_TESTS_BUILD_DIR")
        );
    }
    let (status, nested_totals) = check_ok!(run_indented(&exe));
    match status.code() {
        Some(KSFT_PASS) if only_skips(nested_totals.as_deref()) => {
            Ok(Outcome::Skip(format!("{name}: all subtests skipped")))
        }
        Some(KSFT_PASS) => Ok(Outcome::Pass),
        Some(KSFT_SKIP) => Ok(Outcome::Skip(format!("{name} exited with KSFT_SKIP"))),
        _ => fail!("{} failed: {status}", exe.display()),
    }
}

/// Runs `exe`, printing its output indented; returns its exit status and
/// its `# Totals:` line, if any.
fn run_indented(exe: &Path) -> io::Result<(ExitStatus, Option<String>)> {
    let (reader, writer) = io::pipe()?;
    // The Command holds copies of `writer`: drop it, or EOF never comes.
    let mut child = Command::new(exe)
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .spawn()?;
    let mut totals = None;
    let mut stdout = io::stdout().lock();
    for line in BufReader::new(reader).split(b'\n') {
        let line = String::from_utf8_lossy(&line?).into_owned();
        writeln!(stdout, "    {line}")?;
        stdout.flush()?;
        if line.starts_with("# Totals:") {
            totals = Some(line);
        }
    }
    Ok((child.wait()?, totals))
}

/// True for a totals line like `# Totals: pass:0 fail:0 ... skip:2 ...`.
fn only_skips(totals: Option<&str>) -> bool {
    let Some(line) = totals else { return false };
    let count = |key: &str| -> usize {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(key)?.parse().ok())
            .unwrap_or(0)
    };
    count("skip:") > 0
        && ["pass:", "fail:", "xfail:", "xpass:", "error:"]
            .iter()
            .all(|key| count(key) == 0)
}
