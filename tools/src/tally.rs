//! Counting checks and printing the closing `N passed, N failed, N skipped`.

use anyhow::{bail, Result};

#[derive(Default)]
pub struct Tally {
    passed: usize,
    failed: Vec<String>,
    skipped: Vec<String>,
}

impl Tally {
    pub fn pass(&mut self, name: &str) {
        println!("PASS {name}");
        self.passed += 1;
    }

    pub fn fail(&mut self, name: &str, why: &str) {
        println!("FAIL {name}: {why}");
        self.failed.push(format!("{name}: {why}"));
    }

    pub fn skip(&mut self, name: &str, why: &str) {
        println!("SKIP {name}: {why}");
        self.skipped.push(format!("{name}: {why}"));
    }

    /// Pass or fail from a step's result; returns whether it passed.
    pub fn record(&mut self, name: &str, r: Result<()>) -> bool {
        match r {
            Ok(()) => {
                self.pass(name);
                true
            }
            Err(e) => {
                self.fail(name, &format!("{e:#}"));
                false
            }
        }
    }

    /// Print what was skipped and what failed, then the summary line.
    pub fn finish(self) -> Result<()> {
        if !self.skipped.is_empty() {
            println!("\nskipped:");
            for s in &self.skipped {
                println!("  {s}");
            }
        }
        if !self.failed.is_empty() {
            println!("\nfailed:");
            for f in &self.failed {
                println!("  {f}");
            }
        }
        println!(
            "\n{} passed, {} failed, {} skipped",
            self.passed,
            self.failed.len(),
            self.skipped.len()
        );
        if !self.failed.is_empty() {
            bail!("{} check(s) failed", self.failed.len());
        }
        Ok(())
    }
}
