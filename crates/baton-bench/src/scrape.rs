//! Reading counters from the hub's `/metrics` (OpenMetrics text), so a scenario can report
//! what the hub did during a phase (e.g. how many statuses it stored, skipped or ignored) as
//! the difference of two readings.

use std::collections::BTreeMap;

/// The values of `family`'s series by their `outcome` label (`family{outcome="x"} v`);
/// empty if the hub does not answer.
pub async fn outcomes(http: &reqwest::Client, base: &str, family: &str) -> BTreeMap<String, f64> {
    let Ok(text) = fetch(http, base).await else {
        return BTreeMap::new();
    };
    parse_outcomes(&text, family)
}

/// The hub's `/metrics` text.
pub async fn fetch(http: &reqwest::Client, base: &str) -> reqwest::Result<String> {
    http.get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await
}

fn parse_outcomes(text: &str, family: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{family}{{outcome=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|rest| {
            let (label, value) = rest.split_once("\"}")?;
            Some((label.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Agents subscribed to the hub's brokers: `baton_broker_subscribed_clusters` summed over the
/// replicas at `bases` (each counts its own broker live; the fleet-wide
/// `baton_connected_clusters` lags by a registry heartbeat).
pub async fn connected(http: &reqwest::Client, bases: &[String]) -> Option<usize> {
    let mut total = 0;
    for base in bases {
        total += unlabelled(http, base, "baton_broker_subscribed_clusters").await? as usize;
    }
    Some(total)
}

/// The value of the series `name` (one without labels, e.g. `baton_resync_runs_total`).
pub async fn unlabelled(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = fetch(http, base).await.ok()?;
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
}

/// `after - before` per label (labels only in `after` count from 0).
pub fn difference(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_one_family_are_read_and_subtracted() {
        let text = "# HELP x\nbaton_status_updates_total{outcome=\"stored\"} 12\n\
                    baton_status_updates_total{outcome=\"ignored\"} 3\n\
                    baton_publishes_total{outcome=\"stored\"} 99\n";
        let after = parse_outcomes(text, "baton_status_updates_total");
        assert_eq!(after.len(), 2);
        assert_eq!(after["stored"], 12.0);
        let before = BTreeMap::from([("stored".to_owned(), 10.0)]);
        let diff = difference(&before, &after);
        assert_eq!(diff["stored"], 2.0);
        assert_eq!(diff["ignored"], 3.0);
    }
}
