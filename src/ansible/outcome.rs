//! A module's result and the one JSON object printed for it.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub before: Value,
    pub after: Value,
    pub before_header: Option<String>,
    pub after_header: Option<String>,
}

/// A module's result, success or failure with data (e.g. a bulk run where some entries failed).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub msg: Option<String>,
    pub diff: Option<Diff>,
    /// Module-specific return values.
    pub fields: Map<String, Value>,
}

impl Outcome {
    pub fn changed(changed: bool) -> Outcome {
        Outcome {
            changed,
            ..Outcome::default()
        }
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Outcome {
        self.fields.insert(key.to_string(), value.into());
        self
    }
    pub fn msg(mut self, msg: impl Into<String>) -> Outcome {
        self.msg = Some(msg.into());
        self
    }
    pub fn diff(mut self, diff: Diff) -> Outcome {
        self.diff = Some(diff);
        self
    }
    pub fn failed(mut self, msg: impl Into<String>) -> Outcome {
        self.failed = true;
        self.msg = Some(msg.into());
        self
    }
}
