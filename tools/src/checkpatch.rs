//! scripts/checkpatch.pl --strict on every patch of patches/; a report
//! passes only when ci/checkpatch-accepted.txt lists it with its reason.

use anyhow::{bail, Result};

use crate::project::{cmd, Project};
use crate::series;
use crate::tally::Tally;

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

pub fn check_series(p: &Project, t: &mut Tally) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
