//! [`JsonText`]: binds a document as a PostgreSQL `json` parameter, i.e. its serde_json text
//! as is. sqlx's `Json` always declares `jsonb`, so a `json` column (migration 0002) would
//! receive it parsed into jsonb and printed back by a cast: slower, and re-formatted.
//! [`PgJson`]: a search's reads of `jsonb` label columns (`->>`, `@>`).

use serde::Serialize;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::types::Json;
use sqlx::{Encode, Postgres, QueryBuilder, Type};

use crate::store::Labels;
use crate::store::search::JsonSql;

/// The `json` type's fixed OID (`pg_type.h`).
const JSON_OID: Oid = Oid(114);

pub(crate) struct JsonText<T>(pub T);

impl<T> Type<Postgres> for JsonText<T> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSON_OID)
    }
}

impl<T: Serialize> Encode<'_, Postgres> for JsonText<T> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        serde_json::to_writer(&mut **buf, &self.0)?;
        Ok(IsNull::No)
    }
}

/// PostgreSQL's SQL of a search over `jsonb` columns: `@>` uses their GIN index.
pub(crate) struct PgJson;

impl JsonSql<Postgres> for PgJson {
    fn push_key_value(q: &mut QueryBuilder<Postgres>, map: &str, key: &str) {
        q.push("(")
            .push(map)
            .push(" ->> ")
            .push_bind(key.to_owned())
            .push(")");
    }

    fn push_contains(q: &mut QueryBuilder<Postgres>, map: &str, pairs: &Labels) {
        q.push(map).push(" @> ").push_bind(Json(pairs.clone()));
    }
}
