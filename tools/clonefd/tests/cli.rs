//! The `clonefd` command line: exit statuses, the `time -v` style and
//! JSON reports, -j N copies.

use std::process::{Command, Output};

use clonefd::Backend;

fn clonefd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clonefd"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn exit_status_and_report() {
    let output = clonefd(&["run", "--", "sh", "-c", "echo out; exit 7"]);
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(output.stdout, b"out\n"); // the command's own stdout
    let report = stderr(&output);
    for line in [
        "\tCommand being timed: \"sh -c echo out; exit 7\"\n",
        &format!("\tCreated with: {}\n", Backend::detect()),
        "\tMaximum resident set size (kbytes): ",
        "\tMinor (reclaiming a frame) page faults: ",
        "\tVoluntary context switches: ",
        "\tExit status: 7\n",
    ] {
        assert!(report.contains(line), "{line:?} not in:\n{report}");
    }
}

#[test]
fn killed_command_gives_128_plus_signal() {
    let output = clonefd(&["run", "sh", "-c", "kill -9 $$"]);
    assert_eq!(output.status.code(), Some(137));
    assert!(stderr(&output).starts_with("Command terminated by signal 9\n"));
}

#[test]
fn json_for_several_copies() {
    let output = clonefd(&["run", "--json", "-j", "3", "--", "sh", "-c", "exit 4"]);
    assert_eq!(output.status.code(), Some(4));
    let report = stderr(&output);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    let mut copies: Vec<&str> = Vec::new();
    for line in &lines {
        assert!(
            line.starts_with("{\"command\":[\"sh\",\"-c\",\"exit 4\"],"),
            "{line}"
        );
        assert!(line.contains("\"exit_code\":4,\"signal\":null,"), "{line}");
        assert!(line.contains(&format!("\"backend\":\"{}\"", Backend::detect().name())));
        assert!(line.ends_with('}'));
        let copy = line
            .split("\"copy\":")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        copies.push(copy);
    }
    copies.sort();
    assert_eq!(copies, ["0", "1", "2"]);
}

#[test]
fn report_to_a_file() {
    let path = std::env::temp_dir().join(format!("clonefd-cli-{}", std::process::id()));
    let output = clonefd(&["run", "-o", path.to_str().unwrap(), "--json", "true"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());
    let report = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(report.contains("\"exit_code\":0"), "{report}");
}

#[test]
fn errors_of_clonefd_itself() {
    assert_eq!(clonefd(&["run", "/nonexistent"]).status.code(), Some(127));
    assert_eq!(clonefd(&["run", "/etc/passwd"]).status.code(), Some(126));
    assert_eq!(clonefd(&["run"]).status.code(), Some(125));
    assert_eq!(clonefd(&["frobnicate"]).status.code(), Some(125));
    let help = clonefd(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8(help.stdout)
        .unwrap()
        .starts_with("usage: clonefd run"));
}

#[test]
fn backend_subcommand_and_forced_fallback() {
    let output = clonefd(&["backend"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with(Backend::detect().name()), "{text}");
    let output = clonefd(&["run", "--json", "--backend", "pidfd", "true"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("\"backend\":\"pidfd\""));
}

#[test]
fn an_unwritable_report_is_an_error_of_clonefd_not_a_panic() {
    // The report goes to stderr, here /dev/full (ENOSPC): clonefd's own
    // error (125), which it cannot print either, not a panic (101).
    for json in [false, true] {
        let mut args = vec!["run", "-j", "2"];
        if json {
            args.push("--json");
        }
        args.extend(["--", "true"]);
        let status = Command::new(env!("CARGO_BIN_EXE_clonefd"))
            .args(&args)
            .stderr(
                std::fs::File::options()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(125), "{args:?}");
    }
}
