//! The command lines operators of matrix-docker-ansible-deploy (MDAD) know, typed verbatim at the
//! root of a checkout, against an inventory shaped exactly like a current MDAD one: only the
//! variables MDAD's docs tell operators to set, plus the one line that publishes Synapse's client
//! API on the host. The Synapse runs with the shared secret MDAD derives from
//! `matrix_homeserver_generic_secret_key`, computed here without Ansible.

use crate::common::operator::*;
use crate::common::*;

/// A Synapse whose registration shared secret is what MDAD derives from `generic_key`.
fn synapse_for(generic_key: &str) -> Synapse {
    let dir = tempfile::Builder::new()
        .prefix("synapse-mdad-")
        .tempdir()
        .unwrap();
    std::fs::write(
        dir.path().join("shared-secret"),
        mdad_derived_secret(generic_key, ":synapse.mac"),
    )
    .unwrap();
    Synapse::start_in(dir, free_port(), &[], &[])
}

fn publish_line(s: &Synapse) -> String {
    format!(
        "matrix_synapse_container_client_api_host_bind_port: '127.0.0.1:{}'\n",
        s.url.rsplit(':').next().unwrap()
    )
}

#[test]
fn seed_lines_register_users_on_an_unchanged_mdad_inventory() {
    let key = random_secret("generic-key");
    let s = synapse_for(&key);
    let c = Checkout::new();
    c.link_mdad_inventory(&mdad_vars_yml(&key, &publish_line(&s)));

    // The line from MDAD's docs, verbatim.
    let (code, out) = c.ansible_playbook(&[
        "-i",
        "inventory/hosts",
        "setup.yml",
        "--extra-vars=username=john password=secret admin=yes",
        "--tags=register-user",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out).contains("changed=1"), "{out}");
    let john = s.user("@john:localhost").expect("john exists on Synapse");
    assert_eq!(john["admin"], true);
    assert!(s.can_login("john", "secret"));
    assert!(out.contains("created @john:localhost"), "{out}");

    // `just register-user john secret-password yes`, verbatim: john exists, nothing changes.
    let (code, out) = c.just(&["register-user", "john", "secret-password", "yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(recap(&out).contains("changed=0"), "{out}");
    assert!(
        s.can_login("john", "secret"),
        "an existing password is kept"
    );

    // A password a shell or Ansible would re-parse arrives exactly as typed.
    let name = unique_user("o-neil");
    let tricky = format!(
        "it's a \"pass\" {{{{ 7 * 7 }}}} $(id) `id` ; {}",
        random_secret("x")
    );
    let (code, out) = c.just(&["register-user", &name, &tricky, "no"]);
    assert_eq!(code, 0, "{out}");
    let u = s
        .user(&format!("@{name}:localhost"))
        .expect("created through just");
    assert_eq!(u["admin"], false);
    assert!(
        s.can_login(&name, &tricky),
        "the password is exactly what was typed"
    );
    assert!(!out.contains(&tricky), "the password is not printed");

    // Extra arguments reach ansible-playbook: --check --diff predicts, shows the diff, creates nobody.
    let carol = unique_user("carol");
    let (code, out) = c.just(&[
        "register-user",
        &carol,
        "carol-password-1",
        "no",
        "--check",
        "--diff",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("--- before: @{carol}:localhost"))
            && out.contains(&format!("+++ after: @{carol}:localhost")),
        "--diff shows before and after: {out}"
    );
    assert!(s.user(&format!("@{carol}:localhost")).is_none());
}

#[test]
fn without_the_published_port_the_failure_names_the_vars_line() {
    let key = random_secret("generic-key");
    let c = Checkout::new();
    c.link_mdad_inventory(&mdad_vars_yml(&key, ""));
    let (code, out) = c.just(&["register-user", "john", "secret-password", "yes"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("matrix_synapse_container_client_api_host_bind_port: '127.0.0.1:8008'")
            && out.contains("inventory/host_vars/matrix.localhost/vars.yml"),
        "names the exact line and file: {out}"
    );
    assert_eq!(out.matches("fatal:").count(), 1, "one failure: {out}");
    assert!(!out.contains("...ignoring"), "{out}");
}

#[test]
fn a_run_matching_no_host_or_no_known_tag_fails_loudly() {
    let key = random_secret("generic-key");
    let s = synapse_for(&key);
    let c = Checkout::new();

    // No inventory/hosts yet: the seed line fails, saying how to get one.
    let (code, out) = c.just(&["register-user", "john", "secret-password", "yes"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("No host matched 'matrix_servers'") && out.contains("inventory/hosts"),
        "{out}"
    );

    c.link_mdad_inventory(&mdad_vars_yml(&key, &publish_line(&s)));
    for (tags, want) in [
        ("--tags=register-usr", "Unknown tag: register-usr"),
        ("--tags=setup-all", "Unknown tag: setup-all"),
        ("--tags=all", "No tag given"),
    ] {
        let (code, out) = c.ansible_playbook(&[
            "-i",
            "inventory/hosts",
            "setup.yml",
            "--extra-vars=username=john password=secret admin=yes",
            tags,
        ]);
        assert_ne!(code, 0, "{tags}: {out}");
        assert!(
            out.contains(want) && out.contains("--tags=register-user"),
            "{tags}: {out}"
        );
        assert!(!out.contains("TASK [matrix_user_management"), "{out}");
    }
    assert!(
        s.user("@john:localhost").is_none(),
        "none of the failed runs registered anyone"
    );
}

#[test]
fn a_wrong_generic_key_fails_once_naming_the_variable() {
    let s = synapse_for(&random_secret("server-key"));
    let wrong = random_secret("operator-key");
    let c = Checkout::new();
    c.link_mdad_inventory(&mdad_vars_yml(&wrong, &publish_line(&s)));
    let password = random_secret("pw");
    let (code, out) = c.just(&["register-user", "dave", &password, "no", "-vvv"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("HMAC incorrect") && out.contains("matrix_homeserver_generic_secret_key"),
        "the module's message and the variable the secret came from: {out}"
    );
    assert_eq!(out.matches("fatal:").count(), 1, "reported once: {out}");
    assert!(!out.contains("...ignoring"), "{out}");
    let derived = mdad_derived_secret(&wrong, ":synapse.mac");
    for secret in [wrong.as_str(), derived.as_str(), password.as_str()] {
        assert!(!out.contains(secret), "a secret is in the -vvv output");
    }
    assert!(s.user("@dave:localhost").is_none());
}

/// The derivations, one setting at a time, against values computed without Ansible.
#[test]
fn settings_are_derived_as_mdad_derives_them() {
    let c = Checkout::new();
    let key = random_secret("generic-key");
    let synapse = mdad_derived_secret(&key, ":synapse.mac");
    let dendrite = mdad_derived_secret(&key, ":dendrite.rss");
    let playbook = c.path().join("derive.yml");
    std::fs::write(
        &playbook,
        "- hosts: matrix_servers\n  gather_facts: false\n  tasks:\n\
         \x20   - {ansible.builtin.import_role: {name: matrix_user_management}}\n\
         \x20   - ansible.builtin.copy:\n\
         \x20       dest: \"{{ playbook_dir }}/derived.json\"\n\
         \x20       mode: '0600'\n\
         \x20       content: \"{{ {'secret': matrix_user_management_shared_secret, 'url': matrix_user_management_homeserver_url,\
          'backend': matrix_user_management_backend, 'tokens': matrix_user_management_token_backend,\
          'mreg': matrix_user_management_registration_api_url, 'mas_url': matrix_user_management_mas_url,\
          'mas_client': matrix_user_management_mas_client_id, 'admin_backend': matrix_user_management_user_admin_module_backend,\
          'db': matrix_user_management_user_admin_database, 'db_password': matrix_user_management_database_password} | to_json }}\"\n\
         \x20     no_log: true\n\
         \x20     vars: {ansible_python_interpreter: \"{{ ansible_playbook_python }}\"}\n",
    )
    .unwrap();
    let cases: Vec<(&str, String, serde_json::Value)> = vec![
        (
            "synapse, published on loopback",
            "matrix_synapse_container_client_api_host_bind_port: '127.0.0.1:8008'\n".into(),
            serde_json::json!({"secret": synapse, "url": "http://127.0.0.1:8008", "backend": "synapse", "tokens": "synapse"}),
        ),
        (
            "synapse, a bare port (all interfaces)",
            "matrix_synapse_container_client_api_host_bind_port: '18008'\n".into(),
            serde_json::json!({"secret": synapse, "url": "http://127.0.0.1:18008"}),
        ),
        (
            "synapse, 0.0.0.0",
            "matrix_synapse_container_client_api_host_bind_port: '0.0.0.0:8008'\n".into(),
            serde_json::json!({"url": "http://127.0.0.1:8008"}),
        ),
        (
            "synapse workers: the reverse-proxy companion's port",
            "matrix_synapse_workers_enabled: true\n\
             matrix_synapse_reverse_proxy_companion_container_client_api_host_bind_port: '127.0.0.1:8009'\n"
                .into(),
            serde_json::json!({"url": "http://127.0.0.1:8009"}),
        ),
        (
            "an explicit macaroon key wins over the derivation, as in MDAD",
            "matrix_synapse_macaroon_secret_key: 'explicit-macaroon'\n".into(),
            serde_json::json!({"secret": "explicit-macaroon", "url": ""}),
        ),
        (
            "an explicit registration secret wins over the macaroon key",
            "matrix_synapse_macaroon_secret_key: 'explicit-macaroon'\n\
             matrix_synapse_registration_shared_secret: 'explicit-registration'\n"
                .into(),
            serde_json::json!({"secret": "explicit-registration"}),
        ),
        (
            "dendrite",
            "matrix_homeserver_implementation: dendrite\n\
             matrix_dendrite_container_http_host_bind_address: '127.0.0.1:8008'\n"
                .into(),
            serde_json::json!({"secret": dendrite, "url": "http://127.0.0.1:8008", "backend": "dendrite"}),
        ),
        (
            "MAS owns the accounts",
            "matrix_authentication_service_enabled: true\n".into(),
            serde_json::json!({"backend": "mas", "tokens": "mas"}),
        ),
        (
            "MAS: its public URL as MDAD derives it, the admin client from the documented lines",
            "matrix_authentication_service_enabled: true\n\
             matrix_authentication_service_config_clients_custom:\n\
             \x20 - {client_id: 01JMATR1XVSERS0000000ADM1N, client_auth_method: client_secret_basic, client_secret: s}\n\
             \x20 - {client_id: 01JN0TADM1N00000000000000B, client_auth_method: client_secret_basic, client_secret: t}\n\
             matrix_authentication_service_configuration_extension_yaml: |\n\
             \x20 policy: {data: {admin_clients: [01JMATR1XVSERS0000000ADM1N]}}\n"
                .into(),
            serde_json::json!({"backend": "mas", "tokens": "mas", "admin_backend": "mas",
                               "mas_url": "https://matrix.localhost/auth", "mas_client": "01JMATR1XVSERS0000000ADM1N"}),
        ),
        (
            "dendrite: update-user-admin writes the user API database on MDAD's published Postgres",
            "matrix_homeserver_implementation: dendrite\n\
             postgres_container_postgres_bind_port: '127.0.0.1:5432'\n"
                .into(),
            serde_json::json!({"admin_backend": "dendrite_postgres",
                               "db": "postgresql://matrix@127.0.0.1:5432/dendrite_userapi",
                               "db_password": "not-used-by-these-tags"}),
        ),
        (
            "dendrite: Postgres not published, no database",
            "matrix_homeserver_implementation: dendrite\n".into(),
            serde_json::json!({"admin_backend": "dendrite_postgres", "db": ""}),
        ),
        (
            "synapse on request, on an external Postgres (MDAD's external-postgres settings)",
            "matrix_user_management_user_admin_backend: database\n\
             postgres_enabled: false\n\
             matrix_synapse_database_host: 'db.example.org'\n\
             matrix_synapse_database_port: 5433\n\
             matrix_synapse_database_user: 'synapse_user'\n\
             matrix_synapse_database_password: 'external-pw'\n\
             matrix_synapse_database_database: 'synapse_db'\n"
                .into(),
            serde_json::json!({"admin_backend": "synapse_postgres",
                               "db": "postgresql://synapse_user@db.example.org:5433/synapse_db",
                               "db_password": "external-pw"}),
        ),
        (
            "synapse: the admin API by default",
            "".into(),
            serde_json::json!({"admin_backend": "synapse"}),
        ),
        (
            "matrix-registration, deployed by an older MDAD at its path prefix",
            "matrix_registration_enabled: true\nmatrix_registration_admin_secret: 'x'\n\
             matrix_registration_base_url: '/matrix-registration'\n"
                .into(),
            serde_json::json!({"tokens": "matrix_registration", "mreg": "https://matrix.localhost/matrix-registration"}),
        ),
        (
            "every setting overridable",
            "matrix_user_management_homeserver_url: 'http://localhost:9'\n\
             matrix_user_management_shared_secret: 'override'\n"
                .into(),
            serde_json::json!({"secret": "override", "url": "http://localhost:9"}),
        ),
    ];
    for (what, extra, want) in cases {
        // Later keys of a YAML mapping replace earlier ones, as an operator's edit would.
        let vars = mdad_vars_yml(&key, &extra);
        c.link_mdad_inventory(&vars);
        let _ = std::fs::remove_file(c.path().join("derived.json"));
        let (code, out) = c.ansible_playbook(&["-i", "inventory/hosts", "derive.yml"]);
        assert_eq!(code, 0, "{what}: {out}");
        let got: serde_json::Value =
            serde_json::from_slice(&std::fs::read(c.path().join("derived.json")).unwrap()).unwrap();
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&got[k], v, "{what}: {k}");
        }
    }
}

/// The other recipes run their tags and change the server (tokens on matrix-registration 0.7,
/// the generation MDAD deployed).
#[test]
fn the_other_recipes_run_their_tags() {
    let key = random_secret("generic-key");
    let s = synapse_for(&key);
    let m = Mreg::start("0.7", &s);
    let c = Checkout::new();
    let vars = c.link_mdad_inventory(&mdad_vars_yml(
        &key,
        &format!(
            "{}matrix_registration_enabled: true\nmatrix_registration_admin_secret: '{}'\n\
             matrix_user_management_registration_api_url: '{}'\n\
             matrix_user_management_access_token: '{}'\n",
            publish_line(&s),
            m.admin_secret,
            m.url,
            s.admin_token
        ),
    ));
    assert!(vars.exists());

    let (code, out) = c.just(&["generate-matrix-registration-token", "yes", "2031-12-31"]);
    assert_eq!(code, 0, "{out}");
    let tokens = m.tokens();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let name = tokens[0]["name"].as_str().unwrap().to_string();
    assert_eq!(tokens[0]["one_time"], true);
    assert!(
        out.contains(&format!("{}/register?token={name}", m.url)),
        "prints the link: {out}"
    );

    let (code, out) = c.just(&["list-matrix-registration-tokens"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&name) && out.contains("0/1"), "{out}");

    let (code, out) = c.just(&["disable-matrix-registration-token", &name, "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(m.token(&name)["valid"], false);
    assert!(
        out.contains(&format!("--- before: {name}")) && out.contains(&format!("+++ after: {name}")),
        "--diff shows the token before and after: {out}"
    );

    let erin = unique_user("erin");
    s.register_raw(&erin, "erin-password-1", false, true);
    let (code, out) = c.just(&["update-user-admin", &erin, "yes", "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        s.user(&format!("@{erin}:localhost")).unwrap()["admin"],
        true
    );
    assert!(
        out.contains(&format!("--- before: @{erin}:localhost")),
        "{out}"
    );
    assert!(!out.contains(&s.admin_token) && !out.contains(&m.admin_secret));
}
