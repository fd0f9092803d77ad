//! The pinned kernel base in `linux/`.
//!
//! Offline, the tree comes from Debian's linux-source package: its tarball
//! (checked against the pinned sha256) is imported as a single commit with
//! fixed author, committer and dates, so every machine gets the same commit
//! id, the one the superproject's gitlink and `ci/pins` name.  An online user
//! can instead fetch upstream stable (see README.md) and set `C4_BASE`.

use anyhow::{bail, Context, Result};

use crate::project::{cmd, output, run, step, succeeds, Project};

/// The commit the series applies to.
pub fn commit(p: &Project) -> String {
    std::env::var("C4_BASE").unwrap_or_else(|_| p.pins.get("BASE_COMMIT").to_string())
}

fn has_commit(p: &Project, rev: &str) -> bool {
    succeeds(
        p.git_linux()
            .args(["cat-file", "-e"])
            .arg(format!("{rev}^{{commit}}")),
    )
}

fn gitlink(p: &Project) -> Option<String> {
    let out = output(cmd("git", &["ls-tree", "HEAD", "linux"]).current_dir(&p.root)).ok()?;
    out.split_whitespace().nth(2).map(str::to_string)
}

/// Make sure `linux/` holds the base commit; import it if needed.
pub fn ensure(p: &Project) -> Result<String> {
    let base = commit(p);
    if let Some(link) = gitlink(p) {
        if std::env::var("C4_BASE").is_err() && link != base {
            bail!("the linux gitlink ({link}) and ci/pins BASE_COMMIT ({base}) disagree");
        }
    }
    if p.linux().join(".git").exists() && has_commit(p, &base) {
        return Ok(base);
    }
    if std::env::var("C4_BASE").is_ok() {
        bail!("C4_BASE={base} is not a commit in linux/: fetch it first (README.md)");
    }
    import(p)?;
    Ok(base)
}

fn import(p: &Project) -> Result<()> {
    let tarball = p.pins.get("TARBALL");
    let want = p.pins.get("TARBALL_SHA256");
    step(&format!("importing {tarball} into linux/"));
    let sum = output(&mut cmd("sha256sum", &[tarball]))
        .with_context(|| format!("{tarball} is missing: run `c4 setup`"))?;
    if sum.split_whitespace().next() != Some(want) {
        bail!("{tarball} has sha256 {sum}, ci/pins expects {want}");
    }
    let linux = p.linux();
    std::fs::create_dir_all(&linux)?;
    if !linux.join(".git").exists() {
        if std::fs::read_dir(&linux)?.next().is_some() {
            bail!("{} is not empty and not a git repository", linux.display());
        }
        run(cmd("git", &["init", "-q", "-b", "c4-import"]).arg(&linux))?;
    }
    run(cmd("tar", &["-xJf", tarball, "--strip-components=1"]).current_dir(&linux))?;
    // Debian's .gitignore ignores everything at the top level: add -f.
    run(p.git_linux().args(["add", "-f", "-A", "."]))?;
    let (name, email) = split_ident(p.pins.get("BASE_IDENT"))?;
    let date = p.pins.get("BASE_DATE");
    run(p
        .git_linux()
        .args([
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--no-verify",
            "-m",
        ])
        .arg(p.pins.get("BASE_SUBJECT"))
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_COMMITTER_DATE", date))?;
    let got = output(p.git_linux().args(["rev-parse", "HEAD"]))?;
    let base = p.pins.get("BASE_COMMIT");
    if got.trim() != base {
        bail!(
            "the import gave commit {}, ci/pins expects {base}: the tarball or git changed",
            got.trim()
        );
    }
    println!("    base commit {base}");
    Ok(())
}

fn split_ident(ident: &str) -> Result<(&str, &str)> {
    let (name, rest) = ident
        .split_once(" <")
        .context("BASE_IDENT must be `Name <email>`")?;
    Ok((name, rest.trim_end_matches('>')))
}
