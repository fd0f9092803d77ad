//! The kernel's own selftests against their results on the unpatched
//! base: `c4 baseline` records ci/upstream-baseline.txt, `c4 check`
//! compares.
//!
//! Every result is kept, each program's and each of its subtests' (the
//! nested KTAP that run_kselftest.sh prints after `# `), so that a pidfd
//! subtest turning from pass to skip is a failure although its program
//! still passes. A subtest named like an earlier one of the same program
//! (pidfd_test prints some twice) gets ` [2]`, ` [3]`... after its name.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};

use crate::guest_runs::{check_suite_shape, guest_failure, GUEST_TESTS_TIMEOUT};
use crate::ktap::{self, Outcome, Suite};
use crate::project::{output, Project};
use crate::tally::Tally;
use crate::vm::Vm;
use crate::{guest_suites, kernel, testbuild};

const BASELINE: &str = "ci/upstream-baseline.txt";

/// "selftests: pidfd: pidfd_test" -> "pidfd:pidfd_test".
fn upstream_key(desc: &str) -> String {
    let d = desc.strip_prefix("selftests: ").unwrap_or(desc);
    d.replacen(": ", ":", 1)
}

/// The suite's results under their baseline keys: each program, then its
/// subtests as `program/subtest`, repeated names numbered.
fn entries(s: &Suite) -> Vec<(String, &Outcome)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut unique = |key: String| {
        let n = seen.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            key
        } else {
            format!("{key} [{n}]")
        }
    };
    let programs = s.results.iter().map(|(desc, o)| (upstream_key(desc), o));
    let subtests = s.nested.iter().map(|(name, o)| {
        let (program, sub) = name.split_once('/').unwrap_or((name, ""));
        (format!("{}/{sub}", upstream_key(program)), o)
    });
    programs
        .chain(subtests)
        .map(|(key, o)| (unique(key), o))
        .collect()
}

/// One line of the baseline: `<pass|fail|skip> <key> [# why]`; the key
/// is everything between the word and the `#` (subtest names have
/// spaces).
fn parse_line(line: &str) -> Option<(String, String, String)> {
    let (entry, why) = line.split_once(" #").unwrap_or((line, ""));
    let (word, key) = entry.trim().split_once(' ')?;
    let word = word.trim();
    if !["pass", "fail", "skip"].contains(&word) || key.trim().is_empty() {
        return None;
    }
    Some((
        key.trim().to_string(),
        word.to_string(),
        why.trim().to_string(),
    ))
}

fn load(p: &Project) -> Result<BTreeMap<String, (String, String)>> {
    let text = std::fs::read_to_string(p.path(BASELINE))
        .with_context(|| format!("{BASELINE} is missing: run `c4 baseline`"))?;
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, word, why)) = parse_line(line) else {
            bail!("{BASELINE}: bad line {line:?}");
        };
        if m.insert(key.clone(), (word, why)).is_some() {
            bail!("{BASELINE}: {key} is there twice");
        }
    }
    Ok(m)
}

/// Every result of the guest's `upstream` suite must be what the base
/// gave, and every result of the base must be there.
pub fn compare(p: &Project, s: &Suite, t: &mut Tally) -> Result<()> {
    check_suite_shape(s, t, "the kernel's selftests");
    compare_with(load(p)?, s, t);
    Ok(())
}

