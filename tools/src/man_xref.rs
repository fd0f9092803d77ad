//! The man page says nothing that the code does not do: every flag and
//! constant it names (CLONE_*, CLONE4_*, CLONEFD_*) is defined by the
//! patched UAPI headers and used by the selftests, and each entry of its
//! ERRORS section has a test that asserts its errno: an errno with N
//! entries needs assertion sites in N different test functions (a line
//! that checks a result against it: `check_err!`, `ASSERT_EQ`, `==`, a
//! `match` arm..., not a comment or a message).

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

/// Every `.rs`, `.c` and `.h` file below `dir`, as (path, text).
fn sources(dir: &Path, out: &mut Vec<(String, String)>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sources(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "c" || e == "h")
        {
            out.push((path.display().to_string(), std::fs::read_to_string(&path)?));
        }
    }
    Ok(())
}

/// ERRORS entries that no selftest can assert, with the reason.
const UNTESTABLE_ERRORS: &[(&str, &str)] = &[(
    "ENOSYS",
    "only a kernel without clone4() gives it, where every selftest skips \
     (its probe names the errno)",
)];

/// The errno of each entry (`.TP` then `.B EXXX`) of the ERRORS section.
fn error_entries(page: &str) -> Vec<&str> {
    let lines: Vec<&str> = section(page, "ERRORS").lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .filter_map(|w| {
            let word = w[1]
                .strip_prefix(".BR ")
                .or_else(|| w[1].strip_prefix(".B "))?
                .split_whitespace()
                .next()?;
            is_errno(word).then_some(word)
        })
        .collect()
}

/// The function a line at column 0 starts, if it does: `fn name`, C's
/// `TEST(name)`, `TEST_F(fixture, name)` or `type name(`.
fn function_start(line: &str) -> Option<&str> {
    if line.starts_with(|c: char| c.is_whitespace() || "#/*{}".contains(c)) {
        return None;
    }
    if let Some(i) = line.find("fn ") {
        return name_at(&line[i + 3..]);
    }
    for test in ["TEST_F(", "TEST("] {
        if let Some(rest) = line.strip_prefix(test) {
            return name_at(rest.rsplit(", ").next().unwrap_or(rest));
        }
    }
    let open = line.find('(')?;
    let before = line[..open].trim_end();
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    name_at(&before[start..])
}

/// The identifier that `rest` starts with.
fn name_at(rest: &str) -> Option<&str> {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Whether a (non-comment) line checks a result: the words that do.
fn is_assertion_site(line: &str) -> bool {
    let t = line.trim_start();
    if ["//", "/*", "*", "#"].iter().any(|c| t.starts_with(c)) {
        return false;
    }
    [
        "check_err!",
        "check_eq!",
        "check!",
        "assert",
        "ASSERT_",
        "EXPECT_",
        "==",
        "!=",
        "Err(Errno::",
        "matches!",
    ]
    .iter()
    .any(|m| line.contains(m))
}

/// errno -> the `file:function`s with an assertion site of it.
fn assertion_sites<'a>(
    files: &'a [(String, String)],
    errnos: &BTreeSet<&'a str>,
) -> std::collections::BTreeMap<&'a str, BTreeSet<String>> {
    let mut sites: std::collections::BTreeMap<&str, BTreeSet<String>> = Default::default();
    for (path, text) in files {
        let mut function = "";
        for line in text.lines() {
            if let Some(name) = function_start(line) {
                function = name;
            }
            if !is_assertion_site(line) {
                continue;
            }
            for e in words(line).intersection(errnos) {
                sites
                    .entry(e)
                    .or_default()
                    .insert(format!("{path}:{function}"));
            }
        }
    }
    sites
}

/// What the page names that `headers` do not define, or that `tests` do
/// not use or assert.
fn unsupported(page: &str, headers: &str, tests: &[(String, String)]) -> Vec<String> {
    let all_tests: String = tests.iter().map(|(_, t)| t.as_str()).collect();
    let (header_words, test_words) = (words(headers), words(&all_tests));
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
    let entries = error_entries(page);
    let errnos: BTreeSet<&str> = entries.iter().copied().collect();
    let sites = assertion_sites(tests, &errnos);
    for e in &errnos {
        if UNTESTABLE_ERRORS.iter().any(|(u, _)| u == e) {
            continue;
        }
        let wanted = entries.iter().filter(|x| *x == e).count();
        let found = sites.get(e).map_or(0, BTreeSet::len);
        if found < wanted {
            problems.push(format!(
                "{e} (ERRORS): {wanted} entries, asserted in {found} test functions"
            ));
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
    let mut tests = Vec::new();
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
    const PAGE_TEXT: &str = ".SH DESCRIPTION\n.B CLONE_FD\n\\fBCLONEFD_CLOEXEC\\fP and CLONE_*\n\
         .SH ERRORS\n.TP\n.B EINVAL\nsize.\n.TP\n.B EINVAL\nflags.\n.TP\n.B ENOSYS\nold.\n\
         .SH NOTES\nECHILD\n";

    fn files(texts: &[&str]) -> Vec<(String, String)> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("t{i}.rs"), t.to_string()))
            .collect()
    }

    #[test]
    fn names_backed_by_headers_and_tests_pass() {
        let tests = files(&[
            "fn a() {\n    use uapi::CLONE_FD; CLONEFD_CLOEXEC;\n    check_err!(r, Errno::EINVAL);\n}\n",
            "TEST_F(f, b)\n{\n\tASSERT_EQ(errno, EINVAL);\n}\n",
        ]);
        assert!(unsupported(PAGE_TEXT, HEADERS, &tests).is_empty());
    }

    #[test]
    fn an_errno_asserted_too_rarely_or_only_named_is_reported() {
        // Two EINVAL entries, one asserting function; a comment and a
        // message do not count.
        let tests = files(&[
            "fn a() {\n    CLONE_FD; CLONEFD_CLOEXEC;\n    check_err!(r, Errno::EINVAL);\n}\n\
             // EINVAL here too\nfn b() {\n    println!(\"EINVAL\");\n}\n",
        ]);
        assert_eq!(
            unsupported(PAGE_TEXT, HEADERS, &tests),
            ["EINVAL (ERRORS): 2 entries, asserted in 1 test functions"]
        );
        let page = PAGE_TEXT.replace("CLONE_FD", "CLONE_FD_TYPO");
        let tests = files(&["fn a() { CLONE_FD_TYPO CLONEFD_CLOEXEC }\nfn b() { x == EINVAL }\nfn c() { x == EINVAL }\n"]);
        assert_eq!(
            unsupported(&page, HEADERS, &tests),
            ["CLONE_FD_TYPO: not defined in linux/sched.h, linux/clonefd.h"]
        );
    }

    #[test]
    fn functions_are_found() {
        assert_eq!(
            function_start("fn emfile(returned: bool) -> X {"),
            Some("emfile")
        );
        assert_eq!(function_start("pub unsafe fn x()"), Some("x"));
        assert_eq!(function_start("TEST_F(clonefd, getpid)"), Some("getpid"));
        assert_eq!(function_start("TEST(plain)"), Some("plain"));
        assert_eq!(
            function_start("static int clone4_errno(uint64_t f)"),
            Some("clone4_errno")
        );
        assert_eq!(function_start("    fn nested()"), None);
    }
}
