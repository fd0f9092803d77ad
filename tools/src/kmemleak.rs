//! kmemleak's report after the guest tests: every object it calls
//! unreferenced fails the check, unless ci/kmemleak-accepted.txt lists a
//! function of its allocation backtrace with the reason (a leak of the
//! base kernel, not of the series).

use anyhow::Result;

use crate::ktap::Suite;
use crate::project::Project;
use crate::tally::Tally;

const ACCEPTED: &str = "ci/kmemleak-accepted.txt";
const PREFIX: &str = "kmemleak: ";
const END: &str = "end of report";
const LABEL: &str = "kmemleak: no leak after the guest tests";

/// One `unreferenced object` of the report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leak {
    /// `0xffff... (size N)`.
    pub object: String,
    /// The task that allocated it (`comm "NAME", pid N, ...`).
    pub comm: String,
    /// The functions of its allocation backtrace, innermost first.
    pub backtrace: Vec<String>,
}

impl Leak {
    /// The object, its task and the first frames past the allocator's own.
    fn describe(&self) -> String {
        let frames: Vec<&str> = self
            .backtrace
            .iter()
            .map(String::as_str)
            .filter(|f| !is_allocator_frame(f))
            .take(6)
            .collect();
        format!("{} [{}]: {}", self.object, self.comm, frames.join(" < "))
    }
}

/// Frames every backtrace starts with: kmemleak's and the allocators'.
fn is_allocator_frame(function: &str) -> bool {
    [
        "kmemleak_",
        "kmalloc",
        "__kmalloc",
        "kmem_cache_alloc",
        "slab_",
        "__alloc",
    ]
    .iter()
    .any(|p| function.starts_with(p))
}

/// The function of a backtrace line: `[<ffff...>] name+0x1a/0x40`.
fn frame_function(line: &str) -> Option<String> {
    let (_, after) = line.trim().split_once("] ")?;
    let name = after.split('+').next()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The leaks of the report's lines (without their prefix).
pub fn parse(lines: &[&str]) -> Vec<Leak> {
    let mut leaks: Vec<Leak> = Vec::new();
    let mut in_backtrace = false;
    for line in lines {
        if let Some(object) = line.strip_prefix("unreferenced object ") {
            leaks.push(Leak {
                object: object.trim_end_matches(':').to_string(),
                ..Leak::default()
            });
            in_backtrace = false;
            continue;
        }
        let Some(leak) = leaks.last_mut() else {
            continue;
        };
        let trimmed = line.trim();
        if let Some(comm) = trimmed.strip_prefix("comm ") {
            leak.comm = comm.to_string();
        } else if trimmed.starts_with("backtrace") {
            in_backtrace = true;
        } else if in_backtrace {
            leak.backtrace.extend(frame_function(trimmed));
        }
    }
    leaks
}

/// `FUNCTION REASON...` lines of the accepted list; `#` starts a comment.
fn accepted(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The suite's report lines, if it printed its end marker.
fn report_lines(s: &Suite) -> Option<Vec<&str>> {
    let lines: Vec<&str> = s
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix(PREFIX))
        .collect();
    (lines.last() == Some(&END)).then_some(lines)
}

/// Counts the check: the scan ran and found nothing that is not accepted.
pub fn check(p: &Project, s: &Suite, t: &mut Tally) -> Result<()> {
    let accepted = accepted(&std::fs::read_to_string(p.path(ACCEPTED))?);
    let Some(lines) = report_lines(s).filter(|_| s.exit == Some(0)) else {
        let said: Vec<&str> = s.lines.iter().map(String::as_str).take(3).collect();
        t.fail(
            LABEL,
            &format!(
                "the scan did not run (exit {:?}): {}",
                s.exit,
                said.join("; ")
            ),
        );
        return Ok(());
    };
    let leaks = parse(&lines);
    let (known, new): (Vec<&Leak>, Vec<&Leak>) = leaks
        .iter()
        .partition(|l| l.backtrace.iter().any(|f| accepted.contains(f)));
    println!(
        "    kmemleak: {} objects reported, {} of them accepted ({ACCEPTED})",
        leaks.len(),
        known.len()
    );
    println!("    figure: leaks.kmemleak={}", new.len());
    if new.is_empty() {
        t.pass(LABEL);
    } else {
        for leak in &new {
            println!("    kmemleak: {}", leak.describe());
        }
        t.fail(
            LABEL,
            &format!(
                "{} unreferenced objects, first: {}",
                new.len(),
                new[0].describe()
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
unreferenced object 0xffff888005d1e300 (size 128):
  comm \"clone4-selftest\", pid 231, jiffies 4294903221
  hex dump (first 32 bytes):
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
  backtrace (crc 5e3a5ab1):
    [<ffffffff8145a6c3>] kmemleak_alloc+0x43/0x80
    [<ffffffff81412d7e>] __kmalloc_cache_noprof+0x1ee/0x300
    [<ffffffff81123456>] clonefd_create+0x56/0x200
    [<ffffffff81110000>] copy_process+0x1000/0x2000
unreferenced object 0xffff888005d1e400 (size 64):
  comm \"swapper/0\", pid 1, jiffies 4294892296
  backtrace (crc 1):
    [<ffffffff8145a6c3>] kmemleak_alloc+0x43/0x80
    [<ffffffff81999999>] some_init_leak+0x10/0x20
";

    fn lines() -> Vec<&'static str> {
        REPORT.lines().collect()
    }

    #[test]
    fn parses_objects_tasks_and_backtraces() {
        let leaks = parse(&lines());
        assert_eq!(leaks.len(), 2);
        assert_eq!(leaks[0].object, "0xffff888005d1e300 (size 128)");
        assert!(leaks[0].comm.starts_with("\"clone4-selftest\""));
        assert_eq!(
            leaks[0].backtrace,
            [
                "kmemleak_alloc",
                "__kmalloc_cache_noprof",
                "clonefd_create",
                "copy_process"
            ]
        );
        assert!(leaks[0]
            .describe()
            .contains("clonefd_create < copy_process"));
        assert!(!leaks[0].describe().contains("kmemleak_alloc"));
    }

    #[test]
    fn an_accepted_function_covers_its_report_only() {
        let list = accepted("# comment\nsome_init_leak  the base kernel leaks it at boot\n");
        assert_eq!(list, ["some_init_leak"]);
        let leaks = parse(&lines());
        let new: Vec<&Leak> = leaks
            .iter()
            .filter(|l| !l.backtrace.iter().any(|f| list.contains(f)))
            .collect();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].backtrace[2], "clonefd_create");
    }

    /// A scan cut short (no end marker) is not an empty report.
    #[test]
    fn a_report_without_its_end_is_no_report() {
        let mut s = Suite {
            exit: Some(0),
            lines: vec!["kmemleak: unreferenced object 0x1 (size 8):".into()],
            ..Suite::default()
        };
        assert!(report_lines(&s).is_none());
        s.lines.push(format!("{PREFIX}{END}"));
        assert_eq!(report_lines(&s).map(|l| l.len()), Some(2));
    }
}
