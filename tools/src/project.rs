//! Where things are, and running commands with readable errors.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pins::Pins;

/// The checked-out project and its pinned inputs.
pub struct Project {
    pub root: PathBuf,
    pub pins: Pins,
}

impl Project {
    pub fn discover() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("tools/ has no parent")?
            .to_path_buf();
        let pins = Pins::load(&root.join("ci/pins"))?;
        Ok(Project { root, pins })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The kernel tree (submodule).
    pub fn linux(&self) -> PathBuf {
        self.path("linux")
    }

    /// Out-of-tree kernel build.
    pub fn kernel_out(&self) -> PathBuf {
        self.path("build/kernel")
    }

    /// UAPI headers of the patched tree (`make headers`).
    pub fn uapi_include(&self) -> PathBuf {
        self.kernel_out().join("usr/include")
    }

    pub fn logs(&self) -> PathBuf {
        self.path("build/logs")
    }

    /// A `git -C linux` command.
    pub fn git_linux(&self) -> Command {
        let mut c = Command::new("git");
        c.arg("-C").arg(self.linux());
        c
    }
}

/// Build a command from a program and arguments.
pub fn cmd<S: AsRef<std::ffi::OsStr>>(prog: &str, args: &[S]) -> Command {
    let mut c = Command::new(prog);
    c.args(args);
    c
}

fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run, inheriting stdio; fail on a non-zero exit.
pub fn run(c: &mut Command) -> Result<()> {
    let st = c
        .status()
        .with_context(|| format!("cannot start `{}`", describe(c)))?;
    if !st.success() {
        bail!("`{}` failed ({st})", describe(c));
    }
    Ok(())
}

/// Run and return stdout; fail on a non-zero exit (stderr is shown).
pub fn output(c: &mut Command) -> Result<String> {
    let out = c
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start `{}`", describe(c)))?;
    if !out.status.success() {
        bail!("`{}` failed ({})", describe(c), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run quietly; true when it exits 0.
pub fn succeeds(c: &mut Command) -> bool {
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Print a step header so long runs stay readable.
pub fn step(what: &str) {
    println!("==> {what}");
}
