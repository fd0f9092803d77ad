//! Counting checks and printing the closing `N passed, N failed, N skipped`.

use anyhow::{bail, Result};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Tally {
    passed: usize,
    failed: Vec<String>,
    skipped: Vec<String>,
    /// Finished phases and how long each took.
    phases: Vec<(String, Duration)>,
    /// The phase running now, since when.
    current: Option<(String, Instant)>,
}

/// `1h02m03s`, `4m05s` or `6s`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, sec) => format!("{h}h{min:02}m{sec:02}s"),
    }
}

impl Tally {
    /// How many checks failed so far.
    #[cfg(test)]
    pub fn failed(&self) -> usize {
        self.failed.len()
    }

    /// Starts phase `name` (and ends the one before): the summary ends
    /// with the time each phase took.
    pub fn phase(&mut self, name: &str) {
        self.end_phase();
        println!("==> phase: {name}");
        self.current = Some((name.to_string(), Instant::now()));
    }

    fn end_phase(&mut self) {
        if let Some((name, start)) = self.current.take() {
            let took = start.elapsed();
            println!("==> phase {name} took {}", duration_text(took));
            self.phases.push((name, took));
        }
    }

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
    pub fn finish(mut self) -> Result<()> {
        self.end_phase();
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
        if !self.phases.is_empty() {
            let total: Duration = self.phases.iter().map(|(_, d)| *d).sum();
            let parts: Vec<String> = self
                .phases
                .iter()
                .map(|(name, d)| format!("{name} {}", duration_text(*d)))
                .collect();
            println!(
                "\ntimings: {} (total {})",
                parts.join(", "),
                duration_text(total)
            );
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

#[cfg(test)]
mod tests {
    use super::duration_text;
    use std::time::Duration;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(duration_text(Duration::from_secs(6)), "6s");
        assert_eq!(duration_text(Duration::from_secs(245)), "4m05s");
        assert_eq!(duration_text(Duration::from_secs(3723)), "1h02m03s");
    }
}
