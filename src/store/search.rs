//! A list's search condition as the store takes it: `and`/`or` over matches of one field
//! against a set of values, and containment of key/value pairs in a labels document; and its
//! translation into a `WHERE` fragment with every value bound, on both backends.
//!
//! Owns the SQL of a search (column names, `IN` lists, how an absent value compares). Must
//! not parse a query language: the hub's Maestro module turns Maestro's `search` parameter
//! into a [`Search`].

use std::fmt::Debug;

use sqlx::{Database, Encode, QueryBuilder, Type};
use uuid::Uuid;

use super::Labels;

/// A condition on the rows of one table; `F` names its fields ([`ResourceField`],
/// [`ConsumerField`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search<F: SearchField> {
    /// Every one holds (none: true).
    And(Vec<Search<F>>),
    /// At least one holds (none: false).
    Or(Vec<Search<F>>),
    /// The field's value is one of `values` (`negated`: none of them). A row without a value
    /// for the field (no such label, no name) equals no value, unless the field says what an
    /// absent value stands for ([`Operand::Text`]).
    In {
        field: F,
        values: Vec<String>,
        negated: bool,
    },
    /// The field has a value (a label with that key exists).
    Exists { field: F },
    /// The document holds every one of `pairs`.
    Contains { map: F::Map, pairs: Labels },
}

/// How a field reads in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand<'a> {
    /// The `id` column: values that are not UUIDs equal no row.
    Id,
    /// A text column; `absent_is` is the value a NULL stands for, if any.
    Text {
        column: &'static str,
        absent_is: Option<&'a str>,
    },
    /// The text value of `key` in the JSON object column `map` (NULL when absent).
    Key { map: &'static str, key: &'a str },
}

/// The fields of one table that a [`Search`] may name.
pub trait SearchField: Debug + Clone + PartialEq + Eq {
    /// Its JSON object columns (labels, annotations).
    type Map: Debug + Clone + PartialEq + Eq;
    fn operand(&self) -> Operand<'_>;
    /// The qualified column of `map` (`resources.labels`).
    fn map_column(map: &Self::Map) -> &'static str;
}

/// A resource field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceField {
    Id,
    Name,
    ConsumerName,
    /// The owning source; a resource created through the REST API has none and counts as
    /// owned by `hub_source_id`.
    Source {
        hub_source_id: String,
    },
    Label(String),
    Annotation(String),
}

/// A resource's JSON object columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceMap {
    Labels,
    Annotations,
}

impl SearchField for ResourceField {
    type Map = ResourceMap;

    fn operand(&self) -> Operand<'_> {
        let text = |column| Operand::Text {
            column,
            absent_is: None,
        };
        match self {
            Self::Id => Operand::Id,
            Self::Name => text("name"),
            Self::ConsumerName => text("consumer_name"),
            Self::Source { hub_source_id } => Operand::Text {
                column: "source",
                absent_is: Some(hub_source_id),
            },
            Self::Label(key) => Operand::Key {
                map: Self::map_column(&ResourceMap::Labels),
                key,
            },
            Self::Annotation(key) => Operand::Key {
                map: Self::map_column(&ResourceMap::Annotations),
                key,
            },
        }
    }

    fn map_column(map: &ResourceMap) -> &'static str {
        match map {
            ResourceMap::Labels => "resources.labels",
            ResourceMap::Annotations => "resources.annotations",
        }
    }
}

/// A consumer field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerField {
    Id,
    Name,
    Label(String),
}

/// A consumer's JSON object column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerMap {
    Labels,
}

impl SearchField for ConsumerField {
    type Map = ConsumerMap;

    fn operand(&self) -> Operand<'_> {
        match self {
            Self::Id => Operand::Id,
            Self::Name => Operand::Text {
                column: "name",
                absent_is: None,
            },
            Self::Label(key) => Operand::Key {
                map: Self::map_column(&ConsumerMap::Labels),
                key,
            },
        }
    }

    fn map_column(_: &ConsumerMap) -> &'static str {
        "consumers.labels"
    }
}

/// What the dialects write differently: reading a key of a JSON object column, and
/// containment.
pub(crate) trait JsonSql<DB: Database> {
    /// Appends an expression: the text value of `key` in the JSON object `map`, or NULL.
    fn push_key_value(q: &mut QueryBuilder<DB>, map: &str, key: &str);
    /// Appends a condition: `map` holds every one of `pairs` (not empty).
    fn push_contains(q: &mut QueryBuilder<DB>, map: &str, pairs: &Labels);
}

/// Appends `search` as one parenthesised condition; `I` is the backend's id type, `J` its
/// JSON dialect.
pub(crate) fn push_search<DB, I, J, F>(q: &mut QueryBuilder<DB>, search: &Search<F>)
where
    DB: Database,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    J: JsonSql<DB>,
    F: SearchField,
{
    match search {
        Search::And(all) => push_joined::<DB, I, J, F>(q, all, " AND ", "1 = 1"),
        Search::Or(any) => push_joined::<DB, I, J, F>(q, any, " OR ", "1 = 0"),
        Search::In {
            field,
            values,
            negated,
        } => push_in::<DB, I, J>(q, field.operand(), values, *negated),
        Search::Exists { field } => push_exists::<DB, J>(q, field.operand()),
        Search::Contains { pairs, .. } if pairs.is_empty() => {
            q.push("1 = 1");
        }
        Search::Contains { map, pairs } => {
            q.push("(");
            J::push_contains(q, F::map_column(map), pairs);
            q.push(")");
        }
    }
}

