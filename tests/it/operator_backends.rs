//! The operators' command lines (`just register-user ...`, `just update-user-admin ...`, the token
//! recipes) on the other account backends, run from a checkout against an inventory shaped like a
//! matrix-docker-ansible-deploy (MDAD) one:
//!
//! - Matrix Authentication Service: MDAD's `matrix_authentication_service_enabled: true` makes every
//!   tag use MAS. The MAS here is **a fake** (`tests/servers/fake_mas.py`, see docs/mas-fake.md): no
//!   registry this project reaches has MAS, so these tests show that the role drives MAS's admin
//!   API as recorded from a real MAS 1.22, not that a real MAS accepts it.
//! - Dendrite on PostgreSQL (real Dendrite from the Go module proxy, real PostgreSQL from Debian):
//!   update-user-admin has no API there, so the tag writes `userapi_accounts.account_type`
//!   through MDAD's Postgres, reached as MDAD's superuser on the port
//!   `postgres_container_postgres_bind_port` publishes.
//! - Synapse on PostgreSQL (real Synapse from PyPI): the same database path on request
//!   (`matrix_user_management_user_admin_backend: database`), writing `users.admin`.
//!
//! State is checked on the servers (MAS's admin API, SQL), not only in what the tags print.

use crate::common::dendrite::Dendrite;
use crate::common::fake_mas::FakeMas;
use crate::common::operator::*;
use crate::common::postgres::{lit, Database, Postgres};
use crate::common::*;

/// The vars.yml an MDAD operator keeps (MDAD's examples/vars.yml filled in), for `implementation`,
/// with MDAD's Postgres superuser password `pg_password`, plus `extra` lines.
pub(crate) fn vars_yml(
    implementation: &str,
    generic_key: &str,
    pg_password: &str,
    extra: &str,
) -> String {
    format!(
        "---\n\
         matrix_domain: localhost\n\
         matrix_homeserver_implementation: {implementation}\n\
         matrix_homeserver_generic_secret_key: '{generic_key}'\n\
         matrix_playbook_reverse_proxy_type: playbook-managed-traefik\n\
         postgres_connection_password: '{pg_password}'\n\
         {extra}"
    )
}

pub(crate) fn port_of(url: &str) -> &str {
    url.rsplit(':').next().unwrap()
}

pub(crate) fn changed_count(out: &str) -> String {
    recap(out)
        .split_whitespace()
        .find(|w| w.starts_with("changed="))
        .unwrap_or("")
        .to_string()
}

/// A Dendrite on `db` whose registration shared secret is the one MDAD derives from `generic_key`
/// (`:dendrite.rss`): `tests/servers/dendrite.sh` keeps a `shared-secret` file it finds in DIR.
pub(crate) fn dendrite_for(generic_key: &str, db: &Database) -> Dendrite {
    let dir = tempfile::Builder::new()
        .prefix("dendrite-mdad-")
        .tempdir()
        .unwrap();
    let secret = mdad_derived_secret(generic_key, ":dendrite.rss");
    std::fs::write(dir.path().join("shared-secret"), &secret).unwrap();
    let d = Dendrite::start_in(dir, Some(db), &[]);
    assert_eq!(d.shared_secret, secret, "dendrite.sh kept the MDAD secret");
    d
}

/// The vars.yml lines that make MDAD use MAS: enabled, its URL, and an admin client as the README
/// documents (MDAD has none for automation).
pub(crate) fn mas_lines(mas: &FakeMas) -> String {
    format!(
        "matrix_authentication_service_enabled: true\n\
         matrix_authentication_service_config_http_public_base: '{url}/'\n\
         matrix_authentication_service_config_clients_custom:\n\
         \x20 - client_id: '{id}'\n\
         \x20   client_auth_method: client_secret_basic\n\
         \x20   client_secret: '{secret}'\n\
         matrix_authentication_service_configuration_extension_yaml: |\n\
         \x20 policy:\n\
         \x20   data:\n\
         \x20     admin_clients:\n\
         \x20       - '{id}'\n",
        url = mas.url,
        id = mas.admin_client_id,
        secret = mas.admin_client_secret,
    )
}

