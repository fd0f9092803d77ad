//! `clonefd`: run a command as a CLONE_FD child and report how it ended
//! and what it used, like GNU `time -v`; `clonefd --help` tells more.

mod args;
mod epoll;
mod json;
mod process_state;
mod report;
mod run_copies;

use std::process::ExitCode;

use args::{Action, USAGE};

fn main() -> ExitCode {
    let action = match args::parse(std::env::args_os().skip(1)) {
        Ok(action) => action,
        Err(err) => {
            run_copies::complain(format_args!("{err}\n{USAGE}"));
            return ExitCode::from(run_copies::INTERNAL_ERROR);
        }
    };
    match action {
        Action::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Action::Backend => {
            let backend = clonefd::Backend::detect();
            println!("{} ({backend})", backend.name());
            ExitCode::SUCCESS
        }
        Action::Run(run) => ExitCode::from(run_copies::run(&run)),
    }
}
