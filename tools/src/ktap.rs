//! Reading KTAP (kselftest TAP) output from the guest.
//!
//! The guest script announces each suite with a `# c4-suite: NAME` line.
//! Inside a suite, unindented `ok`/`not ok` lines are its results; nested
//! ones (indented, as our runner prints a C kselftest's, or after `# `, as
//! run_kselftest.sh prints a program's) belong to the next top-level
//! result, and are kept as `PARENT/NAME`.  A failure's reason is its
//! directive, or else the last diagnostic lines (`# ...`) before it.

/// The outcome of one top-level KTAP test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

impl Outcome {
    /// The word used in ci/upstream-baseline.txt.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Skip(_) => "skip",
        }
    }
}

#[derive(Debug, Default)]
pub struct Suite {
    pub name: String,
    pub plan: Option<usize>,
    pub results: Vec<(String, Outcome)>,
    /// The nested results, as `PARENT/NAME`.
    pub nested: Vec<(String, Outcome)>,
    /// The suite's own `# c4-exit: N` line (its process's exit status).
    pub exit: Option<i32>,
    /// Every line of its output, for suites whose output is not KTAP.
    pub lines: Vec<String>,
}

fn parse_result(line: &str) -> Option<(String, Outcome)> {
    let (ok, rest) = if let Some(r) = line.strip_prefix("ok ") {
        (true, r)
    } else if let Some(r) = line.strip_prefix("not ok ") {
        (false, r)
    } else {
        return None;
    };
    // "<number> <description>[ # <directive>]"
    let (_num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (desc, directive) = match rest.split_once(" # ") {
        Some((d, dir)) => (d.trim(), Some(dir.trim())),
        None => (rest.trim(), None),
    };
    let outcome = match (ok, directive) {
        (_, Some(d)) if d.to_ascii_uppercase().starts_with("SKIP") => {
            Outcome::Skip(d[4..].trim().to_string())
        }
        (true, _) => Outcome::Pass,
        (false, d) => Outcome::Fail(d.unwrap_or("").to_string()),
    };
    Some((desc.to_string(), outcome))
}

/// How many diagnostic lines a failure's reason keeps.
const REASON_LINES: usize = 3;

/// A nested result line: indented, or after run_kselftest.sh's `# `.
fn nested_result(line: &str) -> Option<(String, Outcome)> {
    let inner = if line.starts_with(' ') || line.starts_with('\t') {
        line.trim_start()
    } else {
        line.strip_prefix("# ")?.trim_start()
    };
    parse_result(inner)
}

/// A diagnostic line's text (`# text`, at any depth), if it is one.
fn diagnostic(line: &str) -> Option<&str> {
    let text = line.trim_start().strip_prefix('#')?.trim();
    let noise = text.is_empty() || text.starts_with("ok ") || text.starts_with("not ok ");
    (!noise).then_some(text)
}

/// `Fail("")` gets the recent diagnostics as its reason.
fn with_reason(outcome: Outcome, recent: &[String]) -> Outcome {
    match outcome {
        Outcome::Fail(why) if why.is_empty() && !recent.is_empty() => {
            let from = recent.len().saturating_sub(REASON_LINES);
            Outcome::Fail(recent[from..].join(" | "))
        }
        other => other,
    }
}

/// Split guest output into suites and their results.
pub fn parse(text: &str) -> Vec<Suite> {
    let mut suites: Vec<Suite> = vec![];
    // Nested results waiting for their parent, diagnostics since the last
    // top-level result, and since the last nested one.
    let mut pending: Vec<(String, Outcome)> = Vec::new();
    let (mut recent, mut recent_nested): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("# c4-suite: ") {
            suites.push(Suite {
                name: name.trim().to_string(),
                ..Suite::default()
            });
            pending.clear();
            recent.clear();
            continue;
        }
        let Some(cur) = suites.last_mut() else {
            continue;
        };
        if let Some(code) = line.strip_prefix("# c4-exit: ") {
            cur.exit = code.trim().parse().ok();
            continue;
        }
        cur.lines.push(line.to_string());
        if let Some(n) = line.strip_prefix("1..") {
            // run_kselftest.sh prints one plan per collection: add them up.
            if let Ok(n) = n.trim().parse::<usize>() {
                cur.plan = Some(cur.plan.unwrap_or(0) + n);
            }
        } else if let Some((name, outcome)) = parse_result(line) {
            let outcome = with_reason(outcome, &recent);
            for (sub, o) in pending.drain(..) {
                cur.nested.push((format!("{name}/{sub}"), o));
            }
            cur.results.push((name, outcome));
            recent.clear();
            recent_nested.clear();
        } else if let Some((sub, outcome)) = nested_result(line) {
            pending.push((sub, with_reason(outcome, &recent_nested)));
            recent_nested.clear();
        } else if let Some(text) = diagnostic(line) {
            recent.push(text.to_string());
            recent_nested.push(text.to_string());
        }
    }
    suites
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suites_and_directives() {
        let out = "noise\n# c4-suite: a\nTAP version 13\n1..3\nok 1 x\n    not ok 1 nested\n\
                   not ok 2 y # TIMEOUT 45 seconds\nok 3 z # SKIP no clone4\n# c4-exit: 1\n\
                   # c4-suite: b\n1..1\nok 1 selftests: pidfd: pidfd_test\n1..1\nok 1 selftests: core: x\n";
        let s = parse(out);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].plan, Some(3));
        assert_eq!(s[0].exit, Some(1));
        assert_eq!(
            s[0].results,
            vec![
                ("x".into(), Outcome::Pass),
                ("y".into(), Outcome::Fail("TIMEOUT 45 seconds".into())),
                ("z".into(), Outcome::Skip("no clone4".into())),
            ]
        );
        assert_eq!(s[1].results[0].0, "selftests: pidfd: pidfd_test");
        assert_eq!(s[1].plan, Some(2));
        assert_eq!(
            s[0].nested,
            vec![("y/nested".into(), Outcome::Fail(String::new()))]
        );
    }

    #[test]
    fn nested_results_belong_to_the_next_top_level_one() {
        let out = "# c4-suite: u\n1..1\n# TAP version 13\n# 1..2\n# ok 1 global.a\n\
                   # # skipping: no b\n# ok 2 global.b # SKIP no b\n\
                   ok 1 selftests: pidfd: pidfd_test\n# c4-suite: s\n1..1\n\
                   \x20   # check failed: x != y\n    not ok 1 clonefd.getpid\n\
                   # c4: body failed\nnot ok 1 c/clonefd_test\n";
        let s = parse(out);
        assert_eq!(
            s[0].nested,
            vec![
                (
                    "selftests: pidfd: pidfd_test/global.a".into(),
                    Outcome::Pass
                ),
                (
                    "selftests: pidfd: pidfd_test/global.b".into(),
                    Outcome::Skip("no b".into())
                ),
            ]
        );
        assert_eq!(s[0].results.len(), 1);
        assert_eq!(
            s[1].nested,
            vec![(
                "c/clonefd_test/clonefd.getpid".into(),
                Outcome::Fail("check failed: x != y".into())
            )]
        );
        assert_eq!(
            s[1].results,
            vec![(
                "c/clonefd_test".into(),
                Outcome::Fail("check failed: x != y | c4: body failed".into())
            )]
        );
    }
}
