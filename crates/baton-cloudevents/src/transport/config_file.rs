//! Reading the YAML config files of both transports with unknown keys noted rather than
//! silently dropped: a misspelt or unsupported key (`clientID` for `clientId`) would otherwise
//! leave a setting at its default with nothing to say so. sdk-go ignores unknown keys, so they
//! stay warnings, never errors. Must not check values (each transport's `config` does).

use serde::de::DeserializeOwned;

/// `text` parsed as `T`, and the dotted paths (`topics.agentEvent`) of the keys `T` ignored.
pub(crate) fn parse<T: DeserializeOwned>(
    text: &str,
) -> Result<(T, Vec<String>), serde_yaml_ng::Error> {
    let mut unknown = Vec::new();
    let parsed = serde_ignored::deserialize(serde_yaml_ng::Deserializer::from_str(text), |path| {
        // serde_ignored writes `?` for each `Option` on the way; the file has no such level.
        let path = path.to_string();
        let segments: Vec<&str> = path.split('.').filter(|s| *s != "?").collect();
        unknown.push(segments.join("."));
    })?;
    Ok((parsed, unknown))
}

/// One warning per unknown key, naming the key and the file kind.
pub(crate) fn warn_unknown(file: &str, keys: &[String]) {
    for key in keys {
        tracing::warn!(key = %key, "unknown key in the {file} config file: ignored");
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        #[allow(dead_code)] // read by serde only
        known: Option<String>,
        inner: Option<Inner>,
    }

    #[derive(Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        kept: Option<u8>,
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let (outer, unknown) =
            super::parse::<Outer>("known: a\nclientID: x\ninner:\n  kept: 1\n  typo: 2\n").unwrap();
        assert!(outer.inner.is_some());
        assert_eq!(unknown, ["clientID", "inner.typo"]);
    }
}
