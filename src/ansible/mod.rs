//! The Ansible module contract, owned here for every binary.
//!
//! Ansible runs a binary module as `<module> <args-file>`; the file is one flat JSON object with
//! the task's arguments and `_ansible_*` keys. The module prints exactly one JSON object on
//! stdout. Ansible validates nothing for binary modules and does not know which options are
//! secret, so this module does what `AnsibleModule` does for Python modules: validation and
//! coercion ([`spec`]), check and diff mode flags, `invocation.module_args` with no_log values
//! masked ([`mask`]), and removal of every secret from the whole result ([`outcome`]).
//!
//! - [`error`]: `Error`, `Result`, `fail!`;
//! - [`choice`]: options whose value is one of a fixed set, as enums;
//! - [`spec`], [`docs`]: options declared once with their docs; the sidecar docs from them;
//! - [`mask`]: secrets out of every output, in every encoding;
//! - [`task`]: check mode, the task's deadline, warnings from below the module;
//! - [`outcome`]: the result and its rendering;
//! - [`module`]: the running module: its arguments validated, Ansible's flags, `invocation`;
//! - [`input`], [`runtime`]: the arguments file, the entry point, allocator and panic hook.

pub mod choice;
pub mod docs;
pub mod error;
pub mod input;
pub mod mask;
pub mod module;
pub mod outcome;
pub mod runtime;
pub mod spec;
pub mod task;

pub use choice::Choice;
pub use docs::{ModuleDoc, Ret};
pub use error::{Error, Result};
pub use input::{read_args, read_regular_file, MAX_ARGS_FILE};
pub use mask::{escape_text, mask_url_credentials, register_secret, scrub, scrub_text, SCRUBBED};
pub use module::{ansible_boolean, Module, ModuleDef, NO_LOG_PLACEHOLDER};
pub use outcome::{Diff, Outcome};
pub use runtime::{render, run_main, FailSafeAllocator};
pub use spec::{Kind, Opt, Params, Spec};
pub use task::{check_mode, task_timeout, warn};

#[cfg(test)]
mod tests;
