//! `c4 run` (make run): from a fresh clone to the demo in a booted guest.

use anyhow::{bail, Result};

use crate::project::Project;
use crate::vm::{Vm, DEFAULT_TIMEOUT};
use crate::{kernel, man_example, series, setup, testbuild};

/// What `boot` runs when no command is given.
pub fn demo_command(_p: &Project) -> String {
    "bash ci/demo.sh".to_string()
}

pub fn main_job(p: &Project) -> Result<()> {
    setup::ensure(p)?;
    series::apply(p, false)?;
    kernel::build(p)?;
    testbuild::build_selftests(p)?;
    testbuild::build_clonefd_crate(p)?;
    man_example::build(p)?;
    let e = Vm::new(p)?.run("demo", &demo_command(p), DEFAULT_TIMEOUT)?;
    if e.exit_code() != 0 {
        bail!("the demo failed in the guest: {e:?}");
    }
    Ok(())
}
