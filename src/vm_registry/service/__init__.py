"""The application layer: the single writer, the projection it owns, and the queries on it."""
