//! Tests of option validation and coercion.

use super::*;
use serde_json::json;

static OPTS: &[Opt] = &[
    Opt::str("username").aliases(&["name", "user"]),
    Opt::str("password").no_log(),
    Opt::path("password_file"),
    Opt::bool("admin").default_bool(false),
    Opt::int("count"),
    Opt::float("ratio"),
    Opt::str("state")
        .choices(&["present", "absent"])
        .default_str("present"),
    Opt::list("tags", Kind::Str),
    Opt::new("extra", Kind::Dict),
    Opt::str("must").required(),
    Opt::str("a_user"),
    Opt::str("a_pass"),
];
static SPEC: Spec = Spec {
    groups: &[OPTS],
    mutually_exclusive: &[&["password", "password_file"]],
    required_one_of: &[&["username", "tags"]],
    required_together: &[&["a_user", "a_pass"]],
};

fn validate(v: Value) -> Result<Params, Vec<String>> {
    SPEC.validate(v.as_object().unwrap())
}

#[test]
fn booleans_coerce_like_ansible() {
    for (s, want) in [
        ("yes", true),
        ("YES", true),
        ("On", true),
        ("1", true),
        ("y", true),
        ("True", true),
        ("no", false),
        ("OFF", false),
        ("0", false),
        ("n", false),
        ("false", false),
    ] {
        let p = validate(json!({"must": "x", "username": "u", "admin": s})).unwrap();
        assert_eq!(p.bool("admin"), want, "{s}");
    }
    let p = validate(json!({"must": "x", "username": "u", "admin": 1})).unwrap();
    assert!(p.bool("admin"));
    let e = validate(json!({"must": "x", "username": "u", "admin": "maybe"})).unwrap_err();
    assert!(
        e[0].contains("'admin'") && e[0].contains("maybe") && e[0].contains("bool"),
        "{e:?}"
    );
    let e = validate(json!({"must": "x", "username": "u", "admin": [true]})).unwrap_err();
    assert!(e[0].contains("admin"), "{e:?}");
}

#[test]
fn defaults_apply_and_are_not_marked_given() {
    let p = validate(json!({"must": "x", "username": "u"})).unwrap();
    assert!(!p.bool("admin"));
    assert_eq!(p.str("state"), Some("present"));
    assert!(!p.is_given("state"));
    assert!(p.is_given("username"));
    assert_eq!(p.int("count"), None);
}

#[test]
fn integers_coerce_from_strings_and_whole_floats() {
    let p = validate(json!({"must": "x", "username": "u", "count": " 42 "})).unwrap();
    assert_eq!(p.int("count"), Some(42));
    let p = validate(json!({"must": "x", "username": "u", "count": 7.0})).unwrap();
    assert_eq!(p.int("count"), Some(7));
    let p = validate(json!({"must": "x", "username": "u", "count": "-3"})).unwrap();
    assert_eq!(p.int("count"), Some(-3));
    for bad in [json!("4x"), json!(1.5), json!(true), json!({})] {
        let e = validate(json!({"must": "x", "username": "u", "count": bad})).unwrap_err();
        assert!(e[0].contains("'count'") && e[0].contains("int"), "{e:?}");
    }
}

#[test]
fn floats_and_strings_coerce() {
    let p = validate(json!({"must": 5, "username": 12, "ratio": "0.5"})).unwrap();
    assert_eq!(p.str("must"), Some("5"));
    assert_eq!(p.str("username"), Some("12"));
    assert_eq!(p.value("ratio"), Some(&json!(0.5)));
    let p = validate(json!({"must": true, "username": "u"})).unwrap();
    assert_eq!(p.str("must"), Some("True"));
    assert_eq!(p.warnings.len(), 1);
    let e = validate(json!({"must": ["a"], "username": "u"})).unwrap_err();
    assert!(e[0].contains("'must'"), "{e:?}");
}

#[test]
fn lists_and_dicts() {
    let p = validate(json!({"must": "x", "tags": "a, b,c"})).unwrap();
    assert_eq!(
        p.list("tags").unwrap(),
        &vec![json!("a"), json!("b"), json!("c")]
    );
    let p = validate(json!({"must": "x", "tags": [1, "b"]})).unwrap();
    assert_eq!(p.list("tags").unwrap(), &vec![json!("1"), json!("b")]);
    let p = validate(json!({"must": "x", "username": "u", "extra": "{\"k\": 1}"})).unwrap();
    assert_eq!(p.value("extra"), Some(&json!({"k": 1})));
    let e = validate(json!({"must": "x", "username": "u", "extra": "k"})).unwrap_err();
    assert!(e[0].contains("'extra'"), "{e:?}");
}

#[test]
fn unknown_options_are_named_with_the_valid_ones() {
    let e = validate(json!({"must": "x", "username": "u", "pasword": "p"})).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("Unsupported parameters: pasword"), "{e:?}");
    assert!(e[0].contains("password, password_file"), "{e:?}");
}

