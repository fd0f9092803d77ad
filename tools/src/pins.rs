//! `ci/pins`: the pinned inputs (kernel base, tool versions).

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

pub struct Pins(BTreeMap<String, String>);

impl Pins {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut map = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .with_context(|| format!("{}:{}: expected KEY=VALUE", path.display(), n + 1))?;
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(Pins(map))
    }

    /// A pinned value; a missing key is a bug in `ci/pins`.
    pub fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("ci/pins has no {key}"))
    }
}