fn push_joined<DB, I, J, F>(q: &mut QueryBuilder<DB>, parts: &[Search<F>], op: &str, empty: &str)
where
    DB: Database,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    J: JsonSql<DB>,
    F: SearchField,
{
    if parts.is_empty() {
        q.push(empty);
        return;
    }
    q.push("(");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            q.push(op);
        }
        push_search::<DB, I, J, F>(q, part);
    }
    q.push(")");
}

/// `operand [NOT] IN (values)`, with the rows whose value is absent decided as the operand
/// says: they match a negated list unless it holds the value they stand for, and a plain list
/// only if it does.
fn push_in<DB, I, J>(
    q: &mut QueryBuilder<DB>,
    operand: Operand<'_>,
    values: &[String],
    negated: bool,
) where
    DB: Database,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    J: JsonSql<DB>,
{
    let push_operand = |q: &mut QueryBuilder<DB>| match operand {
        Operand::Id => {
            q.push("id");
        }
        Operand::Text { column, .. } => {
            q.push(column);
        }
        Operand::Key { map, key } => J::push_key_value(q, map, key),
    };
    let absent_listed = match operand {
        Operand::Text {
            absent_is: Some(absent),
            ..
        } => values.iter().any(|v| v == absent),
        _ => false,
    };
    // An absent value matches a list holding what it stands for, or a negated one that does not.
    let absent_matches = absent_listed != negated && !matches!(operand, Operand::Id);
    q.push("(");
    match operand {
        Operand::Id => {
            // A value that is no UUID equals no id.
            let ids: Vec<Uuid> = values.iter().filter_map(|v| v.parse().ok()).collect();
            push_list(q, push_operand, negated, &ids, |q, id| {
                q.push_bind(I::from(*id));
            });
        }
        _ => push_list(q, push_operand, negated, values, |q, v| {
            q.push_bind(v.clone());
        }),
    }
    if absent_matches {
        q.push(" OR ");
        push_operand(q);
        q.push(" IS NULL");
    }
    q.push(")");
}

/// `operand IS NOT NULL`: always true of an id, or of a column whose NULL stands for a value.
fn push_exists<DB: Database, J: JsonSql<DB>>(q: &mut QueryBuilder<DB>, operand: Operand<'_>) {
    match operand {
        Operand::Id
        | Operand::Text {
            absent_is: Some(_), ..
        } => {
            q.push("1 = 1");
        }
        Operand::Text { column, .. } => {
            q.push("(").push(column).push(" IS NOT NULL)");
        }
        Operand::Key { map, key } => {
            q.push("(");
            J::push_key_value(q, map, key);
            q.push(" IS NOT NULL)");
        }
    }
}

/// `operand [NOT] IN (items)`; an empty list is false (true negated).
fn push_list<DB: Database, T>(
    q: &mut QueryBuilder<DB>,
    push_operand: impl Fn(&mut QueryBuilder<DB>),
    negated: bool,
    items: &[T],
    mut bind: impl FnMut(&mut QueryBuilder<DB>, &T),
) {
    if items.is_empty() {
        q.push(if negated { "1 = 1" } else { "1 = 0" });
        return;
    }
    push_operand(q);
    q.push(if negated { " NOT IN (" } else { " IN (" });
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        bind(q, item);
    }
    q.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::PgJson;
    use sqlx::Postgres;

    fn sql(search: &Search<ResourceField>) -> String {
        let mut q = QueryBuilder::<Postgres>::new("");
        push_search::<Postgres, Uuid, PgJson, _>(&mut q, search);
        q.sql().as_str().to_owned()
    }

    fn source(values: &[&str], negated: bool) -> Search<ResourceField> {
        Search::In {
            field: ResourceField::Source {
                hub_source_id: "hub".into(),
            },
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            negated,
        }
    }

    #[test]
    fn rows_without_a_source_are_the_hubs() {
        assert_eq!(sql(&source(&["a"], false)), "(source IN ($1))");
        assert_eq!(
            sql(&source(&["a", "hub"], false)),
            "(source IN ($1, $2) OR source IS NULL)"
        );
        assert_eq!(
            sql(&source(&["a"], true)),
            "(source NOT IN ($1) OR source IS NULL)"
        );
        assert_eq!(sql(&source(&["hub"], true)), "(source NOT IN ($1))");
    }

    #[test]
    fn absent_labels_equal_nothing_and_ids_must_be_uuids() {
        let label = |negated| Search::In {
            field: ResourceField::Label("env".into()),
            values: vec!["prod".into()],
            negated,
        };
        assert_eq!(sql(&label(false)), "((resources.labels ->> $1) IN ($2))");
        assert_eq!(
            sql(&label(true)),
            "((resources.labels ->> $1) NOT IN ($2) OR (resources.labels ->> $3) IS NULL)"
        );
        let ids = |negated| Search::In {
            field: ResourceField::Id,
            values: vec!["not-a-uuid".into()],
            negated,
        };
        assert_eq!(sql(&ids(false)), "(1 = 0)");
        assert_eq!(sql(&ids(true)), "(1 = 1)");
    }

    #[test]
    fn and_or_nest_in_parentheses() {
        let tree = Search::And(vec![
            source(&["a"], false),
            Search::Or(vec![
                Search::In {
                    field: ResourceField::ConsumerName,
                    values: vec!["c1".into()],
                    negated: false,
                },
                Search::Contains {
                    map: ResourceMap::Labels,
                    pairs: Labels::from([("k".into(), "v".into())]),
                },
            ]),
        ]);
        assert_eq!(
            sql(&tree),
            "((source IN ($1)) AND ((consumer_name IN ($2)) OR (resources.labels @> $3)))"
        );
        assert_eq!(sql(&Search::Or(vec![])), "1 = 0");
    }
}
