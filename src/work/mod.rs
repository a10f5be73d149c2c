//! ManifestWork payloads, codecs, status hash and the agent-side work client (PROTOCOL.md §4).
//! Arrives with the *ManifestWork payloads* issue.
