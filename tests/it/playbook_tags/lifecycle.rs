//! The account tags of issue 19 (update-user-password as matrix-docker-ansible-deploy documents
//! it, deactivate-user, reactivate-user, lock-user, unlock-user), run with a real ansible-playbook
//! against a real Synapse whose background updates have run (a fresh one refuses reactivations:
//! docs/lifecycle-synapse.md). Each run is checked on Synapse itself: its admin API's record, a
//! password login, an access token taken before.

use super::ansible::{recap_has, secret_file_line, Ansible};
use crate::common::*;
use crate::synapse_lifecycle_facts::sqlite;

fn ansible(s: &Synapse) -> Ansible {
    Ansible::new(
        s,
        &format!(
            "{}\nmatrix_user_management_access_token={}",
            secret_file_line(&s.secret_file()),
            s.admin_token
        ),
    )
}

fn token_works(s: &Synapse, token: &str) -> bool {
    reqwest::blocking::Client::new()
        .get(format!("{}/_matrix/client/v3/account/whoami", s.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
        == 200
}

#[test]
fn update_user_password_tag_as_mdad_documents_it() {
    let s = sqlite();
    let a = ansible(s);
    let name = unique_user("alice");
    let old = random_secret("old-pw");
    let token = s.register_raw(&name, &old, false, false)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let new = random_secret("new-pw");
    // MDAD's line: --extra-vars='username=alice password=NEW' --tags=update-user-password
    let verbatim = format!("username={name} password={new}");
    let (code, out) = a.playbook(&[
        "--check",
        "--extra-vars",
        &verbatim,
        "--tags=update-user-password",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=1"), "{out}");
    assert!(s.can_login(&name, &old), "--check changed the password");

    let (code, out) = a.playbook(&[
        "-vvv",
        "--extra-vars",
        &verbatim,
        "--tags=update-user-password",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=1"), "{out}");
    assert!(s.can_login(&name, &new) && !s.can_login(&name, &old));
    assert!(
        token_works(s, &token),
        "sessions are kept, as MDAD's tag keeps them"
    );
    assert!(!out.contains(&s.admin_token), "admin token in -vvv output");

    let newer = random_secret("newer-pw");
    let ev = a.extra_vars(&[
        ("username", &name),
        ("password", &newer),
        ("logout_devices", "yes"),
    ]);
    let (code, out) = a.playbook(&["--tags=update-user-password", "--extra-vars", &ev]);
    assert_eq!(code, 0, "{out}");
    assert!(s.can_login(&name, &newer));
    assert!(
        !token_works(s, &token),
        "logout_devices=yes kept the session"
    );

    // A missing account is not created.
    let ghost = unique_user("ghost");
    let ev = a.extra_vars(&[("username", &ghost), ("password", &newer)]);
    let (code, out) = a.playbook(&["--tags=update-user-password", "--extra-vars", &ev]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("does not exist; nothing was created"), "{out}");
    assert!(s.user(&format!("@{ghost}:localhost")).is_none());
}

#[test]
fn account_tags_need_an_admin_and_say_which_variables_give_one() {
    let s = sqlite();
    let a = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let name = unique_user("noadmin");
    s.register_raw(&name, "noadmin-pw-1", false, true);
    for tag in ["update-user-password", "deactivate-user", "lock-user"] {
        let ev = a.extra_vars(&[("username", &name), ("password", "whatever-pw")]);
        let (code, out) = a.playbook(&[&format!("--tags={tag}"), "--extra-vars", &ev]);
        assert_ne!(code, 0, "{tag}: {out}");
        assert!(
            out.contains(&format!("{tag} acts as an admin"))
                && out.contains("matrix_user_management_access_token"),
            "{tag}: {out}"
        );
        assert_eq!(
            out.matches("fatal:").count(),
            1,
            "{tag}: reported once: {out}"
        );
    }
    let (code, out) = a.playbook(&[
        "--tags=reactivate-user",
        "--extra-vars",
        &format!("username={name}"),
    ]);
    assert_ne!(code, 0);
    assert!(
        out.contains(
            "reactivate-user needs --extra-vars='username=<name> password=<new password>'"
        ),
        "{out}"
    );
    assert_eq!(
        s.user(&format!("@{name}:localhost")).unwrap()["deactivated"],
        false
    );
}

#[test]
fn deactivate_reactivate_lock_and_unlock_tags() {
    let s = sqlite();
    let a = ansible(s);
    let name = unique_user("bob");
    let id = format!("@{name}:localhost");
    let pw = random_secret("bob-pw");
    let token = s.register_raw(&name, &pw, false, false)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let user = a.extra_vars(&[("username", &name)]);

    let (code, out) = a.playbook(&["--tags=lock-user", "--extra-vars", &user]);
    assert_eq!(code, 0, "{out}");
    assert!(recap_has(&out, "changed=1"), "{out}");
    assert_eq!(s.user(&id).unwrap()["locked"], true);
    assert!(!s.can_login(&name, &pw));
    let (code, out) = a.playbook(&["--tags=lock-user", "--extra-vars", &user]);
    assert!(code == 0 && recap_has(&out, "changed=0"), "{out}");
    let (code, out) = a.playbook(&["--tags=unlock-user", "--extra-vars", &user]);
    assert!(code == 0 && recap_has(&out, "changed=1"), "{out}");
    assert!(s.can_login(&name, &pw));

    let (code, out) = a.playbook(&[
        "--tags=deactivate-user",
        "--check",
        "--diff",
        "--extra-vars",
        &user,
    ]);
    assert!(code == 0 && recap_has(&out, "changed=1"), "{out}");
    assert!(
        out.contains("\"deactivated\": true"),
        "the diff shows it: {out}"
    );
    assert_eq!(s.user(&id).unwrap()["deactivated"], false, "--check wrote");
    let (code, out) = a.playbook(&["--tags=deactivate-user", "--extra-vars", &user]);
    assert!(code == 0 && recap_has(&out, "changed=1"), "{out}");
    assert_eq!(s.user(&id).unwrap()["deactivated"], true);
    assert!(!s.can_login(&name, &pw) && !token_works(s, &token));
    let (code, out) = a.playbook(&["--tags=deactivate-user", "--extra-vars", &user]);
    assert!(code == 0 && recap_has(&out, "changed=0"), "{out}");

    let back = random_secret("back-pw");
    let ev = a.extra_vars(&[("username", &name), ("password", &back)]);
    let (code, out) = a.playbook(&["--tags=reactivate-user", "--extra-vars", &ev]);
    assert!(code == 0 && recap_has(&out, "changed=1"), "{out}");
    assert_eq!(s.user(&id).unwrap()["deactivated"], false);
    assert!(s.can_login(&name, &back));
    assert!(!out.contains(&back));
}

/// list-users prints a table of what Synapse holds (its own records say which state each
/// account is in), filtered as asked.
#[test]
fn list_users_tag_prints_a_table_filtered_as_asked() {
    let s = sqlite();
    let a = ansible(s);
    let prefix = unique_user("lst");
    let (plain, locked, gone) = (
        format!("{prefix}-plain"),
        format!("{prefix}-locked"),
        format!("{prefix}-gone"),
    );
    for u in [&plain, &locked, &gone] {
        s.register_raw(u, "list-pw-123", false, true);
    }
    let ev = a.extra_vars(&[("username", &locked)]);
    assert_eq!(a.playbook(&["--tags=lock-user", "--extra-vars", &ev]).0, 0);
    let ev = a.extra_vars(&[("username", &gone)]);
    assert_eq!(
        a.playbook(&["--tags=deactivate-user", "--extra-vars", &ev])
            .0,
        0
    );

    let row = |out: &str, user: &str| -> Option<String> {
        let id = format!("@{user}:localhost");
        out.lines()
            .find(|l| l.contains(&id))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    let ev = a.extra_vars(&[("name", &prefix)]);
    let (code, out) = a.playbook(&["--tags=list-users", "--extra-vars", &ev]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("USER") && out.contains("STATE"), "{out}");
    for (user, state) in [
        (&plain, "active"),
        (&locked, "locked"),
        (&gone, "deactivated"),
    ] {
        let r = row(&out, user).unwrap_or_else(|| panic!("{user} not listed: {out}"));
        assert!(r.contains(&format!("no regular {state}")), "{user}: {r}");
        let rec = s.user(&format!("@{user}:localhost")).unwrap();
        assert_eq!(rec["locked"] == true, state == "locked", "{rec}");
        assert_eq!(rec["deactivated"] == true, state == "deactivated", "{rec}");
    }
    assert!(out.contains("3 account(s)"), "{out}");

    let ev = a.extra_vars(&[("name", &prefix), ("locked", "yes")]);
    let (code, out) = a.playbook(&["--tags=list-users", "--extra-vars", &ev]);
    assert_eq!(code, 0, "{out}");
    assert!(
        row(&out, &locked).is_some() && row(&out, &plain).is_none(),
        "{out}"
    );
    assert!(!out.contains(&s.admin_token));

    let bare = Ansible::new(s, &secret_file_line(&s.secret_file()));
    let (code, out) = bare.playbook(&["--tags=list-users"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("list-users reads the accounts with an admin's rights"),
        "{out}"
    );
}
