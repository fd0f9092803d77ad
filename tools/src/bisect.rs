//! Every patch of the series must build on its own.
//!
//! The build walks the branch one commit at a time in `linux/` itself
//! (back on the branch however the walk ends: [`BranchGuard`]), building
//! into an out-of-tree directory of its own, so each step recompiles only
//! what that patch touched.  Commits already proven (same source tree,
//! same config fragments) are remembered in build/bisect-ok and not built
//! again.
//!
//! The walk is done for each configuration variant: CLONE_FD on, and
//! CONFIG_CLONEFD=n for the commits that have the option, both without the
//! debug options of the booted kernels ([`kernel::WALK`]): the walk proves
//! that every patch compiles and links, and KASAN's instrumentation would
//! double what a fresh machine compiles.

use anyhow::{Context, Result};
use std::collections::BTreeSet;

use crate::kernel::{self, Variant};
use crate::project::{output, run, step, Project};
use crate::tally::Tally;

fn verified_file(p: &Project) -> std::path::PathBuf {
    p.path("build/bisect-ok")
}

/// A key for "this source tree, built with these config fragments".
fn key(p: &Project, commit: &str, v: &Variant) -> Result<String> {
    let tree = output(
        p.git_linux()
            .args(["rev-parse", &format!("{commit}^{{tree}}")]),
    )?;
    let mut k = tree.trim().to_string();
    for f in v.fragments() {
        let hash = output(crate::project::cmd("git", &["hash-object"]).arg(p.path(f)))?;
        k.push(' ');
        k.push_str(hash.trim());
    }
    Ok(k)
}

/// Whether `commit` has what variant `v` configures.
fn applies(p: &Project, commit: &str, v: &Variant) -> Result<bool> {
    let Some(symbol) = v.needs_symbol else {
        return Ok(true);
    };
    let kconfig = output(
        p.git_linux()
            .args(["show", &format!("{commit}:init/Kconfig")]),
    )?;
    Ok(kconfig.lines().any(|l| l.trim_end() == symbol))
}

/// Build each commit of base..branch in every variant; one check per
/// commit and variant.
pub fn each_patch_builds(p: &Project, t: &mut Tally) -> Result<()> {
    for v in [kernel::WALK, kernel::WALK_NO_CLONEFD] {
        walk(p, t, &v)?;
    }
    Ok(())
}

fn walk(p: &Project, t: &mut Tally, v: &Variant) -> Result<()> {
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
    let out = v.out(p);
    let mut guard = BranchGuard {
        p,
        branch: br,
        moved: false,
    };
    for (i, c) in commits.lines().enumerate() {
        if !applies(p, c, v)? {
            continue;
        }
        let subject = output(p.git_linux().args(["log", "-1", "--format=%s", c]))?;
        let name = match v.overlay {
            None => format!("patch {} builds on its own: {}", i + 1, subject.trim()),
            Some(_) => format!(
                "patch {} builds (CONFIG_CLONEFD=n): {}",
                i + 1,
                subject.trim()
            ),
        };
        let k = key(p, c, v)?;
        if done.contains(&k) {
            t.pass(&name);
            continue;
        }
        step(&format!(
            "building patch {} ({}): {}",
            i + 1,
            v.name,
            subject.trim()
        ));
        guard.moved = true;
        run(p.git_linux().args(["checkout", "-q", "--detach", c]))?;
        // vmlinux proves that the commit builds; the branch tip's bzImage
        // and headers are built after the walk.
        let r = kernel::build_target(p, &out, v, kernel::Target::Vmlinux);
        if r.is_ok() {
            done.insert(k);
            // At once, so that a walk cut short (Ctrl-C, a lost machine)
            // does not build this commit again.
            save_verified(p, &done)?;
        }
        t.record(&name, r);
    }
    guard.restore().context("back to the branch tip")
}

fn save_verified(p: &Project, done: &BTreeSet<String>) -> Result<()> {
    let text: String = done.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(verified_file(p), text).context("writing build/bisect-ok")
}

/// Puts `linux/` back on the branch when the walk ends, also when it ends
/// early with an error or a panic: a detached `linux/` would make the
/// next `c4 apply` or `make check` work on the wrong commit.
struct BranchGuard<'a> {
    p: &'a Project,
    branch: &'a str,
    /// A commit was checked out.
    moved: bool,
}

impl BranchGuard<'_> {
    fn restore(&mut self) -> Result<()> {
        if std::mem::take(&mut self.moved) {
            run(self.p.git_linux().args(["checkout", "-q", self.branch]))?;
        }
        Ok(())
    }
}

impl Drop for BranchGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            eprintln!("linux/ is left detached: {e:#}");
        }
    }
}
