//! The series: `patches/` <-> branch `clone4` in `linux/`.
//!
//! `patches/` is the product; the branch is where it is developed.  `apply`
//! puts the branch at base + patches/, `format-patches` writes patches/ from
//! the branch, and `in_sync` tells whether the two agree.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::base;
use crate::project::{cmd, output, run, step, Project};

const COVER: &str = "0000-cover-letter.patch";

fn patches_dir(p: &Project) -> PathBuf {
    p.path("patches")
}

/// Patch files of a directory in order, without the cover letter.
pub fn patch_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            let n = f.file_name().unwrap().to_string_lossy();
            n.ends_with(".patch") && n != COVER
        })
        .collect();
    v.sort();
    Ok(v)
}

fn branch(p: &Project) -> &str {
    p.pins.get("BRANCH")
}

fn rev(p: &Project, r: &str) -> Option<String> {
    output(
        p.git_linux()
            .args(["rev-parse", "-q", "--verify"])
            .arg(format!("{r}^{{commit}}")),
    )
    .ok()
    .map(|s| s.trim().to_string())
}

fn stamp(p: &Project) -> PathBuf {
    p.path("build/applied-tip")
}

fn record_tip(p: &Project) -> Result<()> {
    let tip = rev(p, branch(p)).context("branch vanished")?;
    std::fs::create_dir_all(p.path("build"))?;
    std::fs::write(stamp(p), tip)?;
    Ok(())
}

fn worktree_clean(p: &Project) -> Result<bool> {
    let st = output(
        p.git_linux()
            .args(["status", "--porcelain", "--untracked-files=no"]),
    )?;
    Ok(st.trim().is_empty())
}

/// Put linux/ on the series branch, = base + patches/.
pub fn apply(p: &Project, force: bool) -> Result<()> {
    let base = base::ensure(p)?;
    let br = branch(p);
    if !worktree_clean(p)? && !force {
        bail!("linux/ has uncommitted changes: commit them on {br} or use `apply --force`");
    }
    if let Some(tip) = rev(p, br) {
        if in_sync(p)? {
            let head = output(
                p.git_linux()
                    .args(["symbolic-ref", "-q", "--short", "HEAD"]),
            )
            .unwrap_or_default();
            if head.trim() != br {
                run(p.git_linux().args(["checkout", "-q", br]))?;
            }
            record_tip(p)?;
            return Ok(());
        }
        let applied = std::fs::read_to_string(stamp(p)).unwrap_or_default();
        if applied.trim() != tip && !force {
            bail!(
                "branch {br} in linux/ has commits that patches/ lacks: \
                 save them with `c4 format-patches`, or drop them with `c4 apply --force`"
            );
        }
    }
    let patches = patch_files(&patches_dir(p))?;
    step(&format!("applying {} patches on {br}", patches.len()));
    run(p
        .git_linux()
        .args(["checkout", "-q", "-f", "-B", br, &base]))?;
    let mut am = p.git_linux();
    am.args(["am", "-q", "--committer-date-is-author-date"])
        .args(&patches)
        .env("GIT_COMMITTER_NAME", "c4 apply")
        .env("GIT_COMMITTER_EMAIL", "c4@invalid");
    if !patches.is_empty() {
        if let Err(e) = run(&mut am) {
            let _ = run(p.git_linux().args(["am", "--abort"]));
            return Err(e.context("patches/ does not apply on the base"));
        }
    }
    record_tip(p)
}

/// A field of the author of `rev` (`git log --format`).
fn author(p: &Project, rev: &str, field: &str) -> Result<String> {
    let out = output(
        p.git_linux()
            .args(["log", "-1", &format!("--format={field}"), rev]),
    )?;
    Ok(out.trim().to_string())
}

