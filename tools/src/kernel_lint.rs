//! Lints of the series' kernel code that a maintainer runs: rustfmt,
//! clippy and W=1 over the Rust and the C files the series touches,
//! sparse (its reports on lines the series adds), and kernel-doc on the
//! headers it adds or changes.
//!
//! Clippy and W=1 change the compiler command line, which would make
//! Kbuild rebuild those objects in the main build directory twice: they
//! build in `build/kernel-lint`, where only the objects they need exist.

use anyhow::{bail, Result};
use std::collections::BTreeSet;

use crate::kernel::{self, MAIN};
use crate::project::{cmd, output, step, Project};
use crate::tally::Tally;

/// The headers whose kernel-doc must be clean.
const HEADERS: &[&str] = &[
    "include/linux/clonefd.h",
    "include/uapi/linux/clonefd.h",
    "include/uapi/linux/sched.h",
];

/// The C objects sparse checks.
const C_OBJECTS: &[&str] = &[
    "kernel/fork.o",
    "kernel/exit.o",
    "kernel/signal.o",
    "kernel/ptrace.o",
    "fs/file.o",
];

/// The objects whose sources the series adds or changes.
const OBJECTS: &[&str] = &[
    "kernel/clonefd.o",
    "kernel/fork.o",
    "kernel/exit.o",
    "kernel/signal.o",
    "kernel/ptrace.o",
    "fs/file.o",
];

pub fn run(p: &Project, t: &mut Tally) {
    t.record("make rustfmtcheck", rustfmtcheck(p));
    t.record(
        "make CLIPPY=1 W=1 (the series' Rust and C objects)",
        clippy_w1(p),
    );
    t.record(
        "sparse (C=2): nothing on the lines the series adds",
        sparse(p),
    );
    t.record(
        "kernel-doc -none -Wall on the series' headers",
        kernel_doc(p),
    );
}

fn kernel_doc(p: &Project) -> Result<()> {
    let o = cmd("perl", &["scripts/kernel-doc", "-none", "-Wall"])
        .args(HEADERS)
        .current_dir(p.linux())
        .output()?;
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    if !o.status.success() || !text.trim().is_empty() {
        bail!("{}", text.trim());
    }
    Ok(())
}

/// `file:line` of every line that base..branch adds.
fn added_lines(p: &Project) -> Result<BTreeSet<(String, u32)>> {
    let base = crate::base::commit(p);
    let branch = p.pins.get("BRANCH");
    let diff = output(
        p.git_linux()
            .args(["diff", "--unified=0", &format!("{base}..{branch}")]),
    )?;
    let mut added = BTreeSet::new();
    let mut file = String::new();
    for line in diff.lines() {
        if let Some(f) = line.strip_prefix("+++ b/") {
            file = f.to_string();
        } else if let Some(hunk) = line.strip_prefix("@@ ") {
            // "@@ -a,b +c,d @@": lines c .. c+d-1 are the new ones.
            let new = hunk.split_whitespace().nth(1).unwrap_or("+0");
            let (start, count) = new[1..].split_once(',').unwrap_or((&new[1..], "1"));
            let (start, count): (u32, u32) = (start.parse()?, count.parse()?);
            for n in start..start + count {
                added.insert((file.clone(), n));
            }
        }
    }
    Ok(added)
}

/// Sparse reports accepted on added lines, with the reason.
const SPARSE_ACCEPTED: &[(&str, &str, &str)] = &[(
    "rust/helpers/",
    "Should it be static?",
    "rust/helpers/*.c functions are called from Rust only, through \
     bindgen: no C header declares them, as for every helper there",
)];

/// `path:line:col: ...` of a report, as (path in linux/, line).
fn report_location<'a>(report: &'a str, linux_dir: &str) -> Option<(&'a str, u32)> {
    let rel = report
        .strip_prefix(linux_dir)
        .or_else(|| report.strip_prefix("../../linux/"))?;
    let mut parts = rel.split(':');
    Some((parts.next()?, parts.next()?.parse().ok()?))
}

/// Build `objects` in build/kernel-lint with the extra make `args`:
/// whether make succeeded, and its stderr.
fn lint_build(p: &Project, what: &str, args: &[&str], objects: &[&str]) -> Result<(bool, String)> {
    let out = p.path("build/kernel-lint");
    kernel::configure(p, &out, &MAIN)?;
    step(&format!("{what} (build/kernel-lint)"));
    let o = kernel::make(p, &out).args(args).args(objects).output()?;
    Ok((
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

fn sparse(p: &Project) -> Result<()> {
    let (ok, log) = lint_build(
        p,
        "sparse over the series' C objects",
        &["C=2", "CHECK=sparse"],
        C_OBJECTS,
    )?;
    let added = added_lines(p)?;
    let linux_dir = format!("{}/", p.linux().display());
    let reports = diagnostics(&log);
    if reports.is_empty() {
        bail!("sparse reported nothing at all: did it run? {log}");
    }
    let ours: Vec<&str> = reports
        .into_iter()
        .filter(|l| match report_location(l, &linux_dir) {
            Some((f, n)) => {
                added.contains(&(f.to_string(), n))
                    && !SPARSE_ACCEPTED
                        .iter()
                        .any(|(dir, msg, _)| f.starts_with(dir) && l.contains(msg))
            }
            None => false,
        })
        .collect();
    if !ok || !ours.is_empty() {
        bail!("{}", ours.join(" | "));
    }
    Ok(())
}

fn rustfmtcheck(p: &Project) -> Result<()> {
    let o = kernel::make(p, &p.kernel_out())
        .arg("rustfmtcheck")
        .output()?;
    if !o.status.success() {
        bail!(
            "rustfmt would change:\n{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    Ok(())
}

/// Diagnostics in a Kbuild log: Rust's start a line, C's follow the
/// `file:line:col:` of their source.
fn diagnostics(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.starts_with("warning:")
                || l.starts_with("error:")
                || l.contains(": warning:")
                || l.contains(": error:")
        })
        .collect()
}

fn clippy_w1(p: &Project) -> Result<()> {
    let (ok, log) = lint_build(
        p,
        "clippy and W=1 over the series' objects",
        &["CLIPPY=1", "W=1"],
        OBJECTS,
    )?;
    let found = diagnostics(&log);
    if !ok || !found.is_empty() {
        print!("{log}");
        bail!("{} diagnostics: {}", found.len(), found.join(" | "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::diagnostics;

    #[test]
    fn report_locations() {
        use super::report_location;
        let l = "/w/linux/kernel/fork.c:12:3: warning: x";
        assert_eq!(report_location(l, "/w/linux/"), Some(("kernel/fork.c", 12)));
        let l = "../../linux/fs/file.c:9:1: error: y";
        assert_eq!(report_location(l, "/w/linux/"), Some(("fs/file.c", 9)));
        assert_eq!(report_location("warning: z", "/w/linux/"), None);
    }

    #[test]
    fn finds_rust_and_c_diagnostics() {
        let log = "warning: unused import\n  --> kernel/clonefd.rs:1:5\n\
                   kernel/fork.c:10:2: warning: no previous prototype\n\
                   note: something\n";
        assert_eq!(diagnostics(log).len(), 2);
        assert!(diagnostics("  CC kernel/fork.o\n").is_empty());
    }
}
