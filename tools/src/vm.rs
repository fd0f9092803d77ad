//! Booting the kernel in QEMU through `ci/qemu-run` (virtme-ng).
//!
//! The guest command's output is shown as it comes and kept; its exit status
//! becomes ours.  The runner turns a hang into exit 124 and a panic into 125,
//! keeping the console log under build/logs/.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio;

use crate::project::{cmd, Project};

/// Seconds a guest may run before it counts as hung.
pub const DEFAULT_TIMEOUT: u32 = 600;

/// How a guest run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestExit {
    /// The guest command exited with this status.
    Status(i32),
    /// No result within the time limit.
    Timeout,
    /// The kernel panicked or oopsed.
    Panic,
    /// QEMU or virtme-ng failed before the command ran.
    BootFailure(i32),
}

impl GuestExit {
    fn from_runner(code: i32) -> Self {
        match code {
            124 => GuestExit::Timeout,
            125 => GuestExit::Panic,
            126 => GuestExit::BootFailure(code),
            c => GuestExit::Status(c),
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            GuestExit::Status(c) | GuestExit::BootFailure(c) => c,
            GuestExit::Timeout => 124,
            GuestExit::Panic => 125,
        }
    }
}

pub struct Vm<'a> {
    p: &'a Project,
    /// The kernel build directory to boot.
    kernel: PathBuf,
}

impl<'a> Vm<'a> {
    /// A VM booting the main kernel build.
    pub fn new(p: &'a Project) -> Result<Self> {
        Self::with_kernel(p, p.kernel_out())
    }

    /// A VM booting the kernel built in `kernel`.
    pub fn with_kernel(p: &'a Project, kernel: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(p.logs())?;
        Ok(Vm { p, kernel })
    }

    /// Boot, run `guest_cmd`, show its output; return how it ended.
    pub fn run(&self, name: &str, guest_cmd: &str, timeout: u32) -> Result<GuestExit> {
        self.run_capture(name, guest_cmd, timeout).map(|(e, _)| e)
    }

    /// As `run`, also returning the output.
    pub fn run_capture(
        &self,
        name: &str,
        guest_cmd: &str,
        timeout: u32,
    ) -> Result<(GuestExit, String)> {
        let log = self.p.logs().join(format!("{name}.console.log"));
        let mut c = cmd("bash", &[] as &[&str]);
        c.arg(self.p.path("ci/qemu-run"))
            .arg("--kernel")
            .arg(&self.kernel)
            .arg("--timeout")
            .arg(timeout.to_string())
            .arg("--log")
            .arg(&log)
            .arg("--")
            .arg(guest_cmd)
            .current_dir(&self.p.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = c.spawn().context("cannot start ci/qemu-run")?;
        let mut captured = String::new();
        let stdout = child.stdout.take().unwrap();
        let mut out = std::io::stdout();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            writeln!(out, "{line}")?;
            captured.push_str(&line);
            captured.push('\n');
        }
        let st = child.wait()?;
        let exit = GuestExit::from_runner(st.code().unwrap_or(128));
        Ok((exit, captured))
    }
}
