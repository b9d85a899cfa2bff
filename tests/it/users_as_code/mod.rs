//! Users as code (issue 20): the tags `ensure-matrix-users-created` and `ensure-users-created`,
//! run from a checkout against inventories shaped like matrix-docker-ansible-deploy's (MDAD):
//! its `matrix_user_creator_users_auto` (computed from its bots' settings as MDAD's group_vars
//! compute it, or set as a list) and `matrix_user_creator_users_additional`, plus this role's
//! `matrix_user_management_users`. Every run is checked on the server itself: its admin API (or
//! database), logins, and its request log.

mod dendrite;
mod mas;
mod options;
mod synapse;

/// A YAML flow mapping line item (JSON is YAML).
pub(super) fn item(v: serde_json::Value) -> String {
    format!("  - {v}\n")
}

/// The plan lines the tag printed (its debug task's list).
pub(super) fn plan_of(out: &str) -> String {
    out.lines()
        .filter(|l| {
            let l = l.trim_start().trim_start_matches('"');
            [
                "to ",
                "created",
                "made",
                "admin rights",
                "passwords",
                "locked",
                "unlocked",
                "deactivated",
                "reactivated",
                "failed",
                "unchanged",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
