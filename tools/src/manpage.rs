//! Lints for the man pages in man/.

use anyhow::{bail, Result};
use std::path::Path;

use crate::project::{cmd, Project};
use crate::tally::Tally;

/// mandoc messages that man-pages itself accepts: its titles are lower
/// case (`.TH clone4 2 ...`) since man-pages 6, and its link pages are
/// `.so` pages (as `clonefd_info.2`).
const ACCEPTED_MANDOC: &[&str] = &[
    "STYLE: lower case character in document title",
    "WARNING: .so is fragile, better use ln(1)",
];

/// Run from `man/`, where a link page's `.so man2/x.2` resolves, as man(1)
/// does from the manual's root.
fn mandoc_lint(page: &Path) -> Result<()> {
    let out = cmd("mandoc", &["-Tlint"])
        .arg(page)
        .current_dir(page.parent().and_then(Path::parent).unwrap_or(page))
        .output()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| !ACCEPTED_MANDOC.iter().any(|a| l.contains(a)))
        .collect();
    if !bad.is_empty() {
        bail!("{}", bad.join("\n"));
    }
    Ok(())
}

fn groff_lint(page: &Path) -> Result<()> {
    let out = cmd("groff", &["-man", "-t", "-ww", "-z"])
        .arg(page)
        .current_dir(page.parent().and_then(Path::parent).unwrap_or(page))
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !err.trim().is_empty() {
        bail!("{}", err.trim());
    }
    Ok(())
}

/// One check per page and linter.
pub fn lint(p: &Project, t: &mut Tally) -> Result<()> {
    let mut pages: Vec<_> = std::fs::read_dir(p.path("man/man2"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    pages.sort();
    for page in pages {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        t.record(&format!("mandoc -Tlint man2/{name}"), mandoc_lint(&page));
        t.record(&format!("groff -ww man2/{name}"), groff_lint(&page));
    }
    Ok(())
}
