//! The man page says nothing that the code does not do: every flag and
//! constant it names (CLONE_*, CLONE4_*, CLONEFD_*) is defined by the
//! patched UAPI headers and used by the selftests, and every errno of its
//! ERRORS section is one that a selftest expects.

use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::path::Path;

use crate::man_example::PAGE;
use crate::project::Project;
use crate::tally::Tally;

/// Headers that define what the page names.
const UAPI_HEADERS: &[&str] = &["linux/sched.h", "linux/clonefd.h"];

/// The words of a text: runs of `[A-Za-z0-9_]`, roff font escapes
/// (`\fB`) removed first.
fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(|w| {
            ["fB", "fI", "fR", "fP"]
                .iter()
                .find_map(|f| w.strip_prefix(f))
                .unwrap_or(w)
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// CLONE_X, CLONE4_X, CLONEFD_X (not a bare prefix like `CLONE_`).
fn is_clone_constant(w: &str) -> bool {
    ["CLONE_", "CLONE4_", "CLONEFD_"]
        .iter()
        .any(|p| w.starts_with(p) && w.len() > p.len() && !w.ends_with('_'))
}

/// E2BIG, EINVAL, ...: `E` and at least two capitals or digits.
fn is_errno(w: &str) -> bool {
    w.len() >= 3
        && w.starts_with('E')
        && w[1..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && w != "ERRORS"
        && w != "EXAMPLES"
}

/// The text of section `name` (`.SH NAME` up to the next `.SH`).
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    page.split_once(&format!("\n.SH {name}\n"))
        .map(|(_, rest)| rest.split("\n.SH ").next().unwrap_or(rest))
        .unwrap_or("")
}

/// Every `.rs` and `.c` file below `dir`, concatenated.
fn sources(dir: &Path, out: &mut String) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sources(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "c" || e == "h")
        {
            out.push_str(&std::fs::read_to_string(&path)?);
            out.push('\n');
        }
    }
    Ok(())
}

/// What the page names that `headers` do not define, or that `tests` do
/// not use.
fn unsupported(page: &str, headers: &str, tests: &str) -> Vec<String> {
    let (header_words, test_words) = (words(headers), words(tests));
    let defined = |w: &str| {
        headers.lines().any(|l| {
            let mut it = l.split_whitespace();
            it.next() == Some("#define") && it.next() == Some(w)
        }) || headers.contains(&format!("struct {w} "))
    };
    let mut problems = Vec::new();
    for w in words(page).into_iter().filter(|w| is_clone_constant(w)) {
        if !header_words.contains(w) || !defined(w) {
            problems.push(format!("{w}: not defined in {}", UAPI_HEADERS.join(", ")));
        } else if !test_words.contains(w) {
            problems.push(format!("{w}: used by no selftest"));
        }
    }
    for e in words(section(page, "ERRORS"))
        .into_iter()
        .filter(|w| is_errno(w))
    {
        if !test_words.contains(e) {
            problems.push(format!("{e} (ERRORS): expected by no selftest"));
        }
    }
    problems
}

fn check(p: &Project) -> Result<()> {
    let page = std::fs::read_to_string(p.path(PAGE))?;
    let mut headers = String::new();
    for h in UAPI_HEADERS {
        headers.push_str(&std::fs::read_to_string(p.uapi_include().join(h))?);
    }
    let mut tests = String::new();
    sources(&p.path("selftests/src"), &mut tests)?;
    sources(&p.path("selftests/csupport"), &mut tests)?;
    sources(
        &p.linux().join("tools/testing/selftests/clone4"),
        &mut tests,
    )?;
    let problems = unsupported(&page, &headers, &tests);
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

pub fn run(p: &Project, t: &mut Tally) {
    t.record(
        "man page: its flags are the UAPI's, its errnos and flags are tested",
        check(p),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: &str = "#define CLONE_FD 0x2000000000ULL\n#define CLONEFD_CLOEXEC 0x01\n";
    const PAGE_TEXT: &str =
        ".SH DESCRIPTION\n.B CLONE_FD\n\\fBCLONEFD_CLOEXEC\\fP and CLONE_*\n.SH ERRORS\n.B EINVAL\n.SH NOTES\nECHILD\n";

    #[test]
    fn names_backed_by_headers_and_tests_pass() {
        let tests = "uapi::CLONE_FD; CLONEFD_CLOEXEC; Errno::EINVAL";
        assert!(unsupported(PAGE_TEXT, HEADERS, tests).is_empty());
    }

    #[test]
    fn an_undefined_flag_or_untested_errno_is_reported() {
        let tests = "uapi::CLONE_FD; CLONEFD_CLOEXEC";
        assert_eq!(
            unsupported(PAGE_TEXT, HEADERS, tests),
            ["EINVAL (ERRORS): expected by no selftest"]
        );
        let page = PAGE_TEXT.replace("CLONE_FD", "CLONE_FD_TYPO");
        let tests = "CLONE_FD_TYPO CLONEFD_CLOEXEC EINVAL";
        assert_eq!(
            unsupported(&page, HEADERS, tests),
            ["CLONE_FD_TYPO: not defined in linux/sched.h, linux/clonefd.h"]
        );
    }
}
