//! The comparison: a fake's answer against the recorded one, with generated values bound
//! one-to-one to the fake's.

use super::values::{is_mas_access_token, is_timestamp, is_ulid, micros, GENERATED_TIMES};
use super::RECORDED_MAS;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub(super) struct Binding {
    /// recorded generated value -> the fake's value for the same object or instant
    pub(super) map: HashMap<String, String>,
    /// the fake's ULIDs and tokens already bound, to keep the mapping one-to-one
    pub(super) taken: HashSet<String>,
    /// token strings that requests gave (not generated)
    pub(super) given_tokens: HashSet<String>,
    pub(super) fake_url: String,
}

impl Binding {
    pub(super) fn bind(
        &mut self,
        rec: &str,
        fake: &str,
        one_to_one: bool,
        at: &str,
    ) -> Result<(), String> {
        match self.map.get(rec) {
            Some(f) if f == fake => Ok(()),
            Some(f) => Err(format!(
                "{at}: recorded {rec:?} stood for the fake's {f:?} before, now {fake:?}"
            )),
            None => {
                if one_to_one && !self.taken.insert(fake.to_string()) {
                    return Err(format!(
                        "{at}: the fake's {fake:?} already stands for another recorded value"
                    ));
                }
                self.map.insert(rec.to_string(), fake.to_string());
                Ok(())
            }
        }
    }

    /// The recorded text with every bound ULID replaced by the fake's.
    pub(super) fn substitute(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (rec, fake) in &self.map {
            if is_ulid(rec) {
                out = out
                    .replace(rec.as_str(), fake)
                    .replace(&rec.to_lowercase(), &fake.to_lowercase());
            }
        }
        out
    }

    pub(super) fn normalize_urls(&self, s: &str, fake_side: bool) -> String {
        let s = if fake_side {
            s.replace(&self.fake_url, "<mas>")
        } else {
            s.replace(RECORDED_MAS, "<mas>")
        };
        // Any other loopback URL is the homeserver's.
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find("http://127.0.0.1:") {
            out.push_str(&rest[..i]);
            out.push_str("<homeserver>");
            rest = rest[i + "http://127.0.0.1:".len()..]
                .trim_start_matches(|c: char| c.is_ascii_digit());
        }
        out.push_str(rest);
        out
    }

    pub(super) fn compare(
        &mut self,
        key: &str,
        rec: &Value,
        fake: &Value,
        at: &str,
    ) -> Result<(), String> {
        match (rec, fake) {
            (Value::Object(r), Value::Object(f)) => {
                let rk: Vec<&String> = r.keys().collect();
                let fk: Vec<&String> = f.keys().collect();
                if rk != fk {
                    return Err(format!("{at}: keys {rk:?} recorded, {fk:?} from the fake"));
                }
                for (k, rv) in r {
                    self.compare(k, rv, &f[k], &format!("{at}.{k}"))?;
                }
                Ok(())
            }
            (Value::Array(r), Value::Array(f)) => {
                if r.len() != f.len() {
                    return Err(format!(
                        "{at}: {} items recorded, {} from the fake",
                        r.len(),
                        f.len()
                    ));
                }
                for (i, (rv, fv)) in r.iter().zip(f).enumerate() {
                    self.compare(key, rv, fv, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            (Value::String(r), Value::String(f)) => self.compare_str(key, r, f, at),
            (r, f) => {
                if r == f {
                    Ok(())
                } else {
                    Err(format!("{at}: {r} recorded, {f} from the fake"))
                }
            }
        }
    }

    pub(super) fn compare_str(
        &mut self,
        key: &str,
        rec: &str,
        fake: &str,
        at: &str,
    ) -> Result<(), String> {
        if is_ulid(rec) {
            if !is_ulid(fake) {
                return Err(format!("{at}: {fake:?} is not a ULID"));
            }
            return self.bind(rec, fake, true, at);
        }
        if GENERATED_TIMES.contains(&key) {
            if !is_timestamp(rec) || !is_timestamp(fake) {
                return Err(format!("{at}: {rec:?} recorded, {fake:?} from the fake"));
            }
            return self.bind(&micros(rec), &micros(fake), false, at);
        }
        if key == "access_token" {
            if !is_mas_access_token(fake) {
                return Err(format!(
                    "{at}: the fake's access token is not in MAS format"
                ));
            }
            return self.bind(rec, fake, true, at);
        }
        if key == "token" && !self.given_tokens.contains(rec) {
            // A registration token MAS made up: 12 alphanumerics.
            if fake.len() != 12 || !fake.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "{at}: generated token {fake:?} is not 12 alphanumerics"
                ));
            }
            return self.bind(rec, fake, true, at);
        }
        let r = self.normalize_urls(&self.substitute(rec), false);
        let f = self.normalize_urls(fake, true);
        if r == f {
            Ok(())
        } else {
            Err(format!("{at}: {r:?} recorded, {f:?} from the fake"))
        }
    }
}
