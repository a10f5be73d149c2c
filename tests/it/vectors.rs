//! Every structured event vector parses into the SDK's types (PROTOCOL.md §2, §3, §6.2, §6.3).