/// The cover letter: patches/cover-letter.txt, then what tools generate
/// for a reviewer: the accepted checkpatch reports, get_maintainer.pl's
/// output, and the man page rendered as text.
fn cover_text(p: &Project, base: &str, br: &str) -> Result<String> {
    let mut text = std::fs::read_to_string(patches_dir(p).join("cover-letter.txt"))
        .context("patches/cover-letter.txt is the cover letter's source")?;
    text.push_str("\ncheckpatch --strict reports left, and why (ci/checkpatch-accepted.txt):\n");
    let accepted = std::fs::read_to_string(p.path("ci/checkpatch-accepted.txt"))?;
    for line in accepted
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (what, why) = line.split_once('#').unwrap_or((line, ""));
        text.push_str(&format!(" - {}:\n", what.trim()));
        text.push_str(&wrap(why.trim(), 72, "   "));
    }
    let diff = output(p.git_linux().args(["diff", &format!("{base}..{br}")]))?;
    let maintainers = output_with_stdin(
        cmd(
            "perl",
            &[
                "scripts/get_maintainer.pl",
                "--no-git",
                "--no-git-fallback",
                "--no-tree",
            ],
        )
        // get_maintainer.pl orders equally ranked entries by Perl's hash
        // order, which is random per run: fix it, so every run (and
        // every machine) writes the same cover letter.
        .env("PERL_HASH_SEED", "0")
        .env("PERL_PERTURB_KEYS", "0")
        .current_dir(p.linux()),
        &diff,
    )?;
    text.push_str("\nscripts/get_maintainer.pl --no-git --no-git-fallback:\n");
    for l in maintainers.lines() {
        text.push_str(&format!("  {l}\n"));
    }
    let page = output(
        cmd("groff", &["-man", "-t", "-Tascii", "-rLL=80n", "-P-cbou"])
            .arg(p.path("man/man2/clone4.2")),
    )?;
    text.push_str("\nThe clone4(2) man page (man/man2/clone4.2 in the series' repository):\n\n");
    for l in page.lines() {
        text.push_str(l.trim_end());
        text.push('\n');
    }
    Ok(text)
}

/// `text` in lines of at most `width` columns, each starting with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > indent.len() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Run `c` with `input` on its standard input; its standard output.
fn output_with_stdin(c: &mut std::process::Command, input: &str) -> Result<String> {
    use std::io::Write;
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{:?} failed: {}", c, out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Write the series from the branch into `dir`.
fn format_into(p: &Project, dir: &Path) -> Result<()> {
    let base = base::commit(p);
    let br = branch(p);
    std::fs::create_dir_all(dir)?;
    let count = output(
        p.git_linux()
            .args(["rev-list", "--count"])
            .arg(format!("{base}..{br}")),
    )?;
    let mut names = vec![];
    if count.trim() != "0" {
        let cover = cover_text(p, &base, br)?;
        run(p
            .git_linux()
            .args(["config", &format!("branch.{br}.description")])
            .arg(cover.trim_end()))?;
        let prefix = format!("--subject-prefix=PATCH v{}", p.pins.get("SERIES_VERSION"));
        let out = output(
            p.git_linux()
                .args([
                    // The default abbreviation grows with the repository:
                    // fix it (at the kernel's 12) so every clone agrees.
                    "-c",
                    "core.abbrev=12",
                    "format-patch",
                    "--zero-commit",
                    "--no-signature",
                    "--cover-letter",
                    "--cover-from-description=subject",
                    &prefix,
                    &format!("--base={base}"),
                    "-o",
                ])
                .arg(dir)
                .arg(format!("{base}..{br}"))
                // The same output on every machine: no user or system git
                // configuration, and the cover letter from the series'
                // author rather than whoever runs this.
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_COMMITTER_NAME", author(p, br, "%an")?)
                .env("GIT_COMMITTER_EMAIL", author(p, br, "%ae")?)
                .env("GIT_COMMITTER_DATE", author(p, br, "%aI")?),
        )?;
        for l in out.lines() {
            let name = Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if name != COVER {
                names.push(name);
            }
        }
    }
    let mut series = String::new();
    for n in &names {
        series.push_str(n);
        series.push('\n');
    }
    std::fs::write(dir.join("series"), series)?;
    Ok(())
}

/// Regenerate patches/ from the branch.
pub fn format_patches(p: &Project) -> Result<()> {
    base::ensure(p)?;
    let dir = patches_dir(p);
    for f in patch_files(&dir)? {
        std::fs::remove_file(f)?;
    }
    let _ = std::fs::remove_file(dir.join(COVER));
    format_into(p, &dir)?;
    record_tip(p)?;
    println!("patches/: {} patches", patch_files(&dir)?.len());
    Ok(())
}

fn listing(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".patch") || n == "series")
        .collect();
    v.sort();
    Ok(v)
}

/// Do patches/ and the branch hold the same series?
pub fn in_sync(p: &Project) -> Result<bool> {
    let tmp = p.path("build/format-check");
    let _ = std::fs::remove_dir_all(&tmp);
    format_into(p, &tmp)?;
    let ours = listing(&patches_dir(p))?;
    if listing(&tmp)? != ours {
        return Ok(false);
    }
    for n in ours {
        if std::fs::read(tmp.join(&n))? != std::fs::read(patches_dir(p).join(&n))? {
            return Ok(false);
        }
    }
    Ok(true)
}
