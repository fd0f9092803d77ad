//! Every patch of the series must build on its own.
//!
//! The build walks the branch one commit at a time in `linux/` itself,
//! building into the same out-of-tree directory as the main build, so each
//! step recompiles only what that patch touched and the walk ends at the
//! branch tip, where the main build then has nothing left to do.  Commits
//! already proven (same source tree, same config fragment) are remembered in
//! build/bisect-ok and not built again.

use anyhow::{Context, Result};
use std::collections::BTreeSet;

use crate::kernel;
use crate::project::{output, run, step, Project};
use crate::tally::Tally;

fn verified_file(p: &Project) -> std::path::PathBuf {
    p.path("build/bisect-ok")
}

/// A key for "this source tree, built with this config fragment".
fn key(p: &Project, commit: &str) -> Result<String> {
    let tree = output(
        p.git_linux()
            .args(["rev-parse", &format!("{commit}^{{tree}}")]),
    )?;
    let config =
        output(crate::project::cmd("git", &["hash-object"]).arg(p.path("ci/kernel.config")))?;
    Ok(format!("{} {}", tree.trim(), config.trim()))
}

/// Build each commit of base..branch; one check per commit.
pub fn each_patch_builds(p: &Project, t: &mut Tally) -> Result<()> {
    let base = crate::base::commit(p);
    let br = p.pins.get("BRANCH");
    let commits = output(
        p.git_linux()
            .args(["rev-list", "--reverse"])
            .arg(format!("{base}..{br}")),
    )?;
    let mut done: BTreeSet<String> = std::fs::read_to_string(verified_file(p))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let out = p.kernel_out();
    let mut moved = false;
    for (i, c) in commits.lines().enumerate() {
        let subject = output(p.git_linux().args(["log", "-1", "--format=%s", c]))?;
        let name = format!("patch {} builds on its own: {}", i + 1, subject.trim());
        let k = key(p, c)?;
        if done.contains(&k) {
            t.pass(&name);
            continue;
        }
        step(&format!("building patch {}: {}", i + 1, subject.trim()));
        run(p.git_linux().args(["checkout", "-q", "--detach", c]))?;
        moved = true;
        let r = kernel::build_in(p, &out);
        if r.is_ok() {
            done.insert(k);
        }
        t.record(&name, r);
    }
    if moved {
        run(p.git_linux().args(["checkout", "-q", br])).context("back to the branch tip")?;
    }
    let text: String = done.into_iter().map(|l| l + "\n").collect();
    std::fs::write(verified_file(p), text)?;
    Ok(())
}
