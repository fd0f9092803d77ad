//! The command line: `clonefd run [OPTIONS] [--] CMD ARGS...`.

use std::ffi::OsString;
use std::path::PathBuf;

use clonefd::Backend;

pub const USAGE: &str = "\
usage: clonefd run [--kill-on-close] [--json] [-j N] [-o FILE] [--backend clonefd|pidfd] [--] CMD [ARGS...]
       clonefd backend
       clonefd --help

run      Runs CMD (N copies at once with -j N), and prints on stderr (or
         in FILE) how each ended and its resource usage, like GNU time -v,
         or one JSON object per line with --json. The copies are collected
         through one epoll loop on their CLONE_FD descriptors (pidfds on
         kernels without CLONE_FD). Exits with the status of the first copy
         that failed (128+N if killed by signal N), else 0; 127 if CMD was
         not found, 126 if it could not be run, 125 on other errors.
         --kill-on-close: the copies are killed if clonefd dies. With
         CLONE_FD and without CAP_SYS_ADMIN this sets no_new_privs (the
         kernel's condition), so CMD cannot gain privileges through
         set-user-ID programs.
backend  Prints which kernel interface this kernel offers.
";

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Help,
    Backend,
    Run(RunArgs),
}

#[derive(Debug, PartialEq, Eq)]
pub struct RunArgs {
    pub kill_on_close: bool,
    pub json: bool,
    pub copies: usize,
    pub output: Option<PathBuf>,
    pub backend: Option<Backend>,
    pub command: Vec<OsString>,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Action, String> {
    let mut args = args.into_iter();
    let Some(sub) = args.next() else {
        return Err("no subcommand".into());
    };
    match sub.to_str() {
        Some("-h" | "--help" | "help") => Ok(Action::Help),
        Some("backend") => Ok(Action::Backend),
        Some("run") => parse_run(args).map(Action::Run),
        _ => Err(format!("unknown subcommand {sub:?}")),
    }
}

fn parse_run(mut args: impl Iterator<Item = OsString>) -> Result<RunArgs, String> {
    let mut run = RunArgs {
        kill_on_close: false,
        json: false,
        copies: 1,
        output: None,
        backend: None,
        command: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let text = arg.to_str().unwrap_or("");
        match text {
            "--" => break,
            "--kill-on-close" => run.kill_on_close = true,
            "--json" => run.json = true,
            "-j" | "--jobs" => {
                let value = value_of(text, args.next())?;
                run.copies = value
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| format!("{text} needs a positive number, not {value:?}"))?;
            }
            "-o" | "--output" => run.output = Some(value_of(text, args.next())?.into()),
            "--backend" => {
                let value = value_of(text, args.next())?;
                run.backend = Some(
                    Backend::from_name(&value)
                        .ok_or_else(|| format!("unknown backend {value:?}"))?,
                );
            }
            _ if text.starts_with('-') && text.len() > 1 => {
                return Err(format!("unknown option {text}"))
            }
            _ => {
                run.command.push(arg);
                break;
            }
        }
    }
    run.command.extend(args);
    if run.command.is_empty() {
        return Err("no command to run".into());
    }
    Ok(run)
}

fn value_of(option: &str, value: Option<OsString>) -> Result<String, String> {
    value
        .and_then(|v| v.into_string().ok())
        .ok_or_else(|| format!("{option} needs a value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Action, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn run_with_options_and_separator() {
        let Action::Run(run) = parse_strs(&[
            "run",
            "--kill-on-close",
            "--json",
            "-j",
            "4",
            "-o",
            "f",
            "--backend",
            "pidfd",
            "--",
            "sh",
            "-c",
            "exit 1",
        ])
        .unwrap() else {
            panic!()
        };
        assert!(run.kill_on_close && run.json);
        assert_eq!(run.copies, 4);
        assert_eq!(run.output, Some(PathBuf::from("f")));
        assert_eq!(run.backend, Some(Backend::Pidfd));
        assert_eq!(run.command, ["sh", "-c", "exit 1"]);
    }

    #[test]
    fn command_options_are_not_ours() {
        let Action::Run(run) = parse_strs(&["run", "ls", "-l", "--json"]).unwrap() else {
            panic!()
        };
        assert!(!run.json);
        assert_eq!(run.command, ["ls", "-l", "--json"]);
    }

    #[test]
    fn errors() {
        assert!(parse_strs(&[]).is_err());
        assert!(parse_strs(&["walk"]).is_err());
        assert!(parse_strs(&["run"]).is_err());
        assert!(parse_strs(&["run", "--"]).is_err());
        assert!(parse_strs(&["run", "-j", "0", "true"]).is_err());
        assert!(parse_strs(&["run", "-j"]).is_err());
        assert!(parse_strs(&["run", "--bogus", "true"]).is_err());
        assert!(parse_strs(&["run", "--backend", "fork", "true"]).is_err());
        assert_eq!(parse_strs(&["--help"]), Ok(Action::Help));
        assert_eq!(parse_strs(&["backend"]), Ok(Action::Backend));
    }
}
