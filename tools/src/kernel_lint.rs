//! Lints of the series' kernel code that a maintainer runs: rustfmt,
//! clippy and W=1 over the objects built from the files the series adds
//! or changes (the Rust abstractions as `rust/kernel.o`), the kernel
//! crate's doctests (its `# Examples`) built, sparse (its reports on lines
//! the series adds), and kernel-doc on the headers it adds or changes.
//!
//! Clippy and W=1 change the compiler command line, which would make
//! Kbuild rebuild those objects in the main build directory twice: they
//! build in `build/kernel-lint` (`ci/kernel-lint.config` adds KUnit and
//! the doctests), where only the objects they need exist.  Kbuild does
//! not rebuild an unchanged object, and a compiler prints its warnings
//! only when it runs: every lint deletes its objects first.

use anyhow::{bail, Result};
use std::collections::BTreeSet;

use crate::kernel::{self, LINT};
use crate::project::{cmd, output, step, Project};
use crate::tally::Tally;

/// The headers whose kernel-doc must be clean.
const HEADERS: &[&str] = &[
    "include/linux/clonefd.h",
    "include/uapi/linux/clonefd.h",
    "include/uapi/linux/sched.h",
];

/// The kernel crate's doctests, as one object.
const DOCTESTS: &str = "rust/doctests_kernel_generated.o";

/// The object that `file`, added or changed by the series, is built into,
/// if it is built in the kernel at all.
fn object_of(file: &str) -> Option<String> {
    if file.starts_with("tools/") || file.starts_with("Documentation/") {
        return None;
    }
    if file.starts_with("rust/kernel/") && file.ends_with(".rs") {
        return Some("rust/kernel.o".into());
    }
    if file.starts_with("rust/helpers/") && file.ends_with(".c") {
        return Some("rust/helpers/helpers.o".into());
    }
    let stem = file
        .strip_suffix(".c")
        .or_else(|| file.strip_suffix(".rs"))?;
    Some(format!("{stem}.o"))
}

/// The objects of the main build made from the files base..branch adds
/// or changes that match `pathspec` (other architectures' files have
/// none).
fn series_objects(p: &Project, pathspec: &str) -> Result<Vec<String>> {
    let base = crate::base::commit(p);
    let branch = p.pins.get("BRANCH");
    let files = output(p.git_linux().args([
        "diff",
        "--name-only",
        "--diff-filter=AM",
        &format!("{base}..{branch}"),
        "--",
        pathspec,
    ]))?;
    let objects: BTreeSet<String> = files
        .lines()
        .filter_map(object_of)
        .filter(|o| p.kernel_out().join(o).exists())
        .collect();
    if objects.is_empty() {
        bail!("the series changes no {pathspec} file built into the main kernel");
    }
    Ok(objects.into_iter().collect())
}

pub fn run(p: &Project, t: &mut Tally) {
    t.record("make rustfmtcheck", rustfmtcheck(p));
    t.record(
        "make CLIPPY=1 W=1 (the objects of the files the series changes)",
        clippy_w1(p),
    );
    t.record(
        "the kernel crate's doctests (rustdoc # Examples) build",
        doctests(p),
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

/// Builds `objects` afresh in build/kernel-lint with the extra make
/// `args`: whether make succeeded, and its stderr.
fn lint_build(
    p: &Project,
    what: &str,
    args: &[&str],
    objects: &[String],
) -> Result<(bool, String)> {
    let out = LINT.out(p);
    kernel::configure(p, &out, &LINT)?;
    for object in objects {
        match std::fs::remove_file(out.join(object)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    step(&format!(
        "{what} (build/kernel-lint): {}",
        objects.join(" ")
    ));
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
        &series_objects(p, "*.c")?,
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
        &series_objects(p, ".")?,
    )?;
    let found = diagnostics(&log);
    if !ok || !found.is_empty() {
        print!("{log}");
        bail!("{} diagnostics: {}", found.len(), found.join(" | "));
    }
    Ok(())
}

fn doctests(p: &Project) -> Result<()> {
    let (ok, log) = lint_build(
        p,
        "the kernel crate's doctests",
        &[],
        &[DOCTESTS.to_string()],
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
    use super::{diagnostics, object_of};

    #[test]
    fn objects_of_the_series_files() {
        assert_eq!(object_of("kernel/fork.c").as_deref(), Some("kernel/fork.o"));
        assert_eq!(
            object_of("kernel/clonefd.rs").as_deref(),
            Some("kernel/clonefd.o")
        );
        assert_eq!(
            object_of("rust/kernel/fs/file.rs").as_deref(),
            Some("rust/kernel.o")
        );
        assert_eq!(
            object_of("rust/helpers/pid.c").as_deref(),
            Some("rust/helpers/helpers.o")
        );
        assert_eq!(object_of("include/linux/clonefd.h"), None);
        assert_eq!(
            object_of("tools/testing/selftests/clone4/clone4_test.c"),
            None
        );
        assert_eq!(object_of("Documentation/userspace-api/clone4.rst"), None);
    }

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
