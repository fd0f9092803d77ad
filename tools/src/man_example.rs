//! The man page's EXAMPLES program: extracted from man/man2/clone4.2,
//! compiled against the patched UAPI headers, run in the guest (suite
//! `man-example` of ci/guest-tests.sh), its output checked here.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

use crate::ktap::Suite;
use crate::project::{cmd, run, Project};
use crate::tally::Tally;

pub const PAGE: &str = "man/man2/clone4.2";

/// What ci/guest-tests.sh feeds the program on standard input (`echo`
/// adds a newline).
const STDIN_TEXT: &str = "hello";

/// The program text: the first `.EX`..`.EE` block after `.SH EXAMPLES`,
/// with the roff escapes the page uses undone.
pub fn extract(page: &str) -> Result<String> {
    let page = format!("\n{page}");
    let examples = page
        .split_once("\n.SH EXAMPLES\n")
        .map(|(_, rest)| rest)
        .context("the page has no EXAMPLES section")?;
    let section = examples.split("\n.SH ").next().unwrap_or(examples);
    let (_, from_ex) = section
        .split_once("\n.EX\n")
        .context("EXAMPLES has no .EX block")?;
    let (code, _) = from_ex
        .split_once("\n.EE")
        .context("EXAMPLES has an .EX without .EE")?;
    let mut out = String::new();
    for line in code.lines() {
        let line = if line == "\\&" { "" } else { line };
        out.push_str(&unescape(line));
        out.push('\n');
    }
    Ok(out)
}

fn unescape(line: &str) -> String {
    line.replace("\\-", "-")
        .replace("\\e", "\\")
        .replace("\\&", "")
}

/// Where the compiled program goes.
pub fn binary(p: &Project) -> PathBuf {
    p.path("build/man-example/clone4_example")
}

/// Extract and compile the program (-Wall -Wextra -Werror).
pub fn build(p: &Project) -> Result<()> {
    let page = std::fs::read_to_string(p.path(PAGE))?;
    let source = p.path("build/man-example/clone4_example.c");
    std::fs::create_dir_all(source.parent().unwrap())?;
    std::fs::write(&source, extract(&page)?)?;
    run(cmd("cc", &["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(binary(p))
        .arg("-isystem")
        .arg(p.uapi_include())
        .arg(&source))
    .context("the EXAMPLES program does not compile")
}

/// The guest output of the program must be what the page says it prints.
pub fn check_output(s: &Suite, t: &mut Tally) {
    let name = "man page EXAMPLES program runs as the page says (guest)";
    match expected_output(s) {
        Ok(()) => t.pass(name),
        Err(e) => t.fail(name, &format!("{e:#}")),
    }
}

fn expected_output(s: &Suite) -> Result<()> {
    if s.exit != Some(0) {
        bail!("exit status {:?}, output {:?}", s.exit, s.lines);
    }
    let stdin_line = format!("stdin: read {} bytes", STDIN_TEXT.len() + 1);
    let lines: Vec<&str> = s.lines.iter().map(String::as_str).collect();
    let child = lines.iter().position(|l| is_child_line(l));
    match (lines.iter().position(|l| *l == stdin_line), child) {
        (Some(i), Some(j)) if i < j => {}
        _ => bail!("want {stdin_line:?}, then `child <pid> exited with status 3`; got {lines:?}"),
    }
    let after = &lines[child.unwrap() + 1..];
    if !after
        .first()
        .is_some_and(|l| number_after(l, "utime_ns ", ""))
    {
        bail!("no `utime_ns <n>` line after the child's: {lines:?}");
    }
    if !after
        .get(1)
        .is_some_and(|l| number_after(l, "maxrss ", " KiB"))
    {
        bail!("no `maxrss <n> KiB` line: {lines:?}");
    }
    Ok(())
}

fn is_child_line(l: &str) -> bool {
    l.strip_prefix("child ")
        .and_then(|r| r.strip_suffix(" exited with status 3"))
        .is_some_and(|pid| pid.parse::<u32>().is_ok_and(|n| n > 1))
}

fn number_after(l: &str, prefix: &str, suffix: &str) -> bool {
    l.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(|n| n.parse::<u64>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ktap;

    const PAGE_TEXT: &str = ".SH EXAMPLES\ntext\n.EX\nint\nmain(void)\n{\n\\&\n    \
                             printf(\"%d\\en\", \\-1);\n}\n.EE\n.SH SEE ALSO\n.EX\nno\n.EE\n";

    #[test]
    fn extracts_and_unescapes_the_program() {
        assert_eq!(
            extract(PAGE_TEXT).unwrap(),
            "int\nmain(void)\n{\n\n    printf(\"%d\\n\", -1);\n}\n"
        );
        assert!(extract(".SH NAME\n.EX\nx\n.EE\n").is_err());
    }

    fn verdict(out: &str) -> bool {
        let suites = ktap::parse(out);
        expected_output(&suites[0]).is_ok()
    }

    #[test]
    fn output_must_match_the_page() {
        let good = "# c4-suite: man-example\nstdin: read 6 bytes\nchild 77 exited with status 3\n\
                    utime_ns 12\nmaxrss 900 KiB\n# c4-exit: 0\n";
        assert!(verdict(good));
        assert!(!verdict(&good.replace("status 3", "status 4")));
        assert!(!verdict(&good.replace("# c4-exit: 0", "# c4-exit: 1")));
        assert!(!verdict(&good.replace("stdin: read 6 bytes\n", "")));
        assert!(!verdict(&good.replace("maxrss 900 KiB\n", "")));
    }
}