/// MDAD with `matrix_authentication_service_enabled: true`: register-user creates the account in
/// (fake) MAS with its password, admin flag and e-mail address, a re-run changes nothing,
/// update-user-admin demotes, and the token recipes create, list and revoke MAS registration
/// tokens. MAS's URL comes from MDAD's `matrix_authentication_service_config_http_public_base`
/// (which MDAD derives as https://matrix.<domain>/auth/; here the fake's loopback URL), its admin
/// client from the vars.yml lines the README documents.
#[test]
fn mas_enabled_makes_every_tag_use_mas() {
    let mas = FakeMas::start();
    let key = random_secret("generic-key");
    let c = Checkout::new();
    let extra = mas_lines(&mas);
    c.link_mdad_inventory(&vars_yml("synapse", &key, "not-used", &extra));
    // MAS's default policy (minimum_complexity 3) refuses weak passwords, as a real MAS does.
    let password = random_secret("John-Strong-Passphrase");
    let no_secret = |out: &str| {
        assert!(
            !out.contains(&mas.admin_client_secret),
            "client secret in output"
        );
        assert!(!out.contains(&password), "password in output");
    };

    let (code, out) = c.just(&[
        "register-user",
        "john",
        &password,
        "yes",
        "email=john@example.org",
    ]);
    assert_eq!(code, 0, "{out}");
    no_secret(&out);
    let john = mas.user("john").expect("john exists in MAS");
    assert_eq!(john["attributes"]["admin"], true, "{john}");
    assert!(mas.can_login("john", &password));
    assert!(!mas.can_login("john", "not-his-password"));
    let id = john["id"].as_str().unwrap().to_string();
    assert_eq!(mas.emails_of(&id), vec!["john@example.org".to_string()]);

    let (code, out) = c.just(&[
        "register-user",
        "john",
        &password,
        "yes",
        "email=john@example.org",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");
    assert_eq!(mas.emails_of(&id).len(), 1);

    // A comma-separated list, on a second account.
    let (code, out) = c.just(&[
        "register-user",
        "jane",
        &password,
        "no",
        "email=jane@example.org, jane@example.net",
    ]);
    assert_eq!(code, 0, "{out}");
    let jane = mas.user("jane").expect("jane exists in MAS");
    assert_eq!(jane["attributes"]["admin"], false);
    let mut emails = mas.emails_of(jane["id"].as_str().unwrap());
    emails.sort();
    assert_eq!(emails, vec!["jane@example.net", "jane@example.org"]);

    let (code, out) = c.just(&["update-user-admin", "john", "no"]);
    assert_eq!(code, 0, "{out}");
    no_secret(&out);
    assert_eq!(mas.user("john").unwrap()["attributes"]["admin"], false);
    let (code, out) = c.just(&["update-user-admin", "john", "no"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");

    assert!(mas.registration_tokens().is_empty());
    let (code, out) = c.just(&["generate-matrix-registration-token", "yes", "2031-12-31"]);
    assert_eq!(code, 0, "{out}");
    let tokens = mas.registration_tokens();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let name = tokens[0]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(tokens[0]["attributes"]["usage_limit"], 1, "{tokens:?}");
    assert!(out.contains(&name), "prints the token: {out}");

    let (code, out) = c.just(&["list-matrix-registration-tokens"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&name) && out.contains("0/1"), "{out}");

    let (code, out) = c.just(&["disable-matrix-registration-token", &name]);
    assert_eq!(code, 0, "{out}");
    no_secret(&out);
    let t = mas.registration_token(&name).unwrap();
    assert!(t["attributes"]["revoked_at"].is_string(), "revoked: {t}");

    // The account tags and list-users (issue 19) on MAS, with its admin client, no homeserver
    // admin needed.
    let new_pw = random_secret("Jane-New-Passphrase");
    let (code, out) = c.ansible_playbook(&[
        "-i",
        "inventory/hosts",
        "setup.yml",
        &format!("--extra-vars=username=jane password={new_pw}"),
        "--tags=update-user-password",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(mas.can_login("jane", &new_pw) && !mas.can_login("jane", &password));
    let (code, out) = c.just(&["lock-user", "jane"]);
    assert_eq!(code, 0, "{out}");
    assert!(mas.user("jane").unwrap()["attributes"]["locked_at"].is_string());
    assert!(!mas.can_login("jane", &new_pw));
    let (code, out) = c.just(&["list-users", "locked=yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("@jane:") && !out.contains("@john:"), "{out}");
    no_secret(&out);
    let (code, out) = c.just(&["deactivate-user", "john"]);
    assert_eq!(code, 0, "{out}");
    assert!(mas.user("john").unwrap()["attributes"]["deactivated_at"].is_string());
    let (code, out) = c.just(&["deactivate-user", "john"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");
}

/// Without an admin client, the MAS tags fail once, naming the vars.yml lines to add.
#[test]
fn mas_without_an_admin_client_names_the_lines_to_add() {
    let key = random_secret("generic-key");
    let c = Checkout::new();
    c.link_mdad_inventory(&vars_yml(
        "synapse",
        &key,
        "not-used",
        "matrix_authentication_service_enabled: true\n",
    ));
    let (code, out) = c.just(&["register-user", "john", "x-Strong-1-passphrase", "no"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("matrix_authentication_service_config_clients_custom")
            && out.contains("admin_clients"),
        "{out}"
    );
    // email= is refused on a homeserver without MAS.
    c.link_mdad_inventory(&vars_yml(
        "synapse",
        &key,
        "not-used",
        "matrix_synapse_container_client_api_host_bind_port: '127.0.0.1:9'\n",
    ));
    let (code, out) = c.just(&["register-user", "john", "pw", "no", "email=j@example.org"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("only on Matrix Authentication Service"),
        "{out}"
    );
}

/// MDAD with Dendrite on its Postgres: register-user through the published client API, then
/// update-user-admin through the database (Dendrite has no admin API for the flag): promote,
/// re-run unchanged, demote, each checked in `userapi_accounts.account_type` (3 admin, 1 user).
/// Before Postgres is published, the tag fails naming the vars.yml line.
#[test]
fn dendrite_update_user_admin_writes_the_database() {
    let pg = Postgres::start();
    // MDAD's matrix_dendrite_user_api_database; this Dendrite keeps all its tables there.
    let db = pg.create_database("dendrite_userapi", "dendrite");
    let key = random_secret("generic-key");
    let d = dendrite_for(&key, &db);
    // The superuser `matrix` is MDAD's `postgres_connection_username`.
    let pg_password = pg.superuser().password();
    let c = Checkout::new();
    let publish_api = format!(
        "matrix_dendrite_container_http_host_bind_address: '127.0.0.1:{}'\n",
        port_of(&d.url)
    );
    c.link_mdad_inventory(&vars_yml("dendrite", &key, &pg_password, &publish_api));

    let user = unique_user("frank");
    let password = random_secret("frank-pw");
    let (code, out) = c.just(&["register-user", &user, &password, "no"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(d.account_type(&user), Some(1));
    assert!(d.can_login(&user, &password));

    let (code, out) = c.just(&["update-user-admin", &user, "yes"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("postgres_container_postgres_bind_port: '127.0.0.1:5432'"),
        "names the line: {out}"
    );
    assert_eq!(d.account_type(&user), Some(1));

    let publish_pg = format!(
        "{publish_api}postgres_container_postgres_bind_port: '127.0.0.1:{}'\n",
        pg.port
    );
    c.link_mdad_inventory(&vars_yml("dendrite", &key, &pg_password, &publish_pg));
    let (code, out) = c.just(&["update-user-admin", &user, "yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(&pg_password), "database password in output");
    assert_eq!(d.account_type(&user), Some(3));

    let (code, out) = c.just(&["update-user-admin", &user, "yes"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");

    let (code, out) = c.just(&["update-user-admin", &user, "no", "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(d.account_type(&user), Some(1));
    assert!(!out.contains(&pg_password));

    // A wrong Postgres password fails, naming where it came from.
    c.link_mdad_inventory(&vars_yml("dendrite", &key, "wrong-password", &publish_pg));
    let (code, out) = c.just(&["update-user-admin", &user, "yes"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("postgres_connection_password"), "{out}");
    assert_eq!(d.account_type(&user), Some(1));

    // deactivate-user writes the same database (Dendrite has no API for it): no admin
    // credentials needed; the account then cannot log in. reactivate-user sets the new password
    // through Dendrite's admin API, so it names the admin credentials to set.
    c.link_mdad_inventory(&vars_yml("dendrite", &key, &pg_password, &publish_pg));
    let (code, out) = c.just(&["deactivate-user", &user]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=1", "{out}");
    assert!(
        !d.can_login(&user, &password),
        "a deactivated account logs in"
    );
    assert!(!out.contains(&pg_password));
    let (code, out) = c.just(&["deactivate-user", &user]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(changed_count(&out), "changed=0", "{out}");
    let (code, out) = c.just(&["reactivate-user", &user, &password]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("matrix_user_management_access_token"), "{out}");
    assert!(!d.can_login(&user, &password));
}

/// MDAD with Synapse on its Postgres, `matrix_user_management_user_admin_backend: database`:
/// update-user-admin sets `users.admin` through the database and says Synapse must restart.
#[test]
fn synapse_update_user_admin_through_the_database() {
    let pg = Postgres::start();
    // MDAD's matrix_synapse_database_database and matrix_synapse_database_user defaults.
    let db = pg.create_database("synapse", "synapse");
    let key = random_secret("generic-key");
    let dir = tempfile::Builder::new()
        .prefix("synapse-mdad-pg-")
        .tempdir()
        .unwrap();
    std::fs::write(
        dir.path().join("shared-secret"),
        mdad_derived_secret(&key, ":synapse.mac"),
    )
    .unwrap();
    let s = Synapse::start_in(
        dir,
        free_port(),
        &[
            ("SYNAPSE_DATABASE_URL", &db.url),
            (
                "SYNAPSE_DATABASE_PASSWORD_FILE",
                db.password_file.to_str().unwrap(),
            ),
        ],
        &[],
    );
    // The superuser `matrix` is MDAD's `postgres_connection_username`.
    let pg_password = pg.superuser().password();
    let c = Checkout::new();
    c.link_mdad_inventory(&vars_yml(
        "synapse",
        &key,
        &pg_password,
        &format!(
            "matrix_synapse_container_client_api_host_bind_port: '127.0.0.1:{}'\n\
             postgres_container_postgres_bind_port: '127.0.0.1:{}'\n\
             matrix_user_management_user_admin_backend: database\n",
            port_of(&s.url),
            pg.port
        ),
    ));
    let user = unique_user("grace");
    let password = random_secret("grace-pw");
    let (code, out) = c.just(&["register-user", &user, &password, "no"]);
    assert_eq!(code, 0, "{out}");
    let admin_of = || {
        db.value(&format!(
            "SELECT admin FROM users WHERE name = {};",
            lit(&format!("@{user}:localhost"))
        ))
    };
    assert_eq!(admin_of().as_deref(), Some("0"));

    let (code, out) = c.just(&["update-user-admin", &user, "yes"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(admin_of().as_deref(), Some("1"));
    assert!(
        out.contains("restart Synapse"),
        "says a restart is needed: {out}"
    );
    assert!(!out.contains(&pg_password));

    let (code, out) = c.just(&["update-user-admin", &user, "no"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(admin_of().as_deref(), Some("0"));
}
