//! Sequential spawn + wait of a program (`/bin/true` by default): the time
//! per child with clonefd on each backend the kernel has, and with
//! `std::process::Command` (posix_spawn + waitpid) for comparison.
//!
//! ```text
//! cargo run --release --example spawn_latency [COUNT [PROGRAM]]
//! ```

use std::io;
use std::time::{Duration, Instant};

use clonefd::Backend;

/// Runs `spawn_and_wait` `count` times: (mean spawn time, mean total).
fn measure(
    count: u32,
    mut spawn_and_wait: impl FnMut() -> io::Result<(Duration, bool)>,
) -> io::Result<(Duration, Duration)> {
    let mut spawning = Duration::ZERO;
    let start = Instant::now();
    for _ in 0..count {
        let (spawn_time, success) = spawn_and_wait()?;
        assert!(success, "the child failed");
        spawning += spawn_time;
    }
    Ok((spawning / count, start.elapsed() / count))
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u32 = args.next().map_or(200, |n| n.parse().expect("COUNT"));
    let program = args.next().unwrap_or_else(|| "/bin/true".into());
    println!(
        "{count} × {program}, one at a time; kernel backend: {}",
        Backend::detect()
    );

    for backend in Backend::available() {
        let (spawn, total) = measure(count, || {
            let start = Instant::now();
            let mut child = clonefd::Command::new(&program).backend(backend).spawn()?;
            let spawn_time = start.elapsed();
            Ok((spawn_time, child.wait()?.success()))
        })?;
        println!("clonefd, {backend:<30} spawn {spawn:>10.1?}  spawn+wait {total:>10.1?}");
    }
    let (spawn, total) = measure(count, || {
        let start = Instant::now();
        let mut child = std::process::Command::new(&program).spawn()?;
        let spawn_time = start.elapsed();
        Ok((spawn_time, child.wait()?.success()))
    })?;
    println!(
        "{:<39} spawn {spawn:>10.1?}  spawn+wait {total:>10.1?}",
        "std::process"
    );
    Ok(())
}