fn compare_with(mut base: BTreeMap<String, (String, String)>, s: &Suite, t: &mut Tally) {
    for (key, o) in entries(s) {
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
}

/// The baseline file's text for the base's results; a reason already in
/// `old` for a key is kept (they are annotated by hand).
fn render(s: &Suite, old: &BTreeMap<String, (String, String)>) -> String {
    let mut text = String::from(
        "# Results of the kernel's own selftests on the unpatched base, written by\n\
         # `c4 baseline` and annotated by hand: the patched kernel must give the\n\
         # same result on every line.  <pass|fail|skip> <suite>:<test>[/<subtest>] [# why]\n",
    );
    for (key, o) in entries(s) {
        let why = match (o, old.get(&key)) {
            (Outcome::Pass, _) => String::new(),
            (_, Some((_, why))) if !why.is_empty() => format!("  # {why}"),
            (Outcome::Fail(w) | Outcome::Skip(w), _) => format!("  # {w}"),
        };
        text.push_str(&format!("{} {key}{why}\n", o.word()));
    }
    text
}

/// Run the kernel's suites on the unpatched base, write the baseline.
pub fn record(p: &Project) -> Result<()> {
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
        &guest_suites::command(&[guest_suites::UPSTREAM]),
        GUEST_TESTS_TIMEOUT,
    )?;
    if let Some(why) = guest_failure(e, p, "baseline.console.log") {
        bail!("{why}");
    }
    let suites = ktap::parse(&out);
    let s = suites
        .iter()
        .find(|s| s.name == guest_suites::UPSTREAM)
        .context("no upstream results in the guest output")?;
    let old = load(p).unwrap_or_default();
    std::fs::write(p.path(BASELINE), render(s, &old))?;
    println!("wrote {BASELINE}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_keys() {
        assert_eq!(
            upstream_key("selftests: pidfd: pidfd_test"),
            "pidfd:pidfd_test"
        );
    }

    fn suite() -> Suite {
        ktap::parse(
            "# c4-suite: upstream\n1..1\n# 1..3\n# ok 1 poll test: Passed\n\
             # ok 2 poll test: Passed\n# ok 3 b # SKIP no b\n\
             ok 1 selftests: pidfd: pidfd_test\n# c4-exit: 0\n",
        )
        .remove(0)
    }

    #[test]
    fn subtests_are_entries_and_repeats_are_numbered() {
        let s = suite();
        let keys: Vec<String> = entries(&s).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "pidfd:pidfd_test",
                "pidfd:pidfd_test/poll test: Passed",
                "pidfd:pidfd_test/poll test: Passed [2]",
                "pidfd:pidfd_test/b",
            ]
        );
    }

    #[test]
    fn a_rendered_baseline_reads_back() {
        let s = suite();
        let text = render(&s, &BTreeMap::new());
        let lines: Vec<_> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| parse_line(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[3],
            ("pidfd:pidfd_test/b".into(), "skip".into(), "no b".into())
        );
        assert_eq!(
            lines[2],
            (
                "pidfd:pidfd_test/poll test: Passed [2]".into(),
                "pass".into(),
                String::new()
            )
        );
    }

    /// The base's entries for `suite()`, with `sub` recorded as `word`.
    fn base_with(sub: &str, word: &str) -> BTreeMap<String, (String, String)> {
        entries(&suite())
            .into_iter()
            .map(|(k, o)| {
                let w = if k == sub { word } else { o.word() };
                (k, (w.to_string(), "why".to_string()))
            })
            .collect()
    }

    fn failures(base: BTreeMap<String, (String, String)>) -> usize {
        let mut t = Tally::default();
        compare_with(base, &suite(), &mut t);
        t.failed()
    }

    #[test]
    fn a_subtest_that_changed_fails_although_its_program_passes() {
        assert_eq!(failures(base_with("", "")), 0);
        assert_eq!(failures(base_with("pidfd:pidfd_test/b", "pass")), 1);
        assert_eq!(
            failures(base_with("pidfd:pidfd_test/poll test: Passed [2]", "skip")),
            1
        );
        let mut missing = base_with("", "");
        missing.insert(
            "pidfd:pidfd_test/gone".into(),
            ("pass".into(), String::new()),
        );
        assert_eq!(failures(missing), 1);
    }

    #[test]
    fn bad_lines_are_refused() {
        assert!(parse_line("maybe x").is_none());
        assert!(parse_line("pass").is_none());
        assert!(parse_line("pass   # why").is_none());
    }
}
