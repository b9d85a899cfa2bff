//! The test harness, shared by every module of the integration-test binary (tests/it/): real
//! servers started by `tests/servers/*.sh` on 127.0.0.1 and stopped by PID, a FAKE only where no
//! registry ships the server (MAS), the module binaries run the way Ansible runs them, and state
//! read back from the servers. One concern per file:
//!
//! | file | owns |
//! |---|---|
//! | `library.rs` | the only uses of the crate's API (`matrix_users::...`) |
//! | `util.rs` | the checkout, the server cache, free ports, unique names, task arguments |
//! | `module.rs` | the module runner: args file, one JSON object out, deadlines |
//! | `synapse.rs` | Synapse: SQLite, PostgreSQL, token registration, MAS delegation |
//! | `dendrite.rs` | Dendrite on SQLite and PostgreSQL, the shared pair, `on_both_databases!` |
//! | `mreg.rs` | matrix-registration 0.7 and 0.9 in front of a Synapse |
//! | `postgres.rs` | a throwaway PostgreSQL cluster, its databases, `psql` |
//! | `fake_mas.rs` | the FAKE Matrix Authentication Service |
//! | `fakes.rs` | the FAKE tuwunel and continuwuity |
//! | `hostile.rs` | small hostile HTTP(S) servers that record what they get |
//! | `collection.rs` | the built collection, installed |
//! | `operator.rs` | an operator's checkout and MDAD inventory, and the commands they type |

pub mod collection;
pub mod dendrite;
pub mod fake_mas;
pub mod fakes;
pub mod hostile;
pub mod library;
pub mod module;
pub mod mreg;
pub mod operator;
pub mod postgres;
pub mod ssh_host;
pub mod synapse;
pub mod util;

pub use library::urlenc;
pub use module::{module_bin, run_module, run_module_with, run_raw, Run};
pub use mreg::Mreg;
pub use synapse::Synapse;
pub use util::{cache_dir, free_port, merged, now_ms, random_secret, repo, unique_user};
