//! What `clonefd run` prints about a copy that ended: the lines of GNU
//! `time -v` that the CLONE_FD figures fill in, or a JSON object.

use std::ffi::OsString;
use std::fmt::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use clonefd::{Backend, ExitInfo};

use crate::json;

/// A copy of the command that ended.
pub struct Finished {
    /// 0-based, of `copies`.
    pub copy: usize,
    pub copies: usize,
    pub pid: u32,
    pub backend: Backend,
    pub info: ExitInfo,
    /// From spawn to the exit being seen.
    pub elapsed: Duration,
}

/// The exit status a shell would give: the code, or 128 + the signal.
pub fn shell_status(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 125,
    }
}

fn command_line(command: &[OsString]) -> String {
    command
        .iter()
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

fn seconds(d: Duration) -> String {
    format!("{}.{:02}", d.as_secs(), d.subsec_millis() / 10)
}

/// GNU time's wall clock format: h:mm:ss, or m:ss.cc under an hour.
fn wall_clock(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}.{:02}", d.subsec_millis() / 10)
    }
}

fn cpu_percent(cpu: Duration, elapsed: Duration) -> String {
    if elapsed.is_zero() {
        return "?%".into();
    }
    format!("{:.0}%", cpu.as_secs_f64() * 100.0 / elapsed.as_secs_f64())
}

/// The `time -v` style report.
pub fn human(command: &[OsString], done: &Finished) -> String {
    let status = done.info.status;
    let usage = &done.info.rusage;
    let mut out = String::new();
    if let Some(signal) = status.signal() {
        let _ = writeln!(out, "Command terminated by signal {signal}");
    }
    let _ = writeln!(out, "\tCommand being timed: \"{}\"", command_line(command));
    if done.copies > 1 {
        let _ = writeln!(out, "\tCopy: {} of {}", done.copy + 1, done.copies);
    }
    let _ = writeln!(out, "\tProcess id: {}", done.pid);
    let _ = writeln!(out, "\tCreated with: {}", done.backend);
    let _ = writeln!(out, "\tUser time (seconds): {}", seconds(usage.user_time));
    let _ = writeln!(
        out,
        "\tSystem time (seconds): {}",
        seconds(usage.system_time)
    );
    let _ = writeln!(
        out,
        "\tPercent of CPU this job got: {}",
        cpu_percent(usage.user_time + usage.system_time, done.elapsed)
    );
    let _ = writeln!(
        out,
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): {}",
        wall_clock(done.elapsed)
    );
    let _ = writeln!(
        out,
        "\tMaximum resident set size (kbytes): {}",
        usage.max_rss_kib
    );
    let _ = writeln!(
        out,
        "\tMajor (requiring I/O) page faults: {}",
        usage.major_faults
    );
    let _ = writeln!(
        out,
        "\tMinor (reclaiming a frame) page faults: {}",
        usage.minor_faults
    );
    let _ = writeln!(
        out,
        "\tVoluntary context switches: {}",
        usage.voluntary_context_switches
    );
    let _ = writeln!(
        out,
        "\tInvoluntary context switches: {}",
        usage.involuntary_context_switches
    );
    // As GNU time: the exit code, 0 after a signal (reported above).
    let _ = writeln!(out, "\tExit status: {}", status.code().unwrap_or(0));
    out
}

/// One JSON object (one line, no newline).
pub fn json(command: &[OsString], done: &Finished) -> String {
    let status = done.info.status;
    let usage = &done.info.rusage;
    let args: Vec<String> = command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    json::Object::new()
        .strings("command", args.iter().map(String::as_str))
        .number("copy", done.copy as u64)
        .number("pid", done.pid)
        .string("backend", done.backend.name())
        .signed("exit_code", status.code())
        .signed("signal", status.signal())
        .boolean("core_dumped", status.core_dumped())
        .number("elapsed_ns", done.elapsed.as_nanos())
        .number("user_time_ns", usage.user_time.as_nanos())
        .number("system_time_ns", usage.system_time.as_nanos())
        .number("max_rss_kib", usage.max_rss_kib)
        .number("minor_faults", usage.minor_faults)
        .number("major_faults", usage.major_faults)
        .number(
            "voluntary_context_switches",
            usage.voluntary_context_switches,
        )
        .number(
            "involuntary_context_switches",
            usage.involuntary_context_switches,
        )
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clonefd::Rusage;

    fn finished(raw_status: i32) -> Finished {
        Finished {
            copy: 1,
            copies: 2,
            pid: 42,
            backend: Backend::CloneFd,
            info: ExitInfo {
                status: ExitStatus::from_raw(raw_status),
                rusage: Rusage {
                    user_time: Duration::from_millis(1250),
                    system_time: Duration::from_millis(250),
                    max_rss_kib: 2048,
                    minor_faults: 100,
                    major_faults: 1,
                    voluntary_context_switches: 7,
                    involuntary_context_switches: 3,
                },
            },
            elapsed: Duration::from_secs(3),
        }
    }

    #[test]
    fn shell_statuses() {
        assert_eq!(shell_status(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(shell_status(ExitStatus::from_raw(9)), 137);
    }

    #[test]
    fn time_v_lines() {
        let command = [
            OsString::from("sh"),
            OsString::from("-c"),
            OsString::from("exit 3"),
        ];
        let text = human(&command, &finished(3 << 8));
        assert!(
            text.starts_with("\tCommand being timed: \"sh -c exit 3\"\n"),
            "{text}"
        );
        for line in [
            "\tCopy: 2 of 2\n",
            "\tProcess id: 42\n",
            "\tUser time (seconds): 1.25\n",
            "\tSystem time (seconds): 0.25\n",
            "\tPercent of CPU this job got: 50%\n",
            "\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:03.00\n",
            "\tMaximum resident set size (kbytes): 2048\n",
            "\tMajor (requiring I/O) page faults: 1\n",
            "\tMinor (reclaiming a frame) page faults: 100\n",
            "\tVoluntary context switches: 7\n",
            "\tInvoluntary context switches: 3\n",
            "\tExit status: 3\n",
        ] {
            assert!(text.contains(line), "{line:?} not in {text}");
        }
        let killed = human(&command, &finished(9));
        assert!(
            killed.starts_with("Command terminated by signal 9\n"),
            "{killed}"
        );
        assert!(killed.contains("\tExit status: 0\n"));
    }

    #[test]
    fn wall_clock_formats() {
        assert_eq!(wall_clock(Duration::from_millis(61_230)), "1:01.23");
        assert_eq!(wall_clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn json_record() {
        let command = [OsString::from("true")];
        let text = json(&command, &finished(9));
        assert_eq!(
            text,
            "{\"command\":[\"true\"],\"copy\":1,\"pid\":42,\"backend\":\"clonefd\",\
             \"exit_code\":null,\"signal\":9,\"core_dumped\":false,\
             \"elapsed_ns\":3000000000,\"user_time_ns\":1250000000,\
             \"system_time_ns\":250000000,\"max_rss_kib\":2048,\"minor_faults\":100,\
             \"major_faults\":1,\"voluntary_context_switches\":7,\
             \"involuntary_context_switches\":3}"
        );
    }
}
