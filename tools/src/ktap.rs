//! Reading KTAP (kselftest TAP) output from the guest.
//!
//! The guest script announces each suite with a `# c4-suite: NAME` line;
//! inside a suite only top-level (unindented) `ok`/`not ok` lines count.

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

/// Split guest output into suites and their top-level results.
pub fn parse(text: &str) -> Vec<Suite> {
    let mut suites: Vec<Suite> = vec![];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("# c4-suite: ") {
            suites.push(Suite {
                name: name.trim().to_string(),
                ..Suite::default()
            });
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
        } else if let Some(r) = parse_result(line) {
            cur.results.push(r);
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
    }
}