#[test]
fn aliases_resolve_and_collide() {
    let p = validate(json!({"must": "x", "name": "u"})).unwrap();
    assert_eq!(p.str("username"), Some("u"));
    assert_eq!(p.given_as("username"), "name");
    assert_eq!(p.given_as("must"), "must");
    assert_eq!(p.given_as("state"), "state");
    let e = validate(json!({"must": "x", "name": "u", "user": "v"})).unwrap_err();
    assert!(e[0].contains("mutually exclusive"), "{e:?}");
}

#[test]
fn choices_are_enforced() {
    let e = validate(json!({"must": "x", "username": "u", "state": "gone"})).unwrap_err();
    assert_eq!(
        e,
        vec!["value of state must be one of: present, absent, got: gone"]
    );
}

#[test]
fn relations_are_enforced() {
    let e = validate(json!({"must": "x", "username": "u", "password": "a", "password_file": "/f"}))
        .unwrap_err();
    assert!(e
        .iter()
        .any(|m| m.contains("mutually exclusive: password|password_file")));
    let e = validate(json!({"must": "x"})).unwrap_err();
    assert!(e
        .iter()
        .any(|m| m.contains("one of the following is required: username, tags")));
    let e = validate(json!({"username": "u"})).unwrap_err();
    assert!(e.iter().any(|m| m == "missing required arguments: must"));
    let e = validate(json!({"must": "x", "username": "u", "a_user": "z"})).unwrap_err();
    assert!(e
        .iter()
        .any(|m| m.contains("required together: a_user, a_pass")));
}

#[test]
fn null_counts_as_not_given() {
    let p = validate(json!({"must": "x", "username": "u", "admin": null})).unwrap();
    assert!(!p.bool("admin"));
    assert!(!p.is_given("admin"));
}

#[test]
fn paths_expand_home() {
    let home = std::env::var("HOME").unwrap();
    let p = validate(json!({"must": "x", "username": "u", "password_file": "~/pw"})).unwrap();
    assert_eq!(p.str("password_file"), Some(format!("{home}/pw").as_str()));
}

/// Property tests: no input, however odd, makes validation panic, and whatever passes is typed
/// as declared.
mod properties {
    use super::*;
    use proptest::prelude::*;

    static OPTS: &[Opt] = &[
        Opt::str("username").aliases(&["name"]),
        Opt::str("password").no_log(),
        Opt::bool("admin").default_bool(false),
        Opt::int("count"),
        Opt::float("ratio"),
        Opt::path("file"),
        Opt::str("state").choices(&["present", "absent"]),
        Opt::list("tags", Kind::Str),
        Opt::list("users", Kind::Dict),
        Opt::new("extra", Kind::Dict),
        Opt::new("anything", Kind::Raw),
    ];
    static SPEC: Spec = Spec {
        groups: &[OPTS],
        mutually_exclusive: &[&["password", "file"]],
        required_one_of: &[&["username", "users"]],
        required_together: &[&["count", "ratio"]],
    };

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "\\PC{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("yes"),
                Just("NO"),
                Just("1"),
                Just("7"),
                Just("-3"),
                Just(" 42 "),
                Just("present"),
                Just("~/x"),
                Just("{\"a\":1}"),
                Just("a,b")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn args() -> impl Strategy<Value = Map<String, Value>> {
        let key = prop_oneof![
            Just("username".to_string()),
            Just("name".to_string()),
            Just("password".to_string()),
            Just("admin".to_string()),
            Just("count".to_string()),
            Just("ratio".to_string()),
            Just("file".to_string()),
            Just("state".to_string()),
            Just("tags".to_string()),
            Just("users".to_string()),
            Just("extra".to_string()),
            Just("anything".to_string()),
            "\\PC{0,10}",
        ];
        prop::collection::btree_map(key, json_value(), 0..8).prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn validation_never_panics_and_types_what_it_accepts(raw in args()) {
            if let Ok(p) = SPEC.validate(&raw) {
                prop_assert!(p.value("admin").is_some_and(Value::is_boolean));
                if let Some(v) = p.value("count") { prop_assert!(v.is_i64()); }
                if let Some(v) = p.value("ratio") { prop_assert!(v.is_f64()); }
                if let Some(v) = p.value("username") { prop_assert!(v.is_string()); }
                if let Some(v) = p.value("tags") {
                    prop_assert!(v.as_array().is_some_and(|a| a.iter().all(Value::is_string)));
                }
                if let Some(v) = p.value("users") {
                    prop_assert!(v.as_array().is_some_and(|a| a.iter().all(Value::is_object)));
                }
                if let Some(s) = p.str("state") { prop_assert!(s == "present" || s == "absent"); }
                prop_assert!(p.is_given("username") || p.is_given("users"));
            }
        }

        #[test]
        fn failures_always_say_something(raw in args()) {
            if let Err(errors) = SPEC.validate(&raw) {
                prop_assert!(!errors.is_empty());
                prop_assert!(errors.iter().all(|e| !e.is_empty()));
            }
        }
    }
}
